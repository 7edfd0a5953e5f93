#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into fuzz/corpus/<target>/ (small valid files of
every kind each reader accepts, and a few near-misses). Run once; the seeds are committed:
    python3 fuzz/make_seeds.py      (needs numpy and pillow)
"""
import io
import json
import os
import struct

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
