"""Random-noise inputs with random labels, the pretraining "dataset".

A noise spec (a dict from the config) names a distribution, its moments, a seed
and a protocol:

- ``fixed``: N samples and labels drawn once, stored in the noise file and
  reused every epoch (each network visits them in its own order);
- ``fresh``: new samples every batch from a per-network seeded stream; the file
  holds only the parameters.

Labels are uniform on {0..C-1} and independent of the inputs. A new
distribution is one entry in ``DISTRIBUTIONS``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .seeds import derive_seed, generator

# (n, dim, mean, std, torch.Generator) -> float32 tensor (n, dim)
Sampler = Callable[[int, int, float, float, torch.Generator], torch.Tensor]


def _gaussian(n, dim, mean, std, gen):
    return torch.randn(n, dim, generator=gen) * std + mean


def _uniform(n, dim, mean, std, gen):
    # U(mean - a, mean + a) has std a / sqrt(3): matched first two moments.
    half_width = std * math.sqrt(3.0)
    return (torch.rand(n, dim, generator=gen) * 2 - 1) * half_width + mean


DISTRIBUTIONS: dict[str, Sampler] = {
    "gaussian": _gaussian,
    "uniform": _uniform,
}
PROTOCOLS = ("fixed", "fresh")


def validate_spec(spec: dict) -> None:
    if spec["distribution"] not in DISTRIBUTIONS:
        raise ValueError(f"unknown noise distribution {spec['distribution']!r}; known: {sorted(DISTRIBUTIONS)}")
    if spec["protocol"] not in PROTOCOLS:
        raise ValueError(f"unknown noise protocol {spec['protocol']!r}; known: {list(PROTOCOLS)}")
    if spec["std"] <= 0:
        raise ValueError(f"noise std must be > 0, got {spec['std']}")


def sample(spec: dict, n: int, dim: int, n_classes: int, gen: torch.Generator):
    x = DISTRIBUTIONS[spec["distribution"]](n, dim, float(spec["mean"]), float(spec["std"]), gen)
    y = torch.randint(0, n_classes, (n,), generator=gen)
    return x.float(), y


def make_noise_dataset(spec: dict, name: str, dim: int, n_classes: int) -> dict:
    """The content of a noise file: parameters, and samples for the fixed protocol."""
    validate_spec(spec)
    payload = {"name": name, "spec": dict(spec), "dim": int(dim), "n_classes": int(n_classes)}
    if spec["protocol"] == "fixed":
        gen = generator("noise-set", name, spec["seed"], dim, n_classes)
        payload["x"], payload["y"] = sample(spec, int(spec["n_samples"]), dim, n_classes, gen)
    return payload


class FreshNoiseStream:
    """Fresh noise for every batch; network m draws from its own seeded stream."""

    def __init__(self, noise: dict, network_seeds: list[int], batch_size: int, device):
        self.spec, self.dim, self.n_classes = noise["spec"], noise["dim"], noise["n_classes"]
        self.batch_size, self.device = batch_size, device
        self.gens = [
            torch.Generator().manual_seed(derive_seed("noise-stream", noise["name"], self.spec["seed"], s)) for s in network_seeds
        ]

    def next(self):
        xs, ys = zip(*(sample(self.spec, self.batch_size, self.dim, self.n_classes, g) for g in self.gens))
        return torch.stack(xs).to(self.device), torch.stack(ys).to(self.device)

    def state_dict(self) -> dict:
        return {"gens": [g.get_state() for g in self.gens]}

    def load_state_dict(self, state: dict) -> None:
        for g, st in zip(self.gens, state["gens"]):
            g.set_state(st)
