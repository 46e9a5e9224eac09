"""Model families: what a job's ``model`` block builds, one registry entry per family.

A job spec's ``model`` is a family's configuration: ``{"hidden", "batchnorm"}`` for the MLP (the
paper's networks; no ``family`` key, so every MLP job's spec is what it was before the CNN), and
``{"family": "cnn", "channels", "kernel", "pool", "hidden"}`` for the convolutional networks of
issue 24. The stages, the engine, the checkpoints and the metrics ask this module for a stack and
never branch on the family: a new family is one ``Family`` entry (an architecture from the input
shape, a stack class) plus its tests.

Depth: the MLP's is the cell's (``depth`` counts Linear layers); a CNN's is fixed by its layers
(convolutions + 2 linear layers), so its cells have that one depth and any other is refused.
Inputs are flattened images (the prepared datasets and the noise sets store (N, C*H*W)); a family
that needs the image shape gets it from the input size (``noise.image_shape``: square images).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from ..data.noise import image_shape
from ..errors import CorruptFile, remake_hint
from ..files import load_torch, save_torch
from .cnn import CNNArchitecture, StackedCNN
from .model import Architecture, StackedMLP

MLP = "mlp"


@dataclass(frozen=True)
class Family:
    name: str
    description: str
    architecture: Callable[[dict, int, int, int], object]  # (model block, input size, classes, depth) -> arch
    stack: type  # the stacked model: Stack(arch, seeds); its ARCHITECTURE is the architecture's class
    depth: Callable[[dict], int] | None = None  # the depth a model block fixes; None: the cell's


def _mlp(model: dict, in_dim: int, n_classes: int, depth: int) -> Architecture:
    return Architecture(in_dim, n_classes, depth, hidden=model["hidden"], batchnorm=model["batchnorm"])


def cnn_depth(model: dict) -> int:
    """Weight layers of a CNN block: its convolutions, the hidden linear layer and the readout."""
    return len(model["channels"]) + 2


def _cnn(model: dict, in_dim: int, n_classes: int, depth: int) -> CNNArchitecture:
    if depth != cnn_depth(model):
        raise ValueError(
            f"a CNN with {len(model['channels'])} convolutions has depth {cnn_depth(model)} (convolutions + 2 linear "
            f"layers), not {depth}"
        )
    return CNNArchitecture(
        image_shape(in_dim), n_classes, tuple(model["channels"]), model["kernel"], model["pool"], model["hidden"],
        batchnorm=bool(model.get("batchnorm", False)),
    )  # fmt: skip


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(MLP, "fully connected: Linear -> ReLU (-> BatchNorm) per hidden layer", _mlp, StackedMLP),
        Family(
            "cnn",
            "convolutional: (conv k x k -> ReLU -> max-pool) per channel count, a hidden Linear, the readout",
            _cnn,
            StackedCNN,
            depth=cnn_depth,
        ),
    )
}


def family_of(model: dict) -> Family:
    name = model.get("family", MLP)
    try:
        return FAMILIES[name]
    except KeyError:
        raise KeyError(f"unknown model family {name!r}; known families: {sorted(FAMILIES)}") from None


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
