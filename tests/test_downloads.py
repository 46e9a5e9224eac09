"""The download path against a mirror on 127.0.0.1: every dataset, and every way a download fails.

The mirror (tests/mirror_files.py) serves tiny files in the exact formats torchvision downloads,
at the paths a real mirror holds them; their checksums are patched into torchvision's classes.
"""

import functools
import http.server
import os
import socket
import threading
import time
from pathlib import Path

import mirror_files as mf
import numpy as np
import pytest
import torch
from pipeline_utils import run_ok, snakemake, stage, tiny_config

from noisefa.data.datasets import DatasetUnavailable, Source, _resize, get_spec, prepare
from noisefa.data.downloads import Settings, archives, fetch

TORCHVISION_SETS = ["mnist", "fashion_mnist", "kmnist", "cifar10", "cifar100", "stl10", "usps"]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture()
def serve():
    """``serve(folder, handler=None)`` -> base URL of an HTTP server on 127.0.0.1 (port 0)."""
    servers = []

    def start(folder: Path, handler=None):
        h = handler or functools.partial(_Quiet, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), h)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/"

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


@pytest.fixture()
def mirror(tmp_path, monkeypatch):
    folder = tmp_path / "mirror"
    sums = mf.build(folder)
    mf.patch(sums, monkeypatch.setattr)
    return folder, sums


def _only(*mirrors, timeout=5.0, retries=0):
    return Settings(timeout=timeout, retries=retries, mirrors=tuple(mirrors), original_urls=False)


def _src(tmp_path, **kw):
    return Source(tmp_path / "root", debian_dir=tmp_path / "no-debian", **kw)


def _check_prepared(path: Path, dataset: str):
    """Shapes, labels, orientation and image-label pairing, as the mirror made them."""
    p = torch.load(path, weights_only=True)
    spec = get_spec(dataset)
    for split in ("train", "test"):
        x, y = p[f"x_{split}"], p[f"y_{split}"]
        assert x.shape == (mf.n(split), spec.in_dim), dataset
        assert y.tolist() == [mf.label(dataset, split, i) for i in range(mf.n(split))], dataset
        for i in (0, mf.n(split) - 1):
            if dataset == "usps":  # 16x16 text, resized to 28x28 like MNIST
                want = _resize(torch.as_tensor(mf.usps_pixels(split, i))[None, None], 28)[0]
            else:
                want = torch.as_tensor(mf.image(dataset, split, i))
            assert torch.equal(x[i], want.flatten()), (dataset, split, i)


def test_every_dataset_through_snakemake_from_a_local_http_mirror(tmp_path, mirror, serve):
    """`snakemake download` and the prepare jobs, all seven torchvision datasets, bit-exact; a rerun
    does nothing; a marker whose files were deleted is detected and the files fetched again."""
    folder, sums = mirror
    url = serve(folder)
    site = mf.sitecustomize(tmp_path / "site", sums)
    env = {"PYTHONPATH": f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "NOISEFA_FASHION_MNIST_DIR": str(tmp_path / "no-debian")}  # fmt: skip
    cfg = tiny_config(tmp_path / "c.yaml", datasets=["synthetic", *TORCHVISION_SETS],
                      data={"mirrors": [url], "original_urls": False, "download_timeout": 10, "download_retries": 0})  # fmt: skip
    work = tmp_path / "work"
    data = [f"results/data/{d}.pt" for d in TORCHVISION_SETS]
    old = dict(os.environ)
    os.environ.update(env)  # snakemake() passes os.environ on to the run
    try:
        run_ok("--configfile", cfg, "--cores", "2", "--directory", work, "download", *data)
        for d in TORCHVISION_SETS:
            _check_prepared(work / f"results/data/{d}.pt", d)
            assert "downloaded" in (work / f"results/logs/fetch_dataset/{d}.log").read_text()
            assert url in (work / f"results/logs/fetch_dataset/{d}.log").read_text()
        r = run_ok("--configfile", cfg, "--cores", "2", "--directory", work, "download", *data)
        assert "Nothing to be done" in r.stdout + r.stderr
        # Raw files and prepared file gone, marker left: the fetch reruns, nothing else does.
        before = {d: (work / f"results/data/{d}.pt").stat().st_mtime_ns for d in TORCHVISION_SETS}
        for f in (work / "resources/torchvision/KMNIST/raw").iterdir():
            f.unlink()
        (work / "results/data/kmnist.pt").unlink()
        r = run_ok("--configfile", cfg, "--cores", "2", "--directory", work, "download", *data)
        assert "resources/fetched/kmnist.ok: the raw files of kmnist are gone; fetching them again" in r.stderr
        assert "downloaded 4 file(s)" in (work / "results/logs/fetch_dataset/kmnist.log").read_text()
        _check_prepared(work / "results/data/kmnist.pt", "kmnist")
        after = {d: (work / f"results/data/{d}.pt").stat().st_mtime_ns for d in TORCHVISION_SETS}
        assert {d for d in TORCHVISION_SETS if after[d] != before[d]} == {"kmnist"}
    finally:
        os.environ.clear()
        os.environ.update(old)


