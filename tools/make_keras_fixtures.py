#!/usr/bin/env python3
"""Makes the Keras fixtures of tests/fixtures/keras/ with Keras itself (no TensorFlow).

    pip install keras "jax[cpu]" h5py
    python3 tools/make_keras_fixtures.py tests/fixtures/keras

Every model is built by Keras's own application code (keras.src.applications.resnet: the ResNet
builder, stack_residual_blocks_v2 / residual_block_v2), with fewer blocks and filters than
ResNet152V2, so every layer name, weight name and layout is Keras's. Every BatchNormalization's
gamma, beta, moving mean and moving variance, and every bias, is randomised, so that a reader
that mixed them up, or a forward that ignored one, would not match.

Written (a few hundred KB in all):
  mini_legacy.h5         weights, legacy layout (Keras's legacy writer, as keras.applications files)
  mini_legacy_k2.h5      the same with Keras 2's ":0" weight names (`conv1_conv/kernel:0`)
  mini_model.h5          the full model, `model_weights/` + `model_config` (legacy full-model writer)
  mini.weights.h5        Keras 3 weights (`layers/<auto name>/vars/<i>`)
  mini.keras             Keras 3 archive (stored members, as Keras writes it)
  mini_deflated.keras    the same archive with deflate-compressed members
  mini_notop_legacy.h5   include_top=False (the `_notop` layout), same backbone weights
  resnet_v1_mini.h5      a ResNet v1 (Keras's residual_block_v1), legacy layout: another architecture
  mobilenet_mini.keras   MobileNet (alpha 0.25), another architecture
  huge_shape.h5          a legacy-layout file whose one dataset claims (7, 7, 3, 2**40) floats
  pixels.u8              3 test images, uint8 (3, H, W, 3): a grey one (R = G = B) and two RGB
  image_{0,1,2}.png      the same pixels as PNG (the grey one as a 1-channel PNG)
  expected.json          the model's description and Keras's probabilities for the 3 images,
                         computed on x / 127.5 - 1 of exactly these pixels
"""
import json
import os
import struct
import sys
import zipfile
import zlib

os.environ.setdefault("KERAS_BACKEND", "jax")

import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras.src.applications import resnet  # noqa: E402
from keras.src.legacy.saving import legacy_h5_format  # noqa: E402

HEIGHT, WIDTH, CLASSES = 40, 36, 4
STACKS = [(4, 2), (8, 2), (8, 2)]  # (filters, blocks); the last stack unstrided, as Keras's conv5
SEED = 20261129


def mini_resnet_v2(include_top, name="resnetv2_mini"):
    def stack_fn(x):
        for i, (filters, blocks) in enumerate(STACKS):
            last = i == len(STACKS) - 1
            x = resnet.stack_residual_blocks_v2(x, filters, blocks, stride1=1 if last else 2, name=f"conv{i + 2}")
        return x

    return resnet.ResNet(stack_fn, preact=True, use_bias=True, include_top=include_top, weights=None,
                         input_shape=(HEIGHT, WIDTH, 3), classes=CLASSES, name=name)


def randomise(model, rng):
    """Random BatchNorm statistics and affine parameters, random biases."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, c), rng.normal(0, 0.2, c), rng.normal(0, 0.5, c),
                               rng.uniform(0.5, 2.0, c)])
        elif isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)) and layer.use_bias:
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, rng.normal(0, 0.1, bias.shape)])


def spread_head(model, x, rng):
    """Sets the Dense head so that the test images' probabilities differ clearly: the pooled
    features of a random deep network differ little between images (a few percent), so the head
    is scaled by their spread across the images and centred on their mean."""
    features = keras.Model(model.input, model.get_layer("avg_pool").output).predict(x, verbose=0)
    spread = features.std(axis=0).mean() + 1e-6
    kernel = rng.normal(0, 1.5 / (spread * np.sqrt(features.shape[1])), (features.shape[1], CLASSES))
    bias = -features.mean(axis=0) @ kernel
    model.get_layer("predictions").set_weights([kernel.astype(np.float32), bias.astype(np.float32)])


def save_legacy_weights(model, path):
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)


def keras2_names(source, target):
    """Rewrites a legacy file with Keras 2's weight names: `conv1_conv/kernel:0`."""
    with h5py.File(source, "r") as src, h5py.File(target, "w") as dst:
        for key, value in src.attrs.items():
            dst.attrs[key] = value
        text = lambda v: v.decode() if isinstance(v, bytes) else str(v)  # noqa: E731
        for layer in map(text, src.attrs["layer_names"]):
            group = dst.create_group(layer)
            names = [text(n) for n in src[layer].attrs["weight_names"]]
            group.attrs["weight_names"] = np.array([(n + ":0").encode() for n in names]) if names else np.array([])
            for n in names:
                group.create_dataset(n + ":0", data=src[layer][n][()])


