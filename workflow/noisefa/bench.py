"""Benchmark: the same training workload three ways, in one run.

- ``engine``: this pipeline's engine: all networks of a cell stacked into one model
  (batched matmuls), in-memory tensors, one gather per step;
- ``usual``: the loop people write: a torchvision-style dataset of PIL images with
  ``ToTensor`` + ``Normalize``, a ``DataLoader``, one ``nn.Module`` per seed, seeds one
  after another (for noise: a ``TensorDataset`` in a ``DataLoader``);
- ``best_single``: the best one-network-at-a-time loop: in-memory tensors, index
  slicing, one network after another.

Same model (MLP, width 100, FA, BatchNorm after ReLU), batch size, optimiser (SGD +
momentum) and number of updates. Every measurement runs in a fresh subprocess (its own
peak memory, no warm caches shared), repeated; the table gives medians and the ratios to
the usual loop and to the best single loop, plus the fraction of this machine's measured
matmul peak (a large ``torch.mm`` timed in the same run) the training reaches.

    python -m noisefa.bench                 # full table, JSON in results/benchmarks/
    python -m noisefa.bench --quick         # reduced size (CI)
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .engine import TensorBatches, make_optimizer
from .learning_rules import get_rule
from .metrics import stacked_cross_entropy
from .model import Architecture, StackedMLP
from .resources import train_flops_per_sample
from .seeds import generator

WAYS = ("engine", "usual", "best_single")
OPT = {"optimizer": "sgd", "lr": 0.01, "momentum": 0.9}
# The one-network-at-a-time loops train networks one after another, so their time is linear in
# the number of networks: they time this many and scale (the engine always trains all of them).
SEQUENTIAL_SAMPLE = 3


# ------------------------------------------------------------------ workloads


def workload_data(n: int = 10000, dim: int = 784, classes: int = 10):
    """uint8 images and labels like MNIST (random pixels: speed does not depend on content)."""
    g = generator("bench-data")
    return torch.randint(0, 256, (n, dim), generator=g, dtype=torch.uint8), torch.randint(0, classes, (n,), generator=g)


# ------------------------------------------------------------------ the usual way


class FALinear(nn.Module):
    """One network's FA layer as people write it: a custom Function over F.linear."""

    class Fn(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, w, b, B):
            ctx.save_for_backward(x, B)
            return F.linear(x, w, b)

        @staticmethod
        def backward(ctx, g):
            x, B = ctx.saved_tensors
            return g @ B, g.t() @ x, g.sum(0), None

    def __init__(self, w: torch.Tensor, b: torch.Tensor, B: torch.Tensor):
        super().__init__()
        self.weight, self.bias = nn.Parameter(w.clone()), nn.Parameter(b.clone())
        self.register_buffer("B", B.clone())

    def forward(self, x):
        return self.Fn.apply(x, self.weight, self.bias, self.B)


class SingleMLP(nn.Module):
    """Network ``m`` of a StackedMLP as an ordinary nn.Module (same init, same numerics)."""

    def __init__(self, stacked: StackedMLP, m: int):
        super().__init__()
        sd = stacked.state_dict()
        depth = stacked.arch.depth
        self.layers = nn.ModuleList(FALinear(sd[f"weights.{i}"][m], sd[f"biases.{i}"][m], sd[f"B{i}"][m]) for i in range(depth))
        self.bns = nn.ModuleList()
        if stacked.arch.batchnorm:
            for i in range(depth - 1):
                bn = nn.BatchNorm1d(stacked.arch.hidden, momentum=stacked.bn_momentum, eps=stacked.bn_eps)
                with torch.no_grad():
                    bn.weight.copy_(sd[f"bn_weight.{i}"][m])
                    bn.bias.copy_(sd[f"bn_bias.{i}"][m])
                self.bns.append(bn)

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = torch.relu(x)
                if len(self.bns):
                    x = self.bns[i](x)
        return x


