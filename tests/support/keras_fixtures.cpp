// The Keras fixtures (support/keras_fixtures.h).
#include "support/keras_fixtures.h"

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tensor/autograd.h"
#include "tensor/ops.h"

namespace alz::test {

KerasFixtures::KerasFixtures() {
  std::ifstream in(path("expected.json"));
  ALZ_CHECK(in, path("expected.json") << ": missing; run tools/make_keras_fixtures.py tests/fixtures/keras");
  nlohmann::json j = nlohmann::json::parse(in);
  model = j.at("model");
  keras_name = j.at("keras_name");
  height = j.at("input_size")[0];
  width = j.at("input_size")[1];
  classes = j.at("classes");
  layers = j.at("layers").get<std::vector<std::string>>();
  image_files = j.at("images").get<std::vector<std::string>>();
  for (const auto& row : j.at("probabilities"))
    for (const auto& p : row) expected.push_back(p.get<double>());
}

Tensor KerasFixtures::images() const {
  std::ifstream in(path("pixels.u8"), std::ios::binary);
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  int64_t n = static_cast<int64_t>(image_files.size());
  ALZ_CHECK(static_cast<int64_t>(bytes.size()) == n * height * width * 3, path("pixels.u8") << ": wrong size");
  Tensor x = Tensor::empty({n, height, width, 3});
  float* out = x.data<float>();
  for (size_t i = 0; i < bytes.size(); ++i) out[i] = static_cast<float>(bytes[i]) / 127.5f - 1.0f;  // as numpy
  return x;
}

Tensor KerasFixtures::probabilities(ResNetV2& model) const {
  NoGradGuard no_grad;
  model.set_training(false);
  Tensor logits = model.forward(images()).to(Device::cpu()).to(DType::F64);
  Tensor probs = Tensor::empty(logits.shape(), DType::F64);
  int64_t rows = logits.dim(0), k = logits.dim(1);
  const double* l = logits.data<double>();
  double* p = probs.data<double>();
  for (int64_t r = 0; r < rows; ++r) {
    double top = l[r * k];
    for (int64_t c = 1; c < k; ++c) top = std::max(top, l[r * k + c]);
    double sum = 0;
    for (int64_t c = 0; c < k; ++c) sum += p[r * k + c] = std::exp(l[r * k + c] - top);
    for (int64_t c = 0; c < k; ++c) p[r * k + c] /= sum;
  }
  return probs;
}

}  // namespace alz::test
