"""A download mirror in miniature: tiny files in the exact formats torchvision 0.29 downloads.

``build(mirror)`` writes, at their paths under a mirror (= under torchvision's root), gzipped IDX
files for MNIST, Fashion-MNIST and KMNIST, tar.gz archives of the CIFAR-10/100 pickles and the
STL-10 binaries with their real member names, and USPS's bz2 libsvm text. Every image's pixels
and label follow from its dataset and index (``image``, ``label``), so a test can check shapes,
labels, orientation and image-label pairing after the pipeline has fetched and prepared them.

The files are tiny, so their MD5s are not torchvision's: ``patch(checksums)`` puts theirs into
torchvision's dataset classes (where the pipeline and torchvision both read them). A test patches
in-process; a Snakemake run gets a ``sitecustomize.py`` (``sitecustomize``) on PYTHONPATH.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import json
import pickle
import tarfile
from pathlib import Path

import numpy as np

N_TRAIN, N_TEST = 12, 7
SHAPES = {"mnist": (1, 28, 28), "fashion_mnist": (1, 28, 28), "kmnist": (1, 28, 28), "cifar10": (3, 32, 32),
          "cifar100": (3, 32, 32), "stl10": (3, 96, 96), "usps": (1, 16, 16)}  # fmt: skip
CLASSES = {"cifar100": 100}
MNIST_CLASSES = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "kmnist": "KMNIST"}


def label(dataset: str, split: str, i: int) -> int:
    return (3 * i + (1 if split == "test" else 0) + len(dataset)) % CLASSES.get(dataset, 10)


def image(dataset: str, split: str, i: int) -> np.ndarray:
    """uint8 (C, H, W): an asymmetric pattern (orientation) that depends on the dataset and index."""
    c, h, w = SHAPES[dataset]
    cc, yy, xx = np.meshgrid(np.arange(c), np.arange(h), np.arange(w), indexing="ij")
    seed = len(dataset) * 31 + (0 if split == "train" else 500) + i * 7
    return ((xx * 3 + yy * 11 + cc * 50 + seed) % 256).astype(np.uint8)


def n(split: str) -> int:
    return N_TRAIN if split == "train" else N_TEST


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _idx(array: np.ndarray) -> bytes:
    dims = array.shape
    magic = (0x08 << 8 | len(dims)).to_bytes(4, "big")
    return magic + b"".join(d.to_bytes(4, "big") for d in dims) + array.astype(np.uint8).tobytes()


def _tar(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _split_arrays(dataset: str, split: str):
    return (np.stack([image(dataset, split, i) for i in range(n(split))]),
            np.array([label(dataset, split, i) for i in range(n(split))]))  # fmt: skip


def build(mirror: Path) -> dict:
    """Write every archive under ``mirror``; return the checksums ``patch`` needs."""
    sums: dict = {}

    def put(rel: str, data: bytes) -> str:
        (mirror / rel).parent.mkdir(parents=True, exist_ok=True)
        (mirror / rel).write_bytes(data)
        return _md5(data)

    for dataset, cls in MNIST_CLASSES.items():
        resources = []
        for split, prefix in (("train", "train"), ("test", "t10k")):
            x, y = _split_arrays(dataset, split)
            for kind, arr in (("images-idx3", x[:, 0]), ("labels-idx1", y)):
                name = f"{prefix}-{kind}-ubyte.gz"
                resources.append([name, put(f"{cls}/raw/{name}", gzip.compress(_idx(arr), mtime=0))])
        sums[cls] = {"resources": resources}

    cifar = [("cifar10", "CIFAR10", "cifar-10-python.tar.gz", "cifar-10-batches-py", "labels"),
             ("cifar100", "CIFAR100", "cifar-100-python.tar.gz", "cifar-100-python", "fine_labels")]  # fmt: skip
    for dataset, cls, archive, folder, key in cifar:
        x, y = _split_arrays(dataset, "train")
        xt, yt = _split_arrays(dataset, "test")
        if dataset == "cifar10":  # five training batches
            parts = np.array_split(np.arange(N_TRAIN), 5)
            train = {f"data_batch_{k + 1}": (x[p], y[p]) for k, p in enumerate(parts)}
            test, meta = {"test_batch": (xt, yt)}, ("batches.meta", {"label_names": [f"c{k}" for k in range(10)]})
        else:
            train, test = {"train": (x, y)}, {"test": (xt, yt)}
            meta = ("meta", {"fine_label_names": [f"c{k}" for k in range(100)]})
        members = {}
        for name, (xs, ys) in {**train, **test}.items():
            members[name] = pickle.dumps({"data": xs.reshape(len(xs), -1), key: [int(v) for v in ys]})
        members[meta[0]] = pickle.dumps(meta[1])
        tgz = put(archive, _tar({f"{folder}/{k}": v for k, v in members.items()}))
        md5s = {k: _md5(v) for k, v in members.items()}
        sums[cls] = {"tgz_md5": tgz, "train_list": [[k, md5s[k]] for k in train], "test_list": [[k, md5s[k]] for k in test],
                     "meta_md5": md5s[meta[0]]}  # fmt: skip

    members = {}
    for split in ("train", "test"):
        x, y = _split_arrays("stl10", split)
        members[f"{split}_X.bin"] = x.transpose(0, 1, 3, 2).tobytes()  # STL-10 stores column-major images
        members[f"{split}_y.bin"] = (y + 1).astype(np.uint8).tobytes()  # labels 1..10 on disk
    members["unlabeled_X.bin"] = image("stl10", "train", 99)[None].transpose(0, 1, 3, 2).tobytes()
    tgz = put("stl10_binary.tar.gz", _tar({f"stl10_binary/{k}": v for k, v in members.items()}))
    md5s = {k: _md5(v) for k, v in members.items()}
    sums["STL10"] = {"tgz_md5": tgz, "train_list": [[k, md5s[k]] for k in ("train_X.bin", "train_y.bin", "unlabeled_X.bin")],
                     "test_list": [[k, md5s[k]] for k in ("test_X.bin", "test_y.bin")]}  # fmt: skip

    usps = {}
    for split, name in (("train", "usps.bz2"), ("test", "usps.t.bz2")):
        x, y = _split_arrays("usps", split)
        scaled = x[:, 0].reshape(len(x), -1).astype(np.float64) / 255 * 2 - 1  # torchvision maps [-1, 1] to 0..255
        lines = [f"{int(v) + 1} " + " ".join(f"{j + 1}:{p:.6f}" for j, p in enumerate(row)) for v, row in zip(y, scaled)]
        usps[split] = [name, put(name, bz2.compress(("\n".join(lines) + "\n").encode()))]
    sums["USPS"] = {"split_list": usps}
    return sums


def usps_pixels(split: str, i: int) -> np.ndarray:
    """The 16x16 uint8 image torchvision reads back from the text (rounding as it does)."""
    x = image("usps", split, i)[0].astype(np.float64) / 255 * 2 - 1
    x = np.round(x, 6).astype(np.float32)
    return ((x + 1) / 2 * 255).astype(np.uint8)


def patch(sums: dict, setattr=setattr) -> None:
    """Put the mirror's checksums into torchvision's classes (URLs stay torchvision's); pass
    pytest's ``monkeypatch.setattr`` to have them restored after a test."""
    import torchvision.datasets as tvd

    for cls_name, s in sums.items():
        cls = getattr(tvd, cls_name)
        if "resources" in s:
            setattr(cls, "resources", [tuple(r) for r in s["resources"]])
        elif "split_list" in s:
            setattr(cls, "split_list", {k: [cls.split_list[k][0], v[0], v[1]] for k, v in s["split_list"].items()})
        else:
            for key in ("tgz_md5", "train_list", "test_list"):
                setattr(cls, key, s[key])
            if "meta_md5" in s:
                setattr(cls, "meta", {**cls.meta, "md5": s["meta_md5"]})


def sitecustomize(folder: Path, sums: dict) -> Path:
    """A folder whose sitecustomize.py patches torchvision in every Python process started with it
    on PYTHONPATH (Snakemake and its jobs)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "checksums.json").write_text(json.dumps(sums))
    (folder / "sitecustomize.py").write_text(
        "import json, sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "import mirror_files\n"
        f"mirror_files.patch(json.load(open({str(folder / 'checksums.json')!r})))\n"
    )
    return folder
