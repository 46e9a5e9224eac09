"""Which noise-training setting, without BatchNorm, trains deep networks without diverging and aligns?

The primary protocol's rule (README, "The primary protocol") starts from the paper's text — no
BatchNorm — and allows, in this order, the smallest deviations that restore a failed premise:
P3 (training does not diverge) and P2 (noise training aligns W to B: the last layer's mean angle
at most ``ALIGNED_DEG`` and below 90° over networks). This study measures the candidates at every
depth on the same fixed noise set, each from the same seeded initial networks:

- ``sgd`` lr 0.01 (the data optimiser: SGD + momentum 0.9), lr 0.003 and lr 0.001;
- ``sgd`` lr 0.01 with each network's gradient norm clipped at 1.0;
- ``adam`` lr 1e-3;
- and (``--settings "BatchNorm, <any of these>"``) BatchNorm after every ReLU, the rule's D3, with
  each of them.

It records, at every checkpoint step, every network's batch loss and every layer's mean angle. A
network has diverged (P3 fails) once its loss is not finite or has exceeded ``LOSS_LIMIT`` at any
checkpoint so far: a loss of 10^4 is finite but no longer training.
Run: ``python -m noisefa.tools.deep_noise_study --out results/studies/deep_noise.json`` (about ten
minutes on 2 cores with ``--jobs 2``); it prints a table and writes JSON. It is a study, not a
test: the README quotes its table, and the configs' per-depth pretraining settings follow it.

Another model family (``--model``, a job spec's model block, e.g. the CNN's
``{"family": "cnn", "channels": [16, 32], "kernel": 5, "pool": 2, "hidden": 100}``) is studied the
same way at its own depth, over fixed sets of several sizes (``--sizes``: deviation D1, a smaller
set, before D2's optimiser settings): docs/cnn.md gives the CNN's table.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from ..data.noise import FixedNoiseBatches, make_noise_dataset
from ..nets import metrics as M
from ..nets.engine import fit, make_optimizer
from ..nets.families import build, family_of
from ..nets.learning_rules import get_rule

ALIGNED_DEG = 60.0  # P2: the last layer's mean angle at most this (30 degrees below random)
LOSS_LIMIT = 2 * math.log(10)  # P3: the batch loss never exceeds twice chance-level cross-entropy (2 ln C)
NOISE = {"distribution": "gaussian", "mean": 0.0, "std": 1.0, "protocol": "fixed", "n_samples": 60000, "seed": 0}
SETTINGS = {  # name -> (optimiser, per-network gradient-norm clip, BatchNorm)
    "sgd lr 0.01": ({"optimizer": "sgd", "lr": 0.01, "momentum": 0.9}, None, False),
    "sgd lr 0.003": ({"optimizer": "sgd", "lr": 0.003, "momentum": 0.9}, None, False),
    "sgd lr 0.001": ({"optimizer": "sgd", "lr": 0.001, "momentum": 0.9}, None, False),
    "sgd lr 0.01 clip 1": ({"optimizer": "sgd", "lr": 0.01, "momentum": 0.9}, 1.0, False),
    "adam lr 0.001": ({"optimizer": "adam", "lr": 0.001}, None, False),
}
DEFAULT_SETTINGS = list(SETTINGS)
# D3, the rule's last deviation: BatchNorm after every ReLU, with each D2 candidate (the MLP's
# deep networks needed none of them; the CNN needs D2 and D3 together: docs/cnn.md)
SETTINGS.update({f"BatchNorm, {name}": (opt, clip, True) for name, (opt, clip, _) in list(SETTINGS.items())})
# The study chooses settings that the cells then use: it must not select on the networks that test
# them. Cells use seeds 0..n_seeds-1 (the schema caps n_seeds below this), so these never overlap.
STUDY_SEEDS = [100, 101, 102]


MLP = {"hidden": 100, "batchnorm": False}


def run_one(depth: int, setting: str, steps: int, checkpoints: list[int], seeds: list[int], dim: int = 784,
            model: dict | None = None, n_samples: int = 60000) -> dict:  # fmt: skip
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    name = f"gaussian_fixed{n_samples // 1000}k" if n_samples % 1000 == 0 else f"gaussian_fixed{n_samples}"
    noise = make_noise_dataset({**NOISE, "n_samples": n_samples}, name, dim, 10)
    opt_cfg, clip, batchnorm = SETTINGS[setting]
    block = {**(model or MLP), "batchnorm": batchnorm}
    family_of(block)  # an unknown family fails here, before any noise is made
    model = build(block, dim, 10, depth, seeds)
    opt = make_optimizer(model, {**opt_cfg, "clip_grad_norm": clip or 0})
    source = FixedNoiseBatches(noise, model.seeds, 128, ("noise", name, depth))
    records = []

    def evaluate(step, batch_loss):
        angles = [M.neuron_angles(W, B).mean(1).tolist() for W, B in zip(model.weights, model.feedback)]
        records.append({"step": step, "loss": None if batch_loss is None else batch_loss.tolist(), "angles": angles})
        if batch_loss is not None:  # each checkpoint as it comes: a long run that is stopped still said something
            last = _mean_finite(angles[-1])
            print(
                f"depth {depth} {name} {setting}: step {step}, loss {_mean_finite(batch_loss.tolist()):.3g}, "
                f"last-layer angle {last:.1f} deg",
                flush=True,
            )
        return []

    rows = fit(model, get_rule("fa"), source, opt, steps, checkpoints, evaluate, f"depth {depth} {setting}",
               on_divergence="record")  # fmt: skip
    diverged = sorted({r["seed"] for r in rows if r["metric"] == "diverged"})
    return {"depth": depth, "setting": setting, "seeds": seeds, "diverged": diverged, "records": records,
            "seconds": time.perf_counter() - t0, "n_samples": n_samples, "model": block}  # fmt: skip


def summarise(result: dict) -> list[dict]:
    """One line per checkpoint: diverged networks, last layer's mean angle, whether P2 and P3 hold."""
    out, ever = [], set()
    for rec in result["records"]:
        if rec["step"] == 0:
            continue
        last = [a for a in rec["angles"][-1] if math.isfinite(a)]
        ever |= {m for m, v in enumerate(rec["loss"] or []) if not (math.isfinite(v) and v <= LOSS_LIMIT)}
        bad = len(ever)
        mean = sum(last) / len(last) if last else math.nan
        out.append({"depth": result["depth"], "setting": result["setting"], "step": rec["step"], "diverged": bad,
                    "n_samples": result.get("n_samples", NOISE["n_samples"]), "loss": _mean_finite(rec["loss"] or []),
                    "last_angle": mean, "angles": [sum(a) / len(a) for a in rec["angles"]],
                    "P3": bad == 0, "P2": bad == 0 and mean <= ALIGNED_DEG})  # fmt: skip
    return out


