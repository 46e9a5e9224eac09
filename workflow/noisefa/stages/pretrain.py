"""Pretrain stacked networks with feedback alignment on a noise dataset.

Writes the checkpoint (W, B, biases, BatchNorm state of every network), the tidy
metrics of the noise phase (batch loss, alignment angle, W-B distance and
effective rank of every layer at every logging step), the detail table
(per-neuron angles and readout probabilities on fresh probes before and after,
singular spectra at every logging step) and the last layer's trajectory.

With ``--init`` it continues from a data-trained checkpoint instead of a fresh
init: the data->noise order control of Fig. 2f,g.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..analysis.tidy import detail_frame, frame, write_table
from ..cli import parser, user_errors
from ..data.noise import FixedNoiseBatches, FreshNoiseStream, sample
from ..errors import CorruptFile, refuse_larger, remake_hint
from ..files import load_torch
from ..nets.details import Recorded, Trajectory, neuron_rows, readout_rows, spectrum_rows
from ..nets.engine import Resume, eval_schedule, fingerprint, fit, make_optimizer, rows_from, weight_rows
from ..nets.families import architecture, family_of_arch, load_checkpoint, save_checkpoint
from ..nets.learning_rules import get_rule
from ..nets.stack import Stack
from ..pipeline import paths
from ..pipeline.experiments import noise_shape
from ..runtime import resume_path, setup_job
from ..seeds import generator


def readout_probes(noise: dict, n: int) -> torch.Tensor:
    """Fresh inputs from the noise set's distribution, the same for every job of that set and shape."""
    gen = generator("readout-probes", noise["name"], noise["dim"])
    return sample(noise["spec"], n, noise["dim"], noise["n_classes"], gen)[0]


def noise_source(noise: dict, model: Stack, batch_size: int, device):
    """The batches of noise training and the set size (None for fresh noise): one definition, so the
    meta-loss job retraces exactly the pretraining job's trajectory."""
    if noise["spec"]["protocol"] == "fixed":
        if "n_samples" not in noise:
            path = paths.NOISE.format(noise=noise["name"], dim=noise["dim"], classes=noise["n_classes"])
            raise CorruptFile(f"noise set {noise['name']}: a file of an older format (its samples stored); {remake_hint(path)}")
        n = noise["n_samples"]
        refuse_larger("pretrain.batch_size", batch_size, n, f"samples of noise set {noise['name']}")
        key = ("noise", noise["name"], model.arch.depth)
        return FixedNoiseBatches(noise, model.seeds, batch_size, key, device), n
    return FreshNoiseStream(noise, model.seeds, batch_size, device), None


def initial_model(spec: dict, arch, init: Path | None) -> Stack:
    if init is None:
        return family_of_arch(arch).stack(arch, spec["seeds"])
    model, _ = load_checkpoint(init, rule="train")
    if model.arch != arch or model.seeds != [int(s) for s in spec["seeds"]]:
        raise CorruptFile(
            f"checkpoint {init} holds {model.arch} seeds {model.seeds}; this job needs {arch} seeds {spec['seeds']}; "
            + remake_hint(init)
        )
    return model


def run(
    spec: dict, noise_path: Path, checkpoint: Path, metrics: Path, details: Path, trajectory: Path, init: Path | None = None
) -> None:
    device = setup_job(spec)
    noise = load_torch(noise_path, "noise dataset", "make_noise")
    arch = architecture(spec["model"], noise["dim"], noise["n_classes"], spec["depth"])
    model = initial_model(spec, arch, init).to(device)
    probes = readout_probes(noise, spec["pretrain"]["readout_probes"]).to(device)
    phase = spec.get("phase", "noise")
    track = Trajectory(phase)
    detail = []
    opt_cfg = spec["pretrain"]
    rule = get_rule("fa")
    bs = opt_cfg["batch_size"]
    source, n_samples = noise_source(noise, model, bs, device)

    steps = opt_cfg["steps"]

    def evaluate(step, batch_loss):
        epoch = step * bs / n_samples if n_samples else float("nan")
        track.record(model, step)
        detail.extend(spectrum_rows(model, step, epoch))
        if step in (0, steps):
            detail.extend(neuron_rows(model, step, epoch) + readout_rows(model, probes, step, epoch))
        entries = weight_rows(model)
        if batch_loss is not None:
            entries.append(("", "batch_loss", batch_loss))
        return rows_from(model, step, epoch, entries)

    resume = Resume(resume_path(checkpoint), fingerprint(spec, noise_path, init), spec.get("resume_every_s", 300))
    rows = fit(
        model,
        rule,
        source,
        make_optimizer(model, opt_cfg),
        steps,
        eval_schedule(steps, opt_cfg["log_every"]),
        evaluate,
        where=f"{phase} noise={noise['name']} depth={arch.depth}",
        resume=resume,
        on_divergence=spec.get("on_divergence", "stop"),
        extra_state=Recorded(track, detail),
    )
    save_checkpoint(model, checkpoint, noise=noise["name"], steps=steps, rule="fa")
    keys = dict(
        experiment=spec["experiment"],
        dataset=spec.get("dataset", noise_shape(noise["dim"], noise["n_classes"])),
        noise=noise["name"],
        depth=arch.depth,
        condition=spec.get("condition", "fa_w"),
        phase=phase,
    )
    df = frame(rows, **keys)
    write_table(detail_frame(detail, **keys), details)
    track.save(model, trajectory, **keys)
    write_table(df, metrics)  # last: the job's completion marker for a reader
    resume.done()
    last = df[(df.step == steps) & (df.layer == str(arch.depth)) & (df.metric == "angle_deg")].value
    print(
        f"pretrained {len(model.seeds)} networks depth {arch.depth} on {noise['name']}: "
        f"last-layer angle {last.mean():.1f} deg after {steps} steps"
    )


def main(argv=None):
    # --init: start from this (data-trained) checkpoint (the data->noise order control)
    a = parser(__doc__, files="noise checkpoint metrics details trajectory", optional="init").parse_args(argv)
    with user_errors():
        run(a.spec, a.noise, a.checkpoint, a.metrics, a.details, a.trajectory, a.init)


if __name__ == "__main__":
    main()
