// Resizing decoded images to the model's input size, and the Keras resnet_v2 preprocessing.
//
// Two methods, both separable, both with float output (0..255, never rounded):
//   keras  bilinear interpolation with half-pixel centres and no antialiasing, as
//          tf.image.resize(method="bilinear", antialias=False), which is what Keras 3's
//          keras.ops.image.resize(interpolation="bilinear", antialias=False) runs on its
//          TensorFlow backend (and what tf.keras's image loading used). Per axis, output i
//          samples the source at s = (i + 0.5) * in / out - 0.5 (float32, as TensorFlow):
//          v = a + (b - a) * (s - floor(s)) with a, b the pixels at floor(s) and floor(s) + 1,
//          both clamped to the image; rows first, then columns. When shrinking by more than
//          2x it skips source pixels (aliasing), exactly as Keras does.
//   area   when an axis shrinks (or keeps its size), each output is the mean of the source
//          area it covers (a box filter as wide as the scale: a 2x shrink averages 2x2
//          blocks); when it grows, the same bilinear interpolation as keras. Better for heavy
//          downscaling, but not what Keras computes.
// Keras 3 on the JAX backend (jax.image.resize) computes the same interpolation with weights in
// a different float32 order: it differs from tf.image.resize by up to ~1.5e-3 grey levels.
//
// Preprocessing is keras.applications.resnet_v2.preprocess_input: y = x / 127.5 - 1 (a float32
// division, then a subtraction, as Keras), NHWC, 3 channels.
//
// Tested in tests/test_image.cpp (references, identities) and tests/test_image_keras.cpp
// (Keras's own floats, made by tools/make_image_fixtures.py):
//   cmake --build build --target test_image_keras && build/tests/test_image_keras
#pragma once
#include <string>

#include "core/bf16.h"
#include "data/image.h"

namespace alz::data {

enum class ResizeMethod { Keras, Area };

// "keras" or "area"; throws alz::Error naming the accepted values otherwise.
ResizeMethod parse_resize_method(const std::string& name);
const char* resize_method_name(ResizeMethod method);

// Any channel count in, the same channel count out; height, width >= 1. The same size gives
// the pixels unchanged (as floats) with either method.
FloatImage resize_image(const Image& src, int height, int width, ResizeMethod method = ResizeMethod::Keras);

// The same pixels as floats.
FloatImage to_float(const Image& image);

// y = x / 127.5 - 1 for a 3-channel image into (H, W, 3) floats (or bf16, rounded to nearest
// even from the float value). Throws alz::Error when channels != 3.
void preprocess_to_float(const FloatImage& image, float* out);
void preprocess_to_bf16(const FloatImage& image, bf16* out);
void preprocess_to_float(const Image& image, float* out);
void preprocess_to_bf16(const Image& image, bf16* out);

}  // namespace alz::data
