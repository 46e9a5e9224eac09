"""The planner computes a training cell once: a cell that repeats another's computation under other
names (``Plan.source``) reads that cell's files, and its readers relabel the rows (``tidy.read_cells``)."""

from pathlib import Path

import pandas as pd

from noisefa.analysis import tidy
from noisefa.pipeline import paths, specs
from noisefa.pipeline.config import load, validate
from noisefa.pipeline.plan import Job, Plan

REPO = Path(__file__).resolve().parents[1]


def _cell(experiment, dataset, depth, condition, seeds="0-4", rule="train"):
    return Job.of(rule, dict(experiment=experiment, dataset=dataset, depth=depth, condition=condition, seeds=seeds))


def test_the_rules_experiment_s_paper_cells_are_the_main_sweep_s_networks():
    plan = Plan(load(REPO / "config/quick.yaml"))
    for c in ("bp", "fa_wo", "fa_w"):
        assert plan.source(_cell("rules", "mnist5k", 2, c)) == _cell("main", "mnist5k", 2, c)
        assert plan.source(_cell("rules", "mnist5k", 2, c, rule="ood")) == _cell("main", "mnist5k", 2, c, rule="ood")
    for c in ("ss", "dfa", "kp", "wm"):  # rules of their own (DFA is FA at depth 2 in value, not in spec)
        assert plan.source(_cell("rules", "mnist5k", 2, c)) == _cell("rules", "mnist5k", 2, c)
    # another name for the same networks: FA w/ pretrained on fresh noise, without BatchNorm; the
    # figures' study holds them, whichever other study is on
    fresh = _cell("controls", "fashion_mnist", 2, "fa_fresh")
    assert plan.source(_cell("protocols-nobn-gaussian_fresh", "fashion_mnist", 2, "fa_w")) == fresh
    assert plan.source(fresh) == fresh
    # the controls start elsewhere (same rule, same twin as FA w/): their own networks
    for c in ("fa_newb", "fa_scaled", "fa_aligned"):
        assert plan.source(_cell("controls", "fashion_mnist", 2, c)) == _cell("controls", "fashion_mnist", 2, c)
    # the generalisation sizes train on subsets: their own networks
    assert plan.source(_cell("size400", "mnist5k", 2, "fa_wo")) == _cell("size400", "mnist5k", 2, "fa_wo")


def test_a_repeated_cell_has_the_same_spec_but_its_names_and_no_job_of_its_own():
    cfg = load(REPO / "config/quick.yaml")
    plan = Plan(cfg)
    repeated = [j for j in plan.train(None) if plan.source(j) != j]
    assert len(repeated) == 4
    for j in repeated:
        a, b = specs.train_spec(cfg, j.wc), specs.train_spec(cfg, plan.source(j).wc)
        assert {k for k in a if a[k] != b[k]} <= set(specs.CELL_NAMES)
        assert j not in plan.jobs and plan.source(j) in plan.jobs
    assert len([j for j in plan.jobs if j.rule == "train"]) == len(plan.train(None)) - 4


def test_a_setting_of_its_own_makes_a_cell_its_own_job():
    """The identity is the whole spec: a learning rate, a noise set or a start apart is another job."""
    cfg = load(REPO / "config/quick.yaml")
    cfg["rules"]["train"] = {"lr": 0.02}
    plan = Plan(validate(cfg))
    assert plan.source(_cell("rules", "mnist5k", 2, "bp")) == _cell("rules", "mnist5k", 2, "bp")
    cfg = load(REPO / "config/quick.yaml")
    cfg["controls"]["fresh_noise"] = "gaussian_fixed1k"  # fa_fresh's twin then pretrains on the 1k set
    plan = Plan(validate(cfg))
    protocol = _cell("protocols-nobn-gaussian_fresh", "fashion_mnist", 2, "fa_w")
    assert plan.source(protocol) == protocol


def test_labels_name_every_cell_a_shared_file_holds_and_only_such_files():
    plan = Plan(load(REPO / "config/quick.yaml"))
    jobs = plan.train()
    labels = plan.labels(jobs, paths.TRAIN_METRICS)
    main_bp = _cell("main", "mnist5k", 2, "bp").file(paths.TRAIN_METRICS)
    assert labels[main_bp] == [["main", "bp"], ["rules", "bp"]]
    assert _cell("rules", "mnist5k", 2, "ss").file(paths.TRAIN_METRICS) not in labels  # only its own cell
    files = plan.cell_files(jobs, paths.TRAIN_METRICS)
    assert len(files) == len(set(files)) == len({plan.source(j) for j in jobs})
    assert _cell("rules", "mnist5k", 2, "bp").file(paths.TRAIN_METRICS) not in files
    # a reader of the repeated cell alone gets its rows under its name only, not the source's
    assert plan.labels([_cell("rules", "mnist5k", 2, "bp")], paths.TRAIN_METRICS) == {main_bp: [["rules", "bp"]]}


def test_a_shared_file_is_read_once_under_each_name(tmp_path):
    rows = pd.DataFrame({"experiment": ["main"] * 2, "dataset": "d", "noise": "", "depth": 2, "condition": ["bp"] * 2,
                         "seed": [0, 1], "phase": "data", "step": 1, "epoch": 1.0, "layer": "", "metric": "test_acc",
                         "value": [0.5, 0.6]})  # fmt: skip
    shared, own = tmp_path / "shared.parquet", tmp_path / "own.parquet"
    tidy.write_table(rows, shared)
    tidy.write_table(rows.assign(condition="ss", experiment="rules"), own)
    labels = {str(shared): [["main", "bp"], ["rules", "bp_twin"]]}
    out = tidy.aggregate([shared, own], {}, labels=labels)
    assert sorted(map(tuple, out[["experiment", "condition"]].drop_duplicates().to_numpy().tolist())) == [
        ("main", "bp"), ("rules", "bp_twin"), ("rules", "ss"),
    ]  # fmt: skip
    twin = out[out.condition == "bp_twin"].sort_values("seed")
    assert twin.value.tolist() == [0.5, 0.6] and len(out) == 6
    assert len(tidy.concat_tables([shared, own])) == 4  # without labels: each file once, as written
