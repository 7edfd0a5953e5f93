#!/usr/bin/env bash
# BatchNorm+ReLU forward+backward: our fused kernels, cuDNN and the unfused reference
# (bench/bench_bn_relu.cu), then PyTorch's channels-last BatchNorm+ReLU (torch_bn_cl.py from
# the anchors) in the same call, so both sets of numbers come from the same card on the same day.
#
# Usage, from the repository root with the build in build/ (or $BUILD_DIR):
#   tools/bench-bn.sh OUTDIR
# Writes OUTDIR/bench_bn_relu.json (Google Benchmark JSON), OUTDIR/bench_bn_relu.txt (console
# table and the 151-layer summary) and, when python3 with a CUDA-enabled torch is present,
# OUTDIR/torch_bn_cl.txt. The anchors folder is $ALZ_ANCHORS, else ../shared/anchors, else
# shared/anchors inside the repository. Exit status: the benchmark's.
set -uo pipefail
out=${1:?usage: tools/bench-bn.sh OUTDIR}
mkdir -p "$out"
build_dir=${BUILD_DIR:-build}
program="$build_dir/bench/bench_bn_relu"
if [ ! -x "$program" ]; then
  echo "bench-bn: $program not found; build it first: cmake --build $build_dir --target bench_bn_relu" >&2
  exit 1
fi

"$program" --benchmark_out="$out/bench_bn_relu.json" --benchmark_out_format=json \
  --benchmark_counters_tabular=true 2>&1 | tee "$out/bench_bn_relu.txt"
rc=${PIPESTATUS[0]}

anchors=""
for candidate in "${ALZ_ANCHORS:-}" ../shared/anchors shared/anchors; do
  if [ -n "$candidate" ] && [ -f "$candidate/torch_bn_cl.py" ]; then
    anchors=$candidate
    break
  fi
done
if [ -z "$anchors" ]; then
  echo "bench-bn: torch_bn_cl.py not found (set ALZ_ANCHORS to the anchors folder); PyTorch anchor skipped"
elif ! command -v python3 > /dev/null; then
  echo "bench-bn: python3 not found; PyTorch anchor skipped"
elif ! python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2> /dev/null; then
  echo "bench-bn: PyTorch with CUDA not available; PyTorch anchor skipped"
else
  echo "bench-bn: PyTorch anchor from $anchors/torch_bn_cl.py"
  PYTHONUNBUFFERED=1 python3 "$anchors/torch_bn_cl.py" 2>&1 | tee "$out/torch_bn_cl.txt"
fi
exit "$rc"
