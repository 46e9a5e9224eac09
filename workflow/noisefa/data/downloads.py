"""Getting a torchvision dataset's raw files: bounded downloads, mirrors, checksums.

torchvision itself opens URLs without a timeout (a host that accepts the connection and never
answers hangs a job forever) and names neither the file nor the URL when a checksum fails. So the
pipeline downloads the *archives* torchvision would download, itself: every network read has a
timeout (``data.download_timeout``) and a few retries (``data.download_retries``), the mirrors of
``data.mirrors`` are tried before torchvision's own URLs, and every archive's MD5 is checked
against torchvision's. Then the archive is unpacked where torchvision looks for its files.

What to download and what it must hash to is read from torchvision's dataset classes (one source
of truth: a torchvision upgrade that moves a URL moves it here too). A mirror holds the archives
at their paths relative to torchvision's root, e.g. ``<mirror>/MNIST/raw/train-images-idx3-ubyte.gz``
or ``<mirror>/cifar-10-python.tar.gz`` (``ARCHIVE_PATHS``): a ``resources/torchvision`` folder of a
machine that has downloaded them, served over HTTP (``python -m http.server``) or as ``file://``,
is a mirror.

This module is read only by the fetch stage, so editing it never reruns a prepared dataset.
"""

from __future__ import annotations

import gzip
import shutil
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..files import atomic_write, md5sum
from .datasets import OFFLINE_HINT, DatasetUnavailable, Source, get_spec, torchvision_class

MNIST_FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


@dataclass(frozen=True)
class Archive:
    """One file torchvision downloads: its path under the torchvision root, MD5 and own URLs."""

    path: str
    md5: str
    urls: tuple[str, ...]

    @property
    def name(self) -> str:
        return Path(self.path).name


@dataclass(frozen=True)
class Settings:
    """``data.download_timeout`` (seconds without a byte), ``data.download_retries``, ``data.mirrors``."""

    timeout: float = 60.0
    retries: int = 2
    mirrors: tuple[str, ...] = ()
    original_urls: bool = True  # data.original_urls: also try torchvision's URLs after the mirrors

    def urls(self, archive: Archive) -> list[str]:
        own = list(archive.urls) if self.original_urls else []
        return [f"{m.rstrip('/')}/{archive.path}" for m in self.mirrors] + own


def archives(dataset: str) -> list[Archive]:
    """The archives torchvision downloads for ``dataset``, read from its dataset class."""
    cls_name = get_spec(dataset).torchvision
    if cls_name is None:
        return []
    cls = torchvision_class(cls_name)
    if hasattr(cls, "resources") and hasattr(cls, "mirrors"):  # MNIST, Fashion-MNIST, KMNIST
        return [Archive(f"{cls_name}/raw/{f}", md5, tuple(f"{m}{f}" for m in cls.mirrors)) for f, md5 in cls.resources]
    if hasattr(cls, "split_list"):  # USPS: one bz2 file per split, read as it is
        return [Archive(f, md5, (url,)) for url, f, md5 in cls.split_list.values()]
    return [Archive(cls.filename, cls.tgz_md5, (cls.url,))]  # CIFAR-10/100, STL-10


class _Failed(Exception):
    """One URL did not give the archive; ``retry``: worth trying the same URL again."""

    def __init__(self, why: str, retry: bool):
        super().__init__(why)
        self.retry = retry


