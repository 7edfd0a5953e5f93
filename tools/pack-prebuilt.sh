#!/usr/bin/env bash
# Packs the programs of a build folder for a GPU machine that should not spend its time
# compiling: test and benchmark programs, `alz`, and the shared libraries such a machine may
# lack (Debian's Google Benchmark, libjpeg-turbo's TurboJPEG, HDF5 and libzip for Keras files,
# ONNX and protobuf).
# Usage: bash tools/pack-prebuilt.sh BUILD_DIR OUT_DIR
# Then, there: bash tools/device-check.sh OUTDIR --prebuilt OUT_DIR
set -euo pipefail
build=${1:?usage: tools/pack-prebuilt.sh BUILD_DIR OUT_DIR}
dest=${2:?usage: tools/pack-prebuilt.sh BUILD_DIR OUT_DIR}
rm -rf "$dest"
mkdir -p "$dest/tests" "$dest/bench" "$dest/lib"
find "$build/tests" -maxdepth 1 -type f -name 'test_*' -perm -u+x -exec cp {} "$dest/tests/" \;
find "$build/bench" -maxdepth 1 -type f -name 'bench_*' -perm -u+x -exec cp {} "$dest/bench/" \;
cp "$build/alz" "$dest/"
strip --strip-debug "$dest"/tests/* "$dest"/bench/* "$dest/alz"
for library in $(ldd "$dest"/bench/* "$dest"/tests/* "$dest/alz" | awk '/libbenchmark|libturbojpeg|libhdf5|libzip|libsz|libaec|libonnx|libprotobuf/ {print $3}' | sort -u); do
  cp -L "$library" "$dest/lib/"
done
du -sh "$dest" | awk '{print "pack-prebuilt: " $1 " in " $2}'
