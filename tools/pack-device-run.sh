#!/usr/bin/env bash
# Prepares one run of tools/device-check.sh on a machine with a GPU that should spend its time
# measuring, not compiling: builds here, packs the programs (tools/pack-prebuilt.sh) and the
# PyTorch anchor scripts into one compressed file under build-carry/ (git-ignored; about
# 25 MB with the GPU test programs only, the default; ALZ_PACK_TESTS=all adds the CPU ones), and prints the command to run there from the repository root.
# Usage: bash tools/pack-device-run.sh [ANCHORS_DIR]     (default ../shared/anchors)
set -euo pipefail
cd "$(dirname "$0")/.."
anchors=${1:-../shared/anchors}
cmake -S . -B build -G Ninja > /dev/null
cmake --build build -j "$(nproc)" > /dev/null
rm -rf build-carry
mkdir -p build-carry/stage/anchors
ALZ_PACK_TESTS=${ALZ_PACK_TESTS:-gpu} bash tools/pack-prebuilt.sh build build-carry/stage/prebuilt
# Every shared library the programs need must be there or in the packed lib/ folder.
if LD_LIBRARY_PATH=build-carry/stage/prebuilt/lib ldd build-carry/stage/prebuilt/alz | grep -q 'not found'; then
  echo "pack-device-run: alz needs libraries that were not packed:" >&2
  LD_LIBRARY_PATH=build-carry/stage/prebuilt/lib ldd build-carry/stage/prebuilt/alz | grep 'not found' >&2
fi
if [ -d "$anchors" ]; then cp "$anchors"/*.py build-carry/stage/anchors/; fi
tar czf build-carry/prebuilt.tgz -C build-carry/stage prebuilt anchors
rm -rf build-carry/stage
commit=$(git rev-parse --short HEAD)
[ -z "$(git status --porcelain --untracked-files=no)" ] || commit="$commit+changes"
du -h build-carry/prebuilt.tgz | awk '{print "pack-device-run: " $1 " in " $2}'
cat <<EOF
On the GPU machine, from the repository root (with build-carry/ copied along), e.g. with 215 s
of stages inside a 265 s limit:
  tar xzf build-carry/prebuilt.tgz -C /tmp && ALZ_COMMIT=$commit ALZ_ANCHORS=/tmp/anchors \\
    ALZ_DEVICE_BUDGET_S=215 timeout 265 bash tools/device-check.sh /tmp/dc --prebuilt /tmp/prebuilt
then bring back /tmp/dc (summary.txt first).
EOF
