// The Keras fixtures of tests/fixtures/keras/ (made by tools/make_keras_fixtures.py with Keras
// itself): their paths, the test images as alz's model input, and Keras's probabilities for them.
//
//   test::KerasFixtures k;                    // reads fixtures/keras/expected.json
//   Tensor x = k.images();                    // (3, 40, 36, 3), x / 127.5 - 1 of pixels.u8
//   k.path("mini.keras");                     // "fixtures/keras/mini.keras"
#pragma once
#include <string>
#include <vector>

#include "models/resnet_v2.h"
#include "tensor/tensor.h"

namespace alz::test {

struct KerasFixtures {
  KerasFixtures();  // fails the current test (and throws) when the fixtures are missing

  std::string path(const std::string& name) const { return "fixtures/keras/" + name; }
  Tensor images() const;                        // (N, H, W, 3) f32 in [-1, 1]
  Tensor probabilities(ResNetV2& model) const;  // softmax of the model's logits on images(), eval mode

  std::string model;       // "resnetv2:stem64:2x4,2x8,2x8"
  std::string keras_name;  // "resnetv2_mini"
  int height = 0, width = 0, classes = 0;
  std::vector<std::string> layers;       // Keras's model.layers names, in order
  std::vector<std::string> image_files;  // PNGs of the same pixels
  std::vector<double> expected;          // Keras's probabilities (N * classes)
};

}  // namespace alz::test
