"""The meta-loss during noise training (Figure 6).

Retraces the pretraining job's noise training (same networks, noise batches and
optimiser: the trajectory is identical) and at ``meta.snapshots`` evenly spaced
steps adapts a copy of every network to each task for ``meta.steps`` SGD steps
(``noisefa.nets.meta``). L_meta = sum over tasks of the loss after adaptation. The
snapshot at step 0 is the untrained network (where FA w/o starts), the last one
the noise-pretrained network (where FA w/ starts). For those two, the last
layer's W is kept through every adaptation step (for the PCA of Fig. 6).

With ``controls`` in the spec (the starts of ``noisefa.nets.starts``: aligned, newb, scaled), the same
adaptation also runs from each control built from the untrained and the noise-pretrained networks
(rows with that ``start`` at the last step): which ingredient of noise pretraining lowers the
meta-loss (``noisefa.analysis.mechanism``, C16).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import torch

from ..analysis.tidy import META_COLUMNS, META_DTYPES, write_table
from ..cli import parser, user_errors
from ..data.datasets import load_prepared
from ..errors import refuse_larger
from ..files import load_torch, save_torch
from ..nets.engine import EXPLODING_LOSS, fit, make_optimizer
from ..nets.families import build as build_stack
from ..nets.learning_rules import get_rule
from ..nets.meta import adapt
from ..nets.starts import build
from ..pipeline.experiments import noise_shape, snapshot_steps
from ..runtime import setup_job
from ..seeds import generator
from .pretrain import noise_source


def task_data(path: Path, name: str, cfg: dict, device) -> tuple[torch.Tensor, ...]:
    """Seeded subsets: ``train_samples`` training images to adapt on, ``eval_samples`` test images to score."""
    d = load_prepared(path)
    tr = torch.randperm(len(d.y_train), generator=generator("meta-train", name))[: cfg["train_samples"]]
    te = torch.randperm(len(d.y_test), generator=generator("meta-eval", name))[: cfg["eval_samples"]]
    return tuple(t.to(device) for t in (d.x_train[tr], d.y_train[tr], d.x_test[te], d.y_test[te]))


def run(spec: dict, noise_path: Path, tasks: dict[str, Path], out: Path, trajectory: Path) -> pd.DataFrame:
    device = setup_job(spec)
    noise = load_torch(noise_path, "noise dataset", "make_noise")
    model = build_stack(spec["model"], noise["dim"], noise["n_classes"], spec["depth"], spec["seeds"]).to(device)
    pre, cfg = spec["pretrain"], spec["meta"]
    data = {name: task_data(path, name, cfg, device) for name, path in tasks.items()}
    for name, (x, *_rest) in data.items():
        if x.shape[1] != noise["dim"]:
            raise ValueError(f"task {name} has {x.shape[1]} inputs, the networks take {noise['dim']}")
    for name, (x, *_rest) in data.items():
        refuse_larger("meta.batch_size", cfg["batch_size"], len(x), f"adaptation images of task {name}")
    rule = get_rule("fa")
    source, _ = noise_source(noise, model, pre["batch_size"], device)
    snaps = snapshot_steps(pre["steps"], cfg["snapshots"])
    kept = {}  # (phase, task) -> [last-layer W after each adaptation step]
    untrained = []  # the step-0 networks, for the controls

    def adaptation_rows(net, step, start, phase=None):
        rows, total = [], torch.zeros(net.n_models, dtype=torch.float64)
        for name, task in data.items():
            snapshots = kept.setdefault((phase, name), []) if phase else None

            def record(adapting, k, snapshots=snapshots):
                if snapshots is not None:
                    snapshots.append(adapting.weights[-1].detach().cpu().clone())

            losses = adapt(
                net, rule, *task, steps=cfg["steps"], lr=cfg["lr"], batch_size=cfg["batch_size"],
                seed_key=("meta", name, model.arch.depth), record=record,
            )  # fmt: skip
            for k, values in enumerate(losses):
                rows += [
                    {"step": step, "seed": s, "start": start, "task": name, "adapt_step": k, "metric": "loss", "value": v}
                    for s, v in zip(net.seeds, values.tolist())
                ]
            total += losses[-1]
        return rows + [
            {"step": step, "seed": s, "start": start, "task": "meta", "adapt_step": cfg["steps"], "metric": "loss", "value": v}
            for s, v in zip(net.seeds, total.tolist())
        ]

    def evaluate(step, batch_loss):
        phase = "untrained" if step == 0 else "trained" if step == pre["steps"] else None
        if step == 0:
            untrained.append(model.select(list(range(model.n_models))).to(device))
        rows = adaptation_rows(model, step, "noise", phase)
        if batch_loss is not None:
            rows += [
                {"step": step, "seed": s, "start": "noise", "task": "noise", "adapt_step": 0, "metric": "batch_loss", "value": v}
                for s, v in zip(model.seeds, batch_loss.tolist())
            ]
        return rows

    rows = fit(model, rule, source, make_optimizer(model, pre), pre["steps"], snaps, evaluate, f"meta depth={model.arch.depth}")
    for start in spec.get("controls", []):  # from the untrained (fresh) and the noise-trained (twin) networks
        rows += adaptation_rows(build(start, untrained[0], model), pre["steps"], start)
    df = pd.DataFrame(rows)
    df["noise"], df["dataset"], df["depth"] = noise["name"], noise_shape(noise["dim"], noise["n_classes"]), model.arch.depth
    df = df[META_COLUMNS].astype(META_DTYPES)
    save_torch(
        {
            "seeds": model.seeds,
            "B": model.feedback[-1].detach().cpu(),
            "W": {f"{phase}/{task}": torch.stack(ws) for (phase, task), ws in kept.items()},  # (k+1, models, out, in)
        },
        trajectory,
    )
    write_table(df, out)
    meta_loss = df[df.task == "meta"]
    wild = meta_loss[~(meta_loss.value.abs() <= EXPLODING_LOSS)]  # NaN, inf or exploding
    if not wild.empty:
        print(
            f"WARNING: the meta-loss of seeds {sorted(wild.seed.unique().tolist())} is not finite or above "
            f"{EXPLODING_LOSS:.0e} at noise steps {sorted(wild.step.unique().tolist())} (up to {wild.value.max():.3g}): "
            "adaptation blew up; lower meta.lr, or pretrain.lr if the noise training itself exploded.",
            flush=True,
        )
    m = meta_loss.groupby("step").value.mean()
    print(f"meta-loss (sum over {len(data)} tasks after {cfg['steps']} steps), mean over networks, by noise step:")
    print(m.round(4).to_string())
    return df


def main(argv=None):
    p = parser(__doc__, files="noise out trajectory")
    p.add_argument("--tasks", type=json.loads, required=True, help="JSON {task: prepared dataset}")
    a = p.parse_args(argv)
    with user_errors():
        run(a.spec, a.noise, {k: Path(v) for k, v in a.tasks.items()}, a.out, a.trajectory)


if __name__ == "__main__":
    main()
