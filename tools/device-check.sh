#!/usr/bin/env bash
# Everything that needs a GPU, in one call, on a machine with an NVIDIA GPU:
#   1. configure and build there (CUDA for the GPU found, header-only dependencies from
#      .deps/include, which tools/vendor-headers.sh fills on a machine that has them),
#   2. the whole test suite including the `gpu` tests,
#   3. the `gpu` tests once more under compute-sanitizer --tool memcheck,
#   4. the benchmarks that exist, with PyTorch's BatchNorm+ReLU anchor beside ours when
#      PyTorch is installed (ALZ_ANCHORS: folder of the anchor scripts),
#   5. a summary (summary.txt) with the line to add to tests/GPU_RUNS.md.
# Usage: bash tools/device-check.sh OUTDIR      (ALZ_COMMIT names the commit if .git is absent)
# Bring .deps/ along with the tree (it is git-ignored): bash tools/vendor-headers.sh first.
set -uo pipefail
out=${1:?usage: tools/device-check.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build-device}
jobs=$(nproc)
start=$(date +%s)
summary="$out/summary.txt"
: > "$summary"
note() { echo "$*" | tee -a "$summary"; }

commit=${ALZ_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
card=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
note "date: $(date -u +%Y-%m-%d) commit: $commit card: ${card:-none}"
nvidia-smi > "$out/nvidia-smi.txt" 2>&1

# ---- 1. build
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d .)
if ! cmake -S . -B "$build_dir" -G Ninja -DALZ_CUDA=ON ${arch:+-DCMAKE_CUDA_ARCHITECTURES=$arch} \
     > "$out/build.log" 2>&1 || ! cmake --build "$build_dir" -j "$jobs" >> "$out/build.log" 2>&1; then
  note "build: FAILED (see build.log)"
  tail -40 "$out/build.log"
  exit 1
fi
note "build: ok in $(( $(date +%s) - start )) s"

# ---- 2. whole suite
ctest --test-dir "$build_dir" --output-on-failure -j 8 --timeout 300 > "$out/ctest.log" 2>&1
ctest_rc=$?
passed=$(grep -cE 'Test +#[0-9]+: .* Passed' "$out/ctest.log")
failed=$(grep -cE 'Test +#[0-9]+: .*(\*\*\*Failed|\*\*\*Exception|\*\*\*Timeout|Not Run)' "$out/ctest.log")
skipped=$(grep -cE 'Test +#[0-9]+: .* Skipped' "$out/ctest.log")
gpu_passed=$(ctest --test-dir "$build_dir" -N -L gpu | grep -c 'Test *#')
note "tests: $passed passed, $failed failed, $skipped skipped (rc $ctest_rc; $gpu_passed gpu tests)"
grep -E '\*\*\*Failed|\*\*\*Exception|\*\*\*Timeout' "$out/ctest.log" | head -20 | tee -a "$summary"

# ---- 3. memcheck on the gpu test programs
memcheck="PASS"
: > "$out/memcheck.log"
if command -v compute-sanitizer > /dev/null; then
  for program in "$build_dir"/tests/*_gpu; do
    [ -x "$program" ] || continue
    name=$(basename "$program")
    if ! timeout 240 compute-sanitizer --tool memcheck --error-exitcode 99 --print-limit 20 \
        "$program" --gtest_brief=1 >> "$out/memcheck.log" 2>&1; then
      memcheck="FAIL"
      echo "memcheck: $name FAILED" | tee -a "$summary"
    fi
  done
else
  memcheck="not run (compute-sanitizer missing)"
fi
note "memcheck: $memcheck"

# ---- 4. benchmarks (each bounded; JSON for the record, console for the log)
for program in "$build_dir"/bench/bench_*; do
  [ -x "$program" ] || continue
  name=$(basename "$program")
  case "$name" in *_cpu) continue ;; esac  # CPU benches are run on the CPU machine
  timeout 180 "$program" --benchmark_out="$out/$name.json" --benchmark_out_format=json \
    > "$out/$name.txt" 2>&1 || note "bench: $name exited with $?"
done
if [ -f tools/bench-bn.sh ]; then
  BUILD_DIR="$build_dir" timeout 240 bash tools/bench-bn.sh "$out" > "$out/bench-bn.log" 2>&1 || note "bench-bn: exited with $?"
fi

note "elapsed: $(( $(date +%s) - start )) s"
note "GPU_RUNS row: | $(date -u +%Y-%m-%d) | ${card:-none} | $commit | $passed passed, $failed failed, $skipped skipped | memcheck $memcheck |"
[ "$failed" -eq 0 ] && [ "$ctest_rc" -eq 0 ]
