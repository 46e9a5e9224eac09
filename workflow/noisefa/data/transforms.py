"""The out-of-distribution transforms of Figure 5, as the pipeline, the claims and the figures name
them: each one's magnitude unit and its identity magnitude. Free of torch; the image code that
applies them is ``noisefa.data.ood`` (one function per name, checked against this registry).

Conventions (image displayed with row 0 at the top, column 0 at the left):

- ``translate``: magnitude = shift in pixels along x, positive to the right
  (negative: left). Pixels shifted out are lost and the uncovered columns are 0.
- ``rotate``: magnitude in degrees, positive = counter-clockwise on screen.
- ``scale``: zoom factor about the image centre; 1 = identity, 2 = twice as large, 0.5 = half.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Transform:
    name: str
    unit: str
    identity: float  # the magnitude that leaves images unchanged


TRANSFORMS: dict[str, Transform] = {
    "translate": Transform("translate", "pixels (rightwards)", 0.0),
    "rotate": Transform("rotate", "degrees (counter-clockwise)", 0.0),
    "scale": Transform("scale", "zoom factor", 1.0),
}


def get_transform(name: str) -> Transform:
    try:
        return TRANSFORMS[name]
    except KeyError:
        raise KeyError(f"unknown OOD transform {name!r}; known transforms: {sorted(TRANSFORMS)}") from None
