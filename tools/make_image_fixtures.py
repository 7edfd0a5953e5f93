#!/usr/bin/env python3
"""Makes the image fixtures of tests/test_image_keras.cpp: small JPEGs, the pixels PIL decodes
from them, and the float pixels Keras's resize gives, so the C++ tests can check that alz
decodes and resizes exactly as Keras does, without Python at test time.

What it writes into tests/fixtures/images/ (all committed):
  *.jpg            seeded synthetic slices written by PIL: 4:2:0, 4:2:2 and 4:4:4 colour,
                   greyscale, progressive, odd sizes, one CMYK file (alz refuses CMYK)
  *.pil.png        what PIL (libjpeg-turbo, accurate DCT, fancy upsampling) decodes from
                   each JPEG, converted to RGB as keras.utils.load_img does: lossless, so the
                   test compares every pixel
  resize_*.bin     Keras's resized float32 pixels: the first two, middle and last two rows
                   (every column) and the same columns (every row), row-major, little-endian.
                   The resize is separable, so these rows and columns use every horizontal and
                   every vertical weight; whole-image sums in the manifest check the rest.
  manifest.json    sizes, files, the rows/columns stored, the sums, and the versions used.

The reference resize is Keras 3's keras.ops.image.resize(x, size, interpolation="bilinear",
antialias=False) on the TensorFlow backend, which is tf.image.resize(method="bilinear",
antialias=False) (the script checks that they agree bit for bit). Keras 3 on the JAX backend
(jax.image.resize) computes the same interpolation with its sample positions and weights in a
different float32 order; the script runs it too and records how far it is from the reference
(about 1e-3 grey levels, 1e-5 after x/127.5-1) in the manifest. It also decodes every JPEG
with tf.io.decode_jpeg and records how far that is from PIL: by default TensorFlow uses the fast
IDCT (a few grey levels off); with dct_method="INTEGER_ACCURATE" it gives PIL's pixels.

Usage (needs pillow, numpy, keras, tensorflow-cpu and jax):
  python3 -m venv /tmp/venv && /tmp/venv/bin/pip install pillow numpy keras tensorflow-cpu "jax[cpu]"
  /tmp/venv/bin/python tools/make_image_fixtures.py
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile

if len(sys.argv) == 4 and sys.argv[1] == "--jax-resize":
    os.environ["KERAS_BACKEND"] = "jax"  # the child process that runs Keras on JAX
else:
    os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import PIL  # noqa: E402
from PIL import Image, features  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "images")


def slice_picture(height, width, seed, grey=False):
    """A brain-slice-like picture: dark background, a textured ellipse, darker 'ventricles',
    a colour tint that varies across the image, and seeded noise (so chroma has detail)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    cy, cx = height / 2.0, width / 2.0
    r = ((y - cy) / (0.42 * height)) ** 2 + ((x - cx) / (0.38 * width)) ** 2
    v = np.where(r < 1.0, 150.0 + 45.0 * np.cos(0.35 * x) * np.sin(0.27 * y), 6.0)
    v = np.where(r < 0.12, 35.0, v)
    v = v + rng.normal(0.0, 7.0, size=v.shape)
    if grey:
        return np.clip(v, 0, 255).astype(np.uint8)
    tint = np.stack([1.0 + 0.25 * np.sin(x / 23.0), 0.9 + 0.2 * np.cos(y / 17.0), 0.8 + 0.3 * (x / width)], axis=-1)
    rgb = v[..., None] * tint
    rgb[..., 2] += 60.0 * (y / height)  # a saturated corner: chroma clipping in YCbCr -> RGB
    return np.clip(rgb, 0, 255).astype(np.uint8)


