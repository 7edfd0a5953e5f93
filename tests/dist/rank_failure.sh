#!/usr/bin/env bash
# A rank that fails must end every rank, not leave them waiting in a collective: under
# `mpirun -np 2`, rank 0 alone cannot write the run folder's config.json (a folder stands in
# its place) while rank 1 goes on to wait for rank 0; the job must end within the time limit,
# non-zero, with the failing rank's message. A run without the obstacle must succeed and leave
# the files one process would (rank 0 writes them: checkpoints, best_predictions.json,
# run_info.json, report.html). A second run into that folder without --overwrite must stop
# every rank with rank 0's message and leave the run as it was.
# Run by ctest (tests/CMakeLists.txt): ctest --test-dir build -R Dist.RankFailure
# Usage: rank_failure.sh MPIEXEC ALZ TMPDIR
set -u
mpiexec=$1 alz=$2 tmp=$3/dist_rank_failure
rm -rf "$tmp" && mkdir -p "$tmp"
"$alz" synth --out "$tmp/data" --per-class 6 --size 48x40 --seed 3 > /dev/null || exit 1
run=(timeout 120 "$mpiexec" --allow-run-as-root --oversubscribe -np 2 -x OMP_NUM_THREADS=1
     "$alz" train --device cpu --model resnetv2-tiny --input-size 32 --epochs 1 --batch 4 --workers 1
     --data "$tmp/data")

mkdir -p "$tmp/blocked/config.json"  # rank 0's first write fails
start=$(date +%s)
"${run[@]}" --run-dir "$tmp/blocked" > "$tmp/blocked.log" 2>&1
code=$?
seconds=$(( $(date +%s) - start ))
cat "$tmp/blocked.log"
if [ "$code" -eq 0 ] || [ "$code" -eq 124 ]; then
  echo "FAIL: exit code $code after ${seconds}s (0: the failure went unnoticed; 124: the ranks hung)"
  exit 1
fi
grep -q "rank 0 of 2 (local 0): .*config.json.*stopping every rank" "$tmp/blocked.log" ||
  { echo "FAIL: no message from the failing rank"; exit 1; }

"${run[@]}" --run-dir "$tmp/fine" > "$tmp/fine.log" 2>&1 || { cat "$tmp/fine.log"; echo "FAIL: the plain run"; exit 1; }
for file in best.safetensors last.safetensors state.json best_predictions.json run_info.json report.html metrics.jsonl; do
  [ -s "$tmp/fine/$file" ] || { echo "FAIL: the two-rank run left no $file"; exit 1; }
done
before=$(md5sum "$tmp/fine/state.json" "$tmp/fine/metrics.jsonl")
"${run[@]}" --run-dir "$tmp/fine" > "$tmp/again.log" 2>&1
again=$?
cat "$tmp/again.log"
if [ "$again" -eq 0 ] || [ "$again" -eq 124 ]; then
  echo "FAIL: a second run into a run folder exited $again (0: it overwrote the run; 124: the ranks hung)"
  exit 1
fi
grep -q "already holds a training run" "$tmp/again.log" || { echo "FAIL: no run-folder message"; exit 1; }
[ "$before" = "$(md5sum "$tmp/fine/state.json" "$tmp/fine/metrics.jsonl")" ] ||
  { echo "FAIL: the refused run changed the folder"; exit 1; }
echo "PASS: the failing rank ended the job in ${seconds}s with exit code $code; the run folder guard holds under mpirun"
