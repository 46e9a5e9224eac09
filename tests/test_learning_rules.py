"""Every learning rule against its defining equation, in float64, on tiny networks.

bp and fa as autograd Functions; ss (sign-symmetry), dfa (direct feedback alignment), kp
(Kolen-Pollack) and wm (weight mirror) against hand-computed deltas and B updates; every rule
trains through ``engine.fit`` (which calls the after-step hook), stacks, and resumes exactly;
every condition is a valid config value.
"""

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from numerics import F64, float64

from noisefa.nets import feedback
from noisefa.nets.engine import Resume, TensorBatches, fit, make_optimizer
from noisefa.nets.learning_rules import LEARNING_RULES, KolenPollack, WeightMirror, get_rule, sign_feedback
from noisefa.nets.metrics import matrix_angle, stacked_cross_entropy
from noisefa.nets.model import Architecture, StackedMLP
from noisefa.pipeline.conditions import CONDITIONS
from noisefa.pipeline.config import validate


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
    (feedback.linear(get_rule("bp"), x, W, b, B) * up).sum().backward()
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
        (feedback.linear(get_rule(name), x, W, b, W.detach().clone()) * up).sum().backward()
        grads[name] = (x.grad.clone(), W.grad.clone(), b.grad.clone())
    for a, r in zip(grads["fa"], grads["bp"]):
        assert torch.equal(a, r)