def test_a_failed_download_stops_the_run_before_any_compute_job(tmp_path):
    """keep-going (the default profile) must not compute for hours when a dataset can never come."""
    dead = _dead_port()
    cfg = tiny_config(tmp_path / "c.yaml", datasets=["synthetic", "kmnist"],
                      data={"mirrors": [f"http://127.0.0.1:{dead}/"], "original_urls": False, "download_retries": 0})  # fmt: skip
    work = tmp_path / "work"
    r = snakemake("--configfile", cfg, "--cores", "2", "--keep-going", "--directory", work)
    assert r.returncode != 0
    log = (work / "results/logs/fetch_dataset/kmnist.log").read_text()
    assert f"http://127.0.0.1:{dead}/KMNIST/raw/train-images-idx3-ubyte.gz: cannot connect" in log
    assert not (work / "results/data").exists() and not (work / "results/noise").exists()


def _dead_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_dead_host_names_each_url_and_what_works_offline(tmp_path, mirror):
    dead = f"http://127.0.0.1:{_dead_port()}"
    with pytest.raises(DatasetUnavailable) as e:
        fetch(
            "cifar10",
            _src(tmp_path),
            _only(dead, retries=1),
        )
    msg = str(e.value)
    assert f"{dead}/cifar-10-python.tar.gz: cannot connect" in msg and "(attempt 2)" in msg
    assert str(tmp_path / "root" / "cifar-10-python.tar.gz") in msg  # where the archive goes by hand
    assert "data.mirrors" in msg and "config/quick.yaml" in msg and "config/paper_offline.yaml" in msg


def test_a_server_that_never_answers_times_out(tmp_path, mirror):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # accepts connections (the kernel's backlog) and never sends a byte
    try:
        t0 = time.monotonic()
        with pytest.raises(DatasetUnavailable) as e:
            fetch("usps", _src(tmp_path), _only(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout=0.3))
        assert time.monotonic() - t0 < 20
        assert "0.3 s (data.download_timeout)" in str(e.value) and "usps.bz2" in str(e.value)
    finally:
        listener.close()


def test_a_wrong_checksum_names_file_url_and_expected_md5_then_tries_the_next_url(tmp_path, mirror, serve):
    folder, sums = mirror
    bad = tmp_path / "bad"
    (bad / "MNIST/raw").mkdir(parents=True)
    for f in (folder / "MNIST/raw").iterdir():
        (bad / "MNIST/raw" / f.name).write_bytes(f.read_bytes()[:-1] + b"x")
    bad_url, good_url = serve(bad), serve(folder)
    with pytest.raises(DatasetUnavailable) as e:
        fetch("mnist", _src(tmp_path), _only(bad_url, retries=2))
    msg = str(e.value)
    want = dict(sums["MNIST"]["resources"])["train-images-idx3-ubyte.gz"]
    assert f"{bad_url}MNIST/raw/train-images-idx3-ubyte.gz: checksum mismatch" in msg and f"torchvision expects {want}" in msg
    assert "attempt 2" not in msg  # a wrong file is not fetched again from the same URL
    assert not list((tmp_path / "root").rglob("*.gz"))  # nothing half-checked left behind
    assert fetch("mnist", _src(tmp_path), _only(bad_url, good_url)).startswith(f"downloaded 4 file(s) from {good_url}")


def test_missing_file_on_a_mirror_and_server_errors(tmp_path, mirror, serve):
    folder, _ = mirror
    calls = []

    class Flaky(_Quiet):  # a 503 on each file's first request, then the file
        def do_GET(self):
            calls.append(self.path)
            if calls.count(self.path) == 1:
                self.send_error(503)
            else:
                super().do_GET()

    empty, flaky = serve(tmp_path / "empty"), serve(folder, functools.partial(Flaky, directory=str(folder)))
    (tmp_path / "empty").mkdir()
    how = fetch("usps", _src(tmp_path), Settings(timeout=5, retries=1, mirrors=(empty, flaky), original_urls=False))
    assert how == f"downloaded 2 file(s) from {flaky}"
    assert calls.count("/usps.bz2") == 2  # retried after the 503; the 404 of the first mirror was not


