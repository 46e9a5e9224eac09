"""The benchmark's three ways train the same networks; the benchmark itself runs."""

import json

import torch
from numerics import F64, float64

from noisefa import precision
from noisefa.nets.engine import TensorBatches, make_optimizer
from noisefa.nets.learning_rules import get_rule
from noisefa.nets.metrics import stacked_cross_entropy
from noisefa.nets.model import Architecture, StackedMLP
from noisefa.tools import bench


class Float64(torch.utils.data.Dataset):
    """A dataset's images cast to float64 after its own transforms (which stay torchvision's)."""

    def __init__(self, ds):
        self.ds = ds

    def __len__(self):
        return len(self.ds)

    def __getitem__(self, i):
        x, y = self.ds[i]
        return x.double(), y


def test_engine_equals_the_usual_loop_from_same_init_and_batch_order(tmp_path):
    # The same arithmetic arranged two ways (stacked bmm vs one F.linear per network): float64,
    # so BatchNorm's amplification of rounding stays far below F64 on any CPU (tests/numerics.py).
    images, labels = bench.workload_data(n=300)
    x = bench._standardise(images).double()
    arch = Architecture(784, 10, depth=3, hidden=100, batchnorm=True)
    stacked = float64(StackedMLP(arch, [0, 1]))
    singles = [float64(bench.SingleMLP(stacked, m)) for m in range(2)]  # copies of the initial networks
    source = TensorBatches(x, labels, stacked.seeds, 32, ("equivalence",))
    opt = make_optimizer(stacked, bench.OPT)
    for step in range(source.steps_per_epoch):  # one epoch
        xb, yb = source.next()
        if step == 0:
            orders = [source.perms[m].tolist() for m in range(2)]
        loss = stacked_cross_entropy(stacked(xb, get_rule("fa")), yb).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    ds = Float64(bench.mnist_dataset(images, labels, tmp_path))  # torchvision's MNIST: PIL + ToTensor + Normalize
    for m, net in enumerate(singles):
        loader = torch.utils.data.DataLoader(ds, batch_size=32, sampler=bench.OrderSampler(orders[m]))
        bench.usual_train(net, loader, source.steps_per_epoch)
        for i, layer in enumerate(net.layers):
            torch.testing.assert_close(layer.weight, stacked.weights[i][m], **F64)
            assert torch.equal(layer.B, stacked.feedback[i][m])
        torch.testing.assert_close(net.bns[0].running_mean, stacked.bn_mean0[m], **F64)


def test_every_way_measures_and_the_table_has_ratios(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "_subprocess", lambda args: bench.measure(**args))
    monkeypatch.setattr(bench, "matmul_peak", lambda **kw: 1e10)
    cfg = [{"phase": ph, "depth": 2, "batch": 16, "models": 2, "steps": 3, "n": 64, "warmup": 1} for ph in ("data", "noise")]
    report = bench.run(cfg, repeats=2, out=tmp_path / "b.json")
    assert len(report["results"]) == 2 * len(bench.WAYS)
    ways = {r["way"]: r for r in report["results"] if r["phase"] == "data"}
    assert set(ways) == set(bench.WAYS) and ways["usual"]["vs_usual"] == 1.0 and ways["gemm_only"]["fraction_of_gemm_only"] == 1.0
    assert all(
        r["model_samples_per_s"] > 0 and 0 < r["fraction_of_mm_peak"] and len(r["all_rates"]) == 2 for r in report["results"]
    )
    assert json.loads((tmp_path / "b.json").read_text())["machine"]["matmul_peak_gflops"] == 10.0


def test_the_usual_dataset_is_torchvisions_mnist_reading_the_workload(tmp_path):
    images, labels = bench.workload_data(n=50)
    ds = bench.mnist_dataset(images, labels, tmp_path)
    assert type(ds).__module__.startswith("torchvision.datasets") and len(ds) == 50
    x, y = ds[7]
    assert x.shape == (1, 28, 28) and y == int(labels[7])
    torch.testing.assert_close(x.flatten(), bench._standardise(images[7]))


def test_a_bf16_cell_times_the_engine_and_its_floor_against_the_float32_loops(monkeypatch, tmp_path):
    monkeypatch.setattr(bench, "_subprocess", lambda args: bench.measure(**args))
    monkeypatch.setattr(bench, "matmul_peak", lambda **kw: 1e10)
    shape = {"phase": "data", "depth": 2, "batch": 16, "models": 2, "steps": 3, "n": 64, "warmup": 1}
    cfg = [{**shape, "precision": p} for p in ("float32", "bf16")]
    try:
        report = bench.run(cfg, repeats=1, out=None)
    finally:
        precision.use("float32")  # measure() sets it for its (here: this) process
    bf16 = {r["way"]: r for r in report["results"] if r["precision"] == "bf16"}
    f32 = {r["way"]: r for r in report["results"] if r["precision"] == "float32"}
    assert set(bf16) == {"engine", "gemm_only"} and set(f32) == set(bench.WAYS)
    assert bf16["engine"]["vs_usual"] == bf16["engine"]["model_samples_per_s"] / f32["usual"]["model_samples_per_s"]
    assert bf16["gemm_only"]["fraction_of_gemm_only"] == 1.0
    assert "bf16" in bench.table(report)