def test_fa_input_gradient_is_g_times_B_and_weight_gradient_unchanged():
    x, W, b, B, up = _inputs()
    out = feedback.linear(get_rule("fa"), x, W, b, B)
    (out * up).sum().backward()
    torch.testing.assert_close(x.grad, up @ B, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(W.grad, up.transpose(1, 2) @ x.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(b.grad, up.sum(1), rtol=1e-12, atol=1e-12)
    # ... and differs from the true input gradient g W
    assert not torch.allclose(x.grad, up @ W.detach())


def test_gradcheck_bp_function():
    x, W, b, _, _ = _inputs(M=2, N=3, i=4, o=3)
    assert torch.autograd.gradcheck(lambda x, W, b: feedback.StackedLinearFn.apply(x, W, b, W), (x, W, b))


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
        get_rule("kp3")
    except KeyError as e:
        assert "bp" in str(e) and "fa" in str(e)
    else:
        raise AssertionError("no error")
    assert set(LEARNING_RULES) >= {"bp", "fa", "ss", "dfa", "kp", "wm"}


# ---------------------------------------------------------------- sign-symmetry


def test_ss_input_gradient_is_g_times_scaled_sign_of_W():
    x, W, b, B, up = _inputs()
    (feedback.linear(get_rule("ss"), x, W, b, B) * up).sum().backward()
    S = torch.sign(W.detach())
    S = S * (B.flatten(1).norm(dim=1) / math.sqrt(S[0].numel()))[:, None, None]  # no zero in a Gaussian W
    torch.testing.assert_close(x.grad, up @ S, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(W.grad, up.transpose(1, 2) @ x.detach(), rtol=1e-12, atol=1e-12)
    fb = sign_feedback(W.detach(), B)
    torch.testing.assert_close(fb.flatten(1).norm(dim=1), B.flatten(1).norm(dim=1), rtol=1e-12, atol=0)
    # no magnitude of W travels: scaling W leaves the feedback unchanged
    assert torch.equal(sign_feedback(7.0 * W.detach(), B), fb)


# ---------------------------------------------------------------- DFA


def _xy(M=2, N=9, i=12, C=3, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(M, N, i, generator=g, dtype=dtype), torch.randint(0, C, (M, N), generator=g)


def _output_error(logits, y):
    """e = dL/dlogits of L = sum over models of the mean cross-entropy."""
    N, C = logits.shape[1], logits.shape[2]
    return (torch.softmax(logits, -1) - F.one_hot(y, C).to(logits.dtype)) / N


def _grads(model, rule, x, y):
    loss = stacked_cross_entropy(model(x, get_rule(rule)), y).sum()
    return torch.autograd.grad(loss, list(model.weights) + list(model.biases))


def test_dfa_hidden_deltas_are_e_D_times_relu_derivative_depth3_without_bn():
    model = StackedMLP(Architecture(12, 3, depth=3, hidden=8, batchnorm=False), [0, 1]).double()
    x, y = _xy()
    got = _grads(model, "dfa", x, y)
    (W0, W1, W2), (b0, b1, b2) = [w.detach() for w in model.weights], [b.detach() for b in model.biases]
    a1 = x @ W0.transpose(1, 2) + b0[:, None]
    h1 = a1.relu()
    a2 = h1 @ W1.transpose(1, 2) + b1[:, None]
    h2 = a2.relu()
    e = _output_error(h2 @ W2.transpose(1, 2) + b2[:, None], y)
    D0, D1 = model.direct_feedback
    d2 = (e @ D1) * (a2 > 0)
    d1 = (e @ D0) * (a1 > 0)
    want = [d1.transpose(1, 2) @ x, d2.transpose(1, 2) @ h1, e.transpose(1, 2) @ h2, d1.sum(1), d2.sum(1), e.sum(1)]
    for gg, w in zip(got, want):
        torch.testing.assert_close(gg, w, rtol=1e-10, atol=1e-12)
    bp = _grads(model, "bp", x, y)
    torch.testing.assert_close(got[2], bp[2], rtol=1e-12, atol=1e-14)  # last layer: the usual gradient
    assert not torch.allclose(got[0], bp[0])


def test_dfa_with_batchnorm_injects_e_D_at_the_hidden_output_after_relu_and_bn():
    model = StackedMLP(Architecture(12, 3, depth=3, hidden=8, batchnorm=True), [0, 1]).double()
    x, y = _xy(N=16)
    got = _grads(model, "dfa", x, y)
    logits, hidden = model(x, get_rule("bp"), return_hidden=True)  # hidden: after ReLU and BN
    e = _output_error(logits.detach(), y)
    for i, (h, D) in enumerate(zip(hidden, model.direct_feedback)):
        # delta_l = BN/ReLU backward of e D_l; its weight gradient is delta_l^T h_{l-1}
        (want,) = torch.autograd.grad((h * (e @ D)).sum(), [model.weights[i]], retain_graph=True)
        torch.testing.assert_close(got[i], want, rtol=1e-10, atol=1e-12)


def test_dfa_at_depth_2_is_fa():
    model = StackedMLP(Architecture(12, 3, depth=2, hidden=8), [0, 1]).double()
    x, y = _xy(N=16)
    for a, b in zip(_grads(model, "dfa", x, y), _grads(model, "fa", x, y)):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------- KP


@pytest.mark.parametrize("kp_decay", [0.0, 0.1, 0.3])
def test_kp_one_sgd_step_gives_W_and_B_the_same_update_and_decay(kp_decay):
    """Akrout's KP for plain SGD: dW = -lr (grad + lam W), dB = -lr (grad + lam B), lam = wd + KP's own."""
    model = StackedMLP(Architecture(12, 3, depth=3, hidden=8), [0, 1]).double()
    lr, wd_opt = 0.1, 0.05
    wd = wd_opt + kp_decay
    opt = make_optimizer(model, {"optimizer": "sgd", "lr": lr, "weight_decay": wd_opt})
    rule = dataclasses.replace(get_rule("kp"), update=KolenPollack(weight_decay=kp_decay))
    x, y = _xy()
    stacked_cross_entropy(model(x, rule), y).sum().backward()
    W_old = [w.detach().clone() for w in model.weights]
    B_old = [b.clone() for b in model.feedback]
    grads = [w.grad.clone() for w in model.weights]
    before = feedback.before_step(rule, model)
    opt.step()
    feedback.after_step(rule, model, opt, before, 1)
    for W, B, W0, B0, g in zip(model.weights, model.feedback, W_old, B_old, grads):
        torch.testing.assert_close(W.detach() - W0, -lr * (g + wd * W0), rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(B - B0, -lr * (g + wd * B0), rtol=1e-10, atol=1e-14)  # W's step, B's decay
        torch.testing.assert_close(W.detach() - B, (1 - lr * wd) * (W0 - B0), rtol=1e-10, atol=1e-14)


def test_kp_has_its_own_decay_so_W_minus_B_shrinks_without_train_weight_decay():
    """The shipped configs train with weight_decay 0: KP must still close W - B (it did not: 1.000)."""
    assert get_rule("kp").update.weight_decay == 0.1
    model = StackedMLP(Architecture(12, 3, depth=3, hidden=8), [0, 1]).double()
    gap0 = [(W.detach() - B).flatten(1).norm(dim=1) for W, B in zip(model.weights, model.feedback)]
    _fit(model, "kp", {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 0.0}, steps=300)
    for W, B, g0 in zip(model.weights, model.feedback, gap0):
        ratio = (W.detach() - B).flatten(1).norm(dim=1) / g0
        torch.testing.assert_close(ratio, torch.full_like(ratio, (1 - 0.05 * 0.1) ** 300), rtol=1e-8, atol=0)  # 0.22


def test_kp_drives_W_and_B_together_with_momentum_and_weight_decay():
    model = StackedMLP(Architecture(12, 3, depth=3, hidden=8), [0, 1]).double()
    cfg = {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 0.2}
    start = [matrix_angle(W, B) for W, B in zip(model.weights, model.feedback)]
    gap0 = [(W.detach() - B).clone() for W, B in zip(model.weights, model.feedback)]
    _fit(model, "kp", cfg, steps=300)
    for W, B, a0, g0 in zip(model.weights, model.feedback, start, gap0):
        assert (matrix_angle(W, B) < a0 - 60).all() and (matrix_angle(W, B) < 15).all(), matrix_angle(W, B)
        # W - B contracts by (1 - lr*wd) per step whatever the momentum does to W
        torch.testing.assert_close(W.detach() - B, (1 - 0.1 * (0.2 + 0.1)) ** 300 * g0, rtol=1e-7, atol=1e-12)


# ---------------------------------------------------------------- WM


def test_wm_one_mirror_step_is_the_hand_formula():
    model = StackedMLP(Architecture(12, 3, depth=3, hidden=8), [0, 1]).double()
    wm = get_rule("wm").update
    B_old = [b.clone() for b in model.feedback]
    xs = feedback.mirror_noise(wm, model, 5)
    feedback.after_step(get_rule("wm"), model, None, None, 5)
    for W, B, B0, x in zip(model.weights, model.feedback, B_old, xs):
        y = x @ W.detach().transpose(1, 2)
        want = (1 - wm.lr * wm.weight_decay) * B0 + wm.lr * (y.transpose(1, 2) @ x) / wm.batch_size
        torch.testing.assert_close(B, want, rtol=1e-12, atol=1e-14)
        assert x.shape == (2, wm.batch_size, W.shape[2])
    assert not torch.equal(xs[0], feedback.mirror_noise(wm, model, 6)[0])  # fresh noise every step
    assert torch.equal(xs[0], feedback.mirror_noise(wm, model, 5)[0])  # ... drawn from the step: resumable


def test_wm_mirrors_a_fixed_W_and_skips_steps_by_every():
    model = StackedMLP(Architecture(12, 3, depth=3, hidden=8), [0, 1]).double()
    rule = get_rule("wm")
    for W, B in zip(model.weights, model.feedback):
        assert (matrix_angle(W, B) > 60).all()
    for step in range(1, 301):
        feedback.after_step(rule, model, None, None, step)
    for W, B in zip(model.weights, model.feedback):
        assert (matrix_angle(W, B) < 30).all()
    sparse = dataclasses.replace(rule, update=WeightMirror(every=3))
    B = model.B1.clone()
    feedback.after_step(sparse, model, None, None, 4)
    assert torch.equal(model.B1, B)
    feedback.after_step(sparse, model, None, None, 6)
    assert not torch.equal(model.B1, B)
    with pytest.raises(ValueError):
        WeightMirror(lr=0.5, weight_decay=2.0)


# ---------------------------------------------------------------- every rule through engine.fit


def _data(n=240, i=12, C=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    protos = 2 * torch.randn(C, i, generator=g)
    y = torch.randint(0, C, (n,), generator=g)
    return protos[y] + torch.randn(n, i, generator=g), y


def _fit(model, rule, cfg, steps, resume=None, stop_at=None, on_eval=None):
    x, y = _data()
    x = x.to(next(model.parameters()).dtype)
    src = TensorBatches(x, y, model.seeds, 24, ("test",))

    def evaluate(step, batch_loss):
        if step == stop_at:
            raise KeyboardInterrupt
        if on_eval is not None:
            on_eval(step, batch_loss)
        return []

    fit(model, get_rule(rule), src, make_optimizer(model, cfg), steps, range(10, steps + 1, 10), evaluate, "test", resume)
    return model


CFG = {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 1e-3}


@pytest.mark.parametrize("rule", sorted(LEARNING_RULES))
def test_every_rule_trains_a_stacked_model_without_nan(rule):
    model = StackedMLP(Architecture(12, 3, depth=3, hidden=16), [0, 1, 2])
    losses = {}
    _fit(model, rule, CFG, 100, on_eval=lambda s, loss: losses.setdefault(s, loss))
    assert all(torch.isfinite(t).all() for t in model.state_dict().values())
    assert (losses[100] < 0.5 * losses[10]).all(), losses


@pytest.mark.parametrize("rule", ["dfa", "kp", "wm"])
def test_a_stack_of_two_equals_each_network_trained_alone(rule):
    arch = Architecture(12, 3, depth=3, hidden=16, batchnorm=True)
    stacked = _fit(float64(StackedMLP(arch, [3, 4])), rule, CFG, 40)  # float64: see tests/numerics.py
    for m, seed in enumerate([3, 4]):
        alone = _fit(float64(StackedMLP(arch, [seed])), rule, CFG, 40)
        for k, v in alone.state_dict().items():
            torch.testing.assert_close(stacked.state_dict()[k][m], v[0], **F64, msg=k)


@pytest.mark.parametrize("rule", ["kp", "wm"])
def test_B_evolution_resumes_exactly_from_a_snapshot(rule, tmp_path):
    arch = Architecture(12, 3, depth=3, hidden=16)
    whole = _fit(StackedMLP(arch, [0, 1]), rule, CFG, 50)
    res = Resume(tmp_path / "r.pt", "fp", every_s=0)
    with pytest.raises(KeyboardInterrupt):
        _fit(StackedMLP(arch, [0, 1]), rule, CFG, 50, resume=res, stop_at=40)  # snapshot of step 30 left
    resumed = _fit(StackedMLP(arch, [0, 1]), rule, CFG, 50, resume=Resume(tmp_path / "r.pt", "fp", every_s=0))
    assert not torch.equal(whole.B1, StackedMLP(arch, [0, 1]).B1)  # B did move
    for k, v in whole.state_dict().items():
        assert torch.equal(resumed.state_dict()[k], v), k


def test_fixed_feedback_rules_have_no_after_step_and_moving_ones_do():
    assert {n for n, r in LEARNING_RULES.items() if r.update is not None} == {"kp", "wm"}
    assert isinstance(get_rule("kp").update, KolenPollack) and isinstance(get_rule("wm").update, WeightMirror)
    model = StackedMLP(Architecture(12, 3, depth=2, hidden=8), [0])
    B = [b.clone() for b in model.feedback]
    for name in ("bp", "fa", "ss", "dfa"):
        feedback.after_step(get_rule(name), model, None, feedback.before_step(get_rule(name), model), 1)
    assert all(torch.equal(a, b) for a, b in zip(B, model.feedback))


# ---------------------------------------------------------------- conditions


def test_every_condition_is_a_valid_config_value_with_its_own_rule_label_and_colour():
    from noisefa.figures.style import PALETTE

    cfg = validate({"datasets": ["synthetic"], "conditions": list(CONDITIONS)})
    assert cfg["conditions"] == list(CONDITIONS)
    assert set(CONDITIONS) >= {"bp", "fa_wo", "fa_w", "ss", "dfa", "kp", "wm"}
    for name, c in CONDITIONS.items():
        assert c.name == name and get_rule(c.rule).name == c.rule and c.label
        assert PALETTE[name] == c.color
    # pretraining trains with FA only: its one paper condition, and the controls built from it (all FA)
    assert [n for n, c in CONDITIONS.items() if c.pretrained and not c.control] == ["fa_w"]
    assert {c.rule for c in CONDITIONS.values() if c.pretrained} == {"fa"}
    assert len({c.color for c in CONDITIONS.values()}) == len(CONDITIONS)
    assert (PALETTE["bp"], PALETTE["fa_wo"], PALETTE["fa_w"]) == ("#444444", "#1f77b4", "#d62728")


def test_a_finite_but_exploding_training_loss_is_warned_about_once(capsys):
    """lr 100 takes the loss to ~1e7 nats without a NaN: the job goes on (it is not divergence) but
    its log says so, once; an ordinary run says nothing."""
    arch = Architecture(12, 3, depth=2, hidden=16, batchnorm=False)
    _fit(StackedMLP(arch, [0, 1]), "fa", {"optimizer": "sgd", "lr": 100.0, "momentum": 0.0, "weight_decay": 0.0}, 30)
    out = capsys.readouterr().out
    assert out.count("WARNING test: the training loss of seeds [0, 1] is finite but exploding at step 10") == 1
    _fit(StackedMLP(arch, [0, 1]), "fa", CFG, 30)
    assert "WARNING" not in capsys.readouterr().out


def test_progress_lines_show_what_the_job_is_for():
    from noisefa.nets.engine import progress_line

    meta = [{"metric": "loss", "task": "meta", "value": 3.0}, {"metric": "loss", "task": "meta", "value": 5.0},
            {"metric": "batch_loss", "task": "noise", "value": 0.1}, {"metric": "loss", "task": "t", "value": 9.0}]  # fmt: skip
    assert progress_line("meta", 5, 10, 1.0, 5, meta).endswith("mean meta-loss 4.0000 over 2 networks")
    data = [{"metric": "test_acc", "layer": "", "value": 0.5}, {"metric": "batch_loss", "layer": "", "value": 2.0}]
    assert progress_line("t", 5, 10, 1.0, 5, data).endswith("mean test_acc 0.5000 over 1 networks")
    noise = [{"metric": "batch_loss", "layer": "", "value": 2.0}]
    assert progress_line("p", 5, 10, 1.0, 5, noise).endswith("mean batch_loss 2.0000 over 1 networks")