def _mean_finite(values: list[float]) -> float:
    v = [x for x in values if math.isfinite(x)]
    return sum(v) / len(v) if v else math.nan


def table(lines: list[dict]) -> str:
    head = (f"{'depth':>5} {'set':>6} {'setting':<20} {'step':>6} {'diverged':>8} {'loss':>8} {'last angle':>10}  "
            f"{'every layer (deg)':<32} P3 P2")  # fmt: skip
    rows = [head, "-" * len(head)]
    for x in lines:
        layers = " ".join(f"{a:5.1f}" for a in x["angles"])
        n = x.get("n_samples", NOISE["n_samples"])
        size = f"{n // 1000}k" if n % 1000 == 0 else str(n)
        rows.append(f"{x['depth']:>5} {size:>6} {x['setting']:<20} {x['step']:>6} {x['diverged']:>8} "
                    f"{x.get('loss', math.nan):>8.3g} {x['last_angle']:>10.1f}  "
                    f"{layers:<32} {'y' if x['P3'] else 'n':>2} {'y' if x['P2'] else 'n':>2}")  # fmt: skip
    return "\n".join(rows)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--depths", type=int, nargs="+", default=[2, 3, 4, 5])
    p.add_argument("--model", type=json.loads, default=None, help="a model block (noisefa.nets.families); default the MLP")
    p.add_argument("--sizes", type=int, nargs="+", default=[NOISE["n_samples"]], help="fixed noise set sizes")
    p.add_argument("--settings", nargs="+", default=DEFAULT_SETTINGS, choices=list(SETTINGS))
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--checkpoints", type=int, nargs="+", default=[1000, 3000, 5000, 10000, 20000])
    p.add_argument("--seeds", type=int, nargs="+", default=STUDY_SEEDS)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path("results/studies/deep_noise.json"))
    p.add_argument("--summarise", type=Path, nargs="+", help="only reprint the table of earlier runs' JSON files")
    a = p.parse_args(argv)
    if a.summarise:
        results = [r for f in a.summarise for r in json.loads(f.read_text())["results"]]
        print(table([x for r in results for x in summarise(r)]))
        return
    checkpoints = sorted(c for c in set(a.checkpoints) if c <= a.steps)
    depths = [d] if a.model and (d := family_of(a.model).depth(a.model)) else a.depths
    jobs = [(d, s, n) for n in a.sizes for d in depths for s in a.settings]
    with ProcessPoolExecutor(a.jobs) as pool:
        futures = [pool.submit(run_one, d, s, a.steps, checkpoints, a.seeds, 784, a.model, n) for d, s, n in jobs]
        results = [f.result() for f in futures]
    lines = [x for r in results for x in summarise(r)]
    print(table(lines))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"aligned_deg": ALIGNED_DEG, "loss_limit": LOSS_LIMIT, "noise": NOISE}
    a.out.write_text(json.dumps({**meta, "results": results, "lines": lines}, indent=1))
    print(f"\nwritten {a.out}")


if __name__ == "__main__":
    main()
