#!/usr/bin/env bash
# The main job of the README: installs what is missing, builds the `alz` program, generates the
# phantom MRI set (phantom/) when absent, trains — on a GPU the full ResNet152V2 at 224x224,
# without one a small ResNetV2 at 80x80 on the CPU — with class weights, evaluates the best
# checkpoint on the held-out subjects and points at the report.
# Usage: bash tools/demo.sh [extra `alz train` options, e.g. --epochs 20]
# Environment: RUN_DIR (default runs/demo), BUILD_DIR (default build).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
run_dir=${RUN_DIR:-runs/demo}

bash tools/setup.sh
cmake -S . -B "$build_dir" -G Ninja > /dev/null
cmake --build "$build_dir" --target alz_cli -j "$(nproc)"

"$build_dir/alz" info
"$build_dir/alz" train --class-weights auto --run-dir "$run_dir" --overwrite "$@"  # the demo replaces its own run
echo
echo "== the best checkpoint on the validation subjects"
"$build_dir/alz" eval --weights "$run_dir/best.safetensors" --data phantom/manifest.csv --split val
echo
echo "report: $run_dir/report.html (the best epoch's metrics beside the last, ROC and PR curves, misclassified slices, run metadata)"
