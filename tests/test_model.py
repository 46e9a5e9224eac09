"""Stacked networks equal the same networks trained one by one; init and checkpoints."""

import math

import torch

from noisefa.engine import TensorBatches, make_optimizer
from noisefa.learning_rules import get_rule
from noisefa.metrics import stacked_cross_entropy
from noisefa.model import Architecture, StackedMLP, load_checkpoint, save_checkpoint

ARCH = Architecture(in_dim=20, n_classes=4, depth=3, hidden=16, batchnorm=True)


def _train(model, steps=30, rule="fa"):
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(200, 20, generator=g), torch.randint(0, 4, (200,), generator=g)
    src = TensorBatches(x, y, model.seeds, 32, ("test",))
    opt = make_optimizer(model, {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9})
    for _ in range(steps):
        xb, yb = src.next()
        loss = stacked_cross_entropy(model(xb, get_rule(rule)), yb).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


def test_stacked_model_equals_networks_trained_one_by_one():
    seeds = [0, 1, 2]
    stacked = _train(StackedMLP(ARCH, seeds))
    for i, s in enumerate(seeds):
        alone = _train(StackedMLP(ARCH, [s]))
        for k, v in alone.state_dict().items():
            torch.testing.assert_close(stacked.state_dict()[k][i], v[0], rtol=1e-4, atol=1e-5, msg=k)


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
    m = _train(StackedMLP(ARCH, [0]), steps=5)
    x = torch.randn(7, 20)
    m.eval()
    one = m(x[:1], get_rule("bp"))
    full = m(x, get_rule("bp"))[:, :1]
    torch.testing.assert_close(one, full)
