#!/usr/bin/env bash
# Everything that needs a GPU, in one call, on a machine with an NVIDIA GPU:
#   1. build there (CUDA for the GPU found; header-only dependencies from .deps/include, which
#      tools/vendor-headers.sh fills on a machine that has the Debian packages), or take
#      programs built elsewhere with --prebuilt DIR (see tools/pack-prebuilt.sh),
#   2. every test program, the `gpu` ones included,
#   3. the GPU test programs once more under compute-sanitizer --tool memcheck,
#   4. the benchmarks, with PyTorch beside ours when it is installed (ALZ_ANCHORS: the folder of
#      the PyTorch anchor scripts): every mixed-precision target (stage targets: bf16, TF32 and
#      fp32 training, 208x176 Adam, inference and batch-1 latency, peak memory, alz beside
#      bench/torch_targets.py), the allocation trace of a step replayed through the allocator's
#      books (alloc_trace), bf16 against TF32 training on the phantoms (precision_runs),
#      `alz train` against the step benchmark (train_gap), then the whole training step of ResNet152V2 with its
#      op-by-op profile (bench_train_step, eager) and replayed as a CUDA graph, then the fused BatchNorm+ReLU benchmark (with its
#      tile-width sweep) beside PyTorch's,
#   5. the README's main command as tools/demo.sh runs it (`alz train --class-weights auto`:
#      ResNet152V2 at 224x224 on the phantom set, then `alz eval` of the best checkpoint),
#   6. an Nsight Compute summary of the four BatchNorm kernels on a large and a small bf16 shape,
#   7. memcheck, then `alz train` of ResNet152V2 on 6,400 phantoms for as many steps (up to 300)
#      as fit in about 100 s at the measured step time, the other benchmarks, the CPU tests,
#   8. summary.txt, whose last line is the row for tests/GPU_RUNS.md.
# Stages run in order of importance; once ALZ_DEVICE_BUDGET_S seconds (default 540) have passed,
# the remaining ones are skipped and the summary says so. ALZ_DEVICE_STAGES picks stages for a
# short rerun (default: all): any of tests, targets, alloc_trace, precision_runs, train_gap, dist, train_step,
# bn, demo, ncu, memcheck, train, benches, cpu_tests; ALZ_BN_FILTER narrows bench_bn_relu (a --benchmark_filter regex);
# ALZ_TARGET_CASES="name ..." and ALZ_TORCH_CASES="case ..." narrow the targets stage (ALZ_TORCH_COMPILE=0
# leaves torch.compile out).
# Usage: bash tools/device-check.sh OUTDIR [--prebuilt DIR]      (ALZ_COMMIT names the commit)
set -uo pipefail
out=${1:?usage: tools/device-check.sh OUTDIR [--prebuilt DIR]}
prebuilt=""
if [ "${2:-}" = "--prebuilt" ]; then prebuilt=${3:?--prebuilt needs a folder}; fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")/.."
root=$(pwd)
budget=${ALZ_DEVICE_BUDGET_S:-540}
start=$(date +%s)
summary="$out/summary.txt"
: > "$summary"
note() { echo "$*" | tee -a "$summary"; }
elapsed() { echo $(( $(date +%s) - start )); }
time_left() { [ "$(elapsed)" -lt "$budget" ] || { note "skipped (budget of ${budget}s spent): $1"; return 1; }; }
stages=" ${ALZ_DEVICE_STAGES:-tests targets alloc_trace precision_runs train_gap dist train_step bn demo ncu memcheck train benches cpu_tests} "
want() { case "$stages" in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
export ALZ_TEST_TMP=${ALZ_TEST_TMP:-/tmp/alz_device_tests}
export ALZ_ANCHORS=${ALZ_ANCHORS:-$root/../shared/anchors}

commit=${ALZ_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
card=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
note "date: $(date -u +%Y-%m-%d) commit: $commit card: ${card:-none}"
nvidia-smi > "$out/nvidia-smi.txt" 2>&1

# ---- 1. the programs
if [ -n "$prebuilt" ]; then
  [ -x "$prebuilt/alz" ] || { note "no programs in --prebuilt $prebuilt (expected $prebuilt/alz)"; exit 2; }
  bin=$(cd "$prebuilt" && pwd)
  export LD_LIBRARY_PATH="$bin/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  note "programs: prebuilt in $prebuilt"
else
  bin="$root/${BUILD_DIR:-build-device}"
  arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d .)
  cmake -S . -B "$bin" -G Ninja -DALZ_CUDA=ON ${arch:+-DCMAKE_CUDA_ARCHITECTURES=$arch} > "$out/build.log" 2>&1 &&
    cmake --build "$bin" -j "$(nproc)" -k 0 >> "$out/build.log" 2>&1
  note "build: rc $? in $(elapsed) s"
fi

# ---- 2. every test program (GPU ones first), each in the tests folder
passed=0; failed=0; skipped=0; failed_names=""
run_tests() {
  for program in "$@"; do
    [ -x "$program" ] || continue
    name=$(basename "$program")
    log="$out/tests/$name.log"
    (cd tests && timeout 90 "$program" --gtest_brief=0 > "$log" 2>&1)
    rc=$?
    p=$(grep -c '^\[       OK \]' "$log"); f=$(grep -c '^\[  FAILED  \] [A-Za-z].* ([0-9]* ms)$' "$log")  # not the closing list
    s=$(grep -c '^\[  SKIPPED \] [A-Za-z]' "$log")
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
    if [ "$rc" -ne 0 ] || [ "$f" -gt 0 ]; then failed_names="$failed_names $name(rc=$rc)"; [ "$f" -eq 0 ] && failed=$((failed + 1)); fi
  done
}
mkdir -p "$out/tests"
gpu_programs=$(ls "$bin"/tests/*_gpu 2>/dev/null)
cpu_programs=$(ls "$bin"/tests/test_* 2>/dev/null | grep -v '_gpu$')
if want tests; then
  run_tests $gpu_programs
  note "gpu tests: $passed passed, $failed failed, $skipped skipped;${failed_names:- no failures} ($(elapsed) s)"
else
  note "gpu tests: not run (ALZ_DEVICE_STAGES)"
fi
gpu_passed=$passed; gpu_failed=$failed

# ---- 3. the whole training step, ours with its op profile and PyTorch's, in the same call
have_torch=0
python3 -c "import torch" 2>/dev/null && [ -f "$ALZ_ANCHORS/torch_resnetv2.py" ] && have_torch=1
step_ms=""
graph_ms=""
if want train_step && time_left "bench_train_step"; then
  timeout 150 "$bin/bench/bench_train_step" --device cuda --model resnet152v2 --batch 64 --size 224 --warmup 3 \
    --steps 10 --profile --json "$out/train_step.json" > "$out/train_step.txt" 2>&1 || note "bench_train_step: rc $?"
  note "bench_train_step: $(grep -h '^step:' "$out/train_step.txt")"
  note "  $(grep -h '^warm steps:' "$out/train_step.txt")"
  note "  $(grep -h '^phases' "$out/train_step.txt")"
  step_ms=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['median_ms'])" "$out/train_step.json" 2>/dev/null)
  # The same step replayed as one CUDA graph (the profiled run above is eager by nature).
  timeout 90 "$bin/bench/bench_train_step" --device cuda --model resnet152v2 --batch 64 --size 224 --warmup 3 \
    --steps 20 --cuda-graph on --json "$out/train_step_graph.json" > "$out/train_step_graph.txt" 2>&1 ||
    note "bench_train_step --cuda-graph on: rc $?"
  note "bench_train_step --cuda-graph on: $(grep -h '^cuda graph:' "$out/train_step_graph.txt") $(grep -h '^step:' "$out/train_step_graph.txt")"
  graph_ms=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['median_ms'])" "$out/train_step_graph.json" 2>/dev/null)
  if [ "$have_torch" = 1 ]; then
    timeout 90 python3 bench/torch_train_anchor.py --steps 20 > "$out/torch_train.txt" 2>&1
    note "torch train: $(tail -1 "$out/torch_train.txt")"
  fi
fi

# ---- 3b. every speed target of the mixed-precision work, alz and PyTorch in this call:
# training 224x224 batch 64 in bf16, TF32 and strict fp32; the dataset's 208x176 at batch 32 with
# Adam in bf16; inference at batch 128 (bf16, TF32) and batch-1 latency; peak memory. alz runs
# with CUDA graphs where bench_train_step has them (and once without, to show what they give).
# PyTorch: bench/torch_targets.py (channels_last, bf16 autocast, torch.compile last).
if want targets && time_left "targets"; then
  graph_on=""; graph_off=""
  if "$bin/bench/bench_train_step" --help 2>&1 | grep -q -- --cuda-graph; then graph_on="--cuda-graph on"; graph_off="--cuda-graph off"; fi
  : > "$out/targets_alz.jsonl"
  alz_case() {  # name, then bench_train_step arguments; ALZ_TARGET_CASES="a b" runs just those
    local name=$1; shift
    if [ -n "${ALZ_TARGET_CASES:-}" ] && [[ " $ALZ_TARGET_CASES " != *" $name "* ]]; then return 0; fi
    time_left "alz $name" || return 0
    timeout 120 "$bin/bench/bench_train_step" --device cuda --model resnet152v2 --warmup 5 \
      --json "$out/t_$name.json" "$@" > "$out/t_$name.txt" 2>&1 || note "  alz $name: rc $?"
    python3 -c "import json,sys; d=json.load(open(sys.argv[1])); d['case']=sys.argv[2]; print(json.dumps(d))" \
      "$out/t_$name.json" "$name" >> "$out/targets_alz.jsonl" 2>/dev/null
    note "  alz $name: $(grep -h '^step:' "$out/t_$name.txt") $(grep -ho 'peak allocated [0-9.]* GiB' "$out/t_$name.txt")"
  }
  alz_case train_bf16_b64 --steps 20 --precision bf16 --batch 64 --size 224 $graph_on
  if [ -s "$out/train_step_graph.json" ] && [ -z "${ALZ_TARGET_CASES:-}" ]; then  # stage train_step timed this very case: not again
    python3 -c "import json,sys; d=json.load(open(sys.argv[1])); d['case']='train_tf32_b64'; print(json.dumps(d))" \
      "$out/train_step_graph.json" >> "$out/targets_alz.jsonl"
    note "  alz train_tf32_b64: the train_step stage's graph step"
  else
    alz_case train_tf32_b64 --steps 20 --precision tf32 --batch 64 --size 224 $graph_on
  fi
  quick=0; [ "${ALZ_TARGETS:-all}" = quick ] && quick=1  # a first look: these two and the batch-1 latency
  [ "$quick" = 1 ] && alz_case latency_bf16_b1 --inference --precision bf16 --batch 1 --size 224 --steps 50 $graph_on
  if [ "$quick" = 0 ]; then
  alz_case train_bf16_b32_208x176_adam --steps 20 --precision bf16 --batch 32 --size 208x176 --optimizer adam $graph_on
  alz_case infer_bf16_b128 --steps 20 --inference --precision bf16 --batch 128 --size 224 $graph_on
  alz_case latency_bf16_b1 --inference --precision bf16 --batch 1 --size 224 --steps 50 $graph_on
  alz_case latency_tf32_b1 --inference --precision tf32 --batch 1 --size 224 --steps 50 $graph_on
  alz_case train_fp32_b64 --steps 20 --precision fp32 --batch 64 --size 224 $graph_on
  alz_case infer_tf32_b128 --steps 20 --inference --precision tf32 --batch 128 --size 224 $graph_on
  if [ -n "$graph_off" ]; then
    alz_case train_bf16_b64_eager --steps 20 --precision bf16 --batch 64 --size 224 $graph_off
    alz_case train_tf32_b64_eager --steps 20 --precision tf32 --batch 64 --size 224 $graph_off
    alz_case train_bf16_b32_208x176_adam_eager --steps 20 --precision bf16 --batch 32 --size 208x176 --optimizer adam $graph_off
  fi
  fi
  # cuDNN's algorithms timed once per shape instead of taken in its heuristic order
  if "$bin/bench/bench_train_step" --help 2>&1 | grep -q -- --conv-algo; then
    for precision in bf16 tf32 fp32; do
      alz_case "train_${precision}_b64_bench" --steps 20 --precision $precision --batch 64 --size 224 --conv-algo benchmark $graph_on
    done
    # strict fp32 with 2 GiB of workspace allowed (PyTorch's cudnn.benchmark is not held to 256 MiB)
    alz_case train_fp32_b64_bench_ws2g --steps 20 --precision fp32 --batch 64 --size 224 --conv-algo benchmark \
      --conv-workspace-mb 2048 $graph_on
  fi
  torch_cases="train:bf16:cl:64:224x224 train:tf32:cl:64:224x224 train:bf16:cl:adam:32:208x176 \
    infer:bf16:cl:128:224x224 latency:tf32:1:224x224:graph latency:bf16:cl:1:224x224:graph train:fp32:cl:64:224x224 \
    infer:tf32:cl:128:224x224"
  [ "$quick" = 1 ] && torch_cases="train:bf16:cl:64:224x224 latency:bf16:cl:1:224x224:graph"
  torch_cases=${ALZ_TORCH_CASES:-$torch_cases}
  if [ "$have_torch" = 1 ] && time_left "torch targets"; then
    timeout 240 python3 bench/torch_targets.py $torch_cases \
      > "$out/targets_torch.jsonl" 2> "$out/targets_torch.err" || note "  torch targets: rc $?"
    # torch.compile last: its compilation alone took 107 s on an H100.
    if [ "$quick" = 0 ] && [ "${ALZ_TORCH_COMPILE:-1}" = 1 ] && time_left "torch.compile"; then
      timeout 240 python3 bench/torch_targets.py train:bf16:cl:compile:64:224x224 \
        >> "$out/targets_torch.jsonl" 2>> "$out/targets_torch.err" || note "  torch.compile: rc $?"
    fi
  fi
  python3 tools/summarize_targets.py "$out/targets_alz.jsonl" "$out/targets_torch.jsonl" > "$out/targets.md" 2>&1
  cat "$out/targets.md" >> "$summary"
  note "targets done ($(elapsed) s)"
fi


# ---- allocation trace: a TF32 and a bf16 step of ResNet152V2 (2 eager steps, then the capture
# as `alz train` does), every tensor allocation recorded (tensor/allocation_trace.h) and replayed
# through the caching allocator's books and the exact size classes of before (bench_allocator)
if want alloc_trace && time_left "alloc_trace" && [ -x "$bin/bench/bench_allocator" ]; then
  : > "$out/alloc_replay.md"
  for precision in tf32 bf16; do
    ALZ_ALLOC_TRACE="$out/alloc_${precision}_b64.trace" timeout 90 "$bin/bench/bench_train_step" --device cuda \
      --model resnet152v2 --warmup 2 --steps 3 --precision "$precision" --batch 64 --size 224 \
      > "$out/alloc_${precision}_b64.txt" 2>&1 || note "  alloc trace $precision: rc $?"
    "$bin/bench/bench_allocator" --replay "$out/alloc_${precision}_b64.trace" --replay-device cuda:0 \
      >> "$out/alloc_replay.md" 2>&1 || note "  alloc replay $precision: rc $?"
    note "  alloc trace $precision: $(grep -ho 'peak allocated [0-9.]* GiB.*' "$out/alloc_${precision}_b64.txt")"
  done
  gzip -f "$out"/alloc_*.trace
  cat "$out/alloc_replay.md" >> "$summary"
fi
# ---- 3c. bf16 against TF32 training on the phantoms (same seed and steps: macro-F1 within 0.03),
# and `alz train` (loader included) against the step benchmark's SGD step.
# ALZ_PRECISION_SEEDS (default "1 2") and ALZ_PRECISION_ARGS (more `alz train` options; default
# the CPU's recipe of bench/RESULTS.md, resnetv2-small at 80x80, batch 32, 8 epochs, so that the
# GPU's bf16 lands beside the CPU's figures; ResNet152V2 needs 20 epochs, about 140 s a run, to
# leave chance: ALZ_PRECISION_ARGS="--model resnet152v2 --epochs 20") pick the runs.
if want precision_runs && time_left "precision runs"; then
  precision_args=${ALZ_PRECISION_ARGS:---model resnetv2-small --input-size 80 --batch 32 --epochs 8}
  for seed in ${ALZ_PRECISION_SEEDS:-1 2}; do
  for precision in tf32 bf16; do
    time_left "alz train $precision seed $seed" || break
    run="alz_prec_${precision}_s$seed"
    rm -rf "/tmp/$run"
    # shellcheck disable=SC2086  # ALZ_PRECISION_ARGS is a list of options
    timeout 180 "$bin/alz" train --device cuda --precision "$precision" --class-weights auto --seed "$seed" \
      $precision_args --run-dir "/tmp/$run" --overwrite > "$out/$run.txt" 2>&1
    note "  alz train --precision $precision --seed $seed $precision_args: rc $? ($(elapsed) s): $(grep -h 'best validation' "$out/$run.txt" | tail -1) | $(grep -h 'steady state' "$out/$run.txt" | tail -1)"
  done
  done
fi
if want train_gap && time_left "train gap"; then
  [ -f /tmp/alz_phantom_big/manifest.csv ] ||
    "$bin/alz" synth --out /tmp/alz_phantom_big --per-class 1600 > "$out/alz_synth.txt" 2>&1
  for precision in bf16 tf32; do
    time_left "train gap $precision" || break
    timeout 150 "$bin/alz" train --device cuda --model resnet152v2 --precision "$precision" --optimizer sgd --batch 64 \
      --input-size 224 --epochs 100 --max-steps 200 --workers "$(nproc)" --data /tmp/alz_phantom_big/manifest.csv \
      --run-dir "/tmp/alz_gap_$precision" --overwrite > "$out/train_gap_$precision.txt" 2>&1
    note "  alz train sgd $precision 200 steps: rc $? ($(elapsed) s): $(grep -h 'steady state' "$out/train_gap_$precision.txt" | tail -1)"
  done
fi

# ---- 3d. data parallelism on this GPU: one rank's NCCL gradient synchronisation of ResNet152V2
# (233 MB: pack, all-reduce, unpack), the cost a step pays before the optimizer; the one-rank
# NCCL test runs with the GPU tests (test_nccl_gpu).
if want dist && [ -x "$bin/bench/bench_allreduce" ] && time_left "bench_allreduce"; then
  timeout 90 "$bin/bench/bench_allreduce" --device cuda --json "$out/allreduce.json" > "$out/allreduce.txt" 2>&1 ||
    note "bench_allreduce: rc $?"
  note "bench_allreduce: $(grep -h '^sync:' "$out/allreduce.txt") ($(grep -ho ', [a-z]* on cuda:[0-9]' "$out/allreduce.txt"))"
fi

# ---- 4. benchmarks of the fused BatchNorm+ReLU, with PyTorch's in the same call
if want bn && time_left "bench_bn_relu"; then
  timeout 150 "$bin/bench/bench_bn_relu" --benchmark_filter="${ALZ_BN_FILTER:-.}" \
    --benchmark_out="$out/bench_bn_relu.json" --benchmark_out_format=json \
    > "$out/bench_bn_relu.txt" 2>&1 || note "bench_bn_relu: rc $?"
  if [ "$have_torch" = 1 ] && [ -f "$ALZ_ANCHORS/torch_bn_cl.py" ]; then
    timeout 90 python3 "$ALZ_ANCHORS/torch_bn_cl.py" > "$out/torch_bn_cl.txt" 2>&1 || note "torch_bn_cl: rc $?"
  fi
  note "bench_bn_relu done ($(elapsed) s)"
fi

# ---- 5. the README's main command (tools/demo.sh without its install and build steps)
if want demo && time_left "demo"; then
  rm -rf /tmp/alz_demo
  (timeout 150 "$bin/alz" train --class-weights auto --run-dir /tmp/alz_demo &&
     timeout 60 "$bin/alz" eval --weights /tmp/alz_demo/best.safetensors --data phantom/manifest.csv --split val) \
    > "$out/demo.txt" 2>&1
  note "demo: rc $? ($(elapsed) s): $(grep -h 'best validation' "$out/demo.txt" | tail -1)"
  steady=$(grep -h 'steady state' "$out/demo.txt" | tail -1)
  [ -z "$steady" ] || note "  $steady"
  cp /tmp/alz_demo/report.html "$out/demo_report.html" 2>/dev/null
fi

# ---- 6. Nsight Compute on the four BatchNorm kernels of a large and a small bf16 shape
if want ncu && command -v ncu > /dev/null && time_left "ncu"; then
  for shape in 64x56x56x256 64x14x14x256; do
    timeout 60 ncu --set basic --section MemoryWorkloadAnalysis --section Occupancy --section LaunchStats \
      -k 'regex:bn_(stats|apply|backward)' --launch-count 4 "$bin/bench/bench_bn_relu" \
      --benchmark_filter="^bn_relu/fused/bf16/$shape/" > "$out/ncu_bn_relu_$shape.txt" 2>&1 || note "ncu $shape: rc $?"
  done
  note "ncu: $(cat "$out"/ncu_bn_relu_*.txt | grep -c 'Duration') kernels profiled ($(elapsed) s)"
fi

# ---- 7. memcheck on the GPU test programs (bounded: the BatchNorm table on a subset)
memcheck="PASS"
if want memcheck && command -v compute-sanitizer > /dev/null && time_left "memcheck"; then
  for program in $gpu_programs; do
    name=$(basename "$program")
    filter="*"
    case "$name" in test_bn_relu_gpu) filter="*56x56*:*7x7*:*Odd*:*odd*:*Determin*:*Inference*" ;; esac
    if ! (cd tests && timeout 60 compute-sanitizer --tool memcheck --error-exitcode 99 --print-limit 20 \
          "$program" --gtest_filter="$filter" --gtest_brief=1 >> "$out/memcheck.log" 2>&1); then
      memcheck="FAIL"
      note "memcheck: $name failed (see memcheck.log)"
    fi
    time_left "memcheck after $name" || { memcheck="$memcheck (partial)"; break; }
  done
else
  memcheck="not run"
fi
note "memcheck: $memcheck ($(elapsed) s)"

# ---- 7b. `alz train` of ResNet152V2 on phantoms: up to 300 steps, as many as fit in ~100 s
if want train && time_left "alz train"; then
  steps=$(python3 -c "import sys; ms=float(sys.argv[1] or 1300); print(max(30, min(300, int(100000 / ms))))" \
          "${step_ms:-}" 2>/dev/null || echo 60)
  # 6,400 phantoms (80 steps per epoch): few epochs, so few checkpoints and validations.
  [ -f /tmp/alz_phantom_big/manifest.csv ] ||
    "$bin/alz" synth --out /tmp/alz_phantom_big --per-class 1600 > "$out/alz_synth.txt" 2>&1
  timeout 200 "$bin/alz" train --device cuda --model resnet152v2 --batch 64 --input-size 224 --epochs 100 \
    --max-steps "$steps" --workers "$(nproc)" --data /tmp/alz_phantom_big/manifest.csv --run-dir /tmp/alz_run \
    > "$out/alz_train.txt" 2>&1
  note "alz train ($steps steps): rc $? ($(elapsed) s): $(grep -h 'steady state' "$out/alz_train.txt" | tail -1)"
  note "  $(grep -h 'CUDA graph' "$out/alz_train.txt" | head -1)"
  # alz train against the step benchmark (the goal: within 5 %): ms/step of the steady state.
  train_ms=$(grep -h 'steady state' "$out/alz_train.txt" | tail -1 | sed -n 's/.*: \([0-9.]*\) ms\/step.*/\1/p')
  [ -n "$train_ms" ] && [ -n "${graph_ms:-}" ] &&
    note "  alz train ${train_ms} ms/step vs bench_train_step (graph) ${graph_ms} ms: $(python3 -c \
      "import sys; print(f'{100 * (float(sys.argv[1]) / float(sys.argv[2]) - 1):+.1f} %')" "$train_ms" "$graph_ms")"
  cp /tmp/alz_run/report.html "$out/tests/report.html" 2>/dev/null
fi

# ---- 8. the other GPU benchmarks
for name in bench_conv bench_gemm bench_optimizer; do
  want benches && [ -x "$bin/bench/$name" ] || continue
  time_left "$name" || break
  timeout 120 "$bin/bench/$name" --benchmark_out="$out/$name.json" --benchmark_out_format=json \
    > "$out/$name.txt" 2>&1 || note "$name: rc $?"
done

# ---- 9. the CPU test programs (they also run in CI)
if want cpu_tests && time_left "cpu tests"; then
  passed=0; failed=0; skipped=0; failed_names=""
  run_tests $cpu_programs
  note "cpu tests: $passed passed, $failed failed, $skipped skipped;${failed_names:- no failures} ($(elapsed) s)"
fi

note "elapsed: $(elapsed) s"
note "GPU_RUNS row: | $(date -u +%Y-%m-%d) | ${card:-none} | $commit | gpu tests $gpu_passed passed, $gpu_failed failed | memcheck $memcheck |"
[ "$gpu_failed" -eq 0 ]
