"""Incremental reruns: change one thing, assert the exact set of jobs Snakemake plans (and runs).

The workflow is copied into a temp directory so that touching library files never disturbs the
checkout. The config: two datasets of different input shapes (synthetic 8x8, digits 28x28),
depth 2, two seeds per job, the three conditions.
"""

import re
import shutil
import time
from pathlib import Path

import pytest
import yaml
from pipeline_utils import REPO, TINY, snakemake

REPORTED = ("main", "figure3", "figure4")  # the reports of a config without the figure experiments
DOWNSTREAM = {
    ("aggregate", ""),
    ("claims", ""),
    ("table1", ""),
    ("figure_learning_curves", ""),
    ("figure_alignment", ""),
    ("figure3", ""),
    ("figure4", ""),
    *{(rule, f"report={r}") for r in REPORTED for rule in ("notebook", "notebook_html")},
    ("all", ""),
}
SHAPES = {"synthetic": (64, 10), "digits": (784, 10)}


def train(dataset, condition, depth=2, seeds="0-1"):
    return ("train", f"experiment=main, dataset={dataset}, depth={depth}, condition={condition}, seeds={seeds}")


def pretrain(dataset, depth=2, seeds="0-1", noise="tiny", arch="bn"):
    dim, classes = SHAPES[dataset]
    return ("pretrain", f"noise={noise}, dim={dim}, classes={classes}, arch={arch}, depth={depth}, seeds={seeds}")


def make_noise(dataset, noise="tiny"):
    dim, classes = SHAPES[dataset]
    return ("make_noise", f"noise={noise}, dim={dim}, classes={classes}")


def jobs(output: str) -> set[tuple[str, str]]:
    """(rule, wildcards) of every job a snakemake run or dry run lists."""
    found, rule = set(), None
    for line in output.splitlines():
        m = re.match(r"^(?:local)?rule (\w+):$", line.strip())
        if m:
            if rule is not None:
                found.add((rule, ""))
            rule = m.group(1)
        elif rule is not None and line.strip().startswith("wildcards:"):
            found.add((rule, line.split("wildcards:", 1)[1].strip()))
            rule = None
        elif rule is not None and not line.strip():
            found.add((rule, ""))
            rule = None
    if rule is not None:
        found.add((rule, ""))
    return found


@pytest.fixture(scope="module")
def wf(tmp_path_factory):
    root = tmp_path_factory.mktemp("reruns")
    repo = root / "repo"
    for name in ("Snakefile", "workflow", "envs"):
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            repo.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, repo / name)
    cfg = yaml.safe_load(TINY.read_text())
    cfg.update(datasets=["synthetic", "digits"], depths=[2], n_seeds=2, seeds_per_job=2)
    own = ("figure1", "figure2", "generalisation", "ood", "meta", "rules", "protocols", "controls", "cnn")
    for figure in own:  # experiments of their own
        cfg[figure]["enabled"] = False
    (root / "base.yaml").write_text(yaml.safe_dump(cfg))
    wf = {"root": root, "repo": repo, "cfg": cfg, "work": root / "work"}
    r = run(wf, cfg)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    return wf


def run(wf, cfg, *extra, dry=False):
    path = wf["root"] / "current.yaml"
    path.write_text(yaml.safe_dump(cfg))
    args = ["--configfile", path, "--cores", "2", "--directory", wf["work"], *extra, *(["-n"] if dry else [])]
    return snakemake(*args, cwd=wf["root"], snakefile=wf["repo"] / "Snakefile")


def planned(wf, cfg):
    r = run(wf, cfg, dry=True)
    assert r.returncode == 0, r.stderr[-3000:]
    return jobs(r.stdout + r.stderr)


def with_changes(cfg, **changes):
    new = yaml.safe_load(yaml.safe_dump(cfg))
    for k, v in changes.items():
        new[k] = v
    return new


def test_nothing_changed_nothing_to_do(wf):
    r = run(wf, wf["cfg"], dry=True)
    assert "Nothing to be done" in r.stdout + r.stderr
    assert planned(wf, wf["cfg"]) == set()


