"""The figure registry is the one list of figures: every module, caption and report it names exists,
and every figure module is registered."""

import importlib
from pathlib import Path

from noisefa.figures import registry
from noisefa.pipeline.config import load, validate

REPO = Path(__file__).resolve().parents[1]
HELPERS = {"style", "panels", "trajectories", "registry", "__init__"}


def test_every_entry_names_a_module_a_caption_a_report_and_tables_that_exist():
    for fig in registry.FIGURES.values():
        assert hasattr(importlib.import_module(f"noisefa.figures.{fig.module}"), "main"), fig.name
        assert (REPO / "workflow" / "report" / fig.caption).exists(), fig.caption
        assert (REPO / "workflow" / "notebooks" / f"{fig.report}.ipynb").exists(), fig.report
        assert set(fig.tables) <= set(registry.TABLES), fig.tables


def test_every_figure_module_is_registered():
    modules = {p.stem for p in (REPO / "workflow" / "noisefa" / "figures").glob("*.py")} - HELPERS
    assert modules == {f.module for f in registry.FIGURES.values()}


def test_contexts_and_titles_build_from_every_shipped_config():
    for path in ("config/config.yaml", "config/quick.yaml", ".test/config/config.yaml"):
        cfg = load(REPO / path)
        for name in registry.figures(cfg):
            fig = registry.FIGURES[name]
            assert isinstance(fig.context(cfg), dict) and fig.title(cfg), (path, name)


def test_a_disabled_experiment_drops_its_figure_and_report():
    cfg = validate({"datasets": ["synthetic"], "ood": {"enabled": False}, "meta": {"enabled": False}})
    names = registry.figures(cfg)
    assert "figure5" not in names and "figure6" not in names and "figure3" in names
    assert "figure5" not in registry.reports(cfg) and registry.reports(cfg)["main"] == ["learning_curves", "alignment"]
