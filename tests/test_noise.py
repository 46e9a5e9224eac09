import math

import pytest
import torch

from noisefa.noise import FreshNoiseStream, make_noise_dataset, validate_spec

SPEC = {"distribution": "gaussian", "mean": 0.0, "std": 1.0, "protocol": "fixed", "n_samples": 4000, "seed": 3}


def test_fixed_noise_is_reproducible_from_its_seed():
    a = make_noise_dataset(SPEC, "n", 50, 10)
    b = make_noise_dataset(SPEC, "n", 50, 10)
    assert torch.equal(a["x"], b["x"]) and torch.equal(a["y"], b["y"])
    c = make_noise_dataset({**SPEC, "seed": 4}, "n", 50, 10)
    assert not torch.equal(a["x"], c["x"])
    assert a["spec"] == SPEC and a["dim"] == 50 and a["n_classes"] == 10


@pytest.mark.parametrize("dist", ["gaussian", "uniform"])
def test_moments_match_the_spec(dist):
    d = make_noise_dataset({**SPEC, "distribution": dist, "mean": 0.5, "std": 2.0}, "n", 100, 10)
    assert d["x"].mean().item() == pytest.approx(0.5, abs=0.02)
    assert d["x"].std().item() == pytest.approx(2.0, rel=0.01)
    if dist == "uniform":
        assert d["x"].max().item() <= 0.5 + 2.0 * math.sqrt(3) + 1e-5


def test_labels_are_uniform_and_independent_of_inputs():
    d = make_noise_dataset({**SPEC, "n_samples": 20000}, "n", 20, 10)
    counts = torch.bincount(d["y"], minlength=10).float()
    assert (counts / counts.sum() - 0.1).abs().max() < 0.015
    # class means of the inputs are all ~0: labels carry no information about x
    means = torch.stack([d["x"][d["y"] == c].mean(0) for c in range(10)])
    assert means.abs().max() < 0.1


def test_fresh_stream_is_per_network_and_reproducible():
    noise = make_noise_dataset({**SPEC, "protocol": "fresh"}, "f", 8, 3)
    assert "x" not in noise
    s1 = FreshNoiseStream(noise, [0, 1], 4, "cpu")
    s2 = FreshNoiseStream(noise, [1], 4, "cpu")
    x1, y1 = s1.next()
    x2, y2 = s2.next()
    assert x1.shape == (2, 4, 8) and y1.shape == (2, 4)
    assert torch.equal(x1[1], x2[0]) and torch.equal(y1[1], y2[0])
    assert not torch.equal(x1[0], x1[1])


def test_bad_specs_are_rejected():
    with pytest.raises(ValueError, match="known"):
        validate_spec({**SPEC, "distribution": "pink"})
    with pytest.raises(ValueError, match="protocol"):
        validate_spec({**SPEC, "protocol": "sometimes"})
