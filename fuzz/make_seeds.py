#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into fuzz/corpus/<target>/ (small valid files of
every kind each reader accepts, and a few near-misses). Run once; the seeds are committed:
    python3 fuzz/make_seeds.py      (needs numpy, pillow and h5py)
The run-state seed is a state.json of a real run; the weights-file seeds are small files in
each Keras layout (a few layers, so the fuzzer's inputs stay small).
"""
import io
import json
import os
import struct

import h5py
import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    with open(os.path.join(HERE, "corpus", target, name), "wb") as f:
        f.write(data)


def safetensors(tensors, metadata=None, pad=True):
    header, blobs, offset = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, array in tensors:
        raw = array.tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    text = json.dumps(header).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


rng = np.random.default_rng(7)
f32 = lambda *shape: rng.standard_normal(shape).astype("<f4")
put("safetensors", "dense.safetensors", safetensors(
    [("dense/kernel", "F32", f32(3, 2)), ("dense/bias", "F32", f32(2))], {"model": "x", "classes": "2"}))
put("safetensors", "dtypes.safetensors", safetensors(
    [("a", "F64", rng.standard_normal((2, 2))), ("b", "I32", np.arange(3, dtype="<i4")),
     ("c", "BF16", np.arange(4, dtype="<u2")), ("scalar", "F32", np.array(1.5, dtype="<f4")),
     ("empty", "F32", np.zeros((0, 3), dtype="<f4"))]))
put("safetensors", "unpadded.safetensors", safetensors([("w", "F32", f32(5))], pad=False))
put("safetensors", "conv.safetensors", safetensors(
    [("conv1_conv/kernel", "F32", f32(3, 3, 2, 4)), ("conv1_conv/bias", "F32", f32(4)),
     ("post_bn/moving_variance", "F32", np.abs(f32(4)))], {"format": "alz-keras-v1", "input_size": "32x32"}))

def image_bytes(image, fmt, **kw):
    out = io.BytesIO()
    image.save(out, fmt, **kw)
    return out.getvalue()

rgb = Image.fromarray(rng.integers(0, 255, (13, 11, 3), dtype=np.uint8))
grey = Image.fromarray(rng.integers(0, 255, (9, 14), dtype=np.uint8))
put("image", "baseline420.jpg", image_bytes(rgb, "JPEG", quality=80, subsampling=2))
put("image", "baseline444.jpg", image_bytes(rgb, "JPEG", quality=90, subsampling=0))
put("image", "progressive.jpg", image_bytes(rgb, "JPEG", quality=75, progressive=True))
put("image", "grey.jpg", image_bytes(grey, "JPEG", quality=85))
put("image", "cmyk.jpg", image_bytes(rgb.convert("CMYK"), "JPEG", quality=85))
put("image", "rgb.png", image_bytes(rgb, "PNG"))
put("image", "grey_alpha.png", image_bytes(Image.merge("LA", [grey, grey]), "PNG"))
put("image", "palette.png", image_bytes(rgb.convert("P"), "PNG"))
put("image", "grey16.png", image_bytes(Image.fromarray(rng.integers(0, 65535, (6, 7), dtype=np.uint16)), "PNG"))
put("image", "rgb.bmp", image_bytes(rgb, "BMP"))
put("image", "grey.bmp", image_bytes(grey, "BMP"))

put("manifest", "plain.csv", b"path,label,group\na.jpg,NonDemented,s1\nb.jpg,MildDemented,s2\nc.jpg,NonDemented,s2\n")
put("manifest", "quoted.csv", b'\xef\xbb\xbf"path","label"\n"dir, with comma/a.jpg","Very ""Mild"""\nx/b.png,A\n\n')
put("manifest", "reordered.csv", b"group,label,path,extra\ns1,B,/abs/a.jpg,1\ns1,A,rel/../b.jpg,2\ns2,A,c.jpg,3\n")
put("manifest", "crlf.csv", b"path,label\r\na.jpg,X\r\nb.jpg,Y\r\n")


# ---- Keras weight files: the layouts models/weights_file.h reads, with a few layers each.
def keras_legacy(path, full_model=False, colon=False):
    with h5py.File(path, "w") as f:
        root = f.create_group("model_weights") if full_model else f
        if full_model:
            f.attrs["model_config"] = json.dumps({"class_name": "Functional", "config": {"name": "resnet50v2", "layers": [
                {"class_name": "InputLayer", "config": {"batch_shape": [None, 32, 32, 3], "name": "input_layer"}},
                {"class_name": "Dense", "config": {"units": 4, "name": "predictions"}}]}})
        root.attrs["layer_names"] = [b"input_layer", b"conv1_pad", b"conv1_conv", b"post_bn", b"predictions"]
        for layer, weights in [("input_layer", {}), ("conv1_pad", {}),
                               ("conv1_conv", {"kernel": f32(7, 7, 3, 8), "bias": f32(8)}),
                               ("post_bn", {"gamma": f32(8), "beta": f32(8), "moving_mean": f32(8),
                                            "moving_variance": np.abs(f32(8))}),
                               ("predictions", {"kernel": f32(8, 4), "bias": f32(4)})]:
            g = root.create_group(layer)
            names = [f"{layer}/{w}{':0' if colon else ''}".encode() for w in weights]
            g.attrs["weight_names"] = names
            for w, value in weights.items():
                g.create_dataset(f"{layer}/{w}{':0' if colon else ''}", data=value)


def keras3_weights(path):
    with h5py.File(path, "w") as f:
        layers = f.create_group("layers")
        f.create_group("vars")
        for group, name, values in [("conv2d", "conv1_conv", [f32(7, 7, 3, 8), f32(8)]),
                                    ("batch_normalization", "post_bn", [f32(8), f32(8), f32(8), np.abs(f32(8))]),
                                    ("dense", "predictions", [f32(8, 4), f32(4)])]:
            v = layers.create_group(group).create_group("vars")
            v.attrs["name"] = name
            for i, value in enumerate(values):
                v.create_dataset(str(i), data=value)


def keras_archive(path, weights_path, method):
    import zipfile
    config = {"class_name": "Functional", "config": {"name": "resnet50v2", "layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 32, 32, 3], "name": "input_layer"}},
        {"class_name": "Dense", "config": {"units": 4, "activation": "softmax", "name": "predictions"}}]}}
    with zipfile.ZipFile(path, "w", method) as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        z.writestr("config.json", json.dumps(config))
        z.write(weights_path, "model.weights.h5")


target = os.path.join(HERE, "corpus", "weights_file")
keras_legacy(os.path.join(target, "legacy.h5"))
keras_legacy(os.path.join(target, "legacy_k2.h5"), colon=True)
keras_legacy(os.path.join(target, "full_model.h5"), full_model=True)
keras3_weights(os.path.join(target, "keras3.weights.h5"))
import zipfile
keras_archive(os.path.join(target, "stored.keras"), os.path.join(target, "keras3.weights.h5"), zipfile.ZIP_STORED)
keras_archive(os.path.join(target, "deflated.keras"), os.path.join(target, "keras3.weights.h5"), zipfile.ZIP_DEFLATED)
