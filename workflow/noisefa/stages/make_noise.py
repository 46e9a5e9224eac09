"""Write a noise dataset file: generator parameters, and the samples of a fixed set."""

from __future__ import annotations

from ..cli import parser
from ..data.noise import make_noise_dataset
from ..files import save_torch


def main(argv=None):
    p = parser(__doc__, files="out")
    a = p.parse_args(argv)
    s = a.spec
    payload = make_noise_dataset(s["noise"], s["name"], s["dim"], s["n_classes"])
    save_torch(payload, a.out)
    n = payload.get("n_samples", "fresh")
    print(f"noise {s['name']}: {s['noise']} dim={s['dim']} classes={s['n_classes']} samples={n} -> {a.out}")


if __name__ == "__main__":
    main()
