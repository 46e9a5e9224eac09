"""The extension points README's "Extending" section documents, used as a user would: in a copy of
the workflow, a new dataset (one registry entry), learning rule (one registry entry), noise type
(one function) and figure (a module, a registry entry and a caption) are added, and the tiny config
runs them through the whole DAG: the dataset trains in the main sweep, the rule trains and enters
the rules figure and claims B1-B3, the noise set is made and pretrains, and the figure is drawn
from the summary and shown in the main report."""

from __future__ import annotations

import shutil
import textwrap

import pandas as pd
import yaml
from pipeline_utils import REPO, TINY, run_ok

RULE = """

# --- added by tests/test_extending.py, as README "Extending" shows
LEARNING_RULES["half"] = LearningRule(
    name="half",
    description="half-transport: delta_l = (delta_{l+1} (W + B) / 2) * phi'(a_l)",
    feedback=lambda W, B: 0.5 * (W + B),
    uses_weight_transport=True,
    label="Half",
    color="#17becf",
    aligns_b=True,
)
"""

DATASET = """

# --- added by tests/test_extending.py
def _load_stripes(src):
    '''A generated 8x8 task: the class is which of ten stripes is bright.'''
    gen = generator("stripes-dataset")

    def draw(n):
        y = torch.randint(0, 10, (n,), generator=gen)
        x = torch.rand(n, 64, generator=gen) * 60
        x[torch.arange(n)[:, None], (y[:, None] * 6 + torch.arange(4)) % 64] += 150
        return x.round().to(torch.uint8).view(n, 1, 8, 8), y

    return Splits(*draw(1000), *draw(200))


register(DatasetSpec("stripes", (1, 8, 8), 10, "generated 8x8 stripes, 1000/200", _load_stripes, sizes=(1000, 200)))
"""

NOISE = """

# --- added by tests/test_extending.py
def _laplace(n, dim, mean, std, gen):
    u = torch.rand(n, dim, generator=gen) - 0.5
    return mean - std / 2**0.5 * torch.sign(u) * torch.log1p(-2 * u.abs())


DISTRIBUTIONS["laplace"] = _laplace
"""

FIGURE_MODULE = '''"""AUC of every condition of the main sweep (a figure added by tests/test_extending.py)."""

import matplotlib.pyplot as plt

from ..analysis.summary import exclude_diverged
from ..analysis.tidy import read_summary
from . import style


def plot(summary, context, title=""):
    style.setup()
    s, _ = exclude_diverged(summary[summary.experiment == context["experiment"]])
    means = s.groupby("condition").auc_test_acc.mean()
    fig, ax = plt.subplots()
    ax.bar([style.label(c) for c in means.index], means.to_numpy(), color=[style.PALETTE[c] for c in means.index])
    style.suptitle(fig, title)
    return fig


def main(argv=None):
    a = style.cli(__doc__, argv)
    style.save(plot(read_summary(a.summary), a.context, a.title), a.out)
    print("drew", a.out)


if __name__ == "__main__":
    main()
'''

FIGURE_ENTRY = """

# --- added by tests/test_extending.py
FIGURES["auc_bars"] = Figure(
    "auc_bars", "figure_auc_bars", "auc_bars", ("summary",), "auc_bars.rst", "Extra", "main", _main,
    lambda cfg: "AUC per condition",
)
REPORT_NAMES = tuple(dict.fromkeys(f.report for f in FIGURES.values()))
"""


def _append(path, text):
    path.write_text(path.read_text() + textwrap.dedent(text))


def test_a_new_rule_noise_type_and_figure_run_through_the_dag(tmp_path):
    repo = tmp_path / "fork"
    repo.mkdir()
    for name in ("Snakefile", "workflow", "envs", "config", "profiles", ".test"):
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, repo / name)
    lib = repo / "workflow" / "noisefa"
    _append(lib / "nets" / "learning_rules.py", RULE)
    _append(lib / "data" / "noise.py", NOISE)
    _append(lib / "data" / "datasets.py", DATASET)
    (lib / "figures" / "auc_bars.py").write_text(FIGURE_MODULE)
    _append(lib / "figures" / "registry.py", FIGURE_ENTRY)
    (repo / "workflow" / "report" / "auc_bars.rst").write_text("AUC of test accuracy per condition (mean over networks).\n")

    cfg = yaml.safe_load(TINY.read_text())
    cfg["depths"] = [2]
    cfg["datasets"] = ["synthetic", "stripes"]
    cfg["rules"]["conditions"] = ["bp", "fa_w", "half"]
    cfg["noise"]["sets"]["tiny_laplace"] = {"distribution": "laplace", "mean": 0.0, "std": 1.0, "protocol": "fixed",
                                            "n_samples": 512, "seed": 0}  # fmt: skip
    cfg["figure1"]["sets"] = ["tiny_laplace"]
    for off in ("ood", "meta", "protocols", "generalisation"):
        cfg[off]["enabled"] = False
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(cfg))

    work = tmp_path / "run"
    targets = ["results/figures/auc_bars.png", "results/figures/rules.png", "results/figures/figure1.png",
               "results/tables/claims.csv", "results/reports/main.html"]  # fmt: skip
    run_ok("--configfile", config, "--directory", work, "--cores", "2", *targets,
           snakefile=repo / "Snakefile", cwd=repo, timeout=900)  # fmt: skip

    summary = pd.read_csv(work / "results/tables/summary.csv")
    half = summary[summary.condition == "half"]
    assert len(half) == cfg["n_seeds"] and half.auc_test_acc.notna().all() and (half.kind == "rules").all()
    claims = pd.read_csv(work / "results/tables/claims.csv")
    assert claims.comparison.str.endswith("fa_w vs half").any()  # B1-B3 compare it with noise-pretrained FA
    assert (work / "results/noise/tiny_laplace").is_dir()
    pretrain = pd.read_parquet(work / "results/tables/pretrain.parquet")
    assert "tiny_laplace" in set(pretrain.noise)
    stripes = summary[(summary.dataset == "stripes") & (summary.kind == "main")]
    assert set(stripes.condition) == {"bp", "fa_wo", "fa_w"} and (stripes.train_size == 1000).all()
    assert (stripes.final_test_acc > 0.3).all()  # it learns: the dataset reached training intact
    assert (work / "results/figures/auc_bars.png").stat().st_size > 5_000
    assert "drew" in (work / "results/logs/figure_auc_bars.log").read_text()
    assert "auc_bars.png" in (work / "results/reports/main.html").read_text()
