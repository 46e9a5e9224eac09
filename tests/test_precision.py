"""The products' precision: float32 is torch's own arithmetic; bf16 rounds the operands of every
layer product (forward, FA's feedback product, weight gradient) and nothing else.

bf16 keeps 8 significant bits (unit roundoff 2^-9 = 2e-3): one product is ~3e-3 from float64
(measured, a 128-term weight gradient), float32's ~1e-7. A hidden layer's gradient moves more:
the rounded pre-activations flip the ReLU mask of the units within ~2e-3 of zero (a fraction
~1e-3 of them), and a flipped unit changes its whole entry of the error, so the gradient's
relative error grows as sqrt(that fraction), a few percent per masked layer (measured 4-7 % at
depth 3). Each test asserts bf16's error inside that window, so a bf16 path that silently ran in
float32 (error ~1e-7) fails as surely as a wrong gradient (error ~1).
"""

import pytest
import torch

from noisefa import precision
from noisefa.nets.engine import make_optimizer
from noisefa.nets.learning_rules import get_rule
from noisefa.nets.metrics import stacked_cross_entropy
from noisefa.nets.model import Architecture, StackedMLP
from noisefa.pipeline import config


@pytest.fixture(autouse=True)
def float32_after():
    yield
    precision.use("float32")  # the setting is process-wide


def _grads(model, rule, x, y):
    model.zero_grad(set_to_none=True)
    stacked_cross_entropy(model(x, rule), y).sum().backward()
    return [w.grad.clone() for w in model.weights]


def _rel(a, b):
    return float((a.double() - b.double()).norm() / b.double().norm())


@pytest.mark.parametrize("rule", ["fa", "bp", "dfa"])
def test_bf16_gradients_sit_at_bf16_rounding_from_float64(rule):
    arch = Architecture(784, 10, depth=3, hidden=100, batchnorm=False)
    model = StackedMLP(arch, [0, 1, 2])
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(128, 784, generator=g), torch.randint(0, 10, (128,), generator=g)
    exact = _grads(model.double(), get_rule(rule), x.double(), y)
    model.float()
    f32 = _grads(model, get_rule(rule), x, y)
    precision.use("bf16")
    b16 = _grads(model, get_rule(rule), x, y)
    assert all(gr.dtype == torch.float32 for gr in b16)  # weights and their gradients stay float32
    for e, a, b in zip(exact, f32, b16):
        assert _rel(a, e) < 1e-5
        assert 1e-4 < _rel(b, e) < 0.15, _rel(b, e)
    assert _rel(b16[-1], exact[-1]) < 1e-2  # the output layer: no mask below its input's product


def test_bf16_evaluation_forward_rounds_the_products_and_returns_float32():
    model = StackedMLP(Architecture(784, 10, depth=2, hidden=100, batchnorm=True), [0, 1]).eval()
    x = torch.randn(64, 784, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        f32 = model(x, get_rule("fa"))
        precision.use("bf16")
        b16 = model(x, get_rule("fa"))
    assert b16.dtype == torch.float32
    assert 1e-4 < _rel(b16, f32) < 3e-2


def test_float32_is_torchs_own_product_bit_for_bit():
    a, b, c = torch.randn(3, 5, 7), torch.randn(3, 7, 4), torch.randn(3, 1, 4)
    precision.use("float32")
    assert torch.equal(precision.baddbmm(c, a, b), torch.baddbmm(c, a, b))
    assert torch.equal(precision.bmm(a, b), torch.bmm(a, b))


def test_bf16_training_learns_as_float32_does():
    # A separable task: both precisions must fit it; their losses after 100 steps agree to the
    # rounding's effect (a few percent), far from the untrained loss (ln 10 = 2.3).
    g = torch.Generator().manual_seed(2)
    centres = torch.randn(10, 784, generator=g) * 0.5
    y = torch.randint(0, 10, (1280,), generator=g)
    x = centres[y] + torch.randn(1280, 784, generator=g)
    losses = {}
    for name in ("float32", "bf16"):
        precision.use(name)
        model = StackedMLP(Architecture(784, 10, depth=2, hidden=100, batchnorm=False), [0, 1])
        opt = make_optimizer(model, {"optimizer": "sgd", "lr": 0.01, "momentum": 0.9})
        for step in range(100):
            i = slice(128 * (step % 10), 128 * (step % 10 + 1))
            loss = stacked_cross_entropy(model(x[i], get_rule("fa")), y[i]).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        losses[name] = float(loss.detach()) / 2
    assert losses["float32"] < 0.5
    assert abs(losses["bf16"] - losses["float32"]) < 0.1 * losses["float32"] + 0.02


def test_an_unknown_precision_is_refused_and_the_schema_lists_the_registry():
    with pytest.raises(ValueError, match="unknown precision"):
        precision.use("fp8")
    assert set(config.schema()["properties"]["precision"]["enum"]) == set(precision.PRECISIONS)
