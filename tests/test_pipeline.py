"""The Snakemake DAG end to end on the tiny config (.test/config/config.yaml)."""

import json

import pandas as pd
import pytest
from pipeline_utils import TINY, snakemake

from noisefa.figures import registry
from noisefa.pipeline.config import load

FIGURES = registry.figures(load(TINY))  # the tiny config turns every figure on
REPORTS = list(registry.reports(load(TINY)))
assert len(FIGURES) == len(registry.FIGURES) and len(REPORTS) == len(registry.REPORT_NAMES)


def test_lint_is_clean():
    r = snakemake("--lint", "--configfile", str(TINY))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Congratulations" in r.stdout + r.stderr


def test_whole_dag_produces_tables_figures_and_reports(tiny_run):
    res = tiny_run / "results"
    for f in [
        "tables/metrics.parquet",
        "tables/metrics.csv",
        "tables/summary.csv",
        "tables/claims.csv",
        "tables/verdict.csv",
        "tables/verdict.md",
        "tables/protocols.csv",
        "tables/pretrain.parquet",
        "tables/details.parquet",
        "tables/ood.parquet",
        "tables/meta.parquet",
        "tables/table1.csv",
        "tables/table1.md",
        "tables/table1.tex",
        "tables/mechanism.csv",
        "tables/mechanism.md",
        "tables/dose_response.csv",
        *[
            f"tables/cnn{t}"
            for t in (
                "_claims.csv",
                "_verdict.csv",
                "_mechanism.csv",
                ".md",
                "_metrics.parquet",
                "_summary.csv",
                "_details.parquet",
            )
        ],
        *[f"figures/{f}.png" for f in FIGURES],
        *[f"reports/{r}.{ext}" for r in REPORTS for ext in ("ipynb", "html")],
    ]:
        assert (res / f).stat().st_size > 0, f
    everything = pd.read_parquet(res / "tables/metrics.parquet")
    # Figure 2's cell is the main sweep's (same dataset, depth and training): no experiment of its own
    assert set(everything.experiment) == {"main", "size200", "size800", "rules", "controls", "dose0", "dose90"}
    controls = everything[everything.experiment == "controls"]
    assert set(controls.condition) == {"fa_aligned", "fa_newb", "fa_scaled", "fa_fresh"} and set(controls.depth) == {2, 3}
    mech = pd.read_csv(res / "tables/mechanism.csv")
    assert {"C5", "C9", "C13", "C16", "B3"} <= set(mech.claim) and set(mech.control) == set(controls.condition)
    assert mech.explanation.notna().all() and mech.reproduces.notna().all()
    dose = pd.read_csv(res / "tables/dose_response.csv", dtype={"target": str}, keep_default_na=False)
    assert set(dose.target) == {"0", "90", "matched", ""} and (dose[dose.target == "0"].initial_angle_deg < 0.01).all()
    # the CNN is its own study: none of its rows in the MLP's tables, every one of them in its own
    cnn = pd.read_parquet(res / "tables/cnn_metrics.parquet")
    assert set(cnn.experiment) == {"cnn"} and set(cnn.depth) == {4} and set(cnn.phase) == {"noise", "data"}
    assert set(cnn.condition) == {"bp", "fa_wo", "fa_w", "fa_aligned", "fa_newb", "kp"}
    cnn_claims = pd.read_csv(res / "tables/cnn_claims.csv")
    assert set(cnn_claims.family) == {"cnn"} and {"C2", "C5s", "C6", "B1"} <= set(cnn_claims.claim)
    verdicts = pd.read_csv(res / "tables/cnn_verdict.csv")
    assert set(verdicts.family) == {"cnn"} and "C12" not in set(verdicts.claim)  # the MLP's experiments only
    assert "Model family: cnn" in (res / "tables/cnn.md").read_text()
    assert set(pd.read_csv(res / "tables/cnn_mechanism.csv").control) == {"fa_aligned", "fa_newb"}
    rules = everything[everything.experiment == "rules"]
    assert set(rules.condition) == {"bp", "fa_w", "ss", "dfa", "kp", "wm"}  # any rule by name
    assert set(everything.phase) == {"noise", "data", "noise_after"}
    df = everything[everything.experiment == "main"]
    assert set(df.condition) == {"bp", "fa_wo", "fa_w"} and set(df.depth) == {2, 3}
    assert set(df.phase) == {"noise", "data", "noise_after"} and df.seed.nunique() == 2
    noise = df[(df.phase == "noise")]
    assert set(noise.condition) == {"fa_w"} and set(noise.dataset) == {"synthetic"}
    last = noise[(noise.metric == "angle_deg") & (noise.layer == noise.depth.astype(str))]
    assert last[last.step == last.step.max()].value.mean() < 80  # noise pretraining aligned W to B
    summary = pd.read_csv(res / "tables/summary.csv")
    main = summary[summary.experiment == "main"]
    assert len(main) == 2 * 3 * 2 and main.final_test_acc.gt(0.3).all()  # learnable task, above chance 0.1
    assert len(summary[summary.experiment == "size200"]) == 3 * 2
    claims = pd.read_csv(res / "tables/claims.csv")
    # every claim but C15 (no second 8x8 dataset to test on)
    from noisefa.analysis.verdict import STATEMENTS

    expected = set(STATEMENTS) - {"C15"}
    assert set(claims.claim) == expected and claims.holds.dtype == bool
    pretrain = pd.read_parquet(res / "tables/pretrain.parquet")  # Figure 1's sweep: every noise set once
    assert set(pretrain.noise) == {"tiny", "tiny_fresh", "tiny_uniform"} and set(pretrain.experiment) == {"pretrain"}
    details = pd.read_parquet(res / "tables/details.parquet")
    assert {"neuron_angle_deg", "singular_value", "readout_max_prob"} <= set(details.metric)
    verdict = pd.read_csv(res / "tables/verdict.csv")
    assert len(verdict) == len(STATEMENTS) and set(verdict.verdict) <= {"holds", "fails", "mixed", "contradicted", "not computed"}
    assert set(verdict.kind) == {"claim", "check", "premise"}
    assert verdict.set_index("claim").loc["C15", "verdict"] == "not computed"
    # the protocol study: every set with and without BatchNorm; BP / FA w/o trained once per setting,
    # and the main sweep's own cells (BatchNorm on, set tiny, synthetic depth 2) reused, not retrained;
    # so is FA w/ on fresh noise with BatchNorm, the fa_fresh control's networks (Plan.source)
    protocols = pd.read_csv(res / "tables/protocols.csv")
    assert set(zip(protocols.noise_set, protocols.batchnorm)) == {(s, b) for s in ("tiny", "tiny_fresh") for b in (True, False)}
    assert {"C2", "C5s", "C10a", "C10b", "C14", "C16"} <= set(protocols.claim)
    trained = {p.name for p in (res / "train").iterdir()}
    own = {"protocols-nobn", "protocols-nobn-tiny", "protocols-nobn-tiny_fresh"}
    assert {t for t in trained if t.startswith("protocols")} == own
    assert (res / "train/controls/synthetic/depth2/fa_fresh").is_dir()
    assert not (res / "train/rules/synthetic/depth2/bp").exists()  # the main sweep's BP networks
    rules = pd.read_csv(res / "tables/summary.csv").query("experiment == 'rules'")
    assert {"bp", "fa_w"} <= set(rules.condition)  # their rows, under the rules experiment's name
    assert {p.name for p in (res / "train/protocols-nobn/synthetic/depth2").iterdir()} == {"bp", "fa_wo"}
    # every rule left a log and a benchmark
    assert list((res / "logs" / "train").rglob("*.log")) and list((res / "benchmarks" / "train").rglob("*.tsv"))


