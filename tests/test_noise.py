import math

import pytest
import torch

from noisefa.data.noise import (
    DISTRIBUTIONS,
    NOISE_CHUNK,
    FixedNoiseBatches,
    FreshNoiseStream,
    fixed_set,
    image_shape,
    make_noise_dataset,
    noise_chunk,
    sample,
    validate_spec,
)

SPEC = {"distribution": "gaussian", "mean": 0.0, "std": 1.0, "protocol": "fixed", "n_samples": 4000, "seed": 3}


def _set(spec=SPEC, name="n", dim=50, classes=10):
    """A fixed set's file content and its samples (what the chunks give, in order)."""
    noise = make_noise_dataset(spec, name, dim, classes)
    return {**noise, **dict(zip(("x", "y"), fixed_set(noise)))}


def test_fixed_noise_is_reproducible_from_its_seed_and_stores_no_samples():
    noise = make_noise_dataset(SPEC, "n", 50, 10)
    assert set(noise) == {"name", "spec", "dim", "n_classes", "n_samples", "chunk"}  # bytes, not samples
    a, b = _set(), _set()
    assert torch.equal(a["x"], b["x"]) and torch.equal(a["y"], b["y"]) and a["x"].shape == (4000, 50)
    c = _set({**SPEC, "seed": 4})
    assert not torch.equal(a["x"], c["x"])
    assert a["spec"] == SPEC and a["dim"] == 50 and a["n_classes"] == 10
    # any chunk alone is the same as that slice of the whole set; chunks differ from each other
    x2, y2 = noise_chunk(noise, 2)
    assert torch.equal(x2, a["x"][2 * NOISE_CHUNK : 3 * NOISE_CHUNK]) and torch.equal(
        y2, a["y"][2 * NOISE_CHUNK : 3 * NOISE_CHUNK]
    )
    assert not torch.equal(noise_chunk(noise, 0)[0], noise_chunk(noise, 1)[0])
    last = math.ceil(4000 / NOISE_CHUNK) - 1
    assert noise_chunk(noise, last)[0].shape == (4000 - last * NOISE_CHUNK, 50)  # the last, partial chunk
    with pytest.raises(IndexError, match=f"{last + 1} chunks"):
        noise_chunk(noise, last + 1)


def _epoch(batches, steps):
    xs, ys = zip(*(batches.next() for _ in range(steps)))
    return torch.cat(xs, 1), torch.cat(ys, 1)


def test_fixed_batches_visit_every_sample_once_per_epoch_in_each_networks_order():
    noise, full = make_noise_dataset(SPEC, "n", 50, 10), _set()
    b = FixedNoiseBatches(noise, [0, 1], 150, ("t",), hold_mb=0)  # regenerated chunk by chunk
    assert b.steps_per_epoch == 27  # ceil(4000 / 150): the last batch of an epoch is short
    x, y = _epoch(b, 27)
    assert x.shape == (2, 4000, 50)
    for m in range(2):
        order = b.orders[m]
        assert torch.equal(order.sort().values, torch.arange(4000))  # a permutation of the set
        assert torch.equal(x[m], full["x"][order]) and torch.equal(y[m], full["y"][order])
    assert not torch.equal(b.orders[0], b.orders[1])
    first = b.orders.clone()
    _epoch(b, 1)
    assert not torch.equal(b.orders, first)  # a new order every epoch, the same samples
    # held in memory: the chunks of the current batch only (two at most when a batch fits a chunk)
    assert all(len(c) <= 2 for c in b._cache)


def test_a_held_set_gives_the_same_batches_as_one_regenerated_chunk_by_chunk():
    noise = make_noise_dataset(SPEC, "n", 50, 10)
    held = FixedNoiseBatches(noise, [0, 1], 100, ("t",))
    chunked = FixedNoiseBatches(noise, [0, 1], 100, ("t",), hold_mb=0)
    assert held.held is not None and chunked.held is None
    for _ in range(45):  # past an epoch of 40 steps
        (xa, ya), (xb, yb) = held.next(), chunked.next()
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_fixed_batches_resume_bit_identically_mid_epoch():
    noise = make_noise_dataset(SPEC, "n", 50, 10)
    a = FixedNoiseBatches(noise, [0, 1], 128, ("t",), hold_mb=0)
    _epoch(a, 40)  # past the first epoch's 32 steps
    state = a.state_dict()
    b = FixedNoiseBatches(noise, [0, 1], 128, ("t",), hold_mb=0)
    b.load_state_dict(state)
    for _ in range(30):
        (xa, ya), (xb, yb) = a.next(), b.next()
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert torch.equal(FixedNoiseBatches(noise, [0], 128, ("t",)).calibration_batch(), _set()["x"][:128])


