#!/usr/bin/env bash
# One CPU training step of ResNet50V2 (batch 32) and ResNet152V2 (batch 16) at 64x64, ours
# (build/bench/bench_train_step) and PyTorch's (the anchor script torch_cpu.py, channels_last
# and NCHW), alternated ROUNDS times so that both see the same machine: shared CPU machines
# drift by 30% from minute to minute. Needs Debian's python3-torch for the PyTorch side.
#
#   bash bench/cpu_train_compare.sh BUILD_DIR ANCHORS_DIR [ROUNDS]  > compare.txt
set -euo pipefail
build=${1:?usage: bench/cpu_train_compare.sh BUILD_DIR ANCHORS_DIR [ROUNDS]}
anchors=${2:?usage: bench/cpu_train_compare.sh BUILD_DIR ANCHORS_DIR [ROUNDS]}
rounds=${3:-2}
python=/usr/bin/python3
[ -x "$python" ] || python=python3
"$build/alz" info | sed -n 2p
for round in $(seq 1 "$rounds"); do
  echo "== round $round"
  "$build/bench/bench_train_step" --device cpu --model resnet50v2 --batch 32 --size 64 --warmup 2 --steps 4 \
    | grep '^step:' | sed 's/^/alz     resnet50v2  b32: /'
  "$build/bench/bench_train_step" --device cpu --model resnet152v2 --batch 16 --size 64 --warmup 2 --steps 4 \
    | grep '^step:' | sed 's/^/alz     resnet152v2 b16: /'
  (cd "$anchors" && "$python" torch_cpu.py) | sed 's/^/pytorch /'
done
