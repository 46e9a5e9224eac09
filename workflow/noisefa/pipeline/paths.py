"""Every path the pipeline reads or writes, in one place (rules, stages and tests use these).

Patterns hold Snakemake wildcards; ``format`` them for concrete files.
Downloads live under resources/ (kept across `rm -rf results`), everything the
pipeline computes under results/.
"""

JOB_FILES = ("checkpoint.pt", "metrics.parquet", "details.parquet", "trajectory.pt")  # a training job's outputs


def job_files(directory: str) -> tuple[str, ...]:
    """A training or pretraining job's files in ``directory``, in JOB_FILES order."""
    return tuple(f"{directory}/{name}" for name in JOB_FILES)


FETCHED = "resources/fetched/{dataset}.ok"
# Every dataset of the config fetched: the `download` target; the first jobs of every branch wait for it.
DOWNLOADED = "resources/fetched/all-datasets.ok"
TORCHVISION_ROOT = "resources/torchvision"
DATA = "results/data/{dataset}.pt"
NOISE = "results/noise/{noise}/in{dim}_c{classes}.pt"
# {arch}: bn, nobn or cnn (experiments.arch): the same noise set pretrains networks of each architecture
PRETRAIN_DIR = "results/pretrain/{noise}/in{dim}_c{classes}/{arch}/depth{depth}/seeds{seeds}"
PRETRAIN_CHECKPOINT, PRETRAIN_METRICS, PRETRAIN_DETAILS, PRETRAIN_TRAJECTORY = job_files(PRETRAIN_DIR)
TRAIN_DIR = "results/train/{experiment}/{dataset}/depth{depth}/{condition}/seeds{seeds}"
TRAIN_CHECKPOINT, TRAIN_METRICS, TRAIN_DETAILS, TRAIN_TRAJECTORY = job_files(TRAIN_DIR)
# The order control of Fig. 2f,g: noise training after data training (from a train checkpoint).
DATA_NOISE_DIR = "results/data_then_noise/{experiment}/{dataset}/depth{depth}/{condition}/seeds{seeds}"
DATA_NOISE_CHECKPOINT, DATA_NOISE_METRICS, DATA_NOISE_DETAILS, DATA_NOISE_TRAJECTORY = job_files(DATA_NOISE_DIR)
OOD = "results/ood/{experiment}/{dataset}/depth{depth}/{condition}/seeds{seeds}.parquet"
META_DIR = "results/meta/{noise}/in{dim}_c{classes}/{arch}/depth{depth}/seeds{seeds}"
META = META_DIR + "/metrics.parquet"
META_TRAJECTORY = META_DIR + "/trajectory.pt"
METRICS = "results/tables/metrics.parquet"
METRICS_CSV = "results/tables/metrics.csv"
SUMMARY = "results/tables/summary.csv"
PRETRAIN_TABLE = "results/tables/pretrain.parquet"  # every pretraining job once (Fig. 1 sweep included)
DETAILS = "results/tables/details.parquet"  # per-neuron / per-probe / spectra rows of every job
OOD_TABLE = "results/tables/ood.parquet"
META_TABLE = "results/tables/meta.parquet"
TABLE1 = "results/tables/table1.{ext}"  # csv, md, tex
CLAIMS = "results/tables/claims.csv"
PROTOCOLS_TABLE = "results/tables/protocols.csv"  # the protocol study: claims under every protocol
MECHANISM = "results/tables/mechanism.csv"  # the controls: which one reproduces each downstream effect
MECHANISM_MD = "results/tables/mechanism.md"
DOSE_RESPONSE = "results/tables/dose_response.csv"  # fa_aligned at fixed angles, FA w/ on the same axis
# The CNN experiment (issue 24): its own claims, verdicts, mechanism, summary and metrics (noisefa.analysis.family_study)
CNN_CLAIMS = "results/tables/cnn_claims.csv"
CNN_VERDICT = "results/tables/cnn_verdict.csv"
CNN_MECHANISM = "results/tables/cnn_mechanism.csv"
CNN_MD = "results/tables/cnn.md"
CNN_METRICS = "results/tables/cnn_metrics.parquet"
CNN_SUMMARY = "results/tables/cnn_summary.csv"
CNN_DETAILS = "results/tables/cnn_details.parquet"
COMPARE = "results/tables/compare.csv"  # `snakemake compare`: the run against its reference
VERDICT = "results/tables/verdict.{ext}"  # csv, md: one verdict per claim
FIGURE = "results/figures/{figure}.png"
NOTEBOOK = "results/reports/{report}.ipynb"
NOTEBOOK_HTML = "results/reports/{report}.html"
LOGS = "results/logs"
BENCHMARKS = "results/benchmarks"


def log(rule: str, pattern: str = "") -> str:
    return f"{LOGS}/{rule}/{pattern}.log" if pattern else f"{LOGS}/{rule}.log"


def benchmark(rule: str, pattern: str = "") -> str:
    return f"{BENCHMARKS}/{rule}/{pattern}.tsv" if pattern else f"{BENCHMARKS}/{rule}.tsv"


JOB_DIRS = {"train": TRAIN_DIR, "pretrain": PRETRAIN_DIR}


def job_benchmark(rule: str) -> str:
    """The benchmark file of a (pre)training job: its output folder's wildcards under results/benchmarks/<rule>/."""
    return benchmark(rule, JOB_DIRS[rule].removeprefix(f"results/{rule}/"))
