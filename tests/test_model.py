"""Stacked networks equal the same networks trained one by one; init and checkpoints."""

import math

import pytest
import torch
from numerics import F64, float64

from noisefa.nets import feedback
from noisefa.nets.engine import TensorBatches, make_optimizer
from noisefa.nets.families import load_checkpoint, save_checkpoint
from noisefa.nets.learning_rules import get_rule
from noisefa.nets.metrics import stacked_cross_entropy
from noisefa.nets.model import Architecture, StackedMLP
from noisefa.seeds import generator

ARCH = Architecture(in_dim=20, n_classes=4, depth=3, hidden=16, batchnorm=True)


def _train(model, steps=30, rule="fa"):
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(200, 20, generator=g), torch.randint(0, 4, (200,), generator=g)
    x = x.to(model.weights[0].dtype)
    src = TensorBatches(x, y, model.seeds, 32, ("test",))
    opt = make_optimizer(model, {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 1e-3})
    r = get_rule(rule)
    for step in range(1, steps + 1):
        xb, yb = src.next()
        loss = stacked_cross_entropy(model(xb, r), yb).sum()
        opt.zero_grad()
        loss.backward()
        before = feedback.before_step(r, model)
        opt.step()
        feedback.after_step(r, model, opt, before, step)
    return model


@pytest.mark.parametrize("rule", ["fa", "dfa", "kp", "wm"])
def test_stacked_model_equals_networks_trained_one_by_one(rule):
    # bmm over 3 networks vs over 1: other kernel shapes, so float64 and F64 (tests/numerics.py)
    seeds = [0, 1, 2]
    stacked = _train(float64(StackedMLP(ARCH, seeds)), rule=rule)
    for i, s in enumerate(seeds):
        alone = _train(float64(StackedMLP(ARCH, [s])), rule=rule)
        for k, v in alone.state_dict().items():
            torch.testing.assert_close(stacked.state_dict()[k][i], v[0], **F64, msg=k)


def test_init_is_he_normal_seeded_and_independent_of_the_stack():
    a = StackedMLP(ARCH, [0, 1, 2])
    b = StackedMLP(ARCH, [2, 7])
    torch.testing.assert_close(a.weights[0][2], b.weights[0][0], rtol=0, atol=0)
    torch.testing.assert_close(a.B0[2], b.B0[0], rtol=0, atol=0)
    assert not torch.equal(a.weights[0][0], a.B0[0])
    big = StackedMLP(Architecture(784, 10, 2, 100, False), list(range(10)))
    assert abs(big.weights[0].std().item() - math.sqrt(2 / 784)) < 0.002
    assert abs(big.B1.std().item() - math.sqrt(2 / 100)) < 0.01
    assert torch.count_nonzero(big.biases[0]) == 0
    # BatchNorm has no random state: the same W with and without it
    assert torch.equal(StackedMLP(Architecture(784, 10, 2, 100, True), [3]).weights[0], big.select([3]).weights[0])


def test_checkpoint_round_trip_keeps_W_B_and_bn_state(tmp_path):
    m = _train(StackedMLP(ARCH, [4, 5]), steps=3)
    save_checkpoint(m, tmp_path / "c.pt", note="x")
    m2, meta = load_checkpoint(tmp_path / "c.pt")
    assert meta == {"note": "x"} and m2.seeds == [4, 5] and m2.arch == ARCH
    for k, v in m.state_dict().items():
        assert torch.equal(v, m2.state_dict()[k]), k
    assert not list(tmp_path.glob(".*tmp"))  # no temp file left behind


def test_corrupt_checkpoint_gives_a_clear_error(tmp_path):
    p = tmp_path / "bad.pt"
    p.write_bytes(b"not a checkpoint")
    try:
        load_checkpoint(p)
    except RuntimeError as e:
        assert str(p) in str(e) and "forcerun" in str(e)
    else:
        raise AssertionError("no error")


def test_eval_mode_uses_running_stats():
    m = _train(float64(StackedMLP(ARCH, [0])), steps=5)
    x = torch.randn(7, 20, dtype=torch.float64)
    m.eval()
    one = m(x[:1], get_rule("bp"))
    full = m(x, get_rule("bp"))[:, :1]
    torch.testing.assert_close(one, full, **F64)  # batch statistics would make row 0 depend on the other six


def test_dfa_matrices_are_seeded_buffers_and_left_W_and_B_unchanged():
    a = StackedMLP(ARCH, [0, 1, 2])
    b = StackedMLP(ARCH, [2, 7])
    assert [tuple(d.shape) for d in a.direct_feedback] == [(3, 4, 16), (3, 4, 16)]
    assert all(f"D{i}" in a.state_dict() for i in range(ARCH.depth - 1))
    assert not any(p is d for p in a.parameters() for d in a.direct_feedback)
    for da, db in zip(a.direct_feedback, b.direct_feedback):
        assert torch.equal(da[2], db[0])  # independent of the stack
    assert torch.equal(a.D1, a.B2)  # last hidden layer: D is the last layer's initial B (DFA = FA there)
    assert not torch.equal(a.D0[0], a.D1[0])
    # W and B are still the first draws of the init generator (D has its own)
    gen = generator(*ARCH.init_keys(7))
    W0 = torch.randn(16, 20, generator=gen) * math.sqrt(2.0 / 20)
    assert torch.equal(b.weights[0][1].detach(), W0)
    big = StackedMLP(Architecture(784, 10, 4, 100, False), list(range(10)))
    assert abs(big.D0.std().item() - math.sqrt(2 / 100)) < 0.01
    assert StackedMLP(Architecture(20, 4, 1, 16), [0]).direct_feedback == []


