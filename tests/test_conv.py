"""Stacked convolutions (noisefa.nets.conv) and each rule's convolutional layer, in float64: backprop's
gradients exactly; FA's input gradient is the transposed convolution with B (its equation) and its
kernel gradient backprop's; sign-symmetry sends sign(W) at B's norm; networks of a stack never mix."""

import pytest
import torch
import torch.nn.functional as F

from noisefa.nets import feedback
from noisefa.nets.conv import plain_conv
from noisefa.nets.learning_rules import get_rule, sign_feedback

M, N, C, OUT, K, HW, PAD = 3, 4, 2, 5, 3, 7, 1


def _data(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(M, N, C, HW, HW, generator=g, dtype=torch.float64)
    W = torch.randn(M, OUT, C, K, K, generator=g, dtype=torch.float64)
    B = torch.randn(M, OUT, C, K, K, generator=g, dtype=torch.float64)
    b = torch.randn(M, OUT, generator=g, dtype=torch.float64)
    g_out = torch.randn(M, N, OUT, HW, HW, generator=g, dtype=torch.float64)
    return x, W, B, b, g_out


def _grads(rule, x, W, B, b, g_out):
    x, W, b = (t.clone().requires_grad_() for t in (x, W, b))
    feedback.conv(get_rule(rule), x, W, b, B, PAD).backward(g_out)
    return x.grad, W.grad, b.grad


def _reference(m, x, kernel, b, g_out, W=None):
    """Network m alone through torch's own conv2d: its outputs, and backprop's gradients."""
    xm, Wm, bm = (t[m].clone().requires_grad_() for t in (x, W if W is not None else kernel, b))
    y = F.conv2d(xm, Wm, bm, padding=PAD)
    y.backward(g_out[m])
    return y.detach(), xm.grad, Wm.grad, bm.grad


def test_backprop_is_exactly_torch_s_convolution_per_network():
    x, W, B, b, g_out = _data()
    gx, gW, gb = _grads("bp", x, W, B, b, g_out)
    for m in range(M):
        y, rx, rW, rb = _reference(m, x, W, b, g_out)
        torch.testing.assert_close(plain_conv(x, W, b, PAD)[m], y, rtol=0, atol=1e-12)
        torch.testing.assert_close(gx[m], rx, rtol=0, atol=1e-12)
        torch.testing.assert_close(gW[m], rW, rtol=0, atol=1e-12)
        torch.testing.assert_close(gb[m], rb, rtol=0, atol=1e-12)


def test_feedback_alignment_sends_the_error_through_b_and_learns_w_as_backprop():
    x, W, B, b, g_out = _data(1)
    gx, gW, gb = _grads("fa", x, W, B, b, g_out)
    bx, bW, bb = _grads("bp", x, W, B, b, g_out)
    torch.testing.assert_close(gW, bW, rtol=0, atol=1e-12)  # the kernel and bias gradients are backprop's
    torch.testing.assert_close(gb, bb, rtol=0, atol=1e-12)
    for m in range(M):  # δ_in = convᵀ(δ_out, B): the gradient a network with kernel B would send back
        want = torch.nn.grad.conv2d_input(x[m].shape, B[m], g_out[m], padding=PAD)
        torch.testing.assert_close(gx[m], want, rtol=0, atol=1e-12)
    assert not torch.allclose(gx, bx)  # and it is not backprop's
    # the same as a linear layer's rule: the input gradient is g @ M, with M the convolution's matrix for B
    flat = lambda t: t.reshape(-1)  # noqa: E731
    m = 0
    jac = torch.autograd.functional.jacobian(lambda z: F.conv2d(z, B[m], padding=PAD), x[m])  # (N,O,H,W, N,C,H,W)
    as_matrix = jac.reshape(g_out[m].numel(), x[m].numel())
    torch.testing.assert_close(flat(gx[m]), flat(g_out[m]) @ as_matrix, rtol=0, atol=1e-12)


def test_sign_symmetry_sends_the_signs_of_w_at_the_norm_of_b():
    x, W, B, b, g_out = _data(2)
    gx, _, _ = _grads("ss", x, W, B, b, g_out)
    S = sign_feedback(W, B)
    for m in range(M):
        assert torch.equal(torch.sign(S[m]), torch.sign(W[m]))
        assert S[m].norm().item() == pytest.approx(B[m].norm().item(), rel=1e-12)
        torch.testing.assert_close(gx[m], torch.nn.grad.conv2d_input(x[m].shape, S[m], g_out[m], padding=PAD), rtol=0, atol=1e-12)


def test_networks_of_a_stack_never_mix():
    x, W, B, b, g_out = _data(3)
    whole = _grads("fa", x, W, B, b, g_out)
    for m in range(M):
        alone = _grads("fa", *(t[m : m + 1] for t in (x, W, B, b, g_out)))
        for a, w in zip(alone, whole):
            torch.testing.assert_close(a[0], w[m], rtol=0, atol=1e-12)


def test_kolen_pollack_and_weight_mirror_train_their_layers_like_fa_and_dfa_has_no_conv():
    x, W, B, b, g_out = _data(4)
    fa = _grads("fa", x, W, B, b, g_out)
    for rule in ("kp", "wm"):  # their B moves between steps (their updates); their backward pass is FA's
        for a, w in zip(_grads(rule, x, W, B, b, g_out), fa):
            torch.testing.assert_close(a, w, rtol=0, atol=0)
    with pytest.raises(ValueError, match="dfa has no convolutional layer"):
        feedback.conv(get_rule("dfa"), x, W, b, B, PAD)
    assert B.grad is None  # B is never a route for gradients
