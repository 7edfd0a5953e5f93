#!/usr/bin/env bash
# Runs every libFuzzer target (fuzz/) for a fixed time under AddressSanitizer and
# UndefinedBehaviorSanitizer, with the committed seeds, and writes one log per target plus a
# summary (exec counts, coverage, crashes) into OUTDIR. A crash input is kept as
# OUTDIR/<target>/crash-*; once fixed, copy it into fuzz/regressions/<target>/ so that the
# replay test (ctest -R Fuzz) keeps checking it.
#
#   bash tools/fuzz.sh OUTDIR [SECONDS_PER_TARGET=60] [TARGET...]
#   ALZ_FUZZ_PARALLEL=1 bash tools/fuzz.sh ...     # all targets at once (each gets a share of the cores)
#
# Builds with clang into build-fuzz/ (CPU only). The corpus a run grows stays in
# OUTDIR/<target>/corpus; fuzz/corpus/<target> holds the committed seeds only.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: tools/fuzz.sh OUTDIR [SECONDS] [TARGET...]}
seconds=${2:-60}
shift $(( $# >= 2 ? 2 : 1 ))
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=($(ls fuzz/*_fuzz.cpp | sed 's#fuzz/\(.*\)_fuzz.cpp#\1#'))
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)

CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DALZ_FUZZ=ON -DALZ_CUDA=OFF -DALZ_BUILD_BENCH=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo > "$out/configure.log"
cmake --build build-fuzz -j "$(nproc)" --target $(printf 'fuzz_%s ' "${targets[@]}") > "$out/build.log"

summary="$out/summary.txt"
: > "$summary"

# One target: libFuzzer for $seconds, then its line of the summary in $out/<target>/result.txt.
run_target() {
  local target=$1 log="$out/$1/fuzz.log" rc runs cov crashes
  mkdir -p "$out/$target/corpus"
  set +e
  (cd "$out/$target" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
     "$root/build-fuzz/fuzz/fuzz_$target" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=1024 \
     -timeout=10 -print_final_stats=1 corpus "$root/fuzz/corpus/$target" "$root/fuzz/regressions/$target" \
     > "$log" 2>&1)
  rc=$?
  set -e
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*$' || echo "?")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
  crashes=$(ls "$out/$target" | grep -cE '^(crash|leak|oom|timeout)-' || true)
  echo "$target: ${seconds}s, $runs executions, coverage $cov edges, exit $rc, $crashes crash/leak/oom/timeout inputs" \
    > "$out/$target/result.txt"
}

root=$(pwd)
if [ "${ALZ_FUZZ_PARALLEL:-0}" = 1 ]; then   # every target at once: the wall time of one
  for target in "${targets[@]}"; do run_target "$target" & done
  wait
else
  for target in "${targets[@]}"; do run_target "$target"; done
fi
status=0
for target in "${targets[@]}"; do
  tee -a "$summary" < "$out/$target/result.txt"
  grep -q ', exit 0, 0 crash' "$out/$target/result.txt" || status=1
done
exit $status
