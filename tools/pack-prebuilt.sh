#!/usr/bin/env bash
# Packs the programs of a build folder for a GPU machine that should not spend its time
# compiling: test and benchmark programs, `alz`, and the shared libraries such a machine may
# lack (Debian's Google Benchmark, libjpeg-turbo's TurboJPEG, HDF5 and its curl and TLS
# dependencies, libzip, ONNX, protobuf, OpenBLAS, OpenMPI): every library but the C and compiler
# runtimes, CUDA's and NCCL's (the GPU machine has NCCL 2.28, and its library alone is 218 MB).
# They need glibc 2.36 at most (Debian 12), which the GPU machine's Ubuntu 24.04 has.
# ALZ_PACK_TESTS=gpu packs only the GPU test programs (the CPU ones run in CI; all of them
# together are about 160 MB).
# Usage: bash tools/pack-prebuilt.sh BUILD_DIR OUT_DIR
# Then, there: bash tools/device-check.sh OUTDIR --prebuilt OUT_DIR
set -euo pipefail
build=${1:?usage: tools/pack-prebuilt.sh BUILD_DIR OUT_DIR}
dest=${2:?usage: tools/pack-prebuilt.sh BUILD_DIR OUT_DIR}
rm -rf "$dest"
mkdir -p "$dest/tests" "$dest/bench" "$dest/lib"
tests_pattern='test_*'
[ "${ALZ_PACK_TESTS:-all}" = gpu ] && tests_pattern='test_*_gpu'
find "$build/tests" -maxdepth 1 -type f -name "$tests_pattern" -perm -u+x -exec cp {} "$dest/tests/" \;
find "$build/bench" -maxdepth 1 -type f -name 'bench_*' -perm -u+x -exec cp {} "$dest/bench/" \;
cp "$build/alz" "$dest/"
strip --strip-debug "$dest"/tests/* "$dest"/bench/* "$dest/alz"
# Every shared library but the C runtime, the compiler's runtime and CUDA's (the GPU machine has
# its own): such a machine may lack any Debian library (HDF5 pulls in curl, TLS, Kerberos, ...).
for library in $(ldd "$dest"/bench/* "$dest"/tests/* "$dest/alz" |
    awk '$2 == "=>" && $3 ~ /^\// {print $3}' |
    grep -Ev '/(libc|libm|libdl|libpthread|librt|libresolv|ld-linux[^/]*|libstdc\+\+|libgcc_s|libcuda|libcudart|libcudnn[^/]*|libcublas[^/]*|libcublasLt|libnvrtc[^/]*|libnvJitLink|libnccl)\.so' |
    sort -u); do
  cp -L "$library" "$dest/lib/"
done
du -sh "$dest" | awk '{print "pack-prebuilt: " $1 " in " $2}'
