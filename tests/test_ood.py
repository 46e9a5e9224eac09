"""OOD transforms for Figure 5: exact identities, known displacements, sign conventions."""

import pytest
import torch

from noisefa.data.ood import IMAGE_TRANSFORMS, shifted_test_set, transform
from noisefa.data.transforms import TRANSFORMS, get_transform


def _images(n=5, c=1, h=12, w=12, dtype=torch.uint8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, c, h, w), generator=g).to(dtype)


def _dot(h=12, w=12, row=3, col=2):
    x = torch.zeros(1, 1, h, w, dtype=torch.uint8)
    x[0, 0, row, col] = 255
    return x


@pytest.mark.parametrize("name, magnitude", [("translate", 0), ("rotate", 0.0), ("scale", 1)])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_identity_magnitudes_are_exact_copies(name, magnitude, dtype):
    x = _images(dtype=dtype)
    out = transform(name, x, magnitude)
    assert torch.equal(out, x) and out.dtype == x.dtype
    assert out.data_ptr() != x.data_ptr()  # a copy: editing it never edits the test set


@pytest.mark.parametrize("k", [1, 3, -2])
def test_translate_moves_a_pixel_right_by_k_and_fills_with_zero(k):
    out = transform("translate", _dot(row=3, col=5), k)
    assert torch.equal(out, _dot(row=3, col=5 + k))
    x = _images()
    shifted = transform("translate", x, 3)
    assert (shifted[..., :3] == 0).all() and torch.equal(shifted[..., 3:], x[..., :-3])
    assert (transform("translate", x, 12) == 0).all()  # shifted out entirely


def test_fractional_translate_interpolates_between_integer_shifts():
    x = _images(dtype=torch.float64)
    half = transform("translate", x, 1.5)
    avg = (transform("translate", x, 1) + transform("translate", x, 2)) / 2
    # bilinear: the two shifts average exactly except at the zero-padded left edge
    torch.testing.assert_close(half[..., 2:], avg[..., 2:], rtol=0, atol=1e-9)


def test_rotate_90_is_counterclockwise_rot90_and_360_is_identity():
    x = _images(dtype=torch.float32)
    torch.testing.assert_close(transform("rotate", x, 90), torch.rot90(x, 1, dims=(-2, -1)), rtol=0, atol=1e-3)
    torch.testing.assert_close(transform("rotate", x, -90), torch.rot90(x, -1, dims=(-2, -1)), rtol=0, atol=1e-3)
    torch.testing.assert_close(transform("rotate", x, 360), x, rtol=0, atol=1e-3)
    # on screen: the top-right corner goes to the top-left under a counter-clockwise turn
    out = transform("rotate", _dot(row=0, col=11), 90)
    assert out[0, 0, 0, 0] == 255 and out.sum() == 255
    u8 = _images()
    assert torch.equal(transform("rotate", u8, 90), torch.rot90(u8, 1, dims=(-2, -1)))


def test_rotate_keeps_a_non_square_image_rigid():
    # the centre pixel of an odd-sized image stays put and a pixel on the x axis lands on the y axis
    x = torch.zeros(1, 1, 9, 15, dtype=torch.float32)
    x[0, 0, 4, 7] = 1.0
    x[0, 0, 4, 10] = 2.0  # 3 px right of the centre
    out = transform("rotate", x, 90)
    assert out[0, 0, 4, 7] == pytest.approx(1.0, abs=1e-4)
    assert out[0, 0, 1, 7] == pytest.approx(2.0, abs=1e-4)  # 3 px above the centre


def test_scale_2_of_a_centred_square_has_four_times_the_area():
    x = torch.zeros(1, 1, 28, 28, dtype=torch.uint8)
    x[..., 10:18, 10:18] = 255  # 8x8 about the centre, (28 - 1) / 2 = 13.5 in pixel indices
    big = transform("scale", x, 2)
    assert (big > 127).sum().item() == pytest.approx(4 * 64, rel=0.05)
    ys, xs = torch.nonzero(big[0, 0] > 127, as_tuple=True)
    assert ys.float().mean() == pytest.approx(13.5) and xs.float().mean() == pytest.approx(13.5)  # still centred
    assert (transform("scale", x, 0.5) > 127).sum().item() == pytest.approx(64 / 4, rel=0.05)
    with pytest.raises(ValueError, match="> 0"):
        transform("scale", x, 0)


@pytest.mark.parametrize("name, magnitude", [("translate", 2), ("translate", 0.5), ("rotate", 30), ("scale", 1.3)])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float64])
def test_shape_and_dtype_are_preserved_and_background_stays_zero(name, magnitude, dtype):
    x = _images(n=3, c=2, h=10, w=14, dtype=dtype)
    out = transform(name, x, magnitude)
    assert out.shape == x.shape and out.dtype == dtype
    zeros = torch.zeros_like(x)
    assert torch.equal(transform(name, zeros, magnitude), zeros)


def test_shifted_test_set_works_on_flat_uint8_images():
    shape = (1, 12, 12)
    x = _images(n=4).view(4, -1)
    out = shifted_test_set(x, shape, "translate", 2)
    assert out.shape == x.shape and out.dtype == torch.uint8
    assert torch.equal(out.view(4, *shape), transform("translate", x.view(4, *shape), 2))
    assert torch.equal(shifted_test_set(x, shape, TRANSFORMS["scale"], 1.0), x)
    with pytest.raises(TypeError, match="before standardisation"):
        shifted_test_set(x.float(), shape, "rotate", 10)
    with pytest.raises(ValueError, match="flat"):
        shifted_test_set(x, (1, 10, 10), "rotate", 10)


def test_unknown_transform_names_the_known_ones():
    with pytest.raises(KeyError, match=r"'shear'.*\['rotate', 'scale', 'translate'\]"):
        get_transform("shear")
    with pytest.raises(KeyError, match="known transforms"):
        shifted_test_set(_images(n=1).view(1, -1), (1, 12, 12), "shear", 1)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        transform("rotate", torch.zeros(12, 12), 10)


def test_every_registered_transform_has_its_image_code_and_no_other():
    assert set(IMAGE_TRANSFORMS) == set(TRANSFORMS)