@pytest.mark.parametrize("dist", ["gaussian", "uniform"])
def test_moments_match_the_spec(dist):
    d = _set({**SPEC, "distribution": dist, "mean": 0.5, "std": 2.0}, "n", 100, 10)
    assert d["x"].mean().item() == pytest.approx(0.5, abs=0.02)
    assert d["x"].std().item() == pytest.approx(2.0, rel=0.01)
    if dist == "uniform":
        assert d["x"].max().item() <= 0.5 + 2.0 * math.sqrt(3) + 1e-5


def test_labels_are_uniform_and_independent_of_inputs():
    d = _set({**SPEC, "n_samples": 20000}, "n", 20, 10)
    counts = torch.bincount(d["y"], minlength=10).float()
    assert (counts / counts.sum() - 0.1).abs().max() < 0.015
    # class means of the inputs are all ~0: labels carry no information about x
    means = torch.stack([d["x"][d["y"] == c].mean(0) for c in range(10)])
    assert means.abs().max() < 0.1


def test_fresh_stream_is_per_network_and_reproducible():
    noise = make_noise_dataset({**SPEC, "protocol": "fresh"}, "f", 8, 3)
    assert "x" not in noise
    s1 = FreshNoiseStream(noise, [0, 1], 4, "cpu")
    s2 = FreshNoiseStream(noise, [1], 4, "cpu")
    x1, y1 = s1.next()
    x2, y2 = s2.next()
    assert x1.shape == (2, 4, 8) and y1.shape == (2, 4)
    assert torch.equal(x1[1], x2[0]) and torch.equal(y1[1], y2[0])
    assert not torch.equal(x1[0], x1[1])


def test_bad_specs_are_rejected():
    with pytest.raises(ValueError, match="known"):
        validate_spec({**SPEC, "distribution": "no-such-noise"})
    with pytest.raises(ValueError, match="protocol"):
        validate_spec({**SPEC, "protocol": "sometimes"})


def neighbour_correlation(x: torch.Tensor, dim: int) -> float:
    """Correlation of horizontally and vertically adjacent pixels of flattened (C, H, W) images."""
    im = x.view(-1, *image_shape(dim))
    a = torch.cat([im[..., :, :-1].flatten(), im[..., :-1, :].flatten()])
    b = torch.cat([im[..., :, 1:].flatten(), im[..., 1:, :].flatten()])
    return torch.corrcoef(torch.stack([a, b]))[0, 1].item()


def test_image_shape_of_the_datasets_inputs():
    assert image_shape(784) == (1, 28, 28)
    assert image_shape(3072) == (3, 32, 32)
    assert image_shape(64) == (1, 8, 8)
    assert image_shape(3 * 96 * 96) == (3, 96, 96)
    for dim in (100 * 3 + 1, 50, 0):
        with pytest.raises(ValueError, match="square image"):
            image_shape(dim)