# (file, width, height, PIL save options, grey)
JPEGS = [
    ("rgb420_181x199.jpg", 181, 199, dict(quality=85, subsampling=2), False),
    ("rgb422_97x63.jpg", 97, 63, dict(quality=90, subsampling=1), False),
    ("rgb444_176x208.jpg", 176, 208, dict(quality=92, subsampling=0), False),
    ("grey_176x208.jpg", 176, 208, dict(quality=90), True),
    ("progressive420_160x120.jpg", 160, 120, dict(quality=85, subsampling=2, progressive=True), False),
    ("rgb420_320x288.jpg", 320, 288, dict(quality=80, subsampling=2), False),
]

# (name, source JPEG whose PIL pixels are resized, out height, out width)
RESIZES = [
    ("resize_320x288_to_224x224", "rgb420_320x288.jpg", 224, 224),  # down-scale (W 320 H 288)
    ("resize_176x208_to_80x80", "grey_176x208.jpg", 80, 80),        # H 208 W 176 -> 80: the CPU default
    ("resize_181x199_to_224x224", "rgb420_181x199.jpg", 224, 224),  # up-scale
    ("resize_97x63_to_150x50", "rgb422_97x63.jpg", 150, 50),        # mixed: H grows, W shrinks
]


def stored_lines(size):
    """The first two, the middle and the last two indices (fewer when size is small)."""
    return sorted({0, min(1, size - 1), size // 2, max(size - 2, 0), size - 1})


def keras_resize(pixels, height, width):
    """keras.ops.image.resize on the backend this process runs (bilinear, no antialiasing)."""
    import keras

    x = np.asarray(pixels, dtype=np.float32)[None]
    out = keras.ops.image.resize(x, (height, width), interpolation="bilinear", antialias=False)
    return np.asarray(keras.ops.convert_to_numpy(out))[0].astype(np.float32)


def tf_resize(pixels, height, width):
    import tensorflow as tf

    x = tf.constant(np.asarray(pixels, dtype=np.float32)[None])
    out = tf.image.resize(x, (height, width), method="bilinear", antialias=False)
    return out.numpy()[0].astype(np.float32)


def jax_resizes(cases):
    """Runs keras_resize for every (pixels, height, width) in a child process on the JAX backend."""
    with tempfile.TemporaryDirectory() as tmp:
        inputs, outputs = os.path.join(tmp, "in.npz"), os.path.join(tmp, "out.npz")
        np.savez(inputs, **{f"x{i}": c[0] for i, c in enumerate(cases)},
                 **{f"size{i}": np.array(c[1:]) for i, c in enumerate(cases)})
        subprocess.run([sys.executable, os.path.abspath(__file__), "--jax-resize", inputs, outputs], check=True)
        with np.load(outputs) as out:
            return [out[f"y{i}"] for i in range(len(cases))], str(out["version"])


def jax_child(inputs, outputs):
    import jax

    with np.load(inputs) as data:
        count = len([k for k in data.files if k.startswith("x")])
        results = {f"y{i}": keras_resize(data[f"x{i}"], *[int(v) for v in data[f"size{i}"]]) for i in range(count)}
    np.savez(outputs, version=np.array(jax.__version__), **results)


def tf_decode(path):
    """TensorFlow's own decoder on the file: its default and its accurate DCT."""
    import tensorflow as tf

    data = tf.io.read_file(path)
    default = tf.io.decode_jpeg(data, channels=3).numpy()
    accurate = tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE").numpy()
    return default, accurate


def main():
    import keras

    os.makedirs(OUT, exist_ok=True)
    manifest = {
        "made_by": "tools/make_image_fixtures.py",
        "versions": {
            "pillow": PIL.__version__,
            "libjpeg_turbo_in_pillow": features.version("libjpeg_turbo"),
            "numpy": np.__version__,
            "keras": keras.__version__,
            "keras_backend": keras.backend.backend(),
        },
        "decode": [],
        "resize": [],
    }
    decoded = {}
    for seed, (name, width, height, options, grey) in enumerate(JPEGS):
        path = os.path.join(OUT, name)
        picture = slice_picture(height, width, seed + 1, grey)
        Image.fromarray(picture, "L" if grey else "RGB").save(path, "JPEG", **options)
        # keras.utils.load_img(path, color_mode="rgb") is PIL's open + convert("RGB").
        rgb = np.asarray(keras.utils.load_img(path, color_mode="rgb"))
        direct = np.asarray(Image.open(path).convert("RGB"))
        assert np.array_equal(rgb, direct)
        assert rgb.shape == (height, width, 3), rgb.shape
        png = name.replace(".jpg", ".pil.png")
        Image.fromarray(rgb, "RGB").save(os.path.join(OUT, png), "PNG", optimize=True)
        decoded[name] = rgb
        entry = {"jpeg": name, "pixels_png": png, "width": width, "height": height,
                 "sha256_rgb": hashlib.sha256(rgb.tobytes()).hexdigest(), "pil_options": options, "grey": grey}
        tf_pixels = tf_decode(path)
        entry["tf_decode_jpeg_default_max_diff"] = int(np.abs(tf_pixels[0].astype(int) - rgb).max())
        entry["tf_decode_jpeg_accurate_max_diff"] = int(np.abs(tf_pixels[1].astype(int) - rgb).max())
        manifest["decode"].append(entry)
        print(f"{name}: {os.path.getsize(path)} bytes, PIL pixels in {png}")

    # A CMYK JPEG, which alz refuses with a clear message.
    cmyk = Image.fromarray(slice_picture(24, 32, 99), "RGB").convert("CMYK")
    cmyk.save(os.path.join(OUT, "cmyk_32x24.jpg"), "JPEG", quality=90)
    manifest["cmyk"] = "cmyk_32x24.jpg"

    import tensorflow as tf

    manifest["versions"]["tensorflow"] = tf.__version__
    references = []
    for name, source, height, width in RESIZES:
        out = keras_resize(decoded[source], height, width)
        same_op = float(np.abs(tf_resize(decoded[source], height, width) - out).max())
        if same_op != 0.0:
            sys.exit(f"{name}: keras.ops.image.resize (TensorFlow backend) differs from tf.image.resize by {same_op}")
        references.append(out)
    on_jax, jax_version = jax_resizes([(decoded[source], height, width) for _, source, height, width in RESIZES])
    manifest["versions"]["jax"] = jax_version
    for (name, source, height, width), out, jax_out in zip(RESIZES, references, on_jax):
        rows, cols = stored_lines(height), stored_lines(width)
        block = np.concatenate([out[rows, :, :].ravel(), out[:, cols, :].transpose(1, 0, 2).ravel()])
        block.astype("<f4").tofile(os.path.join(OUT, name + ".bin"))
        h, w = np.mgrid[0:height, 0:width]
        weights = ((h * 31 + w * 17) % 101 + 1).astype(np.float64)[..., None]
        jax_diff = float(np.abs(jax_out - out).max())
        manifest["resize"].append({
            "name": name, "source_png": source.replace(".jpg", ".pil.png"), "source_jpeg": source,
            "height": height, "width": width, "rows": rows, "cols": cols, "file": name + ".bin",
            "sum": float(out.astype(np.float64).sum()),
            "weighted_sum": float((out.astype(np.float64) * weights).sum()),
            "weights": "(y * 31 + x * 17) % 101 + 1, the same for every channel",
            "min": float(out.min()), "max": float(out.max()),
            "keras_on_jax_max_diff": jax_diff})
        print(f"{name}: {source} {decoded[source].shape[:2]} -> ({height}, {width}), rows {rows}, cols {cols}, "
              f"Keras on TensorFlow == tf.image.resize, Keras on JAX within {jax_diff:.2e}")

    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print("wrote", os.path.normpath(OUT))


if __name__ == "__main__":
    if os.environ["KERAS_BACKEND"] == "jax":
        jax_child(sys.argv[2], sys.argv[3])
    else:
        main()
