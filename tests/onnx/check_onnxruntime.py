#!/usr/bin/env python3
"""The ONNX round trip: a model exported by alz (models/onnx_export.h), run in ONNX Runtime, gives
the probabilities `alz predict --format json` gives for the same images, to 1e-4.

Steps (all files under --work):
  1. a checkpoint: --weights, or else a resnetv2-tiny with every weight random
     (onnx_test_driver checkpoint), at an odd input size;
  2. images: --images (a folder), or else a small phantom set written by `alz synth`;
  3. alz's probabilities: `alz predict --weights W --format json IMAGE...`;
  4. alz's input batch for the same images, preprocessed and raw (onnx_test_driver inputs);
  5. three exports (onnx_test_driver export): probabilities, raw-pixel input, logits;
  6. ONNX Runtime on each: the whole batch at once and each image alone (the batch dimension
     is dynamic); the probabilities must match alz's to --tolerance, the logits' softmax too.
Prints the largest difference of each comparison.

Exit codes: 0 pass, 1 fail, 77 skipped (numpy or onnxruntime missing), which CTest reports as
skipped (SKIP_RETURN_CODE). Install them with: pip install onnxruntime numpy
Run by CTest (ctest --test-dir build -R OnnxRuntime), or by hand:
  python3 tests/onnx/check_onnxruntime.py --alz build/alz --driver build/tests/onnx_test_driver \\
      --work /tmp/onnx-check [--weights runs/x/best.safetensors --images phantom/val]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

SKIP = 77


def run(command):
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"FAILED: {' '.join(command)}\n{result.stdout}{result.stderr}")
    return result.stdout


def image_files(folder, limit):
    found = []
    for root, _, names in os.walk(folder):
        found += [os.path.join(root, n) for n in names if n.lower().endswith((".jpg", ".jpeg", ".png", ".bmp"))]
    found.sort()
    if limit and len(found) > limit:  # spread over the sorted list (every class folder)
        step = len(found) / limit
        found = [found[int(i * step)] for i in range(limit)]
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alz", required=True)
    parser.add_argument("--driver", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--weights", help="a checkpoint (default: a random resnetv2-tiny)")
    parser.add_argument("--images", help="a folder of images (default: a small phantom set)")
    parser.add_argument("--limit", type=int, default=24, help="at most this many images")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    args = parser.parse_args()

    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError as error:
        print(f"SKIPPED: {error.name} is not installed (pip install onnxruntime numpy)")
        return SKIP

    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    work = lambda name: os.path.join(args.work, name)

    weights = args.weights
    if not weights:
        weights = work("random.safetensors")
        run([args.driver, "checkpoint", weights, "resnetv2-tiny", "4", "45x38", "3"])
    folder = args.images
    if not folder:
        folder = work("images")
        run([args.alz, "synth", "--out", folder, "--per-class", "3", "--size", "61x53", "--seed", "4"])
    images = image_files(folder, args.limit)
    if not images:
        sys.exit(f"FAILED: no images in {folder}")

    predicted = json.loads(run([args.alz, "predict", "--weights", weights, "--format", "json", "--device", "cpu"]
                               + images))["predictions"]
    names = list(predicted[0]["probabilities"].keys())
    assert [p["image"] for p in predicted] == images, "alz predict reordered the images"
    alz_probs = np.array([[p["probabilities"][n] for n in names] for p in predicted], dtype=np.float64)

    run([args.driver, "inputs", weights, work("x.npy"), work("raw.npy")] + images)
    batches = {"preprocessed": np.load(work("x.npy")), "raw": np.load(work("raw.npy"))}
    run([args.driver, "export", weights, work("model.onnx")])
    run([args.driver, "export", weights, work("raw.onnx"), "--raw-pixels"])
    run([args.driver, "export", weights, work("logits.onnx"), "--logits"])

    failed = False
    for model, batch, kind in (("model.onnx", "preprocessed", "probabilities"), ("raw.onnx", "raw", "probabilities"),
                               ("logits.onnx", "preprocessed", "logits")):
        session = ort.InferenceSession(work(model), providers=["CPUExecutionProvider"])
        (input_info,), (output_info,) = session.get_inputs(), session.get_outputs()
        assert input_info.name == "images" and output_info.name == kind, (input_info.name, output_info.name)
        meta = session.get_modelmeta().custom_metadata_map
        assert json.loads(meta["class_names"]) == names, (meta, names)
        x = batches[batch]
        whole = session.run(None, {"images": x})[0].astype(np.float64)
        alone = np.concatenate([session.run(None, {"images": x[i:i + 1]})[0] for i in range(len(x))])
        for label, out in (("batch of %d" % len(x), whole), ("one at a time", alone.astype(np.float64))):
            if kind == "logits":
                out = np.exp(out - out.max(axis=1, keepdims=True))
                out /= out.sum(axis=1, keepdims=True)
            worst = float(np.abs(out - alz_probs).max())
            ok = worst <= args.tolerance
            failed |= not ok
            print(f"{model:12s} {label:15s} max |dp| = {worst:.3e}  {'ok' if ok else 'FAILED'}")
    spread = float(alz_probs.max() - alz_probs.min())
    print(f"{len(images)} images, {len(names)} classes, probabilities span {spread:.3f} "
          f"(onnxruntime {ort.__version__}); weights {weights}")
    if spread < 0.05:
        print("FAILED: the probabilities hardly vary: the comparison would show little")
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
