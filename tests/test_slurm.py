"""The SLURM profiles on a real single-node SLURM cluster (Debian's slurm-wlm + munge) on localhost.

The fixture installs slurm-wlm and munge when missing (root only; otherwise the test is skipped
with the reason), starts munged, slurmctld and slurmd on private ports with everything in a
temporary directory, and stops exactly those processes afterwards, even when the test fails.
The node declares two fake GPUs (empty files as gres devices), so the GPU profile's requests can
be scheduled: one test runs the pretraining jobs with the SLURM profile as it is and checks they
went as one packed submission (a job group) on one GPU; the main test runs the tiny config
through sbatch with the SLURM profile plus the CPU-only layer (one cell per submission), checks
that the jobs really went through SLURM with the profiles' resources, and that the metrics (the
packed pretraining's included) equal a local run's. Deselect with ``-m "not slurm"``.
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from noisefa.pipeline.config import load as load_config
from noisefa.pipeline.plan import Plan
from noisefa.pipeline.resources import estimate

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "Snakefile"


def _tiny_without_figure_experiments() -> Path:
    """The tiny config minus Figures 1, 2 and 4e,f's own jobs: the main sweep's DAG is what is scheduled here."""
    cfg = yaml.safe_load((REPO / ".test" / "config" / "config.yaml").read_text())
    for key in ("figure1", "figure2", "generalisation", "ood", "meta", "rules", "protocols", "controls", "cnn"):
        cfg[key]["enabled"] = False
    path = Path(tempfile.mkdtemp(prefix="noisefa_slurm_")) / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


TINY = _tiny_without_figure_experiments()
PROFILES = REPO / "workflow" / "profiles"
METRICS = "results/tables/metrics.parquet"
PARTITION = "noisefa_test"  # not the default partition: jobs only land there if the profile passes it
# the tiny DAG's non-local submissions: the GPU profile packs the 2 pretraining stacks into one
# group job; the CPU layer submits each of the 6 cells alone (a group of one)
REMOTE_LOGS = {"rule_prepare_dataset": 1, "rule_make_noise": 1, "group_gpu_stacks_pretrain": 1, "group_gpu_cells_train": 6}
STATUS_INIT_S = 1  # seconds before the plugin first polls; it then adds 10 s per poll that finds nothing done
RUN_TIMEOUT = 300  # seconds; SIGKILL, because a hung snakemake ignores SIGTERM

pytestmark = pytest.mark.slurm


def _snakemake_env(**extra):
    """This venv first on PATH; nothing SLURM- or profile-related inherited from the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_", "SRUN_", "SNAKEMAKE_PROFILE"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def _snakemake(workdir, *args, env, log):
    cmd = [
        "timeout", "-s", "KILL", str(RUN_TIMEOUT),
        sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--directory", str(workdir),
        "--configfile", str(TINY), "--workflow-profile", str(PROFILES / "default"), *args, METRICS,
    ]  # fmt: skip
    with open(log, "w") as fh:
        r = subprocess.run(cmd, cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT)
    return r.returncode, Path(log).read_text()


# ---------------------------------------------------------------------------------------------
# A private single-node SLURM cluster
# ---------------------------------------------------------------------------------------------