@pytest.mark.parametrize("dist", ["pink", "blob"])
@pytest.mark.parametrize("dim", [784, 3072])
def test_spatial_noise_shape_moments_and_correlation(dist, dim):
    spec = {**SPEC, "distribution": dist, "mean": 0.5, "std": 2.0, "n_samples": 3000}
    x = _set(spec, "n", dim, 10)["x"]
    assert x.shape == (3000, dim) and x.dtype == torch.float32 and torch.isfinite(x).all()
    assert x.mean().item() == pytest.approx(0.5, abs=0.05)
    assert x.std().item() == pytest.approx(2.0, rel=0.03)
    # every pixel has the same marginal (circular filter): spot-check a corner and the centre
    for j in (0, dim // 2, dim - 1):
        assert x[:, j].std().item() == pytest.approx(2.0, rel=0.1)
    assert neighbour_correlation(x, dim) > 0.5
    # channels are independent
    if dim == 3072:
        im = x.view(-1, 3, 32, 32)
        r = torch.corrcoef(torch.stack([im[:, 0].flatten(), im[:, 1].flatten()]))[0, 1].item()
        assert abs(r) < 0.05


def test_pink_noise_pixels_are_gaussian_and_images_have_the_exact_mean():
    # the DC term is 0: every image's spatial mean is the requested mean
    d = _set({**SPEC, "distribution": "pink", "mean": -1.0, "std": 0.5, "n_samples": 500}, "n", 784, 10)
    torch.testing.assert_close(d["x"].mean(1), torch.full((500,), -1.0), atol=1e-4, rtol=0)
    z = (d["x"] + 1.0) / 0.5
    assert (z.abs() < 1).float().mean().item() == pytest.approx(0.6827, abs=0.02)  # N(0, 1) mass within 1 sd


def test_white_noise_is_spatially_uncorrelated():
    for dist in ("gaussian", "uniform"):
        d = _set({**SPEC, "distribution": dist, "n_samples": 2000}, "n", 784, 10)
        assert abs(neighbour_correlation(d["x"], 784)) < 0.02


@pytest.mark.parametrize("dist", ["pink", "blob"])
def test_spatial_noise_is_reproducible_from_the_generator(dist):
    spec = {**SPEC, "distribution": dist}
    a = sample(spec, 10, 784, 10, torch.Generator().manual_seed(5))
    b = sample(spec, 10, 784, 10, torch.Generator().manual_seed(5))
    c = sample(spec, 10, 784, 10, torch.Generator().manual_seed(6))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    f1 = _set({**spec, "n_samples": 64}, "s", 784, 10)
    f2 = _set({**spec, "n_samples": 64}, "s", 784, 10)
    assert torch.equal(f1["x"], f2["x"]) and torch.equal(f1["y"], f2["y"])


@pytest.mark.parametrize("dist", ["pink", "blob"])
def test_spatial_noise_works_with_the_fresh_protocol(dist):
    noise = make_noise_dataset({**SPEC, "distribution": dist, "protocol": "fresh"}, "f", 3072, 10)
    s1 = FreshNoiseStream(noise, [0, 1], 16, "cpu")
    s2 = FreshNoiseStream(noise, [1], 16, "cpu")
    (x1, y1), (x2, y2) = s1.next(), s2.next()
    assert x1.shape == (2, 16, 3072) and x1.dtype == torch.float32 and y1.shape == (2, 16)
    assert torch.equal(x1[1], x2[0]) and torch.equal(y1[1], y2[0])
    assert neighbour_correlation(x1[0], 3072) > 0.5


def test_spatial_noise_rejects_non_image_dims_when_the_set_is_made():
    for protocol in ("fixed", "fresh"):
        with pytest.raises(ValueError, match="square image"):
            make_noise_dataset({**SPEC, "distribution": "blob", "protocol": protocol}, "n", 301, 10)
    make_noise_dataset({**SPEC, "distribution": "gaussian"}, "n", 301, 10)  # white noise has no shape


def test_every_distribution_matches_mean_and_std():
    g = torch.Generator().manual_seed(0)
    for name, sampler in DISTRIBUTIONS.items():
        x = sampler(4000, 784, 1.5, 0.25, g)
        assert x.shape == (4000, 784) and x.dtype == torch.float32, name
        assert x.mean().item() == pytest.approx(1.5, abs=0.01), name
        assert x.std().item() == pytest.approx(0.25, rel=0.02), name


def test_fresh_noise_calibration_batch_is_seeded_per_network_and_leaves_the_stream():
    noise = make_noise_dataset({"distribution": "gaussian", "mean": 0, "std": 1, "protocol": "fresh", "seed": 0}, "f", 8, 3)
    a, b = FreshNoiseStream(noise, [0, 1], 4, "cpu"), FreshNoiseStream(noise, [1], 4, "cpu")
    c = a.calibration_batch()
    assert c.shape == (2, 4, 8) and torch.equal(c[1], b.calibration_batch()[0]) and torch.equal(c, a.calibration_batch())
    x, _ = a.next()
    x2, _ = FreshNoiseStream(noise, [0, 1], 4, "cpu").next()
    assert torch.equal(x, x2) and not torch.equal(x, c)  # the training stream is not advanced