@pytest.mark.parametrize("report", REPORTS)
def test_executed_notebooks_have_no_error_cells(tiny_run, report):
    nb = json.loads((tiny_run / f"results/reports/{report}.ipynb").read_text())
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    assert outputs and not [o for o in outputs if o.get("output_type") == "error"]
    assert ("verdict changes" if report == "protocols" else "claim rows hold") in json.dumps(nb)
    assert "image/png" in json.dumps(nb)
    if report == "main":  # the report opens with the verdict table
        texts = [json.dumps(c) for c in nb["cells"]]
        first = next(i for i, t in enumerate(texts) if "| C3 |" in t)
        assert first < next(i for i, t in enumerate(texts) if "claim rows hold" in t)


def test_html_reports_hide_the_code(tiny_run):
    html = (tiny_run / "results/reports/main.html").read_text()
    assert "| C3 |" not in html and "C3" in html and "import pandas" not in html


def test_rerun_has_nothing_to_do(tiny_run):
    r = snakemake("--configfile", str(TINY), "--cores", "2", "--directory", str(tiny_run), "-n")
    assert r.returncode == 0
    assert "Nothing to be done" in r.stdout + r.stderr, r.stdout


def test_bad_config_stops_before_any_job(tmp_path):
    r = snakemake("--configfile", str(TINY), "--config", "n_seeds=0", "--cores", "1", "--directory", str(tmp_path))
    assert r.returncode != 0 and "n_seeds" in r.stdout + r.stderr
    assert not (tmp_path / "results").exists()


def test_compare_passes_against_the_tiny_reference(tiny_run):
    """The tiny run against reference/tiny (made on another machine's CPU as far as this one is
    concerned): every verdict the same, every number within its tolerance."""
    from pipeline_utils import run_ok

    r = run_ok("--configfile", TINY, "--cores", "2", "--directory", tiny_run, "compare")
    table = pd.read_csv(tiny_run / "results/tables/compare.csv")
    assert len(table) > 200 and table.within.all(), table[~table.within]
    assert "values within their tolerances" in r.stdout + r.stderr
