"""Train the stacked networks of one cell (dataset x depth x condition) on data.

FA w/ starts from the noise-pretrained checkpoint, BP and FA w/o from the same
seeded initial W (and, for FA, the same B); a control (``conditions.CONTROLS``) from what its
start (``noisefa.nets.starts``) makes of the seeded networks and that checkpoint. Evaluates every ``1/evals_per_epoch``
epoch: test loss and accuracy, per layer the alignment angle, W-B distance,
effective rank and the angle between the rule's update and BP's, and per hidden
layer the effective dimensionality of its features' Gram matrix; at the first and
the last step also the loss and accuracy on a training subset, the test set's
expected calibration error, the test logits' scale (median max - min logit) and,
with one temperature per network fitted on the test set, the test and
training-subset cross-entropies at that temperature (a loss gap that the logit
scale does not move); these are read there only. Also writes per-neuron angles
and the test set's reliability diagram before and after (detail table) and the
last layer's trajectory.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..analysis.summary import all_converged
from ..analysis.tidy import detail_frame, frame, write_table
from ..cli import parser, user_errors
from ..data.datasets import load_prepared
from ..errors import CorruptFile, refuse_larger
from ..nets import metrics as M
from ..nets.details import Recorded, Trajectory, hidden_features, neuron_rows, reliability_rows
from ..nets.engine import (
    Resume,
    TensorBatches,
    delta_angles,
    evaluate_split,
    fingerprint,
    fit,
    make_optimizer,
    rows_from,
    weight_rows,
)
from ..nets.families import architecture, family_of_arch, load_checkpoint, save_checkpoint
from ..nets.learning_rules import get_rule
from ..nets.stack import Stack
from ..nets.starts import build
from ..pipeline.conditions import get_condition
from ..runtime import resume_path, setup_job
from ..seeds import generator

# metrics evaluated at the first and the last step only (tidy.METRICS says what each is)
AT_ENDS = (
    "train_loss",
    "train_acc",
    "test_ece",
    "test_logit_range",
    "test_temperature",
    "test_loss_calibrated",
    "train_loss_calibrated",
)
ECE_BINS = 15  # equal-width confidence bins of the test-set ECE and reliability diagram


def initial_model(spec: dict, arch, pretrained: Path | None, start: str = "init") -> Stack:
    """The networks a job starts from: what ``start`` (noisefa.nets.starts) makes of the seeded stack
    and, where given, of the noise-pretrained twin checkpoint ``pretrained`` (checked first: same
    architecture, seeds and B)."""
    fresh = family_of_arch(arch).stack(arch, spec["seeds"])
    twin = None
    if pretrained is not None:
        twin, _ = load_checkpoint(pretrained, rule="pretrain")
        if twin.arch != arch or twin.seeds != fresh.seeds:
            raise CorruptFile(
                f"pretrained checkpoint {pretrained} holds {twin.arch} seeds {twin.seeds}; "
                f"this job needs {arch} seeds {fresh.seeds}. Rerun pretraining."
            )
        for i, (b_pre, b_init) in enumerate(zip(twin.feedback, fresh.feedback)):
            if not torch.equal(b_pre, b_init):  # B must be the one FA w/o uses: fixed forever
                raise CorruptFile(f"B{i} of {pretrained} differs from the seeded B: the checkpoint is stale; rerun pretraining")
    return build(start, fresh, twin, spec.get("start"))


def run(
    spec: dict,
    data_path: Path,
    pretrained: Path | None,
    checkpoint: Path,
    metrics: Path,
    details: Path,
    trajectory: Path,
) -> None:
    device = setup_job(spec)
    cond = get_condition(spec["condition"])
    if cond.pretrained != (pretrained is not None):
        raise ValueError(f"condition {cond.name} {'needs' if cond.pretrained else 'takes no'} --pretrained checkpoint")
    tcfg = spec["train"]
    data = load_prepared(data_path, tcfg.get("train_subset"), device)
    arch = architecture(spec["model"], data.in_dim, data.n_classes, spec["depth"])
    model = initial_model(spec, arch, pretrained, cond.start).to(device)
    rule = get_rule(cond.rule)
    bs = tcfg["batch_size"]
    refuse_larger("train.batch_size", bs, len(data.y_train), f"training images of {data.name}")  # else batches shrink
    source = TensorBatches(data.x_train, data.y_train, model.seeds, bs, ("data", data.name, arch.depth))
    # A fixed subset for train-set metrics and probes (the whole set if small).
    sub = torch.randperm(len(data.y_train), generator=generator("eval-subset", data.name))
    sub = sub[: tcfg["eval_train_samples"]].to(device)
    x_eval, y_eval = data.x_train[sub], data.y_train[sub]
    n_probe = min(tcfg["probe_batch"], len(sub))
    x_gram = data.x_test[: tcfg["gram_samples"]]
    spe = source.steps_per_epoch
    n_steps = round(tcfg["epochs"] * spe)
    track = Trajectory("data")
    detail = []

    def end_details(step, calibration):
        """Per-neuron angles and the reliability diagram: at the start and at the run's last step."""
        detail.extend(neuron_rows(model, step, step / spe))
        detail.extend(reliability_rows(model, step, step / spe, *M.reliability_from_sums(calibration)))

    def at_ends(step):
        """The metrics read only at the run's first and last step (the generalisation gaps, C12; the
        calibration, B3 and the rules figure): the training-subset loss and accuracy, the test ECE,
        and the logits' scale with the losses freed of it. Computed there only, they cost two passes
        per run instead of one per evaluation (the training subset was half of every evaluation's
        images), with the same values. The scale measures use the logits of the same two passes:
        the median test logit range, and the temperature T fitted on the test set (one parameter
        on 10,000 images: in-sample optimism ~1/(2N) nats) with both cross-entropies at that T, so
        test_loss_calibrated - train_loss_calibrated is a generalisation gap that scaling a
        network's logits leaves unchanged. T is fitted on the test set, not the training subset: a
        network that separates its training subset (FA w/o on a small set, exactly where the raw
        loss gap measures the scale) has its training loss falling as T -> 0, so a T fitted there
        would rescale its logits up, not out."""
        loss, acc, train_logits = evaluate_split(model, rule, x_eval, y_eval, keep_logits=True)
        _, _, calibration, logits = evaluate_split(model, rule, data.x_test, data.y_test, n_bins=ECE_BINS, keep_logits=True)
        end_details(step, calibration)
        t = M.fit_temperature(logits, data.y_test)
        values = (
            loss,
            acc,
            M.ece_from_sums(calibration),
            M.logit_range(logits).cpu(),
            t.cpu(),
            M.cross_entropy_at(logits, data.y_test, t).cpu(),
            M.cross_entropy_at(train_logits, y_eval, t).cpu(),
        )
        return rows_from(model, step, step / spe, [("", name, v) for name, v in zip(AT_ENDS, values)])

    def evaluate(step, batch_loss):
        track.record(model, step)
        loss, acc = evaluate_split(model, rule, data.x_test, data.y_test)
        entries = [("", "test_loss", loss), ("", "test_acc", acc)]
        if batch_loss is not None:
            entries.append(("", "batch_loss", batch_loss))
        entries += weight_rows(model)
        if rule.name != "bp":
            for i, a in enumerate(delta_angles(model, rule, x_eval[:n_probe], y_eval[:n_probe])):
                entries.append((str(i + 1), "delta_angle_deg", a))
        for i, h in enumerate(hidden_features(model, x_gram)):
            entries.append((str(i + 1), "gram_erank", M.gram_erank(h).cpu()))
            entries.append((str(i + 1), "gram_erank_centred", M.gram_erank(h, centred=True).cpu()))
        return rows_from(model, step, step / spe, entries) + (at_ends(0) if step == 0 else [])

    epe = tcfg["evals_per_epoch"]  # may be < 1: one evaluation every 1/epe epochs
    eval_steps = {max(1, round(k * spe / epe)) for k in range(1, int(round(tcfg["epochs"] * epe)) + 1)}
    where = f"train dataset={data.name} depth={arch.depth} condition={cond.name}"
    rule_of_stop = spec.get("stop")  # the convergence rule, once the AUC window is trained (None: to the cap)
    stop = (lambda rows: all_converged(rows, **rule_of_stop)) if rule_of_stop else None
    resume = Resume(resume_path(checkpoint), fingerprint(spec, data_path, pretrained), spec.get("resume_every_s", 300))
    rows = fit(
        model,
        rule,
        source,
        make_optimizer(model, tcfg),
        n_steps,
        eval_steps,
        evaluate,
        where,
        resume=resume,
        on_divergence=spec.get("on_divergence", "stop"),
        extra_state=Recorded(track, detail),
        stop=stop,
    )
    last = max(r["step"] for r in rows)  # the cap, or where every network had converged
    rows += at_ends(last)  # the model is the one evaluated at ``last``
    save_checkpoint(model, checkpoint, dataset=data.name, condition=cond.name, steps=last)
    keys = dict(
        experiment=spec["experiment"],
        dataset=data.name,
        noise=spec.get("noise", "") if cond.pretrained else "",
        depth=arch.depth,
        condition=cond.name,
        phase="data",
    )
    df = frame(rows, **keys)
    write_table(detail_frame(detail, **keys), details)
    track.save(model, trajectory, **keys)
    write_table(df, metrics)  # last: the job's completion marker for a reader
    resume.done()
    final = df[(df.step == last) & (df.metric == "test_acc")].value
    print(f"{where}: final test accuracy {final.mean():.4f} +- {final.std():.4f} over {len(final)} networks")


def main(argv=None):
    a = parser(__doc__, files="data checkpoint metrics details trajectory", optional="pretrained").parse_args(argv)
    with user_errors():
        run(a.spec, a.data, a.pretrained, a.checkpoint, a.metrics, a.details, a.trajectory)


if __name__ == "__main__":
    main()
