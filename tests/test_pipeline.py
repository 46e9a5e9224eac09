"""The Snakemake DAG end to end on the tiny config (.test/config/config.yaml)."""

import json

import pandas as pd
from pipeline_utils import TINY, snakemake


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
        "figures/learning_curves.png",
        "figures/alignment.png",
        "reports/main.ipynb",
        "reports/main.html",
    ]:
        assert (res / f).stat().st_size > 0, f
    df = pd.read_parquet(res / "tables/metrics.parquet")
    assert set(df.condition) == {"bp", "fa_wo", "fa_w"} and set(df.depth) == {2, 3}
    assert set(df.phase) == {"noise", "data"} and df.seed.nunique() == 2
    noise = df[(df.phase == "noise")]
    assert set(noise.condition) == {"fa_w"} and set(noise.dataset) == {"synthetic"}
    last = noise[(noise.metric == "angle_deg") & (noise.layer == noise.depth.astype(str))]
    assert last[last.step == last.step.max()].value.mean() < 80  # noise pretraining aligned W to B
    summary = pd.read_csv(res / "tables/summary.csv")
    assert len(summary) == 2 * 3 * 2 and summary.final_test_acc.gt(0.3).all()  # learnable task, above chance 0.1
    claims = pd.read_csv(res / "tables/claims.csv")
    assert {"C2", "C3", "C5", "C6", "C7", "C11"} <= set(claims.claim) and claims.holds.dtype == bool
    # every rule left a log and a benchmark
    assert list((res / "logs" / "train").rglob("*.log")) and list((res / "benchmarks" / "train").rglob("*.tsv"))


def test_executed_notebook_has_no_error_cells(tiny_run):
    nb = json.loads((tiny_run / "results/reports/main.ipynb").read_text())
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    assert outputs and not [o for o in outputs if o.get("output_type") == "error"]
    assert "fa_w vs fa_wo" in json.dumps(nb) and "claim rows hold" in json.dumps(nb)


def test_rerun_has_nothing_to_do(tiny_run):
    r = snakemake("--configfile", str(TINY), "--cores", "2", "--directory", str(tiny_run), "-n")
    assert r.returncode == 0
    assert "Nothing to be done" in r.stdout + r.stderr, r.stdout


def test_bad_config_stops_before_any_job(tmp_path):
    r = snakemake("--configfile", str(TINY), "--config", "n_seeds=0", "--cores", "1", "--directory", str(tmp_path))
    assert r.returncode != 0 and "n_seeds" in r.stdout + r.stderr
    assert not (tmp_path / "results").exists()
