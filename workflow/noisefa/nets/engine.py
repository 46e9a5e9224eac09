"""The training engine: stacked networks, in-memory batches, evaluation rows.

No DataLoader and no per-sample Python: a batch is one gather ``x[idx]`` with
``idx`` of shape (models, batch), each network visiting the data in its own
seeded order. The host synchronises only at evaluation points.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import torch

from ..errors import DivergenceError
from ..files import load_torch, save_torch
from ..seeds import derive_seed
from . import feedback, optimizers
from . import metrics as M
from .learning_rules import LearningRule, get_rule
from .stack import Stack


def make_optimizer(model: Stack, cfg: dict):
    """The optimiser ``cfg["optimizer"]`` names (``optimizers.OPTIMIZERS``) over the model's parameters."""
    return optimizers.make_optimizer(model.parameters(), cfg)


class TensorBatches:
    """Minibatches of in-memory tensors; network m shuffles with its own seed each epoch."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, seeds: list[int], batch_size: int, key: tuple):
        self.x, self.y, self.batch_size = x, y, batch_size
        self.gens = [torch.Generator().manual_seed(derive_seed("batches", *key, s)) for s in seeds]
        self.steps_per_epoch = math.ceil(len(y) / batch_size)
        self.pos = 0
        self.perms = None

    def next(self):
        if self.pos == 0:
            self.perms = torch.stack([torch.randperm(len(self.y), generator=g) for g in self.gens]).to(self.x.device)
        idx = self.perms[:, self.pos * self.batch_size : (self.pos + 1) * self.batch_size]
        self.pos = (self.pos + 1) % self.steps_per_epoch
        M, b = idx.shape
        flat = idx.reshape(-1)  # index_select is ~5x faster than advanced indexing here
        return self.x.index_select(0, flat).view(M, b, -1), self.y.index_select(0, flat).view(M, b)

    def calibration_batch(self) -> torch.Tensor:
        """One batch of this phase's inputs for BatchNorm's starting statistics: the first
        ``batch_size`` samples, shared by every network (no shuffling state is consumed)."""
        return self.x[: self.batch_size]

    def state_dict(self) -> dict:
        return {"gens": [g.get_state() for g in self.gens], "pos": self.pos, "perms": self.perms}

    def load_state_dict(self, state: dict) -> None:
        for g, st in zip(self.gens, state["gens"]):
            g.set_state(st)
        self.pos = state["pos"]
        self.perms = None if state["perms"] is None else state["perms"].to(self.x.device)


@torch.no_grad()
def evaluate_split(
    model: Stack, rule: LearningRule, x, y, chunk: int = 8192, n_bins: int | None = None, keep_logits: bool = False
):
    """Loss and accuracy per model on (x, y), in eval mode, in chunks; with ``n_bins``, also the
    reliability sums (``metrics.reliability_sums``) of the same logits, for calibration; with
    ``keep_logits``, last, those logits themselves (models, N, classes), on x's device, for the
    measures that need every image at once (``metrics.logit_range``, ``metrics.fit_temperature``)."""
    was_training = model.training
    model.eval()
    loss = torch.zeros(model.n_models, device=x.device, dtype=torch.float64)
    correct = torch.zeros_like(loss)
    sums = torch.zeros(model.n_models, n_bins or 1, 3, device=x.device, dtype=torch.float64)
    kept = []
    for i in range(0, len(y), chunk):
        logits = model(x[i : i + chunk], rule)
        n = len(y[i : i + chunk])
        loss += M.stacked_cross_entropy(logits, y[i : i + chunk]).double() * n
        correct += M.stacked_accuracy(logits, y[i : i + chunk]).double() * n
        if n_bins:
            sums += M.reliability_sums(logits, y[i : i + chunk], n_bins)
        if keep_logits:
            kept.append(logits)
    model.train(was_training)
    out = (loss / len(y)).cpu(), (correct / len(y)).cpu()
    out = (*out, sums.cpu()) if n_bins else out
    return (*out, torch.cat(kept, 1)) if keep_logits else out


def delta_angles(model: Stack, rule: LearningRule, x, y) -> list[torch.Tensor]:
    """Angle between the rule's weight gradient and backprop's, per hidden layer."""
    was_training = model.training
    model.eval()  # BatchNorm running stats must not move on a probe
    grads = []
    for r in (rule, get_rule("bp")):
        loss = M.stacked_cross_entropy(model(x, r), y).sum()
        grads.append(torch.autograd.grad(loss, list(model.weights)))
    model.train(was_training)
    return [M.vector_angle(a.flatten(1), b.flatten(1)).cpu() for a, b in zip(*grads)][:-1]


@torch.no_grad()
def weight_rows(model: Stack) -> list[tuple[str, str, torch.Tensor]]:
    """(layer, metric, values per model) for alignment, distance and erank of every layer."""
    out = []
    for i, (W, B) in enumerate(zip(model.weights, model.feedback)):
        layer = str(i + 1)
        out += [
            (layer, "angle_deg", M.neuron_angles(W, B).mean(1).cpu()),
            (layer, "matrix_angle_deg", M.matrix_angle(W, B).cpu()),
            (layer, "wb_distance", M.wb_distance(W, B).cpu()),
            (layer, "wb_distance_norm", M.wb_distance_normalised(W, B).cpu()),
            (layer, "erank", M.effective_rank(M.unfolded(W)).cpu()),
        ]
    return out


def rows_from(model: Stack, step: int, epoch: float, entries) -> list[dict]:
    rows = []
    for layer, metric, values in entries:
        for seed, v in zip(model.seeds, values.tolist()):
            rows.append({"step": step, "epoch": epoch, "seed": seed, "layer": layer, "metric": metric, "value": v})
    return rows


class Resume:
    """A resumable snapshot of a running ``fit``: not a declared output, written atomically.

    Saved at evaluation points (so the resumed run computes exactly what the
    uninterrupted one would) once ``every_s`` seconds have passed since the last
    save; used only if its fingerprint (the job's spec and inputs) matches.
    """

    def __init__(self, path: str | Path | None, fingerprint: str, every_s: float):
        self.path = Path(path) if path else None
        self.fingerprint, self.every_s = fingerprint, every_s
        self.last = time.monotonic()

    def load(self) -> dict | None:
        if self.path is None or not self.path.exists():
            return None
        try:
            state = load_torch(self.path, "resume checkpoint", "<the same rule>")
        except RuntimeError as exc:
            print(f"ignoring unreadable resume checkpoint: {exc}")
            return None
        if state.get("fingerprint") != self.fingerprint:
            print(f"ignoring resume checkpoint {self.path}: it belongs to other parameters or inputs")
            return None
        return state

    def maybe_save(self, make_state: Callable[[], dict]) -> None:
        if self.path is None or self.every_s < 0:  # negative: never (0: at every evaluation)
            return
        if time.monotonic() - self.last >= self.every_s:
            save_torch({"fingerprint": self.fingerprint, **make_state()}, self.path)
            self.last = time.monotonic()

    def done(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


# Bumped when what a resume snapshot holds changes (2: optimizer state of noisefa.nets.optimizers), so
# a snapshot left by older code is ignored rather than misread.
RESUME_FORMAT = 2


def fingerprint(spec: dict, *inputs: str | Path | None) -> str:
    """Identity of a job: its spec, the snapshot format and the size and mtime of its input files."""
    ident = [f"resume-format {RESUME_FORMAT}", json.dumps(spec, sort_keys=True)]
    for p in inputs:
        if p is not None:
            st = Path(p).stat()
            ident.append(f"{Path(p).resolve()}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(ident).encode()).hexdigest()


DIVERGENCE_POLICIES = ("stop", "record")


def fit(
    model: Stack,
    rule: LearningRule,
    source,
    optimizer,
    n_steps: int,
    eval_steps,
    evaluate: Callable[[int, torch.Tensor | None], list[dict]],
    where: str,
    resume: Resume | None = None,
    on_divergence: str = "stop",
    extra_state=None,
    stop: Callable[[list[dict]], bool] | None = None,
) -> list[dict]:
    """Train for ``n_steps``; call ``evaluate(step, mean batch loss)`` at 0 and each eval step.

    A network whose training loss is not finite stops the job (``on_divergence="stop"``)
    or is recorded with a ``diverged`` row and left out of statistics (``"record"``);
    the other networks of the stack are unaffected either way. ``extra_state`` (an object
    with ``state_dict``/``load_state_dict``, e.g. a trajectory that ``evaluate`` fills) is
    saved in and restored from the resume snapshot with everything else. After every
    ``optimizer.step()`` ``feedback.after_step`` updates B (kp, wm; a no-op otherwise); B
    is a buffer, so the snapshot's ``model.state_dict()`` resumes its evolution too.
    ``stop(rows)``, asked after every evaluation, ends training there (the convergence rule):
    the last row's step is then the run's last step.
    """
    if on_divergence not in DIVERGENCE_POLICIES:
        raise ValueError(f"on_divergence must be one of {DIVERGENCE_POLICIES}, got {on_divergence!r}")
    eval_steps = set(eval_steps) | {n_steps}
    state = resume.load() if resume else None
    if state is None:
        # Step 0 describes this phase's network: its BatchNorm statistics come from a batch of the
        # phase's inputs, not from init (mean 0, var 1: no normalisation) or an earlier phase.
        model.estimate_batchnorm(source.calibration_batch())
        rows, start, diverged = evaluate(0, None), 1, []
        print(progress_line(where, 0, n_steps, 0.0, 0, rows), flush=True)
    else:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        source.load_state_dict(state["source"])
        rows, start, diverged = state["rows"], state["step"] + 1, state["diverged"]
        if extra_state is not None:
            extra_state.load_state_dict(state["extra"])
        print(f"{where}: resumed from step {state['step']} of {n_steps}")
    running = torch.zeros(model.n_models, device=next(model.parameters()).device)
    count, warned = 0, False
    model.train()
    t0 = time.monotonic()
    for step in range(start, n_steps + 1):
        x, y = source.next()
        losses = M.stacked_cross_entropy(model(x, rule), y)
        optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()
        before = feedback.before_step(rule, model)  # kp: W before the step
        optimizer.step()
        feedback.after_step(rule, model, optimizer, before, step)  # kp, wm: B changes in place (no_grad)
        running += losses.detach()
        count += 1
        if step not in eval_steps:
            continue
        batch_loss = (running / count).cpu()
        bad = [s for s, v in zip(model.seeds, batch_loss.tolist()) if not math.isfinite(v) and s not in diverged]
        if bad and on_divergence == "stop":
            raise DivergenceError(
                f"{where}: training loss is not finite at step {step} for seeds {bad}. Lower the learning rate, "
                "enable model.batchnorm, change the optimiser, or set on_divergence: record to keep the other networks."
            )
        exploding = [(sd, v) for sd, v in zip(model.seeds, batch_loss.tolist()) if EXPLODING_LOSS < v < math.inf]
        if exploding and not warned:
            warned = True  # once per job: the log says when it started
            print(
                f"WARNING {where}: the training loss of seeds {[sd for sd, _ in exploding]} is finite but exploding at step "
                f"{step} (up to {max(v for _, v in exploding):.3g} nats, above {EXPLODING_LOSS:.0e}): their weights are "
                "blowing up. Lower the learning rate or enable model.batchnorm; the tables flag such networks as blown up "
                "(summary.blown_up) when their W-B distance or logit range has exploded, and leave them out.",
                flush=True,
            )
        if bad:
            print(f"{where}: seeds {bad} diverged at step {step}; recorded and excluded from statistics")
            diverged += bad
            rows += [
                {"step": step, "epoch": float("nan"), "seed": s, "layer": "", "metric": "diverged", "value": 1.0} for s in bad
            ]
        new = evaluate(step, batch_loss)
        rows += new
        print(progress_line(where, step, n_steps, time.monotonic() - t0, step - start + 1, new), flush=True)
        if stop is not None and step < n_steps and stop(rows):
            print(f"{where}: every network has converged at step {step} of {n_steps}: training stops", flush=True)
            break
        running.zero_()
        count = 0
        model.train()
        if resume and step < n_steps:
            resume.maybe_save(
                lambda step=step: {
                    "step": step,
                    "rows": rows,
                    "diverged": diverged,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "source": source.state_dict(),
                    "extra": None if extra_state is None else extra_state.state_dict(),
                }
            )
    return rows


# A cross-entropy above this many nats means logits a million apart: no ordinary training gets
# there (the same bound as summary.LOGIT_RANGE_BOUND), but a finite loss does not stop the job.
EXPLODING_LOSS = 1e6


def progress_line(where: str, step: int, n_steps: int, elapsed_s: float, steps_done: int, rows: list[dict]) -> str:
    """One line per evaluation, for ``tail -f`` on a job's log: step, epoch, elapsed time, ETA (from
    the steps of this run so far), and the networks' mean test accuracy, else mean batch loss."""
    net = [r for r in rows if r.get("layer", "") == ""]
    shown = ""
    # what the job is for: data training's accuracy, the meta job's meta-loss, else the training loss
    for name, metric, task in (("test_acc", "test_acc", None), ("meta-loss", "loss", "meta"), ("batch_loss", "batch_loss", None)):
        values = [r["value"] for r in net if r["metric"] == metric and r.get("task") == task and math.isfinite(r["value"])]
        if values:
            shown = f"; mean {name} {sum(values) / len(values):.4f} over {len(values)} networks"
            break
    epochs = [r["epoch"] for r in rows if math.isfinite(r.get("epoch", float("nan")))]
    epoch = f" (epoch {epochs[0]:.2f})" if epochs else ""
    eta = elapsed_s / max(steps_done, 1) * (n_steps - step)
    return f"{where}: step {step}/{n_steps}{epoch}, {_clock(elapsed_s)} elapsed, ETA {_clock(eta)}{shown}"


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def eval_schedule(n_steps: int, every: int) -> list[int]:
    return sorted(set(range(every, n_steps + 1, max(every, 1))) | {n_steps})
