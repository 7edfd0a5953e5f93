// Grad-CAM and Grad-CAM++ (train/gradcam.h) on a small ResNetV2: the gradients autograd gives
// through the hook (ResNetV2::features / classify) against central finite differences of the
// class logit under perturbations of the last block's output; the known answer of a head that
// reads one channel (the map is that channel's activations, normalised) and of a head with a
// few channels (Grad-CAM++'s weights by hand); the model's state left as it was; the bilinear
// upsampling; the overlay's size, colours and colour bar.
// Run: ctest --test-dir build -R GradCam
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "core/error.h"
#include "models/resnet_v2.h"
#include "support/compare.h"
#include "tensor/autograd.h"
#include "train/gradcam.h"

namespace alz {
namespace {

// Two stacks (one strided): a 40x36 input gives a 5x5x32 last block, small enough to perturb
// every element of it.
constexpr const char* kSpec = "resnetv2:stem8:1x4,1x8";
constexpr int kHeight = 40, kWidth = 36, kClasses = 3;

std::unique_ptr<ResNetV2> make_model(uint64_t seed) {
  auto model = std::make_unique<ResNetV2>(resnet_v2_config(kSpec, kClasses, kHeight, kWidth), seed);
  // Moving statistics away from (0, 1), so that eval-mode BatchNorm is not the identity.
  Generator gen(seed + 100);
  for (ParamRef& p : model->parameters()) {
    if (p.name.find("moving_mean") != std::string::npos) *p.tensor = Tensor::uniform(p.tensor->shape(), gen, -0.2, 0.2);
    if (p.name.find("moving_variance") != std::string::npos)
      *p.tensor = Tensor::uniform(p.tensor->shape(), gen, 0.5, 1.5);
  }
  model->set_training(false);
  return model;
}

std::vector<double> to_vector(const Tensor& t) {
  Tensor host = t.to(Device::cpu()).to(DType::F64);
  return std::vector<double>(host.data<double>(), host.data<double>() + host.numel());
}

std::vector<double> as_doubles(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

TEST(GradCam, TheHookSplitsTheForwardExactly) {
  std::unique_ptr<ResNetV2> owner = make_model(1);
  ResNetV2& model = *owner;
  Generator gen(2);
  Tensor images = Tensor::uniform({2, kHeight, kWidth, 3}, gen, -1.0, 1.0);
  NoGradGuard no_grad;
  Tensor features = model.features(images);
  EXPECT_EQ(features.shape(), (Shape{2, 5, 5, 32}));
  // The same ops in the same order: bit for bit.
  EXPECT_TRUE(test::bitwise_equal(model.classify(features), model.forward(images)));
}

// The whole gradient dS/dA by central differences on A (through classify), then both maps
// made from it, against compute_gradcam's maps made from autograd's gradient.
TEST(GradCam, GradientsThroughTheHookEqualFiniteDifferences) {
  std::unique_ptr<ResNetV2> owner = make_model(3);
  ResNetV2& model = *owner;
  model.cast(DType::F64);
  Generator gen(4);
  Tensor images = Tensor::uniform({2, kHeight, kWidth, 3}, gen, -1.0, 1.0, DType::F64);
  std::vector<train::GradCamResult> results = train::compute_gradcam(model, images, {2, -1});
  ASSERT_EQ(results.size(), 2u);

  NoGradGuard no_grad;
  Tensor activations = model.features(images);  // (2, 5, 5, 32)
  std::vector<double> logits = to_vector(model.forward(images));
  EXPECT_EQ(results[0].class_index, 2);
  const int predicted =
      static_cast<int>(std::max_element(logits.begin() + kClasses, logits.end()) - (logits.begin() + kClasses));
  EXPECT_EQ(results[1].class_index, predicted);
  EXPECT_EQ(results[1].predicted, predicted);

  const int h = 5, w = 5, channels = 32;
  const int64_t per_image = int64_t{h} * w * channels;
  const double eps = 1e-4;
  for (int i = 0; i < 2; ++i) {
    const int c = results[i].class_index;
    EXPECT_DOUBLE_EQ(results[i].score, logits[i * kClasses + c]);
    std::vector<double> a = to_vector(activations.slice(i, i + 1));
    std::vector<double> fd(per_image);
    for (int64_t e = 0; e < per_image; ++e) {
      auto score = [&](double delta) {
        Tensor moved = activations.clone();
        double* data = moved.data<double>() + i * per_image + e;
        *data += delta;
        return model.classify(moved).at({i, c});
      };
      fd[e] = (score(eps) - score(-eps)) / (2 * eps);
    }
    // Grad-CAM's weights: the finite-difference gradient averaged over positions, and the
    // derivative along "add delta to all of channel k", divided by h*w: the same number.
    std::vector<double> alpha(channels, 0.0), alpha_channel(channels);
    for (int64_t e = 0; e < per_image; ++e) alpha[e % channels] += fd[e] / (h * w);
    for (int k = 0; k < channels; ++k) {
      auto score = [&](double delta) {
        Tensor moved = activations.clone();
        for (int p = 0; p < h * w; ++p) moved.data<double>()[i * per_image + p * channels + k] += delta;
        return model.classify(moved).at({i, c});
      };
      alpha_channel[k] = (score(eps) - score(-eps)) / (2 * eps * h * w);
    }
    // f64; the head is linear in A, so central differences are exact up to rounding (~1e-16 / eps).
    const test::Tolerance tol{1e-10, 1e-8};
    ALZ_EXPECT_CLOSE(results[i].gradcam.weights, alpha, tol);
    ALZ_EXPECT_CLOSE(results[i].gradcam.weights, alpha_channel, tol);
    train::CamMap gradcam, gradcam_pp;
    train::cam_maps_from_gradients(a.data(), fd.data(), h, w, channels, kHeight, kWidth, gradcam, gradcam_pp);
    ALZ_EXPECT_CLOSE(results[i].gradcam_pp.weights, gradcam_pp.weights, tol);
    // Maps in f32 after normalising: f32 rounding.
    const test::Tolerance map_tol{1e-6, 1e-5};
    ALZ_EXPECT_CLOSE(as_doubles(results[i].gradcam.coarse), as_doubles(gradcam.coarse), map_tol);
    ALZ_EXPECT_CLOSE(as_doubles(results[i].gradcam_pp.coarse), as_doubles(gradcam_pp.coarse), map_tol);
    ALZ_EXPECT_CLOSE(as_doubles(results[i].gradcam.full), as_doubles(gradcam.full), map_tol);
    EXPECT_NEAR(results[i].gradcam.raw_max, gradcam.raw_max, 1e-10 + 1e-8 * gradcam.raw_max);
    EXPECT_EQ(results[i].gradcam.full.size(), size_t(kHeight) * kWidth);
  }
}

TEST(GradCam, LeavesTheModelAsItWas) {
  std::unique_ptr<ResNetV2> owner = make_model(5);
  ResNetV2& model = *owner;
  model.set_training(true);
  Generator gen(6);
  Tensor images = Tensor::uniform({1, kHeight, kWidth, 3}, gen, -1.0, 1.0);
  Tensor before = model.head().kernel_.clone();
  {
    NoGradGuard no_grad;  // works inside one too (as an evaluation loop would call it)
    train::compute_gradcam(model, images);
    EXPECT_FALSE(grad_enabled());
  }
  EXPECT_TRUE(model.training());
  EXPECT_TRUE(model.head().trainable());
  EXPECT_TRUE(model.head().kernel_.requires_grad());
  EXPECT_FALSE(model.head().kernel_.grad().defined());  // no parameter gained a gradient
  for (ParamRef& p : model.parameters()) EXPECT_FALSE(p.tensor->grad().defined()) << p.name;
  EXPECT_EQ(tape_size(), 0u);
  EXPECT_TRUE(test::bitwise_equal(model.head().kernel_, before));

  EXPECT_NE(test::error_message([&] { train::compute_gradcam(model, images, {3}); }).find("out of range"),
            std::string::npos);
  EXPECT_NE(test::error_message([&] {
              train::compute_gradcam(model, images, {0, 1});
            }).find("2 classes for 1"),
            std::string::npos);
  Tensor wrong = Tensor::uniform({1, kHeight, kWidth, 1}, gen);
  EXPECT_NE(test::error_message([&] { train::compute_gradcam(model, wrong); }).find("(N, H, W, 3)"), std::string::npos);
}

// A head that reads only channel j for class c: the map is channel j's activations divided by
// their maximum, for both methods; a negative weight leaves nothing (ReLU): a zero map.
TEST(GradCam, KnownAnswerOfAHeadThatReadsOneChannel) {
  std::unique_ptr<ResNetV2> owner = make_model(7);
  ResNetV2& model = *owner;
  Generator gen(8);
  Tensor images = Tensor::uniform({1, kHeight, kWidth, 3}, gen, -1.0, 1.0);
  Tensor activations;
  {
    NoGradGuard no_grad;
    activations = model.features(images);
  }
  const int h = 5, w = 5, channels = 32, c = 1;
  std::vector<double> a = to_vector(activations);
  // The channel with the largest activation, so that it is not all zeros.
  const int j = static_cast<int>((std::max_element(a.begin(), a.end()) - a.begin()) % channels);
  double peak = 0;
  for (int p = 0; p < h * w; ++p) peak = std::max(peak, a[p * channels + j]);
  ASSERT_GT(peak, 0.0);

  Tensor& kernel = model.head().kernel_;  // (C, K)
  kernel.fill(0.0);
  for (int k = 0; k < channels; ++k) kernel.set({k, 0}, 0.5);  // another class reads everything
  kernel.set({j, c}, 0.7);
  train::GradCamResult r = train::compute_gradcam(model, images, {c})[0];
  std::vector<double> expected(h * w), alpha(channels, 0.0);
  for (int p = 0; p < h * w; ++p) expected[p] = a[p * channels + j] / peak;
  alpha[j] = 0.7 / (h * w);
  // f32 activations and weights, normalised: f32 rounding.
  const test::Tolerance tol{1e-6, 1e-5};
  ALZ_EXPECT_CLOSE(r.gradcam.weights, alpha, tol);
  ALZ_EXPECT_CLOSE(as_doubles(r.gradcam.coarse), expected, tol);
  ALZ_EXPECT_CLOSE(as_doubles(r.gradcam_pp.coarse), expected, tol);
  EXPECT_NEAR(r.gradcam.raw_max, 0.7 / (h * w) * peak, 1e-6 * peak);
  std::vector<float> expected_f(expected.begin(), expected.end());
  ALZ_EXPECT_CLOSE(as_doubles(r.gradcam.full), as_doubles(train::upsample_bilinear(expected_f, h, w, kHeight, kWidth)),
                   tol);

  kernel.set({j, c}, -0.7);
  r = train::compute_gradcam(model, images, {c})[0];
  EXPECT_EQ(r.gradcam.raw_max, 0.0);
  EXPECT_EQ(r.gradcam_pp.raw_max, 0.0);
  EXPECT_EQ(*std::max_element(r.gradcam.full.begin(), r.gradcam.full.end()), 0.0f);
}

// A head with three channels for class c (two positive weights, one negative): with this head
// G_kij = g_k = W[k, c] / (h w) everywhere, so Grad-CAM++'s weight of channel k is
// h w ReLU(g_k) / (2 + g_k S_k), S_k the sum of channel k, and Grad-CAM's is g_k.
TEST(GradCam, KnownAnswerOfGradCamPlusPlus) {
  std::unique_ptr<ResNetV2> owner = make_model(9);
  ResNetV2& model = *owner;
  Generator gen(10);
  Tensor images = Tensor::uniform({1, kHeight, kWidth, 3}, gen, -1.0, 1.0);
  Tensor activations;
  {
    NoGradGuard no_grad;
    activations = model.features(images);
  }
  const int h = 5, w = 5, channels = 32, c = 2;
  std::vector<double> a = to_vector(activations);
  const std::vector<std::pair<int, double>> head = {{3, 0.5}, {17, 0.9}, {30, -0.3}};
  Tensor& kernel = model.head().kernel_;
  kernel.fill(0.0);
  for (auto [k, weight] : head) kernel.set({k, c}, weight);
  train::GradCamResult r = train::compute_gradcam(model, images, {c})[0];

  std::vector<double> gradcam(channels, 0.0), plus(channels, 0.0);
  for (auto [k, weight] : head) {
    double g = weight / (h * w), sum = 0;
    for (int p = 0; p < h * w; ++p) sum += a[p * channels + k];
    gradcam[k] = g;
    plus[k] = g > 0 ? h * w * g / (2 + g * sum) : 0.0;
  }
  auto map = [&](const std::vector<double>& weights) {
    std::vector<double> m(h * w, 0.0);
    for (int p = 0; p < h * w; ++p) {
      for (int k = 0; k < channels; ++k) m[p] += weights[k] * a[p * channels + k];
      m[p] = std::max(m[p], 0.0);
    }
    double top = *std::max_element(m.begin(), m.end());
    for (double& v : m) v /= top;
    return m;
  };
  // f32 activations and head (weights exact in f32 up to rounding), maps normalised.
  const test::Tolerance tol{1e-6, 1e-5};
  ALZ_EXPECT_CLOSE(r.gradcam.weights, gradcam, tol);
  ALZ_EXPECT_CLOSE(r.gradcam_pp.weights, plus, tol);
  ALZ_EXPECT_CLOSE(as_doubles(r.gradcam.coarse), map(gradcam), tol);
  ALZ_EXPECT_CLOSE(as_doubles(r.gradcam_pp.coarse), map(plus), tol);
  EXPECT_GT(r.gradcam_pp.raw_max, 0.0);
}

TEST(GradCam, BilinearUpsamplingHasHalfPixelCentres) {
  // Width 2 -> 4 samples s = -0.25, 0.25, 0.75, 1.25, clamped to [0, 1].
  std::vector<float> out = train::upsample_bilinear({0.0f, 1.0f}, 1, 2, 1, 4);
  ALZ_EXPECT_CLOSE(as_doubles(out), (std::vector<double>{0.0, 0.25, 0.75, 1.0}), (test::Tolerance{1e-7, 0}));
  // Rows too, and the same size is the identity.
  out = train::upsample_bilinear({0.0f, 1.0f}, 2, 1, 4, 1);
  ALZ_EXPECT_CLOSE(as_doubles(out), (std::vector<double>{0.0, 0.25, 0.75, 1.0}), (test::Tolerance{1e-7, 0}));
  std::vector<float> same = {0.1f, 0.7f, 0.3f, 0.9f, 0.2f, 0.4f};
  EXPECT_EQ(train::upsample_bilinear(same, 2, 3, 2, 3), same);
  EXPECT_THROW(train::upsample_bilinear(same, 2, 2, 4, 4), Error);
}

TEST(GradCam, OverlayBlendsTheMapOverTheGreySliceWithAColourBar) {
  // A black slice, hot in its top-left quarter, cold elsewhere.
  const int height = 8, width = 8, out_h = 64, out_w = 96;
  std::vector<float> image(height * width * 3, -1.0f), map(height * width, 0.0f);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x) map[y * width + x] = 1.0f;
  data::Image out = train::render_overlay(image.data(), height, width, map, out_h, out_w);
  ASSERT_EQ(out.height, out_h);
  ASSERT_EQ(out.width, out_w);
  ASSERT_EQ(out.channels, 3);
  uint8_t hot[3], cold[3];
  train::jet_colour(1.0, hot);
  train::jet_colour(0.0, cold);
  EXPECT_EQ(hot[0], 128);  // dark red
  EXPECT_EQ(hot[2], 0);
  EXPECT_EQ(cold[2], 128);  // dark blue
  EXPECT_EQ(cold[0], 0);
  for (int ch = 0; ch < 3; ++ch) {
    EXPECT_EQ(out.at(2, 2, ch), std::lround(train::kOverlayAlpha * hot[ch])) << ch;
    EXPECT_EQ(out.at(60, 60, ch), std::lround(train::kOverlayAlpha * cold[ch])) << ch;
  }
  // The bar (the last 16 columns at this width): jet(1) near the top, jet(0) near the bottom,
  // and white marks.
  bool found_top = false, found_bottom = false;
  int white = 0;
  for (int y = 0; y < out_h; ++y)
    for (int x = out_w - 16; x < out_w; ++x) {
      if (out.at(y, x, 0) == hot[0] && out.at(y, x, 1) == hot[1] && out.at(y, x, 2) == hot[2] && y < out_h / 4)
        found_top = true;
      if (out.at(y, x, 0) == cold[0] && out.at(y, x, 1) == cold[1] && out.at(y, x, 2) == cold[2] && y > 3 * out_h / 4)
        found_bottom = true;
      white += out.at(y, x, 0) == 255 && out.at(y, x, 1) == 255 && out.at(y, x, 2) == 255;
    }
  EXPECT_TRUE(found_top);
  EXPECT_TRUE(found_bottom);
  EXPECT_GE(white, 12);  // two digits (>= 6 pixels each at scale 1) and two ticks
  EXPECT_THROW(train::render_overlay(image.data(), height, width, map, 8, 96), Error);
  EXPECT_THROW(train::render_overlay(image.data(), height, width, {0.5f}, out_h, out_w), Error);
}

TEST(GradCam, RenderForTheReportIsTheOverlayOfTheMap) {
  std::unique_ptr<ResNetV2> owner = make_model(11);
  ResNetV2& model = *owner;
  Generator gen(12);
  Tensor image = Tensor::uniform({kHeight, kWidth, 3}, gen, -1.0, 1.0);
  data::Image out = train::render_gradcam_overlay(model, image, 120, 150, 1, train::CamMethod::GradCamPlusPlus);
  EXPECT_EQ(out.height, 120);
  EXPECT_EQ(out.width, 150);
  train::GradCamResult r = train::compute_gradcam(model, image.reshape({1, kHeight, kWidth, 3}), {1})[0];
  data::Image expected = train::render_overlay(image.data<float>(), kHeight, kWidth, r.gradcam_pp.full, 120, 150);
  EXPECT_EQ(out.pixels, expected.pixels);
  Tensor two = Tensor::uniform({2, kHeight, kWidth, 3}, gen);
  EXPECT_THROW(train::render_gradcam_overlay(model, two, 120, 150), Error);
}

}  // namespace
}  // namespace alz
