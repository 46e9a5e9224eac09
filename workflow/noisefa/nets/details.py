"""Vector-valued measurements of stacked networks, and the last layer's trajectory.

Scalars per layer live in the tidy metrics (``engine.weight_rows``); what has one value
per neuron, probe or singular value goes to the detail table (``tidy.DETAIL_COLUMNS``):
per-neuron alignment angles (Fig. 1e, n = 100 neurons), singular spectra (Fig. 4c),
readout probabilities on probe inputs (Fig. 4b) and the test set's reliability diagram
(calibration). ``Trajectory`` keeps the last layer's W at every evaluation for the PCA
trajectories of Fig. 2.
"""

from __future__ import annotations

import torch

from ..files import save_torch
from . import metrics as M
from .learning_rules import get_rule
from .stack import Stack


def _rows(seeds: list[int], step: int, epoch: float, layer: str, metric: str, values: torch.Tensor) -> list[dict]:
    """values: (models, k) -> one row per (network, index)."""
    values = values.detach().double().cpu()
    return [
        {"step": step, "epoch": epoch, "seed": seed, "layer": layer, "metric": metric, "index": i, "value": v}
        for seed, vec in zip(seeds, values.tolist())
        for i, v in enumerate(vec)
    ]


@torch.no_grad()
def neuron_rows(model: Stack, step: int, epoch: float) -> list[dict]:
    """Per-neuron W-B angle of every layer after the first (whose inputs are pixels, not neurons:
    B1 never carries an error, and a 27,648-pixel input would make the table huge)."""
    out = []
    for i, (W, B) in enumerate(zip(model.weights, model.feedback)):
        if i > 0:
            out += _rows(model.seeds, step, epoch, str(i + 1), "neuron_angle_deg", M.neuron_angles(W, B))
    return out


@torch.no_grad()
def spectrum_rows(model: Stack, step: int, epoch: float) -> list[dict]:
    """Singular values (descending) of every layer's W; NaN for a diverged network."""
    out = []
    for i, W in enumerate(model.weights):
        Wd = M.unfolded(W).double()  # a convolution's kernels as the matrix it applies to each patch
        s = torch.full((W.shape[0], min(Wd.shape[1:])), float("nan"), dtype=torch.float64)
        ok = torch.isfinite(Wd).flatten(1).all(1).cpu()
        if ok.any():
            s[ok] = torch.linalg.svdvals(Wd[ok.to(W.device)]).cpu()
        out += _rows(model.seeds, step, epoch, str(i + 1), "singular_value", s)
    return out


@torch.no_grad()
def readout_rows(model: Stack, probes: torch.Tensor, step: int, epoch: float) -> list[dict]:
    """Softmax readout on probe inputs (``probability_rows``), in eval mode (BatchNorm running
    statistics), as a test input would be."""
    was_training = model.training
    model.eval()
    p = M.readout_probabilities(model(probes, get_rule("bp")))  # the forward pass is rule-independent
    model.train(was_training)
    return probability_rows(model.seeds, p, step, epoch, str(model.arch.depth))


def probability_rows(seeds: list[int], p: torch.Tensor, step: int, epoch: float, layer: str) -> list[dict]:
    """Rows of the readings of "readout at chance" from probabilities ``p`` (models, probes, classes):

    - per probe: the largest probability (>= 1/classes by construction, so not tested against it);
    - per readout unit: its mean probability over the probes (an untrained He-init net
      favours a few classes), and, per probe, the probability of the most favoured unit;
    - per probe, the predicted class (for a test of the class counts against uniform);
    - cross-validated: the unit favoured on the even probes, its probability on each odd probe
      (choosing the unit on the probes it is tested on makes "above 1/C" true by construction).
    """
    unit_mean = p.mean(dim=1)  # (models, classes)
    top = unit_mean.argmax(dim=1)  # (models,)
    top_prob = p.gather(2, top.view(-1, 1, 1).expand(-1, p.shape[1], 1)).squeeze(2)
    cv_top = p[:, 0::2].mean(dim=1).argmax(dim=1)  # chosen on the even probes
    odd = p[:, 1::2]
    cv_prob = odd.gather(2, cv_top.view(-1, 1, 1).expand(-1, odd.shape[1], 1)).squeeze(2)
    cv_rows = _rows(seeds, step, epoch, layer, "readout_cv_top_unit_prob", cv_prob)
    for r in cv_rows:
        r["index"] = 2 * r["index"] + 1  # the probe's own index
    return (
        _rows(seeds, step, epoch, layer, "readout_max_prob", p.max(dim=2).values)
        + _rows(seeds, step, epoch, layer, "readout_top_unit_prob", top_prob)
        + _rows(seeds, step, epoch, layer, "readout_unit_mean", unit_mean)
        + _rows(seeds, step, epoch, layer, "readout_pred_class", p.argmax(dim=2).double())
        + cv_rows
    )


def reliability_rows(
    model: Stack, step: int, epoch: float, count: torch.Tensor, confidence: torch.Tensor, accuracy: torch.Tensor
) -> list[dict]:
    """Reliability diagram (``metrics.reliability_bins``), one row per network and confidence bin
    ``index``: the bin's sample count, mean confidence and accuracy (NaN in an empty bin).
    Network-level: layer ""."""
    return (
        _rows(model.seeds, step, epoch, "", "reliability_count", count)
        + _rows(model.seeds, step, epoch, "", "reliability_confidence", confidence)
        + _rows(model.seeds, step, epoch, "", "reliability_accuracy", accuracy)
    )


@torch.no_grad()
def hidden_features(model: Stack, x: torch.Tensor) -> list[torch.Tensor]:
    """Outputs of every hidden layer (after ReLU and BatchNorm), eval mode: (models, N, hidden) each."""
    was_training = model.training
    model.eval()
    _, hidden = model(x, get_rule("bp"), return_hidden=True)
    model.train(was_training)
    return hidden


class Trajectory:
    """The last layer's W at every evaluation (a few KB per snapshot), resumable."""

    def __init__(self, phase: str):
        self.phase = phase
        self.steps: list[int] = []
        self.snapshots: list[torch.Tensor] = []

    @torch.no_grad()
    def record(self, model: Stack, step: int) -> None:
        self.steps.append(int(step))
        self.snapshots.append(model.weights[-1].detach().cpu().clone())

    def state_dict(self) -> dict:
        return {"steps": list(self.steps), "snapshots": list(self.snapshots)}

    def load_state_dict(self, state: dict) -> None:
        self.steps, self.snapshots = list(state["steps"]), list(state["snapshots"])

    def save(self, model: Stack, path, **meta) -> None:
        save_torch(
            {
                "phase": self.phase,
                "seeds": model.seeds,
                "steps": self.steps,
                "W": torch.stack(self.snapshots),  # (T, models, out, in)
                "B": model.feedback[-1].detach().cpu(),
                "layer": model.arch.depth,
                "meta": meta,
            },
            path,
        )


class Recorded:
    """A job's trajectory and detail rows, saved in and restored from its resume snapshot."""

    def __init__(self, track: Trajectory, detail: list):
        self.track, self.detail = track, detail

    def state_dict(self) -> dict:
        return {"track": self.track.state_dict(), "detail": list(self.detail)}

    def load_state_dict(self, state: dict) -> None:
        self.track.load_state_dict(state["track"])
        self.detail[:] = state["detail"]