def deflated_copy(source, target):
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))


def write_png(path, pixels):
    """A minimal PNG writer (8-bit grey or RGB, no interlace), so no imaging package is needed."""
    h, w = pixels.shape[:2]
    colour = 0 if pixels.ndim == 2 else 2
    rows = b"".join(b"\x00" + pixels[y].tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def test_pixels(rng):
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    grey = (128 + 100 * np.sin(xx / 5.0) * np.cos(yy / 7.0)).clip(0, 255).astype(np.uint8)
    images = [np.stack([grey] * 3, axis=-1)]
    for _ in range(2):
        images.append(rng.integers(0, 256, size=(HEIGHT, WIDTH, 3), dtype=np.uint8))
    return np.stack(images), grey


def huge_shape_file(path):
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([b"conv1_conv"])
        group = f.create_group("conv1_conv")
        group.attrs["weight_names"] = np.array([b"conv1_conv/kernel"])
        group.create_dataset("conv1_conv/kernel", shape=(7, 7, 3, 2**40), dtype="float32")  # no data written


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/keras"
    os.makedirs(out, exist_ok=True)
    keras.utils.set_random_seed(SEED)
    rng = np.random.default_rng(SEED)

    model = mini_resnet_v2(include_top=True)
    randomise(model, rng)
    pixels, grey = test_pixels(rng)
    x = pixels.astype(np.float32) / 127.5 - 1.0  # ResNetV2's preprocessing, on the very pixels alz reads
    spread_head(model, x, rng)
    notop = mini_resnet_v2(include_top=False)
    by_name = {layer.name: layer for layer in model.layers}
    for layer in notop.layers:
        if layer.weights:
            layer.set_weights(by_name[layer.name].get_weights())

    p = lambda name: os.path.join(out, name)  # noqa: E731
    save_legacy_weights(model, p("mini_legacy.h5"))
    keras2_names(p("mini_legacy.h5"), p("mini_legacy_k2.h5"))
    legacy_h5_format.save_model_to_hdf5(model, p("mini_model.h5"), include_optimizer=False)
    model.save_weights(p("mini.weights.h5"))
    model.save(p("mini.keras"))
    deflated_copy(p("mini.keras"), p("mini_deflated.keras"))
    save_legacy_weights(notop, p("mini_notop_legacy.h5"))

    def stack_v1(x):
        x = resnet.stack_residual_blocks_v1(x, 4, 2, name="conv2")
        return resnet.stack_residual_blocks_v1(x, 8, 2, name="conv3")

    v1 = resnet.ResNet(stack_v1, preact=False, use_bias=True, include_top=True, weights=None,
                       input_shape=(HEIGHT, WIDTH, 3), classes=CLASSES, name="resnet_v1_mini")
    save_legacy_weights(v1, p("resnet_v1_mini.h5"))
    mobilenet = keras.applications.MobileNet(input_shape=(32, 32, 3), alpha=0.25, weights=None, classes=CLASSES)
    mobilenet.save(p("mobilenet_mini.keras"))
    huge_shape_file(p("huge_shape.h5"))

    pixels.tofile(p("pixels.u8"))
    write_png(p("image_0.png"), grey)
    for i in (1, 2):
        write_png(p(f"image_{i}.png"), pixels[i])
    probabilities = np.asarray(model.predict(x, verbose=0), dtype=np.float64)

    expected = {
        "keras_version": keras.__version__,
        "backend": keras.backend.backend(),
        "model": "resnetv2:stem64:" + ",".join(f"{b}x{f}" for f, b in STACKS),
        "keras_name": model.name,
        "input_size": [HEIGHT, WIDTH],
        "classes": CLASSES,
        "images": ["image_0.png", "image_1.png", "image_2.png"],
        "layers": [layer.name for layer in model.layers],
        "probabilities": probabilities.tolist(),
    }
    with open(p("expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
    print("wrote", out, "probabilities", np.round(probabilities, 4).tolist())


if __name__ == "__main__":
    main()
