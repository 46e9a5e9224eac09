"""The deep noise-training study: its premise checks as the rule states them, and one real run."""

import math

from noisefa.tools import deep_noise_study as S


def _result(losses, angles):
    recs = [{"step": 0, "loss": None, "angles": [[90.0], [90.0]]}]
    recs += [{"step": s, "loss": loss, "angles": [[90.0], a]} for s, loss, a in zip((1000, 3000, 5000), losses, angles)]
    return {"depth": 2, "setting": "sgd lr 0.01", "records": recs}


def test_a_loss_above_twice_chance_is_divergence_from_then_on():
    lines = S.summarise(_result([[2.3, 2.3], [2.2, 8.0], [2.0, 1.0]], [[70, 70], [50, 50], [40, 40]]))
    assert [x["diverged"] for x in lines] == [0, 1, 1]  # the second network: loss 8 > 2 ln 10 at step 3000
    assert [x["P3"] for x in lines] == [True, False, False] and not any(x["P2"] for x in lines[1:])
    assert S.LOSS_LIMIT == 2 * math.log(10)


def test_aligned_means_at_most_60_degrees_and_not_diverged():
    lines = S.summarise(_result([[2.3, 2.3], [2.0, 2.0], [float("nan"), 2.0]], [[61, 61], [59, 60], [30, 30]]))
    assert [x["P2"] for x in lines] == [False, True, False]  # NaN loss: diverged, whatever the angle


def test_one_short_run_records_every_checkpoint():
    r = S.run_one(2, "sgd lr 0.01 clip 1", steps=20, checkpoints=[10, 20], seeds=[0], dim=16)
    assert [rec["step"] for rec in r["records"]] == [0, 10, 20] and r["diverged"] == []
    assert len(r["records"][-1]["angles"]) == 2 and "P2" in S.summarise(r)[0]


def test_the_study_never_selects_on_a_cells_networks():
    """The study chooses the settings the cells then use: its seeds lie beyond every cell's seeds
    (0..n_seeds-1, n_seeds capped by the schema), and the shipped study files were run on them."""
    import json
    from pathlib import Path

    import yaml

    from noisefa.tools.deep_noise_study import STUDY_SEEDS

    repo = Path(__file__).resolve().parents[1]
    cap = yaml.safe_load((repo / "workflow/schemas/config.schema.yaml").read_text())["properties"]["n_seeds"]["maximum"]
    assert min(STUDY_SEEDS) >= cap
    for f in sorted((repo / "docs/studies").glob("deep_noise*.json")):
        assert all(min(r["seeds"]) >= cap for r in json.loads(f.read_text())["results"]), f


def test_every_checkpoint_is_printed_as_it_comes_with_batchnorm_for_any_family(capsys):
    cnn = {"family": "cnn", "channels": [2], "kernel": 3, "pool": 2, "hidden": 8}
    r = S.run_one(3, "BatchNorm, sgd lr 0.01 clip 1", 4, [2, 4], [100], dim=64, model=cnn, n_samples=256)
    out = capsys.readouterr().out
    assert "depth 3 gaussian_fixed256 BatchNorm, sgd lr 0.01 clip 1: step 2, loss" in out and "step 4, loss" in out
    assert r["model"]["batchnorm"] is True and [x["step"] for x in r["records"]] == [0, 2, 4]
    assert set(S.DEFAULT_SETTINGS) == {s for s in S.SETTINGS if not s.startswith("BatchNorm, ")}
    assert all(f"BatchNorm, {s}" in S.SETTINGS for s in S.DEFAULT_SETTINGS)  # D3 with every D2 candidate
