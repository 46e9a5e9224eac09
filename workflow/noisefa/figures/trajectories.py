"""Weight trajectories in a plane, shared by Figures 2 and 6 (the only figures that read tensors, so
the only ones whose jobs import torch): every snapshot and B projected on their first two
principal components."""

from __future__ import annotations

import torch


def pca_project(trajectories: dict, B: torch.Tensor) -> tuple[dict, torch.Tensor, torch.Tensor]:
    """Project every snapshot and B onto the first two principal components of all of them.

    ``trajectories``: {label: (T, out, in)}. Returns ({label: (T, 2)}, B's (2,) coordinates,
    explained-variance ratio of PC1 and PC2). Fewer than three distinct points give zero columns.
    """
    points = torch.cat([w.flatten(1) for w in trajectories.values()] + [B.flatten()[None]]).double()
    mean = points.mean(0)
    _, s, vt = torch.linalg.svd(points - mean, full_matrices=False)
    pcs = torch.zeros(points.shape[1], 2, dtype=points.dtype)
    k = min(2, vt.shape[0])
    pcs[:, :k] = vt[:k].T

    def project(x):
        return (x.flatten(1).double() - mean) @ pcs

    ratio = torch.zeros(2, dtype=points.dtype)
    ratio[:k] = (s[:k] ** 2) / (s**2).sum().clamp_min(1e-30)
    return {k: project(w) for k, w in trajectories.items()}, project(B[None])[0], ratio
