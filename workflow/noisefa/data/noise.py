"""Random-noise inputs with random labels, the pretraining "dataset".

A noise spec (a dict from the config) names a distribution, its moments, a seed
and a protocol:

- ``fixed``: N samples and labels, the same every epoch (each network visits them in its own
  order). They are never stored: the set is ``ceil(N / NOISE_CHUNK)`` chunks, chunk k drawn from
  its own seeded generator, so any chunk can be regenerated bit-identically when it is needed
  (``FixedNoiseBatches``). The file holds the parameters only, a job holds a chunk or two per
  network, and a resumed job sees exactly the samples it would have seen;
- ``fresh``: new samples every batch from a per-network seeded stream; the file
  holds only the parameters.

Labels are uniform on {0..C-1} and independent of the inputs. A new
distribution is one entry in ``DISTRIBUTIONS``.

Distributions (every one has per-pixel mean ``mean`` and standard deviation ``std``):

- ``gaussian``: iid N(mean, std^2) pixels;
- ``uniform``: iid U(mean - std*sqrt(3), mean + std*sqrt(3)) pixels (matched moments);
- ``pink``: 1/f noise, spatially correlated: white Gaussian noise filtered in the 2-D
  Fourier domain with amplitude |f|^-alpha (``PINK_ALPHA`` = 1, the amplitude spectrum of
  natural images, i.e. power ~ 1/f^2); the DC term is set to 0, so every image channel's
  spatial mean is exactly ``mean`` (a 1/f amplitude has no finite value at f = 0);
- ``blob``: smoothed white noise, blobs resembling spontaneous retinal waves: white
  Gaussian noise convolved with a Gaussian kernel of ``BLOB_SIGMA`` = 2.5 pixels.
  Smoothed Gaussian noise rather than sparse random blobs: its pixels stay Gaussian with
  the requested mean and std, so spatial correlation is the only thing that differs from
  ``gaussian`` (sparse blobs would change the marginal too and need a density parameter).

The two spatial ones need the image shape, inferred from ``dim`` by ``image_shape``
(square images, 1 or 3 channels). Samples are laid out as the datasets' inputs are:
``x.flatten(1)`` of an (N, C, H, W) tensor (``datasets.prepare``), channels independent.
Both filters are circular (periodic boundary), so every pixel has the same marginal, and
the output is standardised analytically: divided by the filter's exact per-pixel std
(Parseval: sqrt(mean |A(f)|^2) over the frequency grid), then ``mean`` added. Each pixel is
then exactly N(mean, std^2) over draws, independent of how many samples are drawn at once
(a fixed set and a fresh batch have the same distribution); per-image or per-batch
standardisation would instead depend on the image or on the batch size.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..seeds import derive_seed, generator

# (n, dim, mean, std, torch.Generator) -> float32 tensor (n, dim)
Sampler = Callable[[int, int, float, float, torch.Generator], torch.Tensor]


def _gaussian(n, dim, mean, std, gen):
    return torch.randn(n, dim, generator=gen) * std + mean


def _uniform(n, dim, mean, std, gen):
    # U(mean - a, mean + a) has std a / sqrt(3): matched first two moments.
    half_width = std * math.sqrt(3.0)
    return (torch.rand(n, dim, generator=gen) * 2 - 1) * half_width + mean


PINK_ALPHA = 1.0  # amplitude ~ 1/|f|^alpha (power ~ 1/|f|^(2 alpha)); 1 = natural images
BLOB_SIGMA = 2.5  # width (std, in pixels) of the Gaussian kernel that smooths blob noise
_CHUNK = 4096  # images filtered at once (bounds the FFT's extra memory)


def image_shape(dim: int) -> tuple[int, int, int]:
    """(C, H, W) of a flattened square image: dim = s*s -> (1, s, s), dim = 3*s*s -> (3, s, s).

    The flattening order is the datasets' (``x.flatten(1)`` of (N, C, H, W)): channel-major,
    then rows. No dim is both (3 s^2 is never a square).
    """
    dim = int(dim)
    for c in (1, 3):
        if dim > 0 and dim % c == 0:
            s = math.isqrt(dim // c)
            if s * s == dim // c:
                return c, s, s
    raise ValueError(
        f"input dim {dim} is not a square image (s*s or 3*s*s pixels): spatial noise distributions "
        "(pink, blob) need a square image shape"
    )


def _frequency_radius(h: int, w: int) -> torch.Tensor:
    """|f| in cycles per pixel on the full (h, w) FFT grid, float64."""
    fy = torch.fft.fftfreq(h, dtype=torch.float64).view(h, 1)
    fx = torch.fft.fftfreq(w, dtype=torch.float64).view(1, w)
    return torch.sqrt(fy**2 + fx**2)


def pink_amplitude(h: int, w: int, alpha: float = PINK_ALPHA) -> torch.Tensor:
    """1/|f|^alpha on the full FFT grid, the DC term set to 0."""
    f = _frequency_radius(h, w)
    amp = f.clamp_min(1e-300) ** -alpha
    amp[0, 0] = 0.0
    return amp


def blob_amplitude(h: int, w: int, sigma: float = BLOB_SIGMA) -> torch.Tensor:
    """Transfer function of a Gaussian kernel of std ``sigma`` pixels: exp(-2 pi^2 sigma^2 |f|^2)."""
    f = _frequency_radius(h, w)
    return torch.exp(-2 * math.pi**2 * sigma**2 * f**2)


def filtered_noise(n: int, dim: int, mean: float, std: float, gen: torch.Generator, amplitude: torch.Tensor):
    """White Gaussian noise of ``n`` flattened images filtered by ``amplitude`` (full (H, W) grid,
    real and even), circularly, each channel independently; scaled so that every pixel is N(mean, std^2)."""
    c, h, w = image_shape(dim)
    amp = amplitude.double()
    if amp.shape != (h, w):
        raise ValueError(f"amplitude of shape {tuple(amp.shape)} for images of {h}x{w}")
    pixel_std = amp.pow(2).mean().sqrt().item()  # Parseval: the filtered white noise's per-pixel std
    if pixel_std <= 0:
        raise ValueError("the noise filter passes nothing")
    half = (amp[:, : w // 2 + 1] * (std / pixel_std)).float()  # rfft2 half-plane of the even filter
    x = torch.randn(n, c, h, w, generator=gen)  # drawn at once: the stream does not depend on _CHUNK
    for i in range(0, n, _CHUNK):
        part = x[i : i + _CHUNK]
        part.copy_(torch.fft.irfft2(torch.fft.rfft2(part) * half, s=(h, w)))
    return x.add_(mean).view(n, dim)


def _pink(n, dim, mean, std, gen, alpha: float = PINK_ALPHA):
    _, h, w = image_shape(dim)
    return filtered_noise(n, dim, mean, std, gen, pink_amplitude(h, w, alpha))


def _blob(n, dim, mean, std, gen, sigma: float = BLOB_SIGMA):
    _, h, w = image_shape(dim)
    return filtered_noise(n, dim, mean, std, gen, blob_amplitude(h, w, sigma))


DISTRIBUTIONS: dict[str, Sampler] = {
    "gaussian": _gaussian,
    "uniform": _uniform,
    "pink": _pink,
    "blob": _blob,
}
PROTOCOLS = ("fixed", "fresh")


def validate_spec(spec: dict) -> None:
    if spec["distribution"] not in DISTRIBUTIONS:
        raise ValueError(f"unknown noise distribution {spec['distribution']!r}; known: {sorted(DISTRIBUTIONS)}")
    if spec["protocol"] not in PROTOCOLS:
        raise ValueError(f"unknown noise protocol {spec['protocol']!r}; known: {list(PROTOCOLS)}")
    if spec["std"] <= 0:
        raise ValueError(f"noise std must be > 0, got {spec['std']}")


def sample(spec: dict, n: int, dim: int, n_classes: int, gen: torch.Generator):
    x = DISTRIBUTIONS[spec["distribution"]](n, dim, float(spec["mean"]), float(spec["std"]), gen)
    y = torch.randint(0, n_classes, (n,), generator=gen)
    return x.float(), y


NOISE_CHUNK = 256  # samples per regenerated chunk of a fixed set (part of what defines its samples)
# A set up to this size is drawn once per job and held (the same samples, in the same order, as
# chunk by chunk: regenerating costs ~2.5 ms per step of 5 networks at 784 inputs, +50 %); a larger
# one (STL-10's 60k x 27,648 is 6.6 GB) is regenerated chunk by chunk.
NOISE_HOLD_MB = 1024


def make_noise_dataset(spec: dict, name: str, dim: int, n_classes: int) -> dict:
    """The content of a noise file: the parameters that define the set (its samples are drawn from
    them when needed: ``noise_chunk``)."""
    validate_spec(spec)
    # fail here, not at the first batch, if the distribution cannot draw inputs of this dim
    DISTRIBUTIONS[spec["distribution"]](1, int(dim), 0.0, 1.0, torch.Generator().manual_seed(0))
    payload = {"name": name, "spec": dict(spec), "dim": int(dim), "n_classes": int(n_classes)}
    if spec["protocol"] == "fixed":
        payload["n_samples"], payload["chunk"] = int(spec["n_samples"]), NOISE_CHUNK
    return payload


def n_chunks(noise: dict) -> int:
    return math.ceil(noise["n_samples"] / noise["chunk"])


def noise_chunk(noise: dict, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples ``k * chunk`` to ``(k + 1) * chunk - 1`` of a fixed set and their labels, from the
    chunk's own generator: the same on every call, in every job."""
    lo = k * noise["chunk"]
    n = min(noise["chunk"], noise["n_samples"] - lo)
    if k < 0 or n <= 0:
        raise IndexError(f"noise set {noise['name']} has {n_chunks(noise)} chunks; asked for chunk {k}")
    gen = generator("noise-set", noise["name"], noise["spec"]["seed"], noise["dim"], noise["n_classes"], "chunk", k)
    return sample(noise["spec"], n, noise["dim"], noise["n_classes"], gen)


