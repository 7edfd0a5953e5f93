#!/usr/bin/env bash
# The test command of the README: installs what is missing, builds (CUDA code too when nvcc is
# present), and runs the whole suite. GPU tests skip with their reason on a machine without a
# GPU. Usage: bash tools/test.sh [extra cmake options, e.g. -DALZ_CUDA=OFF]
# Environment: BUILD_DIR (default build), JOBS (default: number of cores).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
jobs=${JOBS:-$(nproc)}

bash tools/setup.sh
# Keras and ONNX Runtime for the interoperability round trips (skipped when this cannot install them).
check_python=$(bash tools/setup-python-checks.sh | tail -n 1)
python_option=()
[ -n "$check_python" ] && python_option=("-DALZ_CHECK_PYTHON=$check_python")
cmake -S . -B "$build_dir" -G Ninja "${python_option[@]}" "$@"
cmake --build "$build_dir" -j "$jobs"
ctest --test-dir "$build_dir" --output-on-failure -j "$jobs" --timeout 900
