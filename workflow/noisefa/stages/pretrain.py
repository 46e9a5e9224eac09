"""Pretrain stacked networks with feedback alignment on a noise dataset.

Writes the checkpoint (W, B, biases, BatchNorm state of every network) and the
tidy metrics of the noise phase: batch loss, alignment angle, W-B distance and
effective rank of every layer at every logging step.
"""

from __future__ import annotations

from pathlib import Path

from ..engine import Resume, TensorBatches, eval_schedule, fingerprint, fit, make_optimizer, rows_from, weight_rows
from ..files import load_torch
from ..learning_rules import get_rule
from ..model import Architecture, StackedMLP, save_checkpoint
from ..noise import FreshNoiseStream
from ..runtime import parser, resume_path, setup, user_errors
from ..tidy import frame, write_table


def run(spec: dict, noise_path: Path, checkpoint: Path, metrics: Path) -> None:
    device = setup(spec.get("threads", 1), spec.get("device", "cpu"))
    noise = load_torch(noise_path, "noise dataset", "make_noise")
    arch = Architecture(noise["dim"], noise["n_classes"], spec["depth"], **spec["model"])
    model = StackedMLP(arch, spec["seeds"]).to(device)
    opt_cfg = spec["pretrain"]
    rule = get_rule("fa")
    bs = opt_cfg["batch_size"]
    if noise["spec"]["protocol"] == "fixed":
        source = TensorBatches(
            noise["x"].to(device), noise["y"].to(device), model.seeds, bs, ("noise", noise["name"], arch.depth)
        )
        n_samples = len(noise["y"])
    else:
        source = FreshNoiseStream(noise, model.seeds, bs, device)
        n_samples = None

    def evaluate(step, batch_loss):
        epoch = step * bs / n_samples if n_samples else float("nan")
        entries = weight_rows(model)
        if batch_loss is not None:
            entries.append(("", "batch_loss", batch_loss))
        return rows_from(model, step, epoch, entries)

    steps = opt_cfg["steps"]
    resume = Resume(resume_path(checkpoint), fingerprint(spec, noise_path), spec.get("resume_every_s", 300))
    rows = fit(
        model,
        rule,
        source,
        make_optimizer(model, opt_cfg),
        steps,
        eval_schedule(steps, opt_cfg["log_every"]),
        evaluate,
        where=f"pretrain noise={noise['name']} depth={arch.depth}",
        resume=resume,
        on_divergence=spec.get("on_divergence", "stop"),
    )
    save_checkpoint(model, checkpoint, noise=noise["name"], steps=steps, rule="fa")
    df = frame(
        rows, experiment=spec["experiment"], dataset="", noise=noise["name"], depth=arch.depth, condition="fa_w", phase="noise"
    )
    write_table(df, metrics)
    resume.done()
    last = df[(df.step == steps) & (df.layer == str(arch.depth)) & (df.metric == "angle_deg")].value
    print(
        f"pretrained {len(model.seeds)} networks depth {arch.depth} on {noise['name']}: "
        f"last-layer angle {last.mean():.1f} deg after {steps} steps"
    )


def main(argv=None):
    p = parser(__doc__)
    p.add_argument("--noise", required=True, type=Path)
    p.add_argument("--checkpoint", required=True, type=Path)
    p.add_argument("--metrics", required=True, type=Path)
    a = p.parse_args(argv)
    with user_errors():
        run(a.spec, a.noise, a.checkpoint, a.metrics)


if __name__ == "__main__":
    main()
