"""Out-of-distribution test sets for Figure 5: translated, rotated and scaled images (the image code;
the transforms' names, units and identities are the torch-free registry ``noisefa.data.transforms``).

Networks trained on MNIST are tested on the same test images moved by a
transform of a given magnitude. Transforms act on *raw pixel* images so that
the uncovered background is the true background, 0; standardise afterwards
(``datasets.standardise``), never before, or the fill would not be background.

Conventions (image displayed with row 0 at the top, column 0 at the left):

- ``translate``: magnitude = shift in pixels along x, positive to the right
  (negative: left). Pixels shifted out are lost and the uncovered columns are 0.
  Integer shifts are exact (no interpolation); fractional ones are bilinear.
- ``rotate``: magnitude in degrees, positive = counter-clockwise on screen,
  so 90 degrees equals ``torch.rot90(x, 1, dims=(-2, -1))``.
- ``scale``: zoom factor about the image centre (the point between the middle
  pixels for even sizes); 1 = identity, 2 = twice as large, 0.5 = half.

Every transform takes images (N, C, H, W), uint8 or floating, and returns the
same shape and dtype; uint8 results are rounded and clipped to 0..255. The
identity magnitude (0, 0, 1) returns an exact copy of the input.
Rotation and scaling use ``grid_sample`` (bilinear, zero padding), all images
in one call.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from .transforms import Transform, get_transform


def _check_images(x: torch.Tensor) -> None:
    if x.dim() != 4:
        raise ValueError(f"OOD transforms take images of shape (N, C, H, W), got shape {tuple(x.shape)}")
    if x.dtype != torch.uint8 and not x.dtype.is_floating_point:
        raise TypeError(f"OOD transforms take uint8 or floating images, got {x.dtype}")


def _resample(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Bilinear resampling of every image by one 2x3 affine map (output -> input, normalised coords)."""
    xf = x if x.dtype.is_floating_point else x.float()
    theta = theta.to(device=x.device, dtype=xf.dtype).expand(len(x), 2, 3)
    grid = F.affine_grid(theta, list(xf.shape), align_corners=False)
    out = F.grid_sample(xf, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if x.dtype == torch.uint8:
        return out.round().clamp(0, 255).to(torch.uint8)
    return out


def _pixel_map(x: torch.Tensor, inverse: list[list[float]], shift_px: tuple[float, float] = (0.0, 0.0)) -> torch.Tensor:
    """theta for the map ``input_px = inverse @ output_px - shift_px`` (pixels, about the centre).

    Working in pixels keeps rotations rigid on non-square images: normalised
    coordinates run -1..1 over both W and H, so they are converted with
    D = diag(W/2, H/2): theta = D^-1 A D, translation D^-1 t.
    """
    H, W = x.shape[-2:]
    d = torch.tensor([W / 2.0, H / 2.0], dtype=torch.float64)
    A = torch.tensor(inverse, dtype=torch.float64)
    lin = A * d.unsqueeze(0) / d.unsqueeze(1)
    t = -torch.tensor(shift_px, dtype=torch.float64) / d
    return torch.cat([lin, t.unsqueeze(1)], dim=1).unsqueeze(0)


def translate(x: torch.Tensor, pixels: float) -> torch.Tensor:
    """Shift right by ``pixels`` (left if negative), filling with 0."""
    if float(pixels).is_integer():
        k, W = int(pixels), x.shape[-1]
        out = torch.zeros_like(x)
        if 0 < k < W:
            out[..., k:] = x[..., : W - k]
        elif -W < k < 0:
            out[..., :k] = x[..., -k:]
        return out
    return _resample(x, _pixel_map(x, [[1.0, 0.0], [0.0, 1.0]], (pixels, 0.0)))


def rotate(x: torch.Tensor, degrees: float) -> torch.Tensor:
    """Rotate counter-clockwise on screen by ``degrees`` about the image centre."""
    a = math.radians(degrees)
    c, s = math.cos(a), math.sin(a)
    # With y pointing down, an on-screen counter-clockwise turn maps p to [[c, s], [-s, c]] p;
    # each output pixel samples the input at the inverse, [[c, -s], [s, c]] p.
    return _resample(x, _pixel_map(x, [[c, -s], [s, c]]))


def scale(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Zoom by ``factor`` about the image centre (> 1 enlarges, < 1 shrinks)."""
    if not factor > 0:
        raise ValueError(f"scale factor must be > 0, got {factor}")
    return _resample(x, _pixel_map(x, [[1.0 / factor, 0.0], [0.0, 1.0 / factor]]))


# name -> the function that moves images by a magnitude (never called with the identity)
IMAGE_TRANSFORMS: dict[str, Callable[[torch.Tensor, float], torch.Tensor]] = {
    "translate": translate,
    "rotate": rotate,
    "scale": scale,
}


def transform(tf: str | Transform, x: torch.Tensor, magnitude: float) -> torch.Tensor:
    """Images (N, C, H, W) moved by the transform ``tf`` (a name of ``TRANSFORMS``, or its entry)."""
    tf = get_transform(tf) if isinstance(tf, str) else tf
    _check_images(x)
    magnitude = float(magnitude)
    if magnitude == tf.identity:  # exact, not "up to interpolation"
        return x.clone()
    return IMAGE_TRANSFORMS[tf.name](x, magnitude)


def shifted_test_set(
    x_uint8_flat: torch.Tensor, shape: tuple[int, int, int], tf: str | Transform, magnitude: float
) -> torch.Tensor:
    """Transform flat uint8 test images (N, C*H*W) of image shape (C, H, W); returns flat uint8.

    Takes the prepared dataset's raw pixels (before standardisation) so that the
    background uncovered by the transform is 0, as in the original images.
    """
    if x_uint8_flat.dtype != torch.uint8:
        raise TypeError(f"shifted_test_set takes raw uint8 pixels (before standardisation), got {x_uint8_flat.dtype}")
    C, H, W = shape
    if x_uint8_flat.dim() != 2 or x_uint8_flat.shape[1] != C * H * W:
        raise ValueError(f"images of shape {tuple(x_uint8_flat.shape)} are not flat (N, {C * H * W}) for shape {tuple(shape)}")
    return transform(tf, x_uint8_flat.view(-1, C, H, W), magnitude).reshape(len(x_uint8_flat), C * H * W)