def _get(url: str, dest: Path, timeout: float) -> None:
    """Stream ``url`` into ``dest``; every connect and read waits at most ``timeout`` seconds."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(dest, "wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
    except urllib.error.HTTPError as exc:
        # 404/403: the file is not there; a retry cannot help. 5xx: the server may recover.
        raise _Failed(f"HTTP {exc.code} {exc.reason}", retry=exc.code >= 500) from exc
    except TimeoutError as exc:
        raise _Failed(f"no data for {timeout:g} s (data.download_timeout)", retry=True) from exc
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            raise _Failed(f"no answer within {timeout:g} s (data.download_timeout)", retry=True) from exc
        raise _Failed(f"cannot connect: {reason}", retry=True) from exc
    except (OSError, ValueError) as exc:  # reset connections, malformed URLs
        raise _Failed(f"{type(exc).__name__}: {exc}", retry=not isinstance(exc, ValueError)) from exc


def download(archive: Archive, root: Path, settings: Settings, pause: float = 1.0) -> str:
    """Put ``archive`` at ``root/archive.path`` with its MD5 checked; returns the URL it came from.

    Each URL is tried up to 1 + ``retries`` times (pausing ``pause``, doubled each time) while the
    failure can pass (timeouts, refused connections, 5xx); a 404 or a wrong checksum moves on to
    the next URL at once. When every URL failed, the error lists each one with its failure.
    """
    dest = root / archive.path
    dest.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    for url in settings.urls(archive):
        for attempt in range(1 + settings.retries):
            try:
                atomic_write(dest, lambda tmp, url=url: _checked_get(url, Path(tmp), archive, settings.timeout))
                return url
            except _Failed as exc:
                failures.append(f"  {url}: {exc}" + (f" (attempt {attempt + 1})" if settings.retries else ""))
                if not exc.retry:
                    break
                if attempt < settings.retries:
                    time.sleep(pause * 2**attempt)
    tried = "\n".join(failures) or "  (no URL: data.mirrors is empty and data.original_urls is false)"
    raise DatasetUnavailable(f"cannot download {archive.name} (to {dest}):\n{tried}")


def _checked_get(url: str, tmp: Path, archive: Archive, timeout: float) -> None:
    _get(url, tmp, timeout)
    got = md5sum(tmp)
    if got != archive.md5:
        raise _Failed(
            f"checksum mismatch: the file served there has MD5 {got}, torchvision expects {archive.md5} "
            "(a different or damaged file; if this is your mirror, replace the file there)",
            retry=False,
        )


def unpack(archive: Archive, root: Path) -> None:
    """Unpack as torchvision does: .tar.gz into the root, .gz beside itself; .bz2 is read as it is."""
    path = root / archive.path
    if archive.name.endswith(".tar.gz"):
        with tarfile.open(path, "r:gz") as tar:
            tar.extractall(root, filter="data")
    elif archive.name.endswith(".gz"):
        _gunzip(path, path.with_suffix(""))


def _gunzip(gz: Path, dest: Path) -> None:
    def write(tmp):
        with gzip.open(gz, "rb") as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout)

    atomic_write(dest, write)


def _copy_debian_fashion_mnist(src: Source) -> bool:
    gz = [src.debian_dir / f"{f}.gz" for f in MNIST_FILES]
    if not all(p.exists() for p in gz):
        return False
    for p, name in zip(gz, MNIST_FILES):
        _gunzip(p, src.root / "FashionMNIST" / "raw" / name)
    return True


def _present(archive: Archive, src: Source) -> Path | None:
    """An archive already on disk with the right MD5: under the root, or under data.local_dir."""
    for base in [src.root] + ([src.local_dir] if src.local_dir else []):
        path = Path(base) / archive.path
        if path.is_file() and md5sum(path) == archive.md5:
            return path
    return None


def fetch(name: str, src: Source, settings: Settings = Settings()) -> str:
    """Make ``name``'s raw files usable under ``src``; returns where they came from.

    Usable means torchvision reads both splits (its own file and checksum checks, plus the IDX
    header checks): a half-unpacked folder or a damaged file is fetched again.
    """
    spec = get_spec(name)
    if spec.torchvision is None:
        return "no download needed"
    try:
        spec.load(src)
        return "already present"
    except DatasetUnavailable as exc:
        reason = str(exc).splitlines()[0]
    if name == "fashion_mnist" and _copy_debian_fashion_mnist(src):
        how = f"copied from {src.debian_dir}"
    else:
        got = []
        for archive in archives(name):
            found = _present(archive, src)
            if found is not None and found != src.root / archive.path:
                atomic_write(src.root / archive.path, lambda tmp, found=found: shutil.copyfile(found, tmp))
            if found is None:
                try:
                    got.append(download(archive, src.root, settings))
                except DatasetUnavailable as exc:
                    paths = "\n".join(f"  {src.root / a.path}" for a in archives(name))
                    raise DatasetUnavailable(
                        f"dataset {name!r} is not here ({reason}) and {exc}\n"
                        f"Its archives are:\n{paths}\n"
                        "A mirror (config key data.mirrors, a URL or file:// folder holding these paths) "
                        "is tried before torchvision's URLs. " + OFFLINE_HINT.format(root=src.root)
                    ) from None
            unpack(archive, src.root)
        hosts = sorted({url.rsplit("/", 1)[0] + "/" for url in got})
        how = f"downloaded {len(got)} file(s) from {', '.join(hosts)}" if got else "unpacked from archives already present"
    try:
        spec.load(src)
    except DatasetUnavailable as exc:
        raise DatasetUnavailable(f"{name}: the files {how} cannot be read: {exc}") from None
    return how