class ImageDataset(torch.utils.data.Dataset):
    """What torchvision.datasets.MNIST does per item: a PIL image through the transform."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, side: int = 28):
        from torchvision import transforms

        self.images, self.labels, self.side = images, labels, side
        self.transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        from PIL import Image

        img = Image.fromarray(self.images[i].view(self.side, self.side).numpy(), mode="L")
        return self.transform(img).flatten(), int(self.labels[i])


class OrderSampler(torch.utils.data.Sampler):
    """A fixed sequence of indices (to replay the engine's batch order in the equivalence test)."""

    def __init__(self, order: list[int]):
        self.order = order

    def __iter__(self):
        return iter(self.order)

    def __len__(self):
        return len(self.order)


def usual_train(net: SingleMLP, loader, steps: int) -> SingleMLP:
    """The usual loop: iterate a DataLoader, one network, loss.backward(), opt.step()."""
    opt = torch.optim.SGD(net.parameters(), lr=OPT["lr"], momentum=OPT["momentum"])
    net.train()
    done = 0
    while done < steps:
        for x, y in loader:
            loss = F.cross_entropy(net(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            done += 1
            if done == steps:
                break
    return net


# ------------------------------------------------------------------ one measurement


def _standardise(images: torch.Tensor) -> torch.Tensor:
    return (images.float() / 255.0 - 0.1307) / 0.3081


def measure(way: str, phase: str, depth: int, batch: int, models: int, steps: int, n: int, warmup: int = 20) -> dict:
    """Train ``models`` networks for ``steps`` updates each, the given way; return timings.

    A short untimed run of the same way first pays one-off costs (lazy init, allocator, kernels).
    """
    torch.set_num_threads(1)
    images, labels = workload_data(n)
    x_all = torch.randn(n, 784, generator=generator("bench-noise")) if phase == "noise" else _standardise(images)
    arch = Architecture(784, 10, depth, 100, True)
    _train(way, phase, arch, batch, models, warmup, images, x_all, labels)
    t0 = time.perf_counter()
    timed = _train(way, phase, arch, batch, models, steps, images, x_all, labels)
    wall = (time.perf_counter() - t0) * models / timed  # one-at-a-time loops are linear in networks
    return {
        "way": way,
        "phase": phase,
        "depth": depth,
        "batch": batch,
        "models": models,
        "steps": steps,
        "wall_s": wall,
        "model_samples_per_s": models * steps * batch / wall,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _train(way, phase, arch, batch, models, steps, images, x_all, labels) -> int:
    """Run the workload; returns how many networks it trained."""
    n = len(labels)
    seeds = list(range(models))
    stacked = StackedMLP(arch, seeds)
    if way == "engine":
        source = TensorBatches(x_all, labels, seeds, batch, ("bench",))
        opt = make_optimizer(stacked, OPT)
        rule = get_rule("fa")
        stacked.train()
        for _ in range(steps):
            xb, yb = source.next()
            loss = stacked_cross_entropy(stacked(xb, rule), yb).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return models
    sequential = min(models, SEQUENTIAL_SAMPLE)
    if way == "best_single":
        for m in range(sequential):
            net = SingleMLP(stacked, m)
            opt = torch.optim.SGD(net.parameters(), lr=OPT["lr"], momentum=OPT["momentum"])
            g = torch.Generator().manual_seed(m)
            perm, pos = torch.randperm(n, generator=g), 0
            for _ in range(steps):
                if pos + batch > n:
                    perm, pos = torch.randperm(n, generator=g), 0
                idx = perm[pos : pos + batch]
                pos += batch
                loss = F.cross_entropy(net(x_all[idx]), labels[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        return sequential
    if way == "usual":
        ds = torch.utils.data.TensorDataset(x_all, labels) if phase == "noise" else ImageDataset(images, labels)
        for m in range(sequential):
            torch.manual_seed(m)
            loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True)
            usual_train(SingleMLP(stacked, m), loader, steps)
        return sequential
    raise ValueError(f"unknown way {way!r}; known: {WAYS}")


def matmul_peak(size: int = 2048, repeats: int = 5) -> float:
    """FLOP/s of a large single-thread float32 torch.mm: the physical limit for this workload."""
    torch.set_num_threads(1)
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - t0)
    return 2 * size**3 / statistics.median(times)


# ------------------------------------------------------------------ driver


def _subprocess(args: dict) -> dict:
    cmd = [sys.executable, "-m", "noisefa.bench", "--one", json.dumps(args)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(configs: list[dict], repeats: int, out: Path | None) -> dict:
    peak = _subprocess({"peak": True})["flops"]
    results = []
    for cfg in configs:
        for way in WAYS:
            runs = [_subprocess({**cfg, "way": way}) for _ in range(repeats)]
            rate = statistics.median(r["model_samples_per_s"] for r in runs)
            results.append(
                {
                    **runs[0],
                    "model_samples_per_s": rate,
                    "wall_s": statistics.median(r["wall_s"] for r in runs),
                    "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
                    "repeats": repeats,
                    "all_rates": [r["model_samples_per_s"] for r in runs],
                }
            )
    for r in results:
        same = [o for o in results if all(o[k] == r[k] for k in ("phase", "depth", "batch", "models"))]
        base = {o["way"]: o["model_samples_per_s"] for o in same}
        r["vs_usual"] = r["model_samples_per_s"] / base["usual"]
        r["vs_best_single"] = r["model_samples_per_s"] / base["best_single"]
        r["fraction_of_mm_peak"] = r["model_samples_per_s"] * train_flops_per_sample(784, 100, 10, r["depth"]) / peak
    report = {
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "threads": 1,
            "matmul_peak_gflops": peak / 1e9,
        },
        "results": results,
    }
    print(table(report))
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=1))
        print(f"\nwritten {out}")
    return report


def table(report: dict) -> str:
    head = (
        f"matmul peak (1 thread, 2048^3 torch.mm): {report['machine']['matmul_peak_gflops']:.1f} GFLOP/s\n"
        f"{'phase':6} {'depth':>5} {'batch':>5} {'nets':>4} {'way':12} {'model·samples/s':>16} {'wall s':>7} "
        f"{'peak MB':>8} {'vs usual':>9} {'vs best1':>9} {'% mm peak':>9}"
    )
    lines = [head, "-" * len(head.splitlines()[-1])]
    for r in report["results"]:
        lines.append(
            f"{r['phase']:6} {r['depth']:5d} {r['batch']:5d} {r['models']:4d} {r['way']:12} "
            f"{r['model_samples_per_s']:16,.0f} {r['wall_s']:7.2f} {r['peak_rss_mb']:8.0f} "
            f"{r['vs_usual']:8.1f}x {r['vs_best_single']:8.2f}x {100 * r['fraction_of_mm_peak']:8.1f}%"
        )
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="reduced size for CI: depth 2, batch 128, 100 steps, 1 repeat")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--steps", type=int, default=300, help="updates per network")
    p.add_argument("--phases", nargs="+", default=["data", "noise"], choices=["data", "noise"])
    p.add_argument("--depths", nargs="+", type=int, default=[2, 5])
    p.add_argument("--batches", nargs="+", type=int, default=[64, 128, 256])
    p.add_argument("--models", nargs="+", type=int, default=[10], help="networks per cell (30: seeds x conditions)")
    p.add_argument("--out", type=Path, default=Path("results/benchmarks/engine.json"))
    p.add_argument("--one", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.one:
        args = json.loads(a.one)
        print(json.dumps({"flops": matmul_peak()} if args.get("peak") else measure(**args)))
        return
    if a.quick:
        a.depths, a.batches, a.models, a.steps, a.repeats = [2], [128], [10], 100, 1
    configs = [
        {"phase": ph, "depth": d, "batch": b, "models": m, "steps": a.steps, "n": 10000}
        for ph in a.phases
        for d in a.depths
        for b in a.batches
        for m in a.models
    ]
    run(configs, a.repeats, a.out)


if __name__ == "__main__":
    main()
