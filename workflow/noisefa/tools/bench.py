"""Benchmark: the same training workload, several ways, in one run.

- ``engine``: this pipeline's engine: all networks of a cell stacked into one model
  (batched matmuls), in-memory tensors, one gather per step;
- ``usual``: the loop people write: ``torchvision.datasets.MNIST`` (read from IDX files
  written for the run) with ``ToTensor`` + ``Normalize``, a ``DataLoader``, one ``nn.Module``
  per seed, seeds one after another, the loss logged every 10 steps (for noise: a
  ``TensorDataset`` in a ``DataLoader``);
- ``best_single``: the best one-network-at-a-time loop: in-memory tensors, index
  slicing, one network after another;
- ``gemm_only``: not a training loop but its floor: only the matrix products of each step
  (forward, weight gradient, input gradient where needed) for the stacked shapes, no data
  movement, no BatchNorm, no optimiser. No loop with these numerics can run faster on this
  machine, so ``best_single``'s share of it bounds what stacking can gain.

Same model (MLP, width 100, FA, BatchNorm after ReLU), batch size, optimiser (SGD +
momentum) and number of updates. Every measurement runs in a fresh subprocess (its own
peak memory, no warm caches shared) that also times a large ``torch.mm`` right after its
training, so "% of mm peak" compares with the matmul rate of that very moment (the machine is
shared and its speed drifts); ways are interleaved within each repeat, and the table gives
medians and the ratios to the usual loop and to the best single loop.

``--precisions float32 bf16`` adds cells whose engine and floor multiply in bf16
(``noisefa.precision``); their "vs usual" and "vs best1" divide by the float32 loops of the same
shape (the baselines are what people run: float32), and "% mm peak" by a bf16 ``torch.mm``.
``--device cuda`` runs every way on the GPU (timed between synchronisations).

    python -m noisefa.tools.bench                 # full table, JSON in results/benchmarks/
    python -m noisefa.tools.bench --quick         # reduced size (CI)
    python -m noisefa.tools.bench --precisions float32 bf16 --depths 2 --batches 128
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .. import precision as P
from ..nets.engine import TensorBatches, make_optimizer
from ..nets.learning_rules import get_rule
from ..nets.metrics import stacked_cross_entropy
from ..nets.model import Architecture, StackedMLP
from ..pipeline.resources import mlp, train_flops_per_sample
from ..seeds import generator

WAYS = ("engine", "usual", "best_single", "gemm_only")
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
            # As in PyTorch's "Extending autograd" example: skip the gradients nobody needs
            # (the first layer's input gradient), so the baseline does no more work than the engine.
            x, B = ctx.saved_tensors
            grad_x = g @ B if ctx.needs_input_grad[0] else None
            return grad_x, g.t() @ x, g.sum(0), None

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
        x = x.flatten(1)  # (N, 1, 28, 28) images from torchvision, (N, 784) tensors otherwise
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = torch.relu(x)
                if len(self.bns):
                    x = self.bns[i](x)
        return x


def write_idx(path: Path, array: torch.Tensor) -> None:
    """An uncompressed IDX file (the MNIST format): magic, big-endian sizes, uint8 data."""
    head = bytes([0, 0, 8, array.dim()]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(head + array.to(torch.uint8).contiguous().numpy().tobytes())


def mnist_dataset(images: torch.Tensor, labels: torch.Tensor, root: Path, side: int = 28):
    """``torchvision.datasets.MNIST`` over the workload, exactly as a training script builds it.

    The images are written as the four IDX files torchvision expects under ``root/MNIST/raw``
    (the test split is a stub), so the dataset class, its per-item PIL conversion and the
    transforms are torchvision's own, not a re-implementation.
    """
    from torchvision import datasets, transforms

    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    write_idx(raw / "train-images-idx3-ubyte", images.view(-1, side, side))
    write_idx(raw / "train-labels-idx1-ubyte", labels)
    write_idx(raw / "t10k-images-idx3-ubyte", images[:1].view(-1, side, side))
    write_idx(raw / "t10k-labels-idx1-ubyte", labels[:1])
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    return datasets.MNIST(str(root), train=True, download=False, transform=transform)


class OrderSampler(torch.utils.data.Sampler):
    """A fixed sequence of indices (to replay the engine's batch order in the equivalence test)."""

    def __init__(self, order: list[int]):
        self.order = order

    def __iter__(self):
        return iter(self.order)

    def __len__(self):
        return len(self.order)


def usual_train(net: SingleMLP, loader, steps: int, log_every: int = 10) -> SingleMLP:
    """The usual loop (as in pytorch/examples' MNIST): iterate a DataLoader, one network,
    loss.backward(), opt.step(), the loss read with ``.item()`` every ``log_every`` steps."""
    opt = torch.optim.SGD(net.parameters(), lr=OPT["lr"], momentum=OPT["momentum"])
    net.train()
    dev = next(net.parameters()).device
    done, logged = 0, []
    while done < steps:
        for x, y in loader:
            x, y = x.to(dev), y.to(dev)  # a no-op on CPU
            opt.zero_grad()
            loss = F.cross_entropy(net(x), y)
            loss.backward()
            opt.step()
            done += 1
            if done % log_every == 0:
                logged.append(loss.item())
            if done == steps:
                break
    return net


# ------------------------------------------------------------------ one measurement


def _standardise(images: torch.Tensor) -> torch.Tensor:
    return (images.float() / 255.0 - 0.1307) / 0.3081


def measure(
    way: str,
    phase: str,
    depth: int,
    batch: int,
    models: int,
    steps: int,
    n: int,
    warmup: int = 20,
    precision: str = P.DEFAULT,
    device: str = "cpu",
) -> dict:
    """Train ``models`` networks for ``steps`` updates each, the given way; return timings,
    and the matmul peak timed right after (the same moment's physical limit).

    A short untimed run of the same way first pays one-off costs (lazy init, allocator, kernels).
    """
    torch.set_num_threads(1)
    P.use(precision)
    dev = torch.device(device)
    images, labels = workload_data(n)
    x_all = torch.randn(n, 784, generator=generator("bench-noise")) if phase == "noise" else _standardise(images)
    x_all, labels = x_all.to(dev), labels.to(dev)
    arch = Architecture(784, 10, depth, 100, True)
    with tempfile.TemporaryDirectory() as root:
        if way == "usual":
            ds = torch.utils.data.TensorDataset(x_all, labels) if phase == "noise" else mnist_dataset(images, labels, Path(root))
        else:
            ds = None
        _train(way, arch, batch, models, warmup, x_all, labels, ds)
        _sync(dev)
        t0 = time.perf_counter()
        timed = _train(way, arch, batch, models, steps, x_all, labels, ds)
        _sync(dev)
        wall = (time.perf_counter() - t0) * models / timed  # one-at-a-time loops are linear in networks
    return {
        "way": way,
        "phase": phase,
        "depth": depth,
        "batch": batch,
        "models": models,
        "precision": precision,
        "device": dev.type,
        "steps": steps,
        "wall_s": wall,
        "model_samples_per_s": models * steps * batch / wall,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "mm_peak_flops": matmul_peak(dtype=P.PRECISIONS[precision] or torch.float32, device=dev),
    }


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _train(way, arch, batch, models, steps, x_all, labels, ds) -> int:
    """Run the workload; returns how many networks it trained."""
    n, dev = len(labels), labels.device
    seeds = list(range(models))
    stacked = StackedMLP(arch, seeds).to(dev)
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
    if way == "gemm_only":
        _gemm_only(arch, batch, models, steps, dev)
        return models
    sequential = min(models, SEQUENTIAL_SAMPLE)
    if way == "best_single":
        for m in range(sequential):
            net = SingleMLP(stacked, m).to(dev)
            opt = make_optimizer(net, OPT)  # the engine's optimiser: no torch.optim wrappers per step
            g = torch.Generator(device=dev).manual_seed(m)
            perm, pos = torch.randperm(n, generator=g, device=dev), 0
            for _ in range(steps):
                if pos + batch > n:
                    perm, pos = torch.randperm(n, generator=g, device=dev), 0
                idx = perm[pos : pos + batch]
                pos += batch
                loss = F.cross_entropy(net(x_all[idx]), labels[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        return sequential
    if way == "usual":
        for m in range(sequential):
            torch.manual_seed(m)
            loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True)
            usual_train(SingleMLP(stacked, m).to(dev), loader, steps)
        return sequential
    raise ValueError(f"unknown way {way!r}; known: {WAYS}")


def _gemm_only(arch: Architecture, batch: int, models: int, steps: int, dev=None) -> None:
    """Only the matrix products of ``steps`` training steps of the stack, as the engine's
    ``feedback.StackedLinearFn`` calls them: forward, weight gradient, and the input gradient of every
    layer but the first."""
    dims, M = arch.dims, models
    xs = [torch.randn(M, batch, d, device=dev) for d in dims[:-1]]
    ws = [torch.randn(M, dims[i + 1], dims[i], device=dev) for i in range(arch.depth)]
    bs = [torch.randn(M, 1, d, device=dev) for d in dims[1:]]
    gs = [torch.randn(M, batch, d, device=dev) for d in dims[1:]]
    for _ in range(steps):
        for i in range(arch.depth):
            P.baddbmm(bs[i], xs[i], ws[i].transpose(1, 2))
        for i in reversed(range(arch.depth)):
            if i:
                P.bmm(gs[i], ws[i])
            P.bmm(gs[i].transpose(1, 2), xs[i])


def matmul_peak(sizes=(1024, 2048), repeats: int = 3, dtype=torch.float32, device="cpu") -> float:
    """FLOP/s of a large single-thread torch.mm in ``dtype`` (best size, median of repeats)."""
    torch.set_num_threads(1)
    dev = torch.device(device)
    sizes = sizes if dev.type == "cpu" else (4096, 8192)  # a GPU needs larger products to fill
    rates = []
    for size in sizes:
        a, b = torch.randn(size, size, device=dev, dtype=dtype), torch.randn(size, size, device=dev, dtype=dtype)
        torch.mm(a, b)
        times = []
        for _ in range(repeats):
            _sync(dev)
            t0 = time.perf_counter()
            torch.mm(a, b)
            _sync(dev)
            times.append(time.perf_counter() - t0)
        rates.append(2 * size**3 / statistics.median(times))
    return max(rates)


# ------------------------------------------------------------------ driver

CELL = ("phase", "depth", "batch", "models", "precision")
SHAPE = CELL[:-1]
# The one-network loops are the baselines people run: float32 only (a bf16 cell divides by them).
BASELINES = ("usual", "best_single")


def ways_of(precision: str) -> tuple[str, ...]:
    return WAYS if precision == P.DEFAULT else tuple(w for w in WAYS if w not in BASELINES)


def _subprocess(args: dict) -> dict:
    cmd = [sys.executable, "-m", "noisefa.tools.bench", "--one", json.dumps(args)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(configs: list[dict], repeats: int, out: Path | None) -> dict:
    """Every (config, way) ``repeats`` times, ways interleaved within a repeat so that a change
    in the machine's speed hits all of them alike; medians per (config, way)."""
    runs: dict[tuple, list[dict]] = {}
    for _ in range(repeats):
        for cfg in configs:
            for way in ways_of(cfg.get("precision", P.DEFAULT)):
                runs.setdefault((json.dumps(cfg, sort_keys=True), way), []).append(_subprocess({**cfg, "way": way}))
    results = []
    for rs in runs.values():
        flops = train_flops_per_sample(mlp(784, 100, 10, rs[0]["depth"]))
        results.append(
            {
                **rs[0],
                "model_samples_per_s": statistics.median(r["model_samples_per_s"] for r in rs),
                "wall_s": statistics.median(r["wall_s"] for r in rs),
                "peak_rss_mb": max(r["peak_rss_mb"] for r in rs),
                "mm_peak_flops": statistics.median(r["mm_peak_flops"] for r in rs),
                "fraction_of_mm_peak": statistics.median(r["model_samples_per_s"] * flops / r["mm_peak_flops"] for r in rs),
                "repeats": repeats,
                "all_rates": [r["model_samples_per_s"] for r in rs],
            }
        )
    for r in results:
        same = {o["way"]: o for o in results if all(o[k] == r[k] for k in CELL)}
        base = {o["way"]: o for o in results if all(o[k] == r[k] for k in SHAPE) and o["way"] in BASELINES}
        r["vs_usual"] = r["model_samples_per_s"] / base["usual"]["model_samples_per_s"]
        r["vs_best_single"] = r["model_samples_per_s"] / base["best_single"]["model_samples_per_s"]
        r["fraction_of_gemm_only"] = r["model_samples_per_s"] / same["gemm_only"]["model_samples_per_s"]
        # Paired within each repeat (measured minutes apart, not hours): their spread is the
        # machine's noise, which the medians above hide.
        r["vs_best_single_per_repeat"] = [a / b for a, b in zip(r["all_rates"], base["best_single"]["all_rates"])]
    report = {
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "threads": 1,
            "device": results[0]["device"],
            "bf16_hardware": P.hardware_bf16(results[0]["device"]),
            "matmul_peak_gflops": statistics.median(r["mm_peak_flops"] for r in results if r["precision"] == P.DEFAULT) / 1e9,
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
        f"matmul peak (1 thread, torch.mm, median over measurements): {report['machine']['matmul_peak_gflops']:.1f} GFLOP/s\n"
        f"{'phase':6} {'depth':>5} {'batch':>5} {'nets':>4} {'prec':7} {'way':12} {'model·samples/s':>16} {'wall s':>7} "
        f"{'peak MB':>8} {'vs usual':>9} {'vs best1':>9} {'(range)':>13} {'% mm peak':>9} {'% gemm':>7}"
    )
    lines = [head, "-" * len(head.splitlines()[-1])]
    for r in report["results"]:
        lines.append(
            f"{r['phase']:6} {r['depth']:5d} {r['batch']:5d} {r['models']:4d} {r['precision']:7} {r['way']:12} "
            f"{r['model_samples_per_s']:16,.0f} {r['wall_s']:7.2f} {r['peak_rss_mb']:8.0f} "
            f"{r['vs_usual']:8.1f}x {r['vs_best_single']:8.2f}x "
            f"{min(r['vs_best_single_per_repeat']):6.2f}-{max(r['vs_best_single_per_repeat']):.2f}x "
            f"{100 * r['fraction_of_mm_peak']:8.1f}% "
            f"{100 * r['fraction_of_gemm_only']:6.1f}%"
        )
    lines.append("")
    for r in report["results"]:
        if r["way"] == "best_single":
            cell = " ".join(f"{k}={r[k]}" for k in CELL)
            lines.append(
                f"{cell}: best_single runs at {100 * r['fraction_of_gemm_only']:.0f}% of its matrix products alone, "
                f"so no loop with these numerics can beat it by more than {1 / r['fraction_of_gemm_only']:.2f}x"
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
    p.add_argument("--precisions", nargs="+", default=[P.DEFAULT], choices=sorted(P.PRECISIONS))
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--out", type=Path, default=Path("results/benchmarks/engine.json"))
    p.add_argument("--one", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.one:
        print(json.dumps(measure(**json.loads(a.one))))
        return
    if a.quick:
        a.depths, a.batches, a.models, a.steps, a.repeats = [2], [128], [10], 100, 1
    precisions = list(dict.fromkeys([P.DEFAULT, *a.precisions]))  # float32 always: the baselines
    configs = [
        {"phase": ph, "depth": d, "batch": b, "models": m, "steps": a.steps, "n": 10000, "precision": pr, "device": a.device}
        for pr in precisions
        for ph in a.phases
        for d in a.depths
        for b in a.batches
        for m in a.models
    ]
    run(configs, a.repeats, a.out)


if __name__ == "__main__":
    main()
