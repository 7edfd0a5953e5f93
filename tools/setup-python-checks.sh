#!/usr/bin/env bash
# Installs the Python packages that the interoperability tests use into a virtual environment,
# .venv-checks/ (git-ignored): Keras 3 with the JAX CPU backend and h5py (tests/keras_roundtrip.py:
# Keras loads what `alz export` wrote) and ONNX Runtime with NumPy (tests/onnx/check_onnxruntime.py).
# alz itself never needs Python; without these packages those two tests are reported as skipped.
# Versions are pinned to the ones the fixtures and checks were made with.
#
#   bash tools/setup-python-checks.sh      # prints the environment's python on its last line
#
# Never fails the caller: with no network or no python3, it says so and prints nothing on the
# last line, and the tests skip.
set -uo pipefail
cd "$(dirname "$0")/.."
venv=.venv-checks
packages=(keras==3.15.1 "jax[cpu]==0.10.2" h5py==3.16.0 onnxruntime==1.32.0 numpy==2.4.6)

if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import keras, jax, h5py, onnxruntime, numpy" 2>/dev/null; then
  echo "setup-python-checks: $venv already has ${packages[*]}" >&2
  echo "$(pwd)/$venv/bin/python"
  exit 0
fi
if ! command -v python3 > /dev/null; then
  echo "setup-python-checks: no python3; the Keras and ONNX Runtime round trips will be skipped" >&2
  exit 0
fi
if ! python3 -m venv "$venv" > /dev/null 2>&1; then
  # Debian's python3 needs its venv package for this.
  sudo_cmd=(); [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends python3-venv > /dev/null 2>&1
  python3 -m venv "$venv" > /dev/null 2>&1 || {
    echo "setup-python-checks: cannot make a virtual environment; the round trips will be skipped" >&2
    exit 0
  }
fi
if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check "${packages[@]}" >&2; then
  echo "setup-python-checks: pip could not install ${packages[*]}; the round trips will be skipped" >&2
  exit 0
fi
echo "$(pwd)/$venv/bin/python"
