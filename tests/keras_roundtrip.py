#!/usr/bin/env python3
"""What `alz export` writes, loaded by Keras itself: the same predictions as Keras's own model.

    python3 tests/keras_roundtrip.py build/alz tests/fixtures/keras WORK_DIR

For each format (legacy .h5, Keras 3 .weights.h5, .keras) alz exports the fixture model (read
from Keras's own full-model .h5, and once more from an alz checkpoint made by `alz convert`);
Keras then loads it: `model.load_weights(OUT)` on the same ResNetV2 built by Keras's application
code, and for .keras `keras.saving.load_model(OUT)` with no model code at all. Its predictions
on the fixture pixels must equal the probabilities Keras recorded (expected.json).

Needs keras, jax and h5py (pip install keras "jax[cpu]" h5py). Without them it prints why and
exits 77, which CTest reports as skipped (SKIP_RETURN_CODE). Run by: ctest -R KerasRoundTrip
"""
import json
import os
import subprocess
import sys

SKIP = 77


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    alz, fixtures, work = sys.argv[1:]
    os.environ.setdefault("KERAS_BACKEND", "jax")
    try:
        import h5py  # noqa: F401
        import jax  # noqa: F401
        import keras
        import numpy as np
    except ImportError as error:
        print(f"SKIP: Keras round trips need keras, jax and h5py ({error}); pip install keras 'jax[cpu]' h5py")
        return SKIP
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
    import make_keras_fixtures as fixtures_code

    with open(os.path.join(fixtures, "expected.json")) as f:
        expected = json.load(f)
    height, width = expected["input_size"]
    pixels = np.fromfile(os.path.join(fixtures, "pixels.u8"), dtype=np.uint8).reshape(-1, height, width, 3)
    x = pixels.astype(np.float32) / 127.5 - 1.0
    want = np.asarray(expected["probabilities"])
    os.makedirs(work, exist_ok=True)

    def run(*args):
        result = subprocess.run([alz, *args], capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"FAIL: alz {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    failures = []

    def check(what, probabilities):
        worst = float(np.max(np.abs(np.asarray(probabilities, dtype=np.float64) - want)))
        # The weights are Keras's own, bit for bit: only run-to-run float noise may differ.
        status = "ok" if worst <= 1e-5 else "FAIL"
        print(f"{status}: {what}: max |dp| = {worst:.2e}")
        if status != "ok":
            failures.append(what)

    checkpoint = os.path.join(work, "mini.safetensors")
    run("convert", os.path.join(fixtures, "mini_model.h5"), checkpoint)
    sources = {"keras .h5 model": os.path.join(fixtures, "mini_model.h5"), "alz checkpoint": checkpoint}
    for source_name, source in sources.items():
        for fmt, name in (("keras-h5", "m.h5"), ("keras-weights", "m.weights.h5"), ("keras", "m.keras")):
            out = os.path.join(work, source_name.split()[0] + "_" + name)
            if os.path.exists(out):
                os.remove(out)
            run("export", "--weights", source, "--format", fmt, out)
            model = fixtures_code.mini_resnet_v2(include_top=True)
            model.load_weights(out)
            check(f"{source_name} -> {fmt}: model.load_weights", model.predict(x, verbose=0))
            if fmt == "keras":
                loaded = keras.saving.load_model(out)
                check(f"{source_name} -> {fmt}: keras.saving.load_model", loaded.predict(x, verbose=0))
                if [layer.name for layer in loaded.layers] != expected["layers"]:
                    failures.append("load_model: layer names differ")
    print(f"{len(failures)} failed" if failures else "all round trips match Keras")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
