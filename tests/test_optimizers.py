"""Our optimisers do torch.optim's arithmetic bit for bit, save and resume, and import no dynamo."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from noisefa.nets import optimizers

CASES = [
    ("sgd", {"lr": 0.05}),
    ("sgd", {"lr": 0.05, "momentum": 0.9}),
    ("sgd", {"lr": 0.05, "momentum": 0.9, "weight_decay": 1e-3}),
    ("adam", {"lr": 1e-3}),
    ("adam", {"lr": 1e-3, "weight_decay": 1e-2}),
]
TORCH = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}


def _params(dtype):
    g = torch.Generator().manual_seed(0)
    return [torch.randn(s, generator=g, dtype=dtype).requires_grad_() for s in [(3, 20, 10), (3, 20), (3, 4, 20)]]


def _run(opt, params, steps, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(3, 16, 10, generator=g, dtype=params[0].dtype)
    for t in range(steps):
        h = torch.tanh(torch.baddbmm(params[1].unsqueeze(1), x, params[0].transpose(1, 2)))
        loss = (h @ params[2].transpose(1, 2)).pow(2).mean() + 0.1 * t
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kind,hyper", CASES)
@pytest.mark.parametrize("foreach", [False, True])
def test_same_bits_as_torch_optim(kind, hyper, dtype, foreach):
    ours, ref = _params(dtype), _params(dtype)
    _run(optimizers.make_optimizer(ours, {"optimizer": kind, **hyper}), ours, 25)
    _run(TORCH[kind](ref, foreach=foreach, **hyper), ref, 25)
    for a, b in zip(ours, ref):
        assert torch.equal(a, b), (kind, hyper, dtype, foreach, (a - b).abs().max())


@pytest.mark.parametrize("kind,hyper", CASES)
def test_resumed_from_state_dict_equals_uninterrupted(kind, hyper):
    whole, first = _params(torch.float32), _params(torch.float32)
    _run(optimizers.make_optimizer(whole, {"optimizer": kind, **hyper}), whole, 20)
    opt = optimizers.make_optimizer(first, {"optimizer": kind, **hyper})
    _run(opt, first, 10)
    state = opt.state_dict()
    resumed = [p.detach().clone().requires_grad_() for p in first]
    opt2 = optimizers.make_optimizer(resumed, {"optimizer": kind, **hyper})
    opt2.load_state_dict(state)
    _run(opt2, resumed, 10, seed=1)  # same batches (the loss does not depend on t's offset in gradients)
    for a, b in zip(whole, resumed):
        assert torch.equal(a, b)


def test_state_of_another_optimiser_is_refused():
    p = _params(torch.float32)
    sgd = optimizers.make_optimizer(p, {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9})
    _run(sgd, p, 2)
    with pytest.raises(ValueError, match="not a adam state"):
        optimizers.make_optimizer(p, {"optimizer": "adam", "lr": 0.1}).load_state_dict(sgd.state_dict())
    with pytest.raises(ValueError, match="for these 2 parameters"):
        optimizers.make_optimizer(p[:2], {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9}).load_state_dict(sgd.state_dict())
    with pytest.raises(KeyError, match="unknown optimizer 'adamw'"):
        optimizers.make_optimizer(p, {"optimizer": "adamw", "lr": 0.1})


def test_a_training_step_imports_no_dynamo():
    code = (
        "import sys, torch; from noisefa.nets.engine import make_optimizer;"
        "from noisefa.nets.model import Architecture, StackedMLP;"
        "from noisefa.nets.learning_rules import get_rule; m = StackedMLP(Architecture(8, 3, 2, 5), [0, 1]);"
        "o = make_optimizer(m, {'optimizer': 'sgd', 'lr': 0.1, 'momentum': 0.9});"
        "m(torch.randn(2, 4, 8), get_rule('fa')).sum().backward(); o.step(); print('torch._dynamo' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(optimizers.__file__).parents[2])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "False"


def test_clipping_is_per_network_and_matches_torch_on_each_network_alone():
    g = torch.Generator().manual_seed(3)
    params = [torch.zeros(s, dtype=torch.float64, requires_grad=True) for s in [(3, 5, 4), (3, 5)]]
    grads = [torch.randn(p.shape, generator=g, dtype=torch.float64) for p in params]
    grads[0][1] *= 1e-3  # network 1's gradient is small in one tensor: only its own norm decides
    for p, gr in zip(params, grads):
        p.grad = gr.clone()
    opt = optimizers.make_optimizer(params, {"optimizer": "sgd", "lr": 1.0, "clip_grad_norm": 1.0})
    assert isinstance(opt, optimizers.ClippedPerNetwork) and opt.param_groups[0]["lr"] == 1.0
    opt.step()
    for m in range(3):
        alone = [gr[m].clone().requires_grad_() for gr in grads]
        for a, gr in zip(alone, grads):
            a.grad = gr[m].clone()
        torch.nn.utils.clip_grad_norm_(alone, 1.0)
        for p, a in zip(params, alone):
            torch.testing.assert_close(-p.detach()[m], a.grad, rtol=1e-12, atol=1e-15)  # lr 1 from 0: the step is -grad
    assert not isinstance(optimizers.make_optimizer(params, {"optimizer": "sgd", "lr": 1.0}), optimizers.ClippedPerNetwork)
    with pytest.raises(ValueError, match="clip_grad_norm"):
        optimizers.ClippedPerNetwork(opt.inner, -1.0)