def test_checkpoint_without_dfa_matrices_loads_with_the_seeded_ones(tmp_path):
    m = _train(StackedMLP(ARCH, [4, 5]), steps=3)
    save_checkpoint(m, tmp_path / "c.pt")
    payload = torch.load(tmp_path / "c.pt", weights_only=True)
    payload["state_dict"] = {k: v for k, v in payload["state_dict"].items() if not k.startswith("D")}
    torch.save(payload, tmp_path / "old.pt")
    m2, _ = load_checkpoint(tmp_path / "old.pt")
    for k, v in m.state_dict().items():
        assert torch.equal(v, m2.state_dict()[k]), k


@pytest.mark.parametrize("rule", ["kp", "wm"])
def test_checkpoint_keeps_the_B_that_kp_and_wm_trained(rule, tmp_path):
    m = _train(StackedMLP(ARCH, [4, 5]), steps=10, rule=rule)
    assert not torch.equal(m.B1, StackedMLP(ARCH, [4, 5]).B1)
    save_checkpoint(m, tmp_path / "c.pt")
    m2, _ = load_checkpoint(tmp_path / "c.pt")
    for b, b2 in zip(m.feedback, m2.feedback):
        assert torch.equal(b, b2)


@pytest.mark.parametrize("rule", ["bp", "fa", "dfa"])
@pytest.mark.parametrize("train_mode", [False, True])
def test_inference_path_equals_the_autograd_path(rule, train_mode):
    """Without autograd the layers skip the rule's Function and a shared input meets all
    first layers in one product: the logits and BatchNorm statistics must not change."""
    arch = Architecture(12, 4, depth=3, hidden=7, batchnorm=True)
    models = [float64(StackedMLP(arch, [0, 1, 2])) for _ in range(2)]  # addmm vs bmm: other rounding
    for m in models:
        m.train(train_mode)
    x = torch.randn(9, 12, generator=generator("inference-test"), dtype=torch.float64)
    with_grad = models[0](x, get_rule(rule))
    with torch.no_grad():
        without = models[1](x, get_rule(rule))
        stacked_input = models[1](x.expand(3, 9, 12), get_rule(rule)) if not train_mode else without
    torch.testing.assert_close(without, with_grad.detach(), **F64)
    torch.testing.assert_close(stacked_input, without, **F64)
    torch.testing.assert_close(models[1].bn_mean0, models[0].bn_mean0, **F64)


def test_estimate_batchnorm_sets_running_statistics_to_the_batch_and_changes_nothing_else():
    m = float64(StackedMLP(ARCH, [0, 1]))
    x = torch.randn(40, 20, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    before = {k: v.clone() for k, v in m.state_dict().items()}
    m.eval()
    m.estimate_batchnorm(x)
    assert not m.training and m.bn_momentum == 0.1
    h = torch.relu(torch.baddbmm(m.biases[0].unsqueeze(1), x.expand(2, 40, 20), m.weights[0].transpose(1, 2)))
    torch.testing.assert_close(m.bn_mean0, h.mean(1), **F64)
    torch.testing.assert_close(m.bn_var0, h.var(1, unbiased=True), **F64)
    for k, v in m.state_dict().items():
        if not k.startswith(("bn_mean", "bn_var")):
            assert torch.equal(v, before[k]), k
    plain = StackedMLP(Architecture(20, 4, 3, 16, batchnorm=False), [0])
    plain.estimate_batchnorm(x.float())  # no BatchNorm: nothing to estimate


def test_step_0_evaluation_sees_batchnorm_statistics_of_the_phase_inputs():
    """Not the initial (0, 1): those make an untrained BN network evaluate as one without BN."""
    from noisefa.nets.engine import fit

    model = StackedMLP(ARCH, [0, 1])
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(200, 20, generator=g) + 3.0, torch.randint(0, 4, (200,), generator=g)
    src = TensorBatches(x, y, model.seeds, 32, ("test",))
    seen = {}

    def evaluate(step, loss):
        seen.setdefault(step, (model.bn_mean0.clone(), model.bn_var0.clone()))
        return []

    fit(model, get_rule("fa"), src, make_optimizer(model, {"optimizer": "sgd", "lr": 0.01}), 2, [1, 2], evaluate, "t")
    ref = StackedMLP(ARCH, [0, 1])
    ref.estimate_batchnorm(x[:32])
    assert torch.equal(seen[0][0], ref.bn_mean0) and torch.equal(seen[0][1], ref.bn_var0)
    assert (seen[0][0] > 0.1).any()  # relu(x W + b) of shifted inputs: clearly not the initial zeros
