"""Meta-loss of Figure 6: how well a network's weights serve as a starting point for new tasks.

In the MAML sense (Finn et al. 2017), L_meta(theta) = sum_i L_Ti(theta'_i), where
theta'_i is theta after ``steps`` plain SGD steps on task T_i and L_Ti is the
loss on T_i's evaluation set. Only the value is needed (it is measured, never
minimised), so there are no second-order gradients: each task adapts a deep
copy of the stack, which leaves the given model untouched.

Adaptation uses the network's own learning rule (FA networks adapt with FA)
and each network of the stack draws its own seeded minibatches, so a stack of
ten networks is ten independent adaptations in one pass.

BatchNorm: the copy adapts in train mode, as in ordinary training: BN
normalises with batch statistics and its running statistics move towards the
task's (by the model's ``bn_momentum`` per step, even at lr = 0). Losses are
evaluated in eval mode with those running statistics (``engine.evaluate_split``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch

from . import metrics as M
from .engine import TensorBatches, evaluate_split, make_optimizer
from .learning_rules import LearningRule, get_rule
from .stack import Stack


def adapt(
    model: Stack,
    rule: LearningRule | str,
    x: torch.Tensor,
    y: torch.Tensor,
    x_eval: torch.Tensor,
    y_eval: torch.Tensor,
    *,
    steps: int,
    lr: float,
    batch_size: int,
    seed_key: tuple,
    record: Callable[[Stack, int], None] | None = None,
) -> list[torch.Tensor]:
    """Adapt a copy of ``model`` to (x, y) with plain SGD; return its loss on (x_eval, y_eval) after each step.

    x: (N, in) float, y: (N,) int64, on the model's device. Returns ``steps + 1``
    float64 CPU tensors of shape (models,): entry 0 is the unadapted loss, entry k
    the loss after k steps. Minibatches are seeded by ``seed_key`` and each
    network's seed, so the same arguments give the same trajectory. ``record(net, k)``, if
    given, sees the adapting copy before the first step and after each step k (e.g. to keep
    the last layer's W for a trajectory plot).
    """
    if steps < 0 or batch_size < 1:
        raise ValueError(f"adapt needs steps >= 0 and batch_size >= 1, got steps={steps}, batch_size={batch_size}")
    rule = get_rule(rule) if isinstance(rule, str) else rule
    net = copy.deepcopy(model)
    opt = make_optimizer(net, {"optimizer": "sgd", "lr": lr})  # momentum 0: plain SGD
    batches = TensorBatches(x, y, net.seeds, batch_size, ("meta-adapt", *seed_key))
    net.estimate_batchnorm(batches.calibration_batch())  # the task's inputs, not the snapshot's phase (model.py)
    losses = [evaluate_split(net, rule, x_eval, y_eval)[0]]
    if record is not None:
        record(net, 0)
    net.train()
    with torch.enable_grad():  # callers may hold no_grad for evaluation
        for _ in range(steps):
            xb, yb = batches.next()
            loss = M.stacked_cross_entropy(net(xb, rule), yb).sum()  # a sum: each network gets its own gradient
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(evaluate_split(net, rule, x_eval, y_eval)[0])
            if record is not None:
                record(net, len(losses) - 1)
    return losses


def meta_loss(
    model: Stack,
    rule: LearningRule | str,
    tasks: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]],
    *,
    steps: int,
    lr: float,
    batch_size: int,
    seed_key: tuple,
) -> dict:
    """L_meta per network: the post-adaptation losses of every task and their sum.

    ``tasks`` maps a name to (x, y, x_eval, y_eval). Returns
    ``{"per_task": {name: (models,)}, "total": (models,), "trajectories": {name: [steps + 1 x (models,)]}}``.
    Each task's minibatches are seeded by ``(*seed_key, name)``, so adding a task
    never changes another task's numbers.
    """
    if not tasks:
        raise ValueError("meta_loss needs at least one task")
    trajectories = {
        name: adapt(model, rule, *data, steps=steps, lr=lr, batch_size=batch_size, seed_key=(*seed_key, name))
        for name, data in tasks.items()
    }
    per_task = {name: traj[-1] for name, traj in trajectories.items()}
    total = torch.stack(list(per_task.values())).sum(0)
    return {"per_task": per_task, "total": total, "trajectories": trajectories}
