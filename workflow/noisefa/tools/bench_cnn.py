"""Benchmark of the stacked CNN (``noisefa.nets.cnn``): the same FA training, several ways, in one run.

- ``stacked``: all networks as one ``StackedCNN`` (one grouped convolution per layer);
- ``one_by_one``: the same code, one network at a time (a stack of one), networks in sequence;
- ``usual``: what people write: one ``nn.Module`` per network, FA as a custom Function over
  ``F.conv2d`` / ``F.linear``, networks in sequence;
- ``conv_floor``: not a training loop but its floor: only the convolutions and matrix products of
  each step (forward, then weight, bias and input gradient through B in torch's one native
  backward call; no input gradient for the first layer) for the stacked shapes, no ReLU, pooling,
  loss or optimiser: the floor of the *grouped* form. A loop over networks calls other
  convolution kernels, which on a CPU can be faster for layers with several input channels (the
  measured table says so), so ``one_by_one`` may beat it.

Same architecture, batch, SGD + momentum and number of updates; each network gets its own batch.
Ways are interleaved within each repeat (the machine is shared and drifts); the table gives the
median seconds per step and the ratios to ``usual`` and ``one_by_one``, and the floor's share.

    python -m noisefa.tools.bench_cnn             # issue 24's CNN on 28x28 images, 10 networks
    python -m noisefa.tools.bench_cnn --quick     # reduced size
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..nets.cnn import CNNArchitecture, StackedCNN
from ..nets.conv import _kernels
from ..nets.learning_rules import get_rule
from .bench import FALinear  # the MLP benchmark's usual FA linear layer

WAYS = ("stacked", "one_by_one", "usual", "conv_floor")


class _FAConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, b, B, pad):
        ctx.save_for_backward(x, w, B)
        ctx.pad = pad
        return F.conv2d(x, w, b, padding=pad)

    @staticmethod
    def backward(ctx, g):
        x, w, B = ctx.saved_tensors
        gx = torch.nn.grad.conv2d_input(x.shape, B, g, padding=ctx.pad)
        gw = torch.nn.grad.conv2d_weight(x, w.shape, g, padding=ctx.pad)
        return gx, gw, g.sum((0, 2, 3)), None, None


class UsualCNN(nn.Module):
    """One network as people write it, started from network ``m`` of a stack (same W and B)."""

    def __init__(self, stack: StackedCNN, m: int):
        super().__init__()
        self.arch = stack.arch
        self.w = nn.ParameterList([nn.Parameter(w[m].detach().clone()) for w in stack.weights])
        self.b = nn.ParameterList([nn.Parameter(b[m].detach().clone()) for b in stack.biases])
        self.B = [B[m].clone() for B in stack.feedback]

    def forward(self, x):
        a, n = self.arch, len(self.arch.channels)
        h = x.view(len(x), *a.in_shape)
        for i in range(n):
            h = F.max_pool2d(torch.relu(_FAConv.apply(h, self.w[i], self.b[i], self.B[i], a.padding)), a.pool)
        h = torch.relu(FALinear.Fn.apply(h.flatten(1), self.w[n], self.b[n], self.B[n]))
        return FALinear.Fn.apply(h, self.w[n + 1], self.b[n + 1], self.B[n + 1])


def _steps_stacked(net: StackedCNN, x, y, steps: int) -> None:
    rule, opt = get_rule("fa"), torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    for s in range(steps):
        logits = net(x[:, s], rule)
        loss = sum(F.cross_entropy(logits[m], y[m, s]) for m in range(net.n_models))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def _steps_usual(net: UsualCNN, x, y, steps: int) -> None:
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    for s in range(steps):
        loss = F.cross_entropy(net(x[s]), y[s])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def _floor(stack: StackedCNN, x, steps: int) -> None:
    """The convolutions and products of each step only, for the stacked shapes (activation sizes
    follow pooling; ReLU, pooling, loss and optimiser left out)."""
    a, M = stack.arch, stack.n_models
    n = len(a.channels)
    with torch.no_grad():
        for s in range(steps):
            N = x.shape[2]
            h = x[:, s].reshape(M, N, *a.in_shape).transpose(0, 1).reshape(N, M * a.in_shape[0], *a.in_shape[1:])
            h = h.contiguous(memory_format=torch.channels_last)
            for i, (W, b, B) in enumerate(list(zip(stack.weights, stack.biases, stack.feedback))[:n]):
                y = F.conv2d(h, _kernels(W), b.reshape(-1), padding=a.padding, groups=M)
                pad = [a.padding, a.padding]
                torch.ops.aten.convolution_backward(y, h, _kernels(B), [y.shape[1]], [1, 1], pad, [1, 1], False, [0, 0], M,
                                                    [i > 0, True, True])  # fmt: skip
                h = y[..., :: a.pool, :: a.pool]  # the pooled size, without pooling's work
            h = h.reshape(N, M, -1).transpose(0, 1)
            for W, B in zip(stack.weights[n:], stack.feedback[n:]):
                out = torch.bmm(h, W.transpose(1, 2))
                torch.bmm(out, B)
                torch.bmm(out.transpose(1, 2), h)
                h = out


def measure(arch: CNNArchitecture, models: int, batch: int, steps: int, repeats: int) -> dict:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(models, steps, batch, arch.in_shape[0] * arch.in_shape[1] * arch.in_shape[2], generator=g)
    y = torch.randint(0, arch.n_classes, (models, steps, batch), generator=g)
    seeds = list(range(models))
    times = {w: [] for w in WAYS}
    for _ in range(repeats):
        for way in WAYS:  # interleaved: drift hits every way alike
            stack = StackedCNN(arch, seeds)
            t0 = time.perf_counter()
            if way == "stacked":
                _steps_stacked(stack, x, y, steps)
            elif way == "one_by_one":
                for m in range(models):
                    _steps_stacked(StackedCNN(arch, [m]), x[m : m + 1], y[m : m + 1], steps)
            elif way == "usual":
                for m in range(models):
                    _steps_usual(UsualCNN(stack, m), x[m], y[m], steps)
            else:
                _floor(stack, x, steps)
            times[way].append((time.perf_counter() - t0) / steps)
    med = {w: statistics.median(t) for w, t in times.items()}
    return {
        "arch": {"in_shape": arch.in_shape, "channels": arch.channels, "kernel": arch.kernel, "hidden": arch.hidden},
        "models": models, "batch": batch, "steps": steps, "repeats": repeats, "threads": torch.get_num_threads(),
        "seconds_per_step": med, "all": times,
        "stacked_vs_usual": med["usual"] / med["stacked"], "stacked_vs_one_by_one": med["one_by_one"] / med["stacked"],
        "floor_share_of_stacked": med["conv_floor"] / med["stacked"],
    }  # fmt: skip


def table(r: dict) -> str:
    med = r["seconds_per_step"]
    lines = [f"CNN {r['arch']}, {r['models']} networks, batch {r['batch']}, {r['steps']} steps x {r['repeats']} repeats, "
             f"{r['threads']} threads", f"{'way':12} {'ms/step':>9} {'vs usual':>9} {'vs 1-by-1':>10}"]  # fmt: skip
    for w in WAYS:
        lines.append(f"{w:12} {1000 * med[w]:9.1f} {med['usual'] / med[w]:8.2f}x {med['one_by_one'] / med[w]:9.2f}x")
    lines.append(f"the floor is {100 * r['floor_share_of_stacked']:.0f}% of the stacked step: stacking can gain at most "
                 f"{1 / max(r['floor_share_of_stacked'], 1e-9):.2f}x more with these numerics")  # fmt: skip
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("results/benchmarks/cnn.json"))
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    if a.quick:
        r = measure(CNNArchitecture((1, 16, 16), 10, channels=(4, 8), hidden=32), models=4, batch=32, steps=3, repeats=3)
    else:
        r = measure(CNNArchitecture((1, 28, 28), 10), models=10, batch=128, steps=5, repeats=5)
    r["machine"] = {"platform": platform.platform(), "processor": platform.processor(), "torch": torch.__version__}
    print(table(r))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(r, indent=1, default=list))
    print(f"written {a.out}")


if __name__ == "__main__":
    main()