def test_a_moved_results_tree_stays_valid_and_reruns_only_what_an_edit_changes(wf):
    """Copy the finished run (checkout, results, .snakemake/) elsewhere, as a user renaming the
    project folder or moving it to scratch storage would: nothing to do there, and one edit
    there reruns exactly its jobs. Provenance (inputs, params, shell text) must hold no path
    of the old place."""
    moved = wf["root"].parent / (wf["root"].name + "-moved")
    shutil.copytree(wf["root"], moved, symlinks=True)  # copy2: modification times are kept, as cp -a
    there = {**wf, "root": moved, "repo": moved / "repo", "work": moved / "work"}
    r = run(there, wf["cfg"], dry=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert planned(there, wf["cfg"]) == set(), (r.stdout + r.stderr)[-3000:]
    assert "Nothing to be done" in r.stdout + r.stderr
    # the same edit as test_training_hyperparameter_of_one_dataset_reruns_only_its_training
    cfg = with_changes(wf["cfg"], train_overrides={"digits": {"lr": 0.02}})
    assert planned(there, cfg) == {train("digits", c) for c in ("bp", "fa_wo", "fa_w")} | DOWNSTREAM
    shutil.rmtree(moved)


def test_noise_parameter_reruns_noise_pretraining_and_fa_w_only(wf):
    sets = wf["cfg"]["noise"]["sets"]
    noise = {**wf["cfg"]["noise"], "sets": {**sets, "tiny": {**sets["tiny"], "std": 2.0}}}
    got = planned(wf, with_changes(wf["cfg"], noise=noise))
    expected = {make_noise(d) for d in SHAPES} | {pretrain(d) for d in SHAPES} | {train(d, "fa_w") for d in SHAPES}
    assert got == expected | DOWNSTREAM


def test_one_more_depth_adds_only_its_cells(wf):
    got = planned(wf, with_changes(wf["cfg"], depths=[2, 3]))
    new = {pretrain(d, depth=3) for d in SHAPES} | {train(d, c, depth=3) for d in SHAPES for c in ("bp", "fa_wo", "fa_w")}
    assert got == new | DOWNSTREAM


def test_more_seeds_add_only_the_new_seed_group(wf):
    got = planned(wf, with_changes(wf["cfg"], n_seeds=4))
    new = {pretrain(d, seeds="2-3") for d in SHAPES} | {train(d, c, seeds="2-3") for d in SHAPES for c in ("bp", "fa_wo", "fa_w")}
    assert got == new | DOWNSTREAM


def test_training_hyperparameter_of_one_dataset_reruns_only_its_training(wf):
    cfg = with_changes(wf["cfg"], train_overrides={"digits": {"lr": 0.02}})
    expected = {train("digits", c) for c in ("bp", "fa_wo", "fa_w")} | DOWNSTREAM
    assert planned(wf, cfg) == expected
    r = run(wf, cfg)  # and the real rerun runs exactly those
    assert r.returncode == 0, r.stderr[-3000:]
    assert jobs(r.stdout + r.stderr) == expected
    wf["cfg"] = cfg


def _edit(path: Path):
    """A real edit: Snakemake 9 compares checksums, so a bare `touch` reruns nothing (also tested)."""
    time.sleep(1.1)  # coarse mtime filesystems
    with open(path, "a") as f:
        f.write("\n# edited by test_reruns\n")


def test_touching_without_editing_reruns_nothing(wf):
    time.sleep(1.1)
    (wf["repo"] / "workflow/noisefa/nets/learning_rules.py").touch()
    assert planned(wf, wf["cfg"]) == set()


def test_editing_one_figure_module_redraws_only_that_figure(wf):
    _edit(wf["repo"] / "workflow/noisefa/figures/alignment.py")
    expected = {("figure_alignment", ""), ("notebook", "report=main"), ("notebook_html", "report=main"), ("all", "")}
    assert planned(wf, wf["cfg"]) == expected
    r = run(wf, wf["cfg"])
    assert r.returncode == 0 and jobs(r.stdout + r.stderr) == expected


def test_editing_the_notebook_reruns_only_the_report(wf):
    _edit(wf["repo"] / "workflow/notebooks/main.ipynb")
    assert planned(wf, wf["cfg"]) == {("notebook", "report=main"), ("notebook_html", "report=main"), ("all", "")}


def test_editing_a_library_file_reruns_only_jobs_that_import_it(wf):
    before = planned(wf, wf["cfg"])  # what earlier tests' edits left to do (the notebook)
    _edit(wf["repo"] / "workflow/noisefa/nets/cnn.py")  # another model family: none of this MLP run's jobs
    assert planned(wf, wf["cfg"]) == before
    _edit(wf["repo"] / "workflow/noisefa/figures/style.py")  # a plotting helper: no network retrains
    assert planned(wf, wf["cfg"]) == {
        ("figure_alignment", ""),
        ("figure_learning_curves", ""),
        ("figure3", ""),
        ("figure4", ""),
        *{(rule, f"report={r}") for r in REPORTED for rule in ("notebook", "notebook_html")},
        ("all", ""),
    }
    _edit(wf["repo"] / "workflow/noisefa/nets/feedback.py")  # the rules' autograd code: every network, no data or noise job
    got = planned(wf, wf["cfg"])
    expected = {pretrain(d) for d in SHAPES} | {train(d, c) for d in SHAPES for c in ("bp", "fa_wo", "fa_w")} | DOWNSTREAM
    assert got == expected
    assert not {j for j in got if j[0] in ("prepare_dataset", "make_noise")}


def test_enabling_the_controls_adds_only_their_cells_and_reuses_the_pretraining(wf):
    already = planned(wf, wf["cfg"])
    cfg = yaml.safe_load(yaml.safe_dump(wf["cfg"]))
    cfg["controls"] = {"enabled": True, "conditions": ["fa_aligned", "fa_newb", "fa_scaled"], "dose": {"enabled": False}}
    got = planned(wf, cfg)

    def control(d, c):
        return ("train", f"experiment=controls, dataset={d}, depth=2, condition={c}, seeds=0-1")

    new = {control(d, c) for d in SHAPES for c in cfg["controls"]["conditions"]}
    tables = {("mechanism", ""), ("figure_mechanism", "")}
    assert got - already == (new | tables | DOWNSTREAM) - already  # no pretraining: the twins are FA w/'s
    r = run(wf, cfg, "results/tables/mechanism.csv")  # (an earlier test left the notebook edited: not JSON)
    assert r.returncode == 0, r.stderr[-3000:]
    # fa_aligned's target angle is in its jobs' params: changing it reruns them and nothing upstream
    cfg["controls"]["aligned_angle"] = 45
    got = planned(wf, cfg)
    assert {j for j in got if j[0] == "train"} == {control(d, "fa_aligned") for d in SHAPES}
    assert not {j for j in got if j[0] in ("pretrain", "make_noise", "prepare_dataset")}


def test_enabling_figure2_adds_its_networks_and_reuses_the_pretraining(wf):
    already = planned(wf, wf["cfg"])  # what earlier tests' edits left to do (e.g. the library edit above)
    cfg = yaml.safe_load(yaml.safe_dump(wf["cfg"]))
    cfg["figure2"] = {**cfg["figure2"], "enabled": True, "dataset": "synthetic", "depth": 2, "train": {"lr": 0.02}}
    got = planned(wf, cfg)
    figure2 = {
        ("train", f"experiment=figure2, dataset=synthetic, depth=2, condition={c}, seeds=0-1") for c in ("bp", "fa_wo", "fa_w")
    }
    order = {("data_then_noise", "experiment=figure2, dataset=synthetic, depth=2, condition=fa_wo, seeds=0-1")}
    report = {("figure2", ""), ("notebook", "report=figure2"), ("notebook_html", "report=figure2")}
    assert got - already == (figure2 | order | report | DOWNSTREAM) - already  # no pretraining: FA w/ reuses main's
    assert already <= got
    # with the main sweep's own training, Figure 2 shows the main cell: only the order control and the report are new
    cfg["figure2"]["train"] = {}
    got = planned(wf, cfg)
    order = {("data_then_noise", "experiment=main, dataset=synthetic, depth=2, condition=fa_wo, seeds=0-1")}
    assert got - already == (order | report | DOWNSTREAM) - already


def test_the_hint_for_a_bad_file_remakes_exactly_what_is_computed_from_it(wf):
    """A corrupt file's message says `snakemake --forcerun <file>`: that reruns its job and what was
    computed from it, not the other jobs of its rule (what --forcerun <rule> did), while deleting
    it alone (the old advice) leaves Snakemake nothing to do once the tables made from it exist."""
    from noisefa.errors import CorruptFile
    from noisefa.files import load_torch

    ckpt = "results/train/main/digits/depth2/fa_wo/seeds0-1/checkpoint.pt"
    bad = wf["root"] / "bad.pt"
    bad.write_bytes((wf["work"] / ckpt).read_bytes()[:100])
    with pytest.raises(CorruptFile, match=f"snakemake --forcerun {bad}"):
        load_torch(bad, "checkpoint", "train")
    r = run(wf, wf["cfg"], "--forcerun", ckpt, dry=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert {j for j in jobs(r.stdout) if j[0] == "train"} == {train("digits", "fa_wo")}
    assert ("aggregate", "") in jobs(r.stdout)
