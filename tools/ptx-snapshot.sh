#!/usr/bin/env bash
# Writes the PTX of every CUDA source of a configured build into OUTDIR, one file per source,
# named after its path (kernels/cuda/bn_relu.cu -> kernels__cuda__bn_relu.cu.ptx), so that a
# refactoring of CUDA code can be shown to leave the device code unchanged on a machine
# without a GPU:
#
#   bash tools/ptx-snapshot.sh build /tmp/ptx-before      # at the old commit
#   bash tools/ptx-snapshot.sh build /tmp/ptx-after       # at the new one
#   diff -r /tmp/ptx-before /tmp/ptx-after && echo "device code unchanged"
#
# Each source is compiled with its own flags from BUILD/compile_commands.json, for the virtual
# architecture compute_90 only (-ptx). Sources that moved keep their PTX file name when passed
# a rename table: PTX_RENAME="old/path.cu=new/path.cu ..." maps new paths to old names.
# Comment lines (// ...) and the .file/.loc debug lines are dropped, and the per-file hashes nvcc
# puts into the names of anonymous namespaces (_GLOBAL__N__1a2b3c4d_, _INTERNAL_1a2b3c4d_, _cu_5e6f7a8b_1234,
# _cu_5e6f7a8b) are masked: they depend on the source's path and text and on the compiler's temp
# files, not on device code. The run-dependent number after _cu_<hash>_ has no fixed length, so
# it is dropped together with the length prefix of the name that follows it, and the mangled
# length in front of _GLOBAL__N__ becomes N.
set -euo pipefail
build=${1:?usage: ptx-snapshot.sh BUILD_DIR OUTDIR}
out=${2:?usage: ptx-snapshot.sh BUILD_DIR OUTDIR}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
python3 - "$build/compile_commands.json" "$root" "$out" "${PTX_RENAME:-}" <<'PY'
import json, os, re, shlex, subprocess, sys
commands, root, out, renames = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
rename = {}
for pair in renames.split():
    old, new = pair.split("=")
    rename[new] = old
count = 0
for entry in json.load(open(commands)):
    source = entry["file"]
    if not source.endswith(".cu"):
        continue
    relative = os.path.relpath(source, root)
    args = shlex.split(entry["command"])
    kept, skip = [], False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg in ("-o", "-c"):
            skip = arg == "-o"
            continue
        if arg.startswith("--generate-code") or arg.startswith("-gencode"):
            continue
        kept.append(arg)
    name = rename.get(relative, relative).replace("/", "__") + ".ptx"
    target = os.path.join(out, name)
    kept += ["-ptx", "--gpu-architecture=compute_90", "-o", target]
    subprocess.run(kept, check=True, cwd=entry["directory"])
    lines = open(target).read().splitlines()
    lines = [l for l in lines if not l.startswith("//") and not l.lstrip().startswith((".file", ".loc"))]
    mask = lambda m: re.sub(r"[0-9a-f]", "x", m.group(0))
    lines = [re.sub(r"[0-9]+_GLOBAL__N__[0-9a-f]{8}_", "N_GLOBAL__N__xxxxxxxx_", l) for l in lines]
    lines = [re.sub(r"_cu_[0-9a-f]{8}(_[0-9]+)?", "_cu_xxxxxxxx_", l) for l in lines]
    lines = [re.sub(r"_INTERNAL_[0-9a-f]{8}_", mask, l) for l in lines]
    open(target, "w").write("\n".join(lines) + "\n")
    count += 1
print(f"ptx-snapshot: {count} CUDA sources -> {out}")
PY
