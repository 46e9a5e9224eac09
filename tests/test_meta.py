"""Meta-loss of Figure 6: adaptation trajectories against hand-computed SGD and invariants."""

import copy

import pytest
import torch
import torch.nn.functional as F
from numerics import F64, float64

from noisefa.nets.engine import evaluate_split
from noisefa.nets.learning_rules import get_rule
from noisefa.nets.meta import adapt, meta_loss
from noisefa.nets.model import Architecture, StackedMLP

IN, C = 12, 4
DEEP = Architecture(in_dim=IN, n_classes=C, depth=3, hidden=16, batchnorm=True)
LINEAR = Architecture(in_dim=IN, n_classes=C, depth=1, batchnorm=False)
KW = {"steps": 4, "lr": 0.1, "batch_size": 16, "seed_key": ("test",)}


def _task(seed, n=64, n_eval=40):
    g = torch.Generator().manual_seed(seed)
    protos = 2 * torch.randn(C, IN, generator=g)
    y, y_eval = torch.randint(0, C, (n,), generator=g), torch.randint(0, C, (n_eval,), generator=g)
    x = protos[y] + torch.randn(n, IN, generator=g)
    x_eval = protos[y_eval] + torch.randn(n_eval, IN, generator=g)
    return x, y, x_eval, y_eval


def test_zero_steps_is_the_loss_of_the_unadapted_model_with_the_tasks_batchnorm_statistics():
    model = StackedMLP(DEEP, [0, 1, 2])
    x, y, xe, ye = _task(0)
    traj = adapt(model, "fa", x, y, xe, ye, **{**KW, "steps": 0})
    assert len(traj) == 1 and traj[0].shape == (3,)
    assert torch.all(model.bn_mean0 == 0)  # the input model is untouched
    ref = copy.deepcopy(model)
    ref.estimate_batchnorm(x[: KW["batch_size"]])  # an adaptation starts from the task's statistics
    assert torch.equal(traj[0], evaluate_split(ref, get_rule("fa"), xe, ye)[0])
    assert not torch.equal(traj[0], evaluate_split(model, get_rule("fa"), xe, ye)[0])


@pytest.mark.parametrize(
    "arch, bn_momentum",
    [(Architecture(IN, C, depth=3, hidden=16, batchnorm=False), 0.1), (DEEP, 0.0)],  # momentum 0: running stats frozen
)
def test_zero_learning_rate_never_changes_the_loss(arch, bn_momentum):
    model = StackedMLP(arch, [0, 1], bn_momentum=bn_momentum)
    traj = adapt(model, "fa", *_task(0), **{**KW, "lr": 0.0})
    assert len(traj) == KW["steps"] + 1
    for loss in traj:
        assert torch.equal(loss, traj[0])


def test_adapting_leaves_the_input_model_untouched_and_learns():
    model = StackedMLP(DEEP, [0, 1, 2])
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():  # adaptation must still get gradients
        traj = adapt(model, "fa", *_task(0), **{**KW, "steps": 20})
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not model.training and all(p.grad is None for p in model.parameters())
    assert (traj[-1] < traj[0]).all()  # an easy task: every network's loss falls


def _sgd_reference(W, b, task, lr, steps):
    """Plain float64 softmax regression trained full-batch by hand; eval loss after each step."""
    x, y, xe, ye = (t.double() if t.is_floating_point() else t for t in task)
    W, b = W.double().clone().requires_grad_(), b.double().clone().requires_grad_()
    out = []
    for step in range(steps + 1):
        with torch.no_grad():
            out.append(F.cross_entropy(xe @ W.T + b, ye).item())
        if step == steps:
            break
        gW, gb = torch.autograd.grad(F.cross_entropy(x @ W.T + b, y), (W, b))
        with torch.no_grad():
            W, b = (W - lr * gW).requires_grad_(), (b - lr * gb).requires_grad_()
    return out


def test_known_answer_full_batch_sgd_on_a_linear_model():
    model = float64(StackedMLP(LINEAR, [0, 1]))  # both sides in float64: F64 holds on any CPU
    with torch.no_grad():
        model.biases[0].normal_(generator=torch.Generator().manual_seed(5))  # nonzero biases are part of the check
    task = tuple(t.double() if t.is_floating_point() else t for t in _task(1, n=30))
    traj = adapt(model, "bp", *task, steps=2, lr=0.05, batch_size=30, seed_key=("known",))
    for m in range(2):
        ref = _sgd_reference(model.weights[0][m], model.biases[0][m], task, lr=0.05, steps=2)
        got = torch.tensor([t[m].item() for t in traj], dtype=torch.float64)
        torch.testing.assert_close(got, torch.tensor(ref, dtype=torch.float64), **F64)
    assert abs(traj[2][0].item() - traj[0][0].item()) > 1e-3  # the steps really moved the loss


def test_fa_equals_bp_without_hidden_layers_but_not_with_them():
    task = _task(2)
    fa = adapt(StackedMLP(LINEAR, [0, 1]), "fa", *task, **KW)
    bp = adapt(StackedMLP(LINEAR, [0, 1]), "bp", *task, **KW)
    assert all(torch.equal(a, b) for a, b in zip(fa, bp))  # no hidden layer: feedback is never used
    fa = adapt(StackedMLP(DEEP, [0, 1]), "fa", *task, **KW)
    bp = adapt(StackedMLP(DEEP, [0, 1]), "bp", *task, **KW)
    assert torch.equal(fa[0], bp[0]) and not torch.equal(fa[-1], bp[-1])


def test_same_seed_key_same_trajectory_other_key_other_batches():
    model = StackedMLP(DEEP, [0, 1])
    task = _task(3)
    a = adapt(model, "fa", *task, **KW)
    b = adapt(model, "fa", *task, **KW)
    c = adapt(model, "fa", *task, **{**KW, "seed_key": ("other",)})
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert not torch.equal(a[-1], c[-1])


def test_meta_loss_is_the_sum_of_the_post_adaptation_task_losses():
    model = StackedMLP(DEEP, [0, 1, 2])
    tasks = {"A": _task(4), "B": _task(5), "C": _task(6)}
    out = meta_loss(model, get_rule("fa"), tasks, **KW)
    assert set(out["per_task"]) == set(tasks) and out["total"].shape == (3,)
    torch.testing.assert_close(out["total"], sum(out["per_task"].values()), rtol=0, atol=1e-12)
    for name, data in tasks.items():  # each task is one adapt, seeded by its own name
        traj = adapt(model, "fa", *data, **{**KW, "seed_key": (*KW["seed_key"], name)})
        assert torch.equal(out["per_task"][name], traj[-1])
        assert all(torch.equal(u, v) for u, v in zip(out["trajectories"][name], traj))
    with pytest.raises(ValueError, match="at least one task"):
        meta_loss(model, "fa", {}, **KW)
