#!/usr/bin/env python3
"""Export Keras ResNetV2 weights to an alz checkpoint (safetensors with Keras weight names).

Runs where TensorFlow is installed; alz itself needs no Python. Recipe:

    pip install tensorflow
    python3 tools/export_keras_weights.py --model resnet152v2 --out imagenet.safetensors
    python3 tools/export_keras_weights.py --model resnet50v2 --no-include-top --out r50_backbone.safetensors
    python3 tools/export_keras_weights.py --h5 trained.h5 --out mri.safetensors \
        --class-names MildDemented,ModerateDemented,NonDemented,VeryMildDemented

then, for example, `alz train --init imagenet.safetensors ...` loads every tensor whose name and
shape match (the 1000-class head is skipped for a 4-class model).

Layout written (docs/resnet152v2.md draws the model):
  * one tensor per Keras weight, named "<layer name>/<weight name>" exactly as Keras names them:
    conv1_conv/kernel, conv1_conv/bias, conv2_block1_preact_bn/gamma, .../beta, .../moving_mean,
    .../moving_variance, conv2_block1_0_conv/kernel, conv2_block1_1_conv/kernel, ...,
    post_bn/gamma, predictions/kernel, predictions/bias;
  * conv kernels in Keras's HWIO order (kh, kw, cin, cout), Dense kernels (in, out);
  * every tensor F32, little-endian, laid end to end in Keras's layer order;
  * __metadata__: format "alz-keras-v1", model, classes, class_names (a JSON list, or ""),
    input_size ("224x224"), preprocessing ("x/127.5-1").
The file format: 8-byte little-endian header length N, N bytes of JSON (padded with spaces to a
multiple of 8), then the data. The writer below needs only numpy, json and struct.

A model saved as .h5 whose ResNetV2 sits inside another model (Sequential([base, ..., Dense]))
is walked recursively, so the backbone keeps its Keras names; rename a head layer with
--rename dense=predictions.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np

FORMAT = "alz-keras-v1"
MODELS = {"resnet50v2": "ResNet50V2", "resnet101v2": "ResNet101V2", "resnet152v2": "ResNet152V2"}


def write_safetensors(path, tensors, metadata):
    """Writes [(name, array), ...] as F32 safetensors with string metadata, atomically."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    arrays = []
    offset = 0
    for name, value in tensors:
        if not name or name == "__metadata__" or name in header:
            raise ValueError(f"bad or repeated tensor name {name!r}")
        array = np.asarray(value, dtype="<f4", order="C")  # keeps 0-d arrays 0-d
        header[name] = {"dtype": "F32", "shape": [int(d) for d in array.shape],
                        "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
        arrays.append(array)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the data section starts 8-byte aligned
    temp = f"{path}.tmp.{os.getpid()}"
    try:
        with open(temp, "wb") as out:
            out.write(struct.pack("<Q", len(text)))
            out.write(text)
            for array in arrays:
                out.write(array.tobytes())
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.remove(temp)
    return offset


def keras_tensors(model, renames):
    """[(name, array)] for every weight of every layer, nested models flattened, in layer order."""
    result, seen = [], set()

    def walk(layer):
        if hasattr(layer, "layers") and layer.layers:  # a model used as a layer
            for inner in layer.layers:
                walk(inner)
            return
        layer_name = renames.get(layer.name, layer.name)
        for variable, value in zip(layer.weights, layer.get_weights()):
            short = variable.name.split("/")[-1].split(":")[0]  # "conv1_conv/kernel:0" -> "kernel"
            name = f"{layer_name}/{short}"
            if name in seen:
                sys.exit(f"export: two weights are named {name!r}; rename a layer with --rename OLD=NEW")
            seen.add(name)
            result.append((name, value))

    walk(model)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet152v2", choices=sorted(MODELS))
    parser.add_argument("--h5", help="a Keras .h5 model (or weights file for --model) instead of keras.applications")
    parser.add_argument("--weights", default="imagenet", choices=["imagenet", "none"],
                        help="keras.applications weights (ImageNet weights have 1000 classes)")
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--include-top", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--class-names", default="", help="comma-separated, in the model's output order")
    parser.add_argument("--input-size", type=int, default=224)
    parser.add_argument("--rename", action="append", default=[], metavar="OLD=NEW", help="rename a layer")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    try:
        import tensorflow as tf  # only here, so write_safetensors() runs without TensorFlow
    except ImportError:
        sys.exit("export: TensorFlow is not installed here (pip install tensorflow)")

    build = getattr(tf.keras.applications, MODELS[args.model])
    shape = (args.input_size, args.input_size, 3)
    if args.h5:
        try:
            model = tf.keras.models.load_model(args.h5, compile=False)
        except (ValueError, OSError):  # a weights-only file: build the named model, then load
            model = build(weights=None, include_top=args.include_top, classes=args.classes, input_shape=shape)
            model.load_weights(args.h5)
    else:
        model = build(weights=None if args.weights == "none" else "imagenet", include_top=args.include_top,
                      classes=args.classes, input_shape=shape)

    renames = dict(item.split("=", 1) for item in args.rename)
    tensors = keras_tensors(model, renames)
    names = [n for n in args.class_names.split(",") if n]
    classes = dict(tensors).get("predictions/bias")
    metadata = {
        "format": FORMAT,
        "model": args.model,
        "classes": str(len(classes) if classes is not None else 0),
        "class_names": json.dumps(names) if names else "",
        "input_size": f"{args.input_size}x{args.input_size}",
        "preprocessing": "x/127.5-1",
    }
    if names and classes is not None and len(names) != len(classes):
        sys.exit(f"export: {len(names)} class names for a {len(classes)}-class head")
    size = write_safetensors(args.out, tensors, metadata)
    print(f"wrote {args.out}: {len(tensors)} tensors, {size // 4:,} values, {args.model}, classes {metadata['classes']}")


if __name__ == "__main__":
    main()