def _ensure_installed():
    """Return None when slurm + munge are usable, else the reason to skip."""
    if os.geteuid() != 0:
        return f"needs root (uid is {os.geteuid()}): it installs slurm-wlm/munge and runs munged as munge, slurmd as root"
    needed = ["munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "srun"]
    if all(shutil.which(b, path="/usr/sbin:/usr/bin:/sbin:/bin") for b in needed):
        return None
    if not shutil.which("apt-get"):
        return "slurm-wlm/munge not installed and no apt-get to install them"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "slurm-wlm", "munge"]
    out = ""
    for cmd in (install, ["apt-get", "update", "-q"], install):
        try:
            r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        except subprocess.TimeoutExpired:
            return f"`{' '.join(cmd)}` timed out"
        out = r.stdout[-2000:] + r.stderr[-2000:]
        if cmd is install and r.returncode == 0:
            return None
    return f"apt-get install slurm-wlm munge failed:\n{out}"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, root: Path):
        self.root = root
        self.procs: dict[str, subprocess.Popen] = {}
        self.outs = []  # the daemons' console logs
        self.host = socket.gethostname().split(".")[0]
        self.conf = root / "slurm.conf"
        self.bin = root / "bin"
        self.env = _snakemake_env(SLURM_CONF=str(self.conf))

    def run(self, *cmd, check=True):
        return subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=30, check=check)

    def start(self):
        munge_dir = self.root / "munge"  # munged wants its socket directory traversable by all
        munge_dir.mkdir(mode=0o755)
        munge = pwd.getpwnam("munge")
        key = munge_dir / "munge.key"
        key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o600)
        for p in (munge_dir, key):
            os.chown(p, munge.pw_uid, munge.pw_gid)
        sock = munge_dir / "munge.sock"
        self._spawn(
            "munged",
            ["/usr/sbin/munged", "-F", f"--key-file={key}", f"--socket={sock}", f"--pid-file={munge_dir}/munged.pid",
             f"--log-file={munge_dir}/munged.log", f"--seed-file={munge_dir}/munged.seed"],
            user=munge.pw_uid, group=munge.pw_gid,
        )  # fmt: skip
        self._wait(lambda: sock.exists(), "munged socket")

        for d in ("state", "spool"):
            (self.root / d).mkdir()
        cpus = len(os.sched_getaffinity(0))  # what nproc says
        self.conf.write_text(
            f"""# single-node test cluster written by tests/test_slurm.py
ClusterName=noisefa-test
SlurmctldHost={self.host}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
AuthType=auth/munge
AuthInfo=socket={sock}
SlurmUser=root
SlurmdUser=root
StateSaveLocation={self.root}/state
SlurmdSpoolDir={self.root}/spool
SlurmctldPidFile={self.root}/slurmctld.pid
SlurmdPidFile={self.root}/slurmd.pid
SlurmctldLogFile={self.root}/slurmctld.log
SlurmdLogFile={self.root}/slurmd.log
# no systemd, no cgroups: plain process tracking, no task binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# no slurmdbd (sacct cannot work): finished jobs stay visible to squeue for 10 minutes
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MinJobAge=600
ReturnToService=2
# declared, not measured, resources: RealMemory covers the profiles' 8000 MB requests, and two
# fake GPUs (empty files, see gres.conf) let the GPU profile's `sbatch --gpus=1` be scheduled
SlurmdParameters=config_overrides
GresTypes=gpu
NodeName={self.host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=16000 Gres=gpu:2 State=UNKNOWN
PartitionName={PARTITION} Nodes={self.host} Default=NO MaxTime=INFINITE State=UP
"""
        )
        for i in range(2):
            (self.root / f"fakegpu{i}").touch()
        (self.root / "gres.conf").write_text(f"AutoDetect=off\nNodeName={self.host} Name=gpu File={self.root}/fakegpu[0-1]\n")
        # snakemake-executor-plugin-slurm-jobstep drops every SLURM_* variable (SLURM_CONF too)
        # before its `srun` inside a job; a cluster whose slurm.conf is not at the compiled-in
        # path needs srun told where it is.
        self.bin.mkdir()
        srun = self.bin / "srun"
        srun.write_text(f'#!/bin/sh\nSLURM_CONF={self.conf} exec {shutil.which("srun")} "$@"\n')
        srun.chmod(0o755)
        self.env["PATH"] = f"{self.bin}{os.pathsep}{self.env['PATH']}"

        self._spawn("slurmctld", ["/usr/sbin/slurmctld", "-D", "-f", str(self.conf)])
        self._spawn("slurmd", ["/usr/sbin/slurmd", "-D", "-f", str(self.conf), "-N", self.host])

        def idle():
            r = self.run("sinfo", "-h", "-p", PARTITION, "-o", "%T", check=False)
            return r.returncode == 0 and r.stdout.strip() == "idle"

        self._wait(idle, "the node to be idle in sinfo")

    def _spawn(self, name, cmd, **kw):
        log = open(self.root / f"{name}.out", "w")
        self.outs.append(log)
        self.procs[name] = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, **kw)

    def _wait(self, ok, what, timeout=60):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if ok():
                return
            for name, p in self.procs.items():
                if p.poll() is not None:
                    raise RuntimeError(f"{name} exited with {p.returncode}:\n{self.logs()}")
            time.sleep(0.5)
        raise RuntimeError(f"timed out waiting for {what}:\n{self.logs()}")

    def logs(self):
        files = sorted(self.root.glob("*.out")) + sorted(self.root.glob("*.log")) + [self.root / "munge/munged.log"]
        return "\n".join(f"== {f.name}\n{f.read_text()[-3000:]}" for f in files if f.exists())

    def stop(self):
        """Cancel this cluster's jobs, then stop exactly the daemons started here, in reverse order."""
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            r = self.run("squeue", "-h", "-o", "%i", "-t", "PD,R,CG", check=False)
            ids = r.stdout.split()
            if ids:
                self.run("scancel", *ids, check=False)
                end = time.monotonic() + 20
                while time.monotonic() < end and self.run("squeue", "-h", "-t", "PD,R,CG", check=False).stdout.strip():
                    time.sleep(0.5)
        for name in reversed(list(self.procs)):
            p = self.procs[name]
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=15)
        for log in self.outs:
            log.close()


