#!/usr/bin/env bash
# Installs the Debian packages alz needs to build and test, and nothing that is already there.
# Usage: bash tools/setup.sh        (as root, or with sudo available)
# The CUDA toolkit and cuDNN are not installed here: when nvcc is absent the build is CPU-only.
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config   # build tools
  libopenblas-dev                    # CPU GEMM (cblas.h)
  libopenblas-openmp-dev             # its OpenMP build: shares our OpenMP threads instead of fighting them
  libstb-dev                         # stb_image / stb_image_write (PNG and BMP decoding, writing)
  libturbojpeg0-dev                  # libjpeg-turbo's TurboJPEG: JPEG decoding as PIL and TensorFlow
  nlohmann-json3-dev                 # JSON (safetensors headers, reports, audit)
  libcli11-dev                       # command-line parsing
  libonnx-dev libprotobuf-dev        # ONNX export (the ONNX message classes and checker, protobuf)
  libhdf5-dev                        # Keras's .h5 / .weights.h5 files (models/ only)
  libzip-dev                         # Keras's .keras archives (models/ only)
  libopenmpi-dev openmpi-bin         # data-parallel training under mpirun (dist/ only)
  libgtest-dev                       # GoogleTest
  libbenchmark-dev                   # Google Benchmark
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages already installed"
  exit 0
fi

echo "setup: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
