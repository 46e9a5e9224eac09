"""Model families: what a job's ``model`` block builds, one registry entry per family.

A job spec's ``model`` is a family's configuration: ``{"hidden", "batchnorm"}`` for the MLP (the
paper's networks; no ``family`` key, so every MLP job's spec is what it was before the CNN), and
``{"family": "cnn", "channels", "kernel", "pool", "hidden"}`` for the convolutional networks of
issue 24. The stages, the engine, the checkpoints and the metrics ask this module for a stack and
never branch on the family: a new family is one module (its stack, ``from_block``, ``fixed_depth``)
and one ``Family`` entry naming it, plus its tests.

Depth: the MLP's is the cell's (``depth`` counts Linear layers); a CNN's is fixed by its layers
(convolutions + 2 linear layers), so its cells have that one depth and any other is refused.
Inputs are flattened images (the prepared datasets and the noise sets store (N, C*H*W)); a family
that needs the image shape gets it from the input size (``noise.image_shape``: square images).
A family's module is imported when its networks are built (``Family``), never by this module.
"""

from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import CorruptFile, remake_hint
from ..files import load_torch, save_torch

MLP = "mlp"


@dataclass(frozen=True)
class Family:
    """A model family: the module that defines it, imported when a job of the family needs it.

    The module defines ``STACK`` (the stacked model: ``STACK(arch, seeds)``; its ``ARCHITECTURE``
    is the architecture's class), ``from_block(model, in_dim, n_classes, depth)`` (the architecture
    a model block describes) and ``fixed_depth(model)`` (the depth a block fixes; None: the cell's).
    Named by a string, not imported here, so that a stage's import closure (``noisefa.sources``)
    holds no family and the rules add each job's own: editing the CNN reruns the CNN's jobs only.
    """

    name: str
    description: str
    module: str

    def _impl(self):
        return importlib.import_module(self.module)

    @property
    def stack(self) -> type:
        return self._impl().STACK

    def architecture(self, model: dict, in_dim: int, n_classes: int, depth: int):
        return self._impl().from_block(model, in_dim, n_classes, depth)

    def depth(self, model: dict) -> int | None:
        return self._impl().fixed_depth(model)


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(MLP, "fully connected: Linear -> ReLU (-> BatchNorm) per hidden layer", "noisefa.nets.model"),
        Family(
            "cnn",
            "convolutional: (conv k x k -> ReLU (-> BatchNorm) -> max-pool) per channel count, a hidden Linear, the readout",
            "noisefa.nets.cnn",
        ),
    )
}


def family_of(model: dict) -> Family:
    name = model.get("family", MLP)
    try:
        return FAMILIES[name]
    except KeyError:
        raise KeyError(f"unknown model family {name!r}; known families: {sorted(FAMILIES)}") from None


def fixed_depth(model: dict) -> int | None:
    """The depth ``model`` (a model block) fixes: a CNN's layers; None for the MLP (the cell's)."""
    return family_of(model).depth(model)


def family_of_arch(arch) -> Family:
    for f in FAMILIES.values():
        if isinstance(arch, f.stack.ARCHITECTURE):
            return f
    raise TypeError(f"{type(arch).__name__} is no registered family's architecture")


def architecture(model: dict, in_dim: int, n_classes: int, depth: int):
    """The architecture ``model`` (a job spec's model block) describes at this input size, classes and depth."""
    return family_of(model).architecture(model, int(in_dim), int(n_classes), int(depth))


def build(model: dict, in_dim: int, n_classes: int, depth: int, seeds: list[int]):
    """The seeded stack of networks ``model`` describes."""
    return family_of(model).stack(architecture(model, in_dim, n_classes, depth), seeds)


def save_checkpoint(model, path: str | Path, **meta) -> None:
    """Write atomically: a crash never leaves a half-written checkpoint. An MLP's payload is the one
    written before families existed, plus ``family``."""
    payload = {
        "family": family_of_arch(model.arch).name,
        "arch": asdict(model.arch),
        "seeds": model.seeds,
        **model.options,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": meta,
    }
    save_torch(payload, path)


def load_checkpoint(path: str | Path, rule: str = "pretrain") -> tuple:
    """(stack, meta) of a checkpoint of any family (one without ``family`` is an MLP's)."""
    payload = load_torch(path, "checkpoint", rule)
    try:
        fam = FAMILIES[payload.get("family", MLP)]
        arch = fam.stack.ARCHITECTURE(**payload["arch"])
        model = fam.stack(arch, payload["seeds"], **{k: payload[k] for k in fam.stack.OPTIONS if k in payload})
        model.load_state_dict(payload["state_dict"])
    except Exception as exc:
        raise CorruptFile(f"checkpoint {path} does not hold a noisefa stack of networks ({exc}); {remake_hint(path)}") from exc
    return model, payload.get("meta", {})