@pytest.fixture(scope="module")
def cluster():
    reason = _ensure_installed()
    if reason:
        pytest.skip(reason)
    root = Path(tempfile.mkdtemp(prefix="noisefa-slurm-"))
    root.chmod(0o755)  # the munge user must reach its socket directory
    c = Cluster(root)
    try:
        c.start()
        yield c
    finally:
        c.stop()
        shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------


def _profile(name):
    from snakemake.profiles import ProfileConfigFileParser

    with open(PROFILES / name / "config.yaml") as fh:
        return ProfileConfigFileParser().parse(fh)


def test_profiles_parse_and_take_account_and_partition_from_the_environment(monkeypatch):
    for var in ("SLURM_ACCOUNT", "SLURM_PARTITION"):
        monkeypatch.delenv(var, raising=False)
    unset = _profile("slurm")
    assert unset["executor"] == "slurm"
    assert not [r for r in unset["default-resources"] if r.startswith(("slurm_account", "slurm_partition"))]
    monkeypatch.setenv("SLURM_ACCOUNT", "proj-42")
    monkeypatch.setenv("SLURM_PARTITION", "gpu")
    given = _profile("slurm")
    assert "slurm_account='proj-42'" in given["default-resources"]
    assert "slurm_partition='gpu'" in given["default-resources"]
    for rule in ("train", "pretrain"):
        assert f"{rule}:gpu=1" in given["set-resources"]
    default = _profile("default")
    assert default["rerun-triggers"] == ["mtime", "params", "input", "software-env", "code"]


def test_cpu_profile_differs_from_the_slurm_profile_only_in_gpus_and_walltime():
    def raw(name):
        return yaml.safe_load((PROFILES / name / "config.yaml").read_text())["set-resources"]

    gpu, cpu = raw("slurm"), raw("slurm-cpu")
    assert set(gpu) == set(cpu) == {"train", "pretrain"}
    for rule in gpu:
        assert gpu[rule]["gpu"] == 1 and cpu[rule]["gpu"] == 0
        same = {k: v for k, v in gpu[rule].items() if k not in {"gpu", "cpus_per_gpu"}}
        assert same == {k: v for k, v in cpu[rule].items() if k != "gpu"}, rule
        assert "mem_mb" not in gpu[rule] and "runtime" not in gpu[rule]  # the rule's derived requests apply


def _slurm_run(cluster, workdir, *args):
    """Snakemake through sbatch; returns {rule: [scontrol records of the jobs this run submitted]}."""

    def records():
        for line in cluster.run("scontrol", "-o", "show", "job").stdout.splitlines():
            rec = dict(tok.split("=", 1) for tok in line.split() if "=" in tok)
            if "JobId" in rec:  # not "No jobs in the system"
                yield rec

    before = {r["JobId"] for r in records()}
    rc, out = _snakemake(
        workdir,
        "--profile", str(PROFILES / "slurm"), *args,
        # test cluster: no accounting, so poll squeue (MinJobAge=600), and start polling early
        "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", str(STATUS_INIT_S),
        env={**cluster.env, "SLURM_PARTITION": PARTITION}, log=workdir.with_suffix(f".{len(before)}.log"),
    )  # fmt: skip
    jobs = {}
    for rec in records():
        if rec["JobId"] not in before:
            rule = rec["Comment"].removeprefix("rule_").split("_wildcards_")[0]
            jobs.setdefault(rule, []).append(rec)
    summary = "\n".join(
        f"{r['JobId']:>3} {r['Partition']} {r['JobState']:<9} {r['TimeLimit']:>8} mem={r['MinMemoryNode']:<6}"
        f" cpus={r['NumCPUs']} tres_per_job={r.get('TresPerJob', '-')} {r['Comment']}"
        for recs in jobs.values()
        for r in recs
    )
    print(f"\n{' '.join(args)}: rc {rc}\n{summary}")
    assert rc == 0, out[-6000:] + "\n" + cluster.logs()
    for recs in jobs.values():  # in the partition named by $SLURM_PARTITION, which is not the default
        assert {(r["Partition"], r["JobState"], r["WorkDir"]) for r in recs} == {(PARTITION, "COMPLETED", str(workdir))}
    return jobs


