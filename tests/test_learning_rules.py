"""FA and BP as autograd Functions, checked against float64 references."""

import torch

from noisefa.learning_rules import LEARNING_RULES, StackedLinearFn, get_rule
from noisefa.model import Architecture, StackedMLP


def _inputs(M=3, N=5, i=7, o=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(M, N, i, generator=g, dtype=torch.float64, requires_grad=True)
    W = torch.randn(M, o, i, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(M, o, generator=g, dtype=torch.float64, requires_grad=True)
    B = torch.randn(M, o, i, generator=g, dtype=torch.float64)
    up = torch.randn(M, N, o, generator=g, dtype=torch.float64)
    return x, W, b, B, up


def test_bp_matches_plain_autograd_in_float64():
    x, W, b, B, up = _inputs()
    (get_rule("bp").linear(x, W, b, B) * up).sum().backward()
    got = x.grad.clone(), W.grad.clone(), b.grad.clone()
    x.grad = W.grad = b.grad = None
    ((x @ W.transpose(1, 2) + b.unsqueeze(1)) * up).sum().backward()
    for a, r in zip(got, (x.grad, W.grad, b.grad)):
        torch.testing.assert_close(a, r, rtol=1e-12, atol=1e-12)


def test_fa_with_B_equal_W_is_exactly_bp():
    x, W, b, _, up = _inputs()
    grads = {}
    for name in ("bp", "fa"):
        x.grad = W.grad = b.grad = None
        (get_rule(name).linear(x, W, b, W.detach().clone()) * up).sum().backward()
        grads[name] = (x.grad.clone(), W.grad.clone(), b.grad.clone())
    for a, r in zip(grads["fa"], grads["bp"]):
        assert torch.equal(a, r)


def test_fa_input_gradient_is_g_times_B_and_weight_gradient_unchanged():
    x, W, b, B, up = _inputs()
    out = get_rule("fa").linear(x, W, b, B)
    (out * up).sum().backward()
    torch.testing.assert_close(x.grad, up @ B, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(W.grad, up.transpose(1, 2) @ x.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(b.grad, up.sum(1), rtol=1e-12, atol=1e-12)
    # ... and differs from the true input gradient g W
    assert not torch.allclose(x.grad, up @ W.detach())


def test_gradcheck_bp_function():
    x, W, b, _, _ = _inputs(M=2, N=3, i=4, o=3)
    assert torch.autograd.gradcheck(lambda x, W, b: StackedLinearFn.apply(x, W, b, W), (x, W, b))


def test_B_gets_no_gradient_and_never_changes_in_training():
    torch.manual_seed(0)
    model = StackedMLP(Architecture(12, 3, depth=3, hidden=8), seeds=[0, 1])
    B_before = [b.clone() for b in model.feedback]
    assert all(not b.requires_grad for b in model.feedback)
    assert not any(p is b for p in model.parameters() for b in model.feedback)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = torch.randn(32, 12), torch.randint(0, 3, (32,))
    for _ in range(5):
        loss = torch.nn.functional.cross_entropy(model(x, get_rule("fa")).reshape(-1, 3), y.repeat(2))
        opt.zero_grad()
        loss.backward()
        opt.step()
    for b0, b1 in zip(B_before, model.feedback):
        assert b1.grad is None
        assert torch.equal(b0, b1)
    assert all(f"B{i}" in model.state_dict() for i in range(3))  # saved in every checkpoint


def test_unknown_rule_names_the_known_ones():
    try:
        get_rule("kp2")
    except KeyError as e:
        assert "bp" in str(e) and "fa" in str(e)
    else:
        raise AssertionError("no error")
    assert set(LEARNING_RULES) >= {"bp", "fa"}
