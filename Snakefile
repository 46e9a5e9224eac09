# Reproduction of Cheon, Lee & Paik (NeurIPS 2024): random-noise pretraining for feedback alignment.
#   snakemake --cores all                                  # the paper (config/config.yaml)
#   snakemake --cores 2 --configfile config/quick.yaml     # offline, minutes
# The DAG, config keys and outputs are described in README.md.
import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")


# The paper's config, unless --configfile names another: configs are complete on their own and
# are never merged into the paper's (a quick run must not inherit the paper's noise sets).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


# The library lives in workflow/noisefa; jobs import it from there (see PY in common.smk).
LIB_DIR = Path(workflow.basedir) / "workflow"
sys.path.insert(0, str(LIB_DIR))


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/noise.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/ood.smk"
include: "workflow/rules/meta.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/compare.smk"


rule all:
    input:
        all_targets(),
    default_target: True
