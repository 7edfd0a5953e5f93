#!/usr/bin/env bash
# Copies the header-only dependencies (stb, nlohmann-json, CLI11) from this machine's Debian
# packages into .deps/include (git-ignored), so the tree can be built on a machine that lacks
# those packages but has everything else (a GPU machine without network, say).
# CMake looks there first (ALZ_THIRD_PARTY_INCLUDE). Usage: bash tools/vendor-headers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh >/dev/null
dest=.deps/include
mkdir -p "$dest/stb"
cp /usr/include/stb/stb_image.h /usr/include/stb/stb_image_write.h "$dest/stb/"
rm -rf "$dest/nlohmann" "$dest/CLI"
cp -r /usr/include/nlohmann "$dest/nlohmann"
cp -r /usr/include/CLI "$dest/CLI"
du -sh .deps | awk '{print "vendor-headers: .deps holds " $1}'
