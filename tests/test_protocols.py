"""The protocol study: its grid reuses the main sweep's cells, and its figure draws its table."""

import numpy as np
import pandas as pd

from noisefa.analysis.protocols import changed_claims, verdict_grid
from noisefa.figures import protocols as fig
from noisefa.pipeline.config import validate
from noisefa.pipeline.experiments import experiments, protocol_grid

SETS = {
    "fresh": {"distribution": "gaussian", "protocol": "fresh"},
    "f1k": {"distribution": "gaussian", "protocol": "fixed", "n_samples": 1000},
}


def _cfg(**protocols):
    return validate({"datasets": ["synthetic"], "depths": [2, 3], "model": {"batchnorm": False},
                     "noise": {"use": "f1k", "sets": SETS}, "figure1": {"sets": []},
                     "protocols": {"enabled": True, "datasets": ["synthetic"], "depths": [2], "sets": ["fresh", "f1k"],
                                   **protocols}})  # fmt: skip


def test_grid_shares_bp_and_fa_wo_and_reuses_the_main_sweep():
    cfg = _cfg()
    grid = {(p.noise, p.batchnorm): p for p in protocol_grid(cfg)}
    assert set(grid) == {(s, b) for s in ("fresh", "f1k") for b in (True, False)}
    assert grid[("f1k", False)].shared == "main" and grid[("f1k", False)].pretrained == "main"  # the main sweep's own
    assert grid[("fresh", False)].shared == "main" and grid[("fresh", False)].pretrained == "protocols-nobn-fresh"
    assert grid[("fresh", True)].shared == grid[("f1k", True)].shared == "protocols-bn"  # one BP / FA w/o per setting
    e = experiments(cfg)
    assert e["protocols-bn"].conditions == ("bp", "fa_wo") and e["protocols-bn"].batchnorm is True
    assert e["protocols-bn-f1k"].conditions == ("fa_w",) and e["protocols-bn-f1k"].noise == "f1k"
    assert {n for n, x in e.items() if x.study} == {
        "protocols-bn",
        "protocols-bn-fresh",
        "protocols-bn-f1k",
        "protocols-nobn-fresh",
    }
    other = _cfg(datasets=["digits"])  # not in the main sweep: nothing to reuse
    assert all(p.shared.startswith("protocols-") for p in protocol_grid(other))


def _table():
    rows = []
    for (s, label), bn, effect, p, holds in (
        (("fresh", "fresh"), True, -2.0, 0.5, False),
        (("fresh", "fresh"), False, 3.0, 1e-6, False),
        (("f1k", "fixed 1k"), True, -40.0, 1e-8, True),
        (("f1k", "fixed 1k"), False, -30.0, 1e-7, True),
    ):
        base = {"noise_set": s, "protocol": label, "batchnorm": bn, "dataset": "d", "depth": 2, "test": "t", "n": 10,
                "statistic": 1.0, "ci_low": 0, "ci_high": 0, "primary": True}  # fmt: skip
        rows.append({**base, "claim": "C2", "comparison": "angle", "rule": "less", "effect": effect, "p_value": p,
                     "p_holm": p, "holds": holds, "verdict": "holds" if holds else "fails"})  # fmt: skip
        rows.append({**base, "claim": "C3", "comparison": "loss", "rule": "less", "effect": -1.0, "p_value": 1e-9,
                     "p_holm": 1e-9, "holds": True, "verdict": "holds"})  # fmt: skip
    return pd.DataFrame(rows)


def test_verdict_grid_and_changed_claims():
    grid = verdict_grid(_table())
    assert grid.loc["C2", "f1k (fixed 1k), BN on"] == "holds" and grid.loc["C2", "fresh (fresh), BN off"] == "fails"
    assert changed_claims(_table()) == ["C2"]  # C3 holds everywhere


def test_the_figure_draws_the_tables_outcomes():
    table = _table()
    codes, labels, columns = fig.grid(table, alpha=0.001)
    assert labels == ["C2: angle [d d2]", "C3: loss [d d2]"]
    assert columns == ["f1k (fixed 1k), BN on", "fresh (fresh), BN on", "f1k (fixed 1k), BN off", "fresh (fresh), BN off"]
    np.testing.assert_array_equal(codes[0], [0, 1, 0, 3])  # holds / right sign n.s. / holds / wrong sign, significant
    np.testing.assert_array_equal(codes[1], [0, 0, 0, 0])
    f = fig.plot(table, {"alpha": 0.001, "primary_column": "f1k (fixed 1k), BN off"})
    drawn = np.asarray(f.axes[0].images[0].get_array())
    np.testing.assert_array_equal(drawn, codes)
    assert [t.get_text() for t in f.axes[0].get_xticklabels()] == columns
    assert [t.get_fontweight() for t in f.axes[0].get_xticklabels()][2] == "bold"  # the primary protocol is marked
