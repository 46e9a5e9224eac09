#!/usr/bin/env bash
# The GPU check, one call (about 10 minutes of GPU time): the engine benchmark on CUDA in float32
# and bf16, then the main sweep of config/paper_offline.yaml (pretraining and BP / FA w/o / FA w/
# training at depths 2-5, 10 networks each) on CUDA, and the projected wall time of the whole
# paper (config/config.yaml) on that GPU. Everything it prints is also written to OUT.
#
#   bash workflow/scripts/gpu_check.sh [OUT]        # OUT defaults to $OUT, else results/gpu
#   DEVICE=cpu CONFIG=.test/config/config.yaml bash workflow/scripts/gpu_check.sh /tmp/x   # a dry run on CPU
#
# Needs torch (with CUDA), snakemake and the project's packages in the current Python, and the
# Fashion-MNIST files where config/paper_offline.yaml looks: Debian's dataset-fashion-mnist, or
# its four .gz files in resources/torchvision/FashionMNIST/raw (30 MB: carry them to a machine
# without the package). The sweep is cut at SWEEP_S seconds; the projection uses the jobs that
# finished.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-${OUT:-results/gpu}}
device=${DEVICE:-cuda}
config=${CONFIG:-config/paper_offline.yaml}
sweep_s=${SWEEP_S:-420}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD/workflow${PYTHONPATH:+:$PYTHONPATH}"
exec > >(tee "$out/gpu_check.log") 2>&1

python - "$device" <<'PY'
import sys, torch
from noisefa import precision
dev = sys.argv[1]
if dev == "cuda" and not torch.cuda.is_available():
    sys.exit("ERROR: torch sees no GPU (DEVICE=cpu for a dry run)")
print("torch", torch.__version__, "device", torch.cuda.get_device_name() if dev == "cuda" else "cpu",
      "native bf16:", precision.hardware_bf16(dev))
PY

echo "== 1. engine benchmark, float32 and bf16, on $device"
python -m noisefa.tools.bench --device "$device" --precisions float32 bf16 --phases data noise --depths 2 5 \
  --batches 128 --repeats "${BENCH_REPEATS:-3}" --steps "${BENCH_STEPS:-300}" --out "$out/bench.json"

echo "== 2. main sweep of $config on $device (at most $sweep_s s)"
results=$(mktemp -d)
ln -s "$PWD/resources" "$results/resources"  # downloads and carried data files stay where they are
mkdir -p resources
targets=$(python -m noisefa.pipeline.projection --configfile "$config" --targets)
start=$(date +%s)
# The targets first: --configfile, --config and --quiet each take every word after them.
# shellcheck disable=SC2086
timeout "$sweep_s" snakemake $targets --snakefile "$PWD/Snakefile" --directory "$results" --cores "${CORES:-8}" \
  --keep-going --quiet rules --configfile "$PWD/$config" --config device="$device" || echo "(the sweep stopped: limit or error; projecting from the jobs that finished)"
elapsed=$(( $(date +%s) - start ))
for f in $(find "$results/results/benchmarks" -name '*.tsv' 2>/dev/null); do echo "${f#"$results"/} $(tail -1 "$f" | cut -f1)"; done > "$out/sweep_seconds.txt"

echo "== 3. projection of config/config.yaml from the sweep ($elapsed s elapsed)"
python -m noisefa.pipeline.projection --configfile "$config" --root "$results" --project config/config.yaml --elapsed "$elapsed" \
  | tee "$out/projection.txt"
