"""The controls' starts (noisefa.nets.starts): each changes exactly what it claims to, and nothing else."""

import math

import pytest
import torch

from noisefa.nets import metrics as M
from noisefa.nets.model import Architecture, StackedMLP
from noisefa.nets.starts import MATCHED, STARTS, build, new_feedback, rotate_toward

ARCH = Architecture(in_dim=30, n_classes=7, depth=3, hidden=20, batchnorm=False)


def _twin(fresh: StackedMLP) -> StackedMLP:
    """A stand-in for the noise-pretrained twin: every W moved part-way to its B and rescaled
    (different per layer and network), biases changed, B the seeded one."""
    twin = fresh.select(list(range(fresh.n_models)))
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for i, (W, B, b) in enumerate(zip(twin.weights, twin.feedback, twin.biases)):
            mix = torch.rand(W.shape[0], 1, 1, generator=g)
            W.copy_((1 - mix) * W + mix * B * (1.5 + i))
            b.add_(torch.randn(b.shape, generator=g))
    return twin


@pytest.fixture
def nets():
    fresh = StackedMLP(ARCH, [0, 1, 2])
    return fresh, _twin(fresh)


def _state(m):
    return {k: v.clone() for k, v in m.state_dict().items()}


@pytest.mark.parametrize("angle", [0.0, 12.5, 45.0, 90.0, 135.0])
def test_rotate_toward_gives_the_target_angle_keeps_norms_and_stays_in_the_plane(angle):
    g = torch.Generator().manual_seed(1)
    W, B = torch.randn(2, 9, 13, generator=g, dtype=torch.float64), torch.randn(2, 9, 13, generator=g, dtype=torch.float64)
    R = rotate_toward(W, B, angle)
    torch.testing.assert_close(M.neuron_angles(R, B).double(), torch.full((2, 13), angle, dtype=torch.float64), atol=1e-4, rtol=0)
    torch.testing.assert_close(R.norm(dim=1), W.norm(dim=1))
    for m in range(2):  # each new column is a combination of its old column and B's
        for j in range(13):
            basis = torch.stack([W[m, :, j], B[m, :, j]], 1)
            coef = torch.linalg.lstsq(basis, R[m, :, j]).solution
            torch.testing.assert_close(basis @ coef, R[m, :, j])


def test_rotate_toward_moves_each_column_toward_b_on_its_own_side():
    g = torch.Generator().manual_seed(2)
    W, B = torch.randn(1, 50, 8, generator=g), torch.randn(1, 50, 8, generator=g)
    before = M.neuron_angles(W, B)
    R = rotate_toward(W, B, 30.0)
    moved = M.neuron_angles(R, W)  # how far each column turned: exactly the angle it lost
    torch.testing.assert_close(moved, before - 30.0, atol=1e-3, rtol=0)


def test_rotate_toward_takes_one_angle_per_network():
    g = torch.Generator().manual_seed(3)
    W, B = torch.randn(3, 6, 4, generator=g), torch.randn(3, 6, 4, generator=g)
    R = rotate_toward(W, B, torch.tensor([10.0, 50.0, 80.0]))
    torch.testing.assert_close(M.neuron_angles(R, B).mean(1), torch.tensor([10.0, 50.0, 80.0]), atol=1e-3, rtol=0)


def test_aligned_matched_sets_every_neuron_to_its_twins_mean_angle_and_leaves_the_rest(nets):
    fresh, twin = nets
    before = _state(fresh)
    out = build("aligned", fresh, twin, {"aligned_angle": MATCHED})
    assert all(torch.equal(v, fresh.state_dict()[k]) for k, v in before.items())  # the inputs are untouched
    torch.testing.assert_close(out.weights[0], fresh.weights[0], rtol=0, atol=0)  # B1 carries no error
    for i in (1, 2):
        target = M.neuron_angles(twin.weights[i], twin.feedback[i]).double().mean(1)
        got = M.neuron_angles(out.weights[i], out.feedback[i]).double()
        torch.testing.assert_close(got, target[:, None].expand_as(got), atol=2e-3, rtol=0)
        torch.testing.assert_close(out.weights[i].norm(dim=1), fresh.weights[i].norm(dim=1))
        assert not torch.allclose(target, torch.full_like(target, target[0].item()))  # networks differ: per network
    for k in ("B0", "B1", "B2", "biases.0", "biases.1", "biases.2"):
        assert torch.equal(out.state_dict()[k], fresh.state_dict()[k]), k


def test_aligned_at_zero_degrees_makes_w_parallel_to_b_and_needs_no_twin(nets):
    fresh, _ = nets
    out = build("aligned", fresh, None, {"aligned_angle": 0})
    W, B = out.weights[2], out.feedback[2]
    scaled_b = B / B.norm(dim=1, keepdim=True) * W.norm(dim=1, keepdim=True)
    torch.testing.assert_close(W, scaled_b, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="needs the noise-pretrained twin"):
        build("aligned", fresh, None, {"aligned_angle": MATCHED})
    with pytest.raises(ValueError, match=r"\[0, 180\]"):
        build("aligned", fresh, None, {"aligned_angle": 200})


def test_newb_keeps_the_twins_w_and_shares_nothing_with_its_b(nets):
    fresh, twin = nets
    out = build("newb", fresh, twin)
    for k, v in twin.state_dict().items():
        if k.startswith(("weights", "biases")):
            assert torch.equal(out.state_dict()[k], v), k
    for new, old in zip(out.feedback, twin.feedback):
        assert not (new == old).any()  # no entry kept
        r = torch.corrcoef(torch.stack([new.flatten(), old.flatten()]))[0, 1]
        assert abs(r) < 4 / math.sqrt(new.numel())  # independent draws
        std = math.sqrt(2.0 / new.shape[2])  # He-normal, as the seeded B
        assert abs(new.std().item() / std - 1) < 0.15
    assert torch.equal(out.direct_feedback[-1], out.feedback[-1])  # D of the last hidden layer is B's copy
    assert all(torch.equal(a, b) for a, b in zip(new_feedback(twin), new_feedback(twin)))  # seeded


def test_newb_is_per_network_seeded_not_positional():
    a = StackedMLP(ARCH, [4, 7])
    b = StackedMLP(ARCH, [7])
    torch.testing.assert_close(new_feedback(a)[1][1], new_feedback(b)[1][0], rtol=0, atol=0)


def test_scaled_changes_only_the_readouts_norm(nets):
    fresh, twin = nets
    out = build("scaled", fresh, twin)
    for k, v in fresh.state_dict().items():
        if k != "weights.2":
            assert torch.equal(out.state_dict()[k], v), k
    W, W0 = out.weights[2].flatten(1), fresh.weights[2].flatten(1)
    torch.testing.assert_close(W.norm(dim=1), twin.weights[2].flatten(1).norm(dim=1))
    torch.testing.assert_close(M.vector_angle(W, W0), torch.zeros(3), atol=0.05, rtol=0)  # the direction kept
    assert not torch.allclose(W.norm(dim=1), W0.norm(dim=1))


@pytest.mark.parametrize("start", sorted(STARTS))
def test_every_start_is_bit_identical_across_builds(nets, start):
    fresh, twin = nets
    a, b = build(start, fresh, twin), build(start, fresh, twin)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k


def test_init_and_noise_are_the_papers_starts(nets):
    fresh, twin = nets
    assert build("init", fresh, None) is fresh and build("noise", fresh, twin) is twin
    with pytest.raises(ValueError, match="needs the noise-pretrained twin"):
        build("newb", fresh, None)
    with pytest.raises(KeyError, match="known starts"):
        build("rotated", fresh, twin)