@pytest.fixture(scope="module")
def gpu_stage(cluster, tmp_path_factory):
    """The SLURM profile as it is (GPU requests), up to the pretraining jobs and the prepared data."""
    workdir = tmp_path_factory.mktemp("slurm") / "run"
    started = time.monotonic()
    jobs = _slurm_run(cluster, workdir, "--until", "pretrain", "prepare_dataset")
    print(f"GPU-profile stage: {time.monotonic() - started:.0f} s")
    return workdir, jobs


def test_gpu_profile_packs_the_pretraining_stacks_into_one_gpu_submission(gpu_stage):
    """The tiny DAG's two pretraining jobs: one sbatch job (group gpu_stacks) on one GPU, run one
    after the other, with their summed walltime and the larger of their derived memories."""
    workdir, jobs = gpu_stage
    assert {r: len(v) for r, v in jobs.items()} == {"make_noise": 1, "prepare_dataset": 1, "gpu_stacks_pretrain": 1}
    (r,) = jobs["gpu_stacks_pretrain"]  # sbatch --gpus=1 --cpus-per-gpu=<threads> --mem <max> -t <sum>
    cfg = load_config(TINY)
    members = [estimate(cfg, j) for j in Plan(cfg).jobs if j.rule == "pretrain"]
    assert len(members) == 2
    assert (r["TresPerJob"], r["CpusPerTres"], r["NumCPUs"]) == ("gres:gpu:1", "gres:gpu:1", "1"), r
    minutes = sum(e.runtime_min for e in members)
    assert (r["MinMemoryNode"], r["TimeLimit"]) == (f"{max(e.mem_mb for e in members)}M", f"00:{minutes:02d}:00"), r
    (log,) = (workdir / ".snakemake" / "slurm_logs").glob("group_gpu_stacks*/*.log")
    assert log.read_text().count("localrule pretrain:") == 2  # both stacks ran inside that one submission
    for r in jobs["make_noise"] + jobs["prepare_dataset"]:  # the profile's defaults, no GPU
        assert "TresPerJob" not in r and (r["MinMemoryNode"], r["TimeLimit"]) == ("4000M", "00:30:00"), r


def test_tiny_pipeline_through_sbatch_equals_a_local_run(gpu_stage, cluster, tmp_path):
    """Finish the GPU stage's run with the CPU-only layer; the metrics must equal a local run's."""
    workdir, _ = gpu_stage
    started = time.monotonic()
    jobs = _slurm_run(cluster, workdir, "--profile", str(PROFILES / "slurm-cpu"))
    slurm_s = time.monotonic() - started
    # the rest of the DAG's non-local jobs went through sbatch; local rules (aggregate, figures) did not
    assert {r: len(v) for r, v in jobs.items()} == {"gpu_cells_train": 6}
    # the CPU layer's resources reached sbatch: no GPU, `threads` (1) CPUs, each cell its memory and walltime
    cfg = load_config(TINY)
    derived = sorted(
        (f"{e.mem_mb}M", f"00:{e.runtime_min:02d}:00") for e in (estimate(cfg, j) for j in Plan(cfg).jobs if j.rule == "train")
    )
    assert sorted((r["MinMemoryNode"], r["TimeLimit"]) for r in jobs["gpu_cells_train"]) == derived
    for r in jobs["gpu_cells_train"]:
        assert "TresPerJob" not in r and r["NumCPUs"] == "1", r
    logs = workdir / ".snakemake" / "slurm_logs"  # kept for successful jobs too (profile)
    for name, n in REMOTE_LOGS.items():
        assert len(list((logs / name).rglob("*.log"))) == n, name
    assert "--executor slurm-jobstep" in next((logs / "group_gpu_cells_train").rglob("*.log")).read_text()

    rc, out = _snakemake(tmp_path / "local", "--cores", "2", env=_snakemake_env(), log=tmp_path / "local.log")
    assert rc == 0, out[-6000:]
    slurm, local = (pd.read_parquet(d / METRICS) for d in (workdir, tmp_path / "local"))
    pd.testing.assert_frame_equal(slurm, local)
    print(f"CPU-layer SLURM run {slurm_s:.0f} s, with the local run {time.monotonic() - started:.0f} s")
