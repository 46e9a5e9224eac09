"""Running the Snakemake pipeline from tests: the CLI as a user runs it, in a temp directory."""

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / ".test" / "config" / "config.yaml"


def snakemake(*args, cwd=REPO, timeout=900, popen=False, log=None, snakefile=REPO / "Snakefile", **popen_kw):
    """Run snakemake with this venv first on PATH (rules call `python`, `papermill`, `jupyter`).

    With ``popen=True`` return the running process, its output going to ``log``.
    """
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    cmd = [sys.executable, "-m", "snakemake", "-s", str(snakefile), *map(str, args)]
    if popen:
        out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 (closed with the process)
        return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, **popen_kw)
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def tiny_config(path: Path, **changes) -> Path:
    """The tiny config with top-level keys replaced (nested dicts merged one level)."""
    cfg = yaml.safe_load(TINY.read_text())
    for k, v in changes.items():
        cfg[k] = {**cfg[k], **v} if isinstance(v, dict) and isinstance(cfg.get(k), dict) else v
    path.write_text(yaml.safe_dump(cfg))
    return path


def run_ok(*args, **kw):
    r = snakemake(*args, **kw)
    assert r.returncode == 0, (r.stdout + r.stderr)[-6000:]
    return r


def stage(module: str, *args, check: bool = True) -> subprocess.CompletedProcess:
    """Run one library stage (python -m noisefa.stages.<module>) as a rule would."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "workflow")}
    cmd = [sys.executable, "-m", f"noisefa.stages.{module}", *map(str, args)]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def tiny_noise_set(out: Path) -> Path:
    """A fixed 256-sample Gaussian noise set of 64-pixel inputs and 10 classes (the stage tests' set)."""
    spec = {"name": "n", "noise": {"distribution": "gaussian", "mean": 0, "std": 1, "protocol": "fixed", "n_samples": 256,
            "seed": 0}, "dim": 64, "n_classes": 10}  # fmt: skip
    stage("make_noise", "--spec", json.dumps(spec), "--out", out)
    return out