def held_mb(noise: dict) -> float:
    """Memory of a fixed set held whole (float32 inputs)."""
    return noise["n_samples"] * noise["dim"] * 4 / 2**20


def fixed_set(noise: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole fixed set in memory: every chunk, in order, written into one tensor (one copy)."""
    n, c = noise["n_samples"], noise["chunk"]
    x, y = torch.empty(n, noise["dim"]), torch.empty(n, dtype=torch.int64)
    for k in range(n_chunks(noise)):
        x[k * c : (k + 1) * c], y[k * c : (k + 1) * c] = noise_chunk(noise, k)
    return x, y


class FixedNoiseBatches:
    """Minibatches of a fixed noise set, regenerated chunk by chunk; network m visits every sample
    once per epoch in its own order: the chunks in a random order, and the samples of each chunk
    in a random order (the samples are iid, so which ones share a batch carries no structure).
    Holds at most the chunks of one batch per network, or, for a set of at most ``hold_mb``, the
    whole set, drawn once from the same chunks: the batches are the same either way."""

    def __init__(self, noise: dict, seeds: list[int], batch_size: int, key: tuple, device="cpu", hold_mb=NOISE_HOLD_MB):
        self.noise, self.batch_size, self.device = noise, batch_size, device
        self.held = fixed_set(noise) if held_mb(noise) <= hold_mb else None
        self.gens = [torch.Generator().manual_seed(derive_seed("noise-order", *key, s)) for s in seeds]
        self.steps_per_epoch = math.ceil(noise["n_samples"] / batch_size)
        self.pos, self.orders = 0, None
        self._cache: list[dict[int, tuple[torch.Tensor, torch.Tensor]]] = [{} for _ in seeds]

    def _epoch_order(self, gen: torch.Generator) -> torch.Tensor:
        c, n = self.noise["chunk"], self.noise["n_samples"]
        parts = []
        for k in torch.randperm(n_chunks(self.noise), generator=gen).tolist():
            size = min(c, n - k * c)
            parts.append(torch.randperm(size, generator=gen) + k * c)
        return torch.cat(parts)

    def _gather(self, m: int, idx: torch.Tensor):
        if self.held is not None:
            return self.held[0].index_select(0, idx), self.held[1].index_select(0, idx)
        c = self.noise["chunk"]
        needed = list(dict.fromkeys((idx // c).tolist()))
        cache = self._cache[m]
        for k in [k for k in cache if k not in needed]:
            del cache[k]
        for k in needed:
            if k not in cache:
                cache[k] = noise_chunk(self.noise, k)
        x = torch.cat([cache[k][0] for k in needed])
        y = torch.cat([cache[k][1] for k in needed])
        starts = torch.zeros(n_chunks(self.noise), dtype=torch.long)  # where each needed chunk starts in x
        starts[torch.tensor(needed)] = torch.tensor([0] + [len(cache[k][1]) for k in needed[:-1]]).cumsum(0)
        local = idx % c + starts[idx // c]
        return x.index_select(0, local), y.index_select(0, local)

    def next(self):
        if self.pos == 0:
            self.orders = torch.stack([self._epoch_order(g) for g in self.gens])
        idx = self.orders[:, self.pos * self.batch_size : (self.pos + 1) * self.batch_size]
        self.pos = (self.pos + 1) % self.steps_per_epoch
        xs, ys = zip(*(self._gather(m, idx[m]) for m in range(len(self.gens))))
        return torch.stack(xs).to(self.device), torch.stack(ys).to(self.device)

    def calibration_batch(self) -> torch.Tensor:
        """The set's first ``batch_size`` samples, shared by every network (no order is consumed)."""
        if self.held is not None:
            return self.held[0][: self.batch_size].to(self.device)
        ks = range(min(n_chunks(self.noise), math.ceil(self.batch_size / self.noise["chunk"])))
        return torch.cat([noise_chunk(self.noise, k)[0] for k in ks])[: self.batch_size].to(self.device)

    def state_dict(self) -> dict:
        return {"gens": [g.get_state() for g in self.gens], "pos": self.pos, "orders": self.orders}

    def load_state_dict(self, state: dict) -> None:
        for g, st in zip(self.gens, state["gens"]):
            g.set_state(st)
        self.pos, self.orders = state["pos"], state["orders"]


class FreshNoiseStream:
    """Fresh noise for every batch; network m draws from its own seeded stream."""

    def __init__(self, noise: dict, network_seeds: list[int], batch_size: int, device):
        self.spec, self.dim, self.n_classes = noise["spec"], noise["dim"], noise["n_classes"]
        self.batch_size, self.device = batch_size, device
        self.gens = [
            torch.Generator().manual_seed(derive_seed("noise-stream", noise["name"], self.spec["seed"], s)) for s in network_seeds
        ]
        self._calibration_keys = [("bn-estimate", noise["name"], self.spec["seed"], s) for s in network_seeds]

    def calibration_batch(self) -> torch.Tensor:
        """One batch of this phase's inputs for BatchNorm's starting statistics, from its own
        seeded draw (the training stream is not advanced): (models, batch, dim)."""
        xs = [sample(self.spec, self.batch_size, self.dim, self.n_classes, generator(*k))[0] for k in self._calibration_keys]
        return torch.stack(xs).to(self.device)

    def next(self):
        xs, ys = zip(*(sample(self.spec, self.batch_size, self.dim, self.n_classes, g) for g in self.gens))
        return torch.stack(xs).to(self.device), torch.stack(ys).to(self.device)

    def state_dict(self) -> dict:
        return {"gens": [g.get_state() for g in self.gens]}

    def load_state_dict(self, state: dict) -> None:
        for g, st in zip(self.gens, state["gens"]):
            g.set_state(st)