def test_archives_placed_by_hand_need_no_network(tmp_path, mirror):
    folder, _ = mirror
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "stl10_binary.tar.gz").write_bytes((folder / "stl10_binary.tar.gz").read_bytes())
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "cifar-100-python.tar.gz").write_bytes((folder / "cifar-100-python.tar.gz").read_bytes())
    offline = _only()  # no mirror, no torchvision URL: any download attempt fails
    assert fetch("cifar100", _src(tmp_path), offline) == "unpacked from archives already present"
    assert fetch("stl10", _src(tmp_path, local_dir=tmp_path / "local"), offline) == "unpacked from archives already present"
    prepare("stl10", _src(tmp_path), tmp_path / "s.pt")
    _check_prepared(tmp_path / "s.pt", "stl10")


def test_the_files_that_decide_already_present_are_exactly_torchvisions(tmp_path, mirror):
    """Every listed file is needed (deleting any makes the dataset unreadable) and a folder missing
    any of them is not 'already present' (the old lists passed CIFAR-10 with 2 of its 7 files)."""
    counts = {"cifar10": 7, "cifar100": 3, "stl10": 5, "usps": 2, "mnist": 4}
    src = _src(tmp_path)
    for d, k in counts.items():
        spec = get_spec(d)
        assert len(spec.expected_files) == k, spec.expected_files
        fetch(d, src, _only(mirror[0].as_uri()))
        for f in spec.expected_files:
            path = src.root / f
            data = path.read_bytes()
            path.unlink()
            with pytest.raises(DatasetUnavailable, match=r"\(missing\)"):
                spec.load(src)
            path.write_bytes(data)
    assert {"cifar-100-python/meta", "stl10_binary/train_y.bin", "stl10_binary/unlabeled_X.bin"} <= {
        f for d in ("cifar100", "stl10") for f in get_spec(d).expected_files
    }
    # A half-unpacked CIFAR-10 (two batches): fetched again, from its archive, without a network.
    for f in ("data_batch_3", "data_batch_4", "data_batch_5", "batches.meta"):
        (src.root / "cifar-10-batches-py" / f).unlink()
    assert fetch("cifar10", src, _only()) == "unpacked from archives already present"


def test_a_damaged_file_is_named_with_its_checksum_and_refetched(tmp_path, mirror):
    src = _src(tmp_path)
    fetch("cifar10", src, _only(mirror[0].as_uri()))
    batch = src.root / "cifar-10-batches-py" / "data_batch_2"
    batch.write_bytes(batch.read_bytes()[:-10])
    with pytest.raises(DatasetUnavailable) as e:
        prepare("cifar10", src, tmp_path / "c.pt")
    msg = str(e.value)
    assert f"{batch} is damaged or half-written (MD5 " in msg and "torchvision expects" in msg and "delete it and rerun" in msg
    assert fetch("cifar10", src, _only()) == "unpacked from archives already present"
    prepare("cifar10", src, tmp_path / "c.pt")
    _check_prepared(tmp_path / "c.pt", "cifar10")


def test_fetch_stage_without_out_and_its_offline_message(tmp_path):
    r = stage("fetch_data", "--dataset", "synthetic", "--root", tmp_path)
    assert r.stdout.strip() == "synthetic: no download needed"
    r = stage("fetch_data", "--dataset", "kmnist", "--root", tmp_path, "--no-original-urls", check=False)
    assert r.returncode == 1 and r.stderr.startswith("ERROR: dataset 'kmnist' is not here")
    assert "no URL: data.mirrors is empty and data.original_urls is false" in r.stderr
    assert "config/quick.yaml" in r.stderr


def test_archive_list_is_read_from_torchvision():
    urls = {a.path: a.urls for d in ("kmnist", "cifar10", "usps") for a in archives(d)}
    assert urls["cifar-10-python.tar.gz"] == ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",)
    assert urls["KMNIST/raw/train-images-idx3-ubyte.gz"][0].startswith("http://codh.rois.ac.jp/")
    assert set(urls) >= {"usps.bz2", "usps.t.bz2"} and not archives("mnist5k")
    assert np.all([len(a.md5) == 32 for d in ("mnist", "stl10", "cifar100") for a in archives(d)])
