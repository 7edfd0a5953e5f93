// Every op on the tape, CPU f64: forward against a direct computation where it is short, and
// backward against central finite differences (tests/support/tape_gradcheck.h). Odd sizes
// throughout: C not a multiple of 4, N = 1, 1x1 spatial, stride 2 on odd inputs.
// Run: ctest --test-dir build -R Ops
#include <gtest/gtest.h>

#include <cmath>

#include "support/compare.h"
#include "support/tape_gradcheck.h"
#include "core/error.h"
#include "tensor/ops.h"

namespace alz {
namespace {

using test::check_tape_gradients;
using In = const std::vector<Tensor>&;

Tensor random(const Shape& shape, uint64_t seed, double low = -1.0, double high = 1.0) {
  Generator gen(seed);
  return Tensor::uniform(shape, gen, low, high, DType::F64);
}

TEST(Ops, ElementwiseGradients) {
  Tensor a = random({2, 3, 5}, 1), b = random({2, 3, 5}, 2);
  EXPECT_TRUE(check_tape_gradients([](In in) { return ops::add(in[0], in[1]); }, {a, b}));
  EXPECT_TRUE(check_tape_gradients([](In in) { return ops::sub(in[0], in[1]); }, {a, b}));
  EXPECT_TRUE(check_tape_gradients([](In in) { return ops::mul(in[0], in[1]); }, {a, b}));
  EXPECT_TRUE(check_tape_gradients([](In in) { return ops::scale(in[0], -2.5); }, {a}));
  // ReLU: keep inputs away from the kink so central differences stay valid.
  Tensor away = random({3, 7}, 3, 0.05, 1.0);
  for (int64_t i = 0; i < away.numel(); i += 2) away.data<double>()[i] *= -1;
  EXPECT_TRUE(check_tape_gradients([](In in) { return ops::relu(in[0]); }, {away}));
  Tensor x = random({2, 3, 3, 5}, 4), bias = random({5}, 5);
  EXPECT_TRUE(check_tape_gradients([](In in) { return ops::add_channel(in[0], in[1]); }, {x, bias}));
}

TEST(Ops, ElementwiseForwardValues) {
  Tensor a = Tensor::from_vector(std::vector<double>{1, -2, 3}, {3});
  Tensor b = Tensor::from_vector(std::vector<double>{4, 5, -6}, {3});
  EXPECT_EQ(ops::add(a, b).to_vector(), (std::vector<double>{5, 3, -3}));
  EXPECT_EQ(ops::mul(a, b).to_vector(), (std::vector<double>{4, -10, -18}));
  EXPECT_EQ(ops::relu(a).to_vector(), (std::vector<double>{1, 0, 3}));
  EXPECT_THROW(ops::add(a, Tensor::zeros({4}, DType::F64)), Error);
  EXPECT_THROW(ops::add(a, Tensor::zeros({3}, DType::F32)), Error);
}

TEST(Ops, ReductionGradients) {
  Tensor x = random({2, 3, 1, 7}, 6);
  EXPECT_TRUE(check_tape_gradients([](In in) { return ops::sum(in[0]); }, {x}));
  EXPECT_TRUE(check_tape_gradients([](In in) { return ops::mean(in[0]); }, {x}));
  EXPECT_TRUE(check_tape_gradients([](In in) { return ops::channel_sum(in[0]); }, {x}));
  EXPECT_TRUE(check_tape_gradients([](In in) { return ops::channel_mean(in[0]); }, {x}));
  EXPECT_TRUE(check_tape_gradients([](In in) { return ops::global_avg_pool(in[0]); }, {x}));
  EXPECT_NEAR(ops::mean(Tensor::from_vector(std::vector<double>{1, 2, 3, 6}, {4})).at({}), 3.0, 1e-15);
}

TEST(Ops, DenseGradients) {
  Tensor a = random({3, 5}, 7), b = random({5, 2}, 8), bias = random({2}, 9);
  EXPECT_TRUE(check_tape_gradients([](In in) { return ops::matmul(in[0], in[1]); }, {a, b}));
  EXPECT_TRUE(check_tape_gradients([](In in) { return ops::linear(in[0], in[1], in[2]); }, {a, b, bias}));
  EXPECT_TRUE(check_tape_gradients([](In in) { return ops::linear(in[0], in[1], Tensor()); }, {a, b}));
  // forward against the definition
  Tensor y = ops::linear(a, b, bias);
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 2; ++j) {
      double expected = bias.at({j});
      for (int64_t k = 0; k < 5; ++k) expected += a.at({i, k}) * b.at({k, j});
      EXPECT_NEAR(y.at({i, j}), expected, 1e-12);
    }
}

TEST(Ops, ConvGradients) {
  struct Case {
    Shape x, w;
    ops::Conv2dOptions options;
  };
  std::vector<Case> cases = {
      {{1, 5, 5, 3}, {4, 3, 3, 3}, {1, 1, {1, 1, 1, 1}}},    // 3x3 same
      {{2, 7, 7, 5}, {3, 3, 3, 5}, {2, 2, {0, 1, 0, 1}}},    // stride 2, odd input, asymmetric pad
      {{2, 4, 3, 6}, {7, 1, 1, 6}, {1, 1, {}}},              // 1x1
      {{1, 5, 5, 2}, {3, 1, 1, 2}, {2, 2, {}}},              // 1x1 stride 2
      {{1, 1, 1, 3}, {2, 1, 1, 3}, {1, 1, {}}},              // 1x1 spatial
  };
  uint64_t seed = 10;
  for (const Case& c : cases) {
    Tensor x = random(c.x, seed++), w = random(c.w, seed++), b = random({c.w[0]}, seed++);
    ops::Conv2dOptions options = c.options;
    EXPECT_TRUE(check_tape_gradients([options](In in) { return ops::conv2d(in[0], in[1], in[2], options); }, {x, w, b}))
        << shape_str(c.x) << " * " << shape_str(c.w);
    EXPECT_TRUE(check_tape_gradients([options](In in) { return ops::conv2d(in[0], in[1], Tensor(), options); }, {x, w}));
  }
  EXPECT_THROW(ops::conv2d(random({1, 4, 4, 3}, 1), random({2, 3, 3, 4}, 2), Tensor()), Error);
}

TEST(Ops, PoolAndPadGradients) {
  Tensor x = random({2, 7, 5, 3}, 30);
  ops::MaxPoolOptions pool1{3, 3, 2, 2, {1, 1, 1, 1}};
  EXPECT_TRUE(check_tape_gradients([pool1](In in) { return ops::max_pool2d(in[0], pool1); }, {x}));
  ops::MaxPoolOptions subsample{1, 1, 2, 2, {}};
  EXPECT_TRUE(check_tape_gradients([subsample](In in) { return ops::max_pool2d(in[0], subsample); }, {x}));
  EXPECT_TRUE(check_tape_gradients([](In in) { return ops::zero_pad2d(in[0], {3, 3, 3, 3}); }, {x}));
  EXPECT_TRUE(check_tape_gradients([](In in) { return ops::zero_pad2d(in[0], {0, 1, 2, 0}); }, {x}));
}

TEST(Ops, MaxPoolKerasZeroPaddingShowsOnNegativeInput) {
  Tensor x = random({1, 4, 4, 2}, 31, -2.0, -0.1);
  Tensor y = ops::max_pool2d(x, {3, 3, 2, 2, {1, 1, 1, 1}});
  ASSERT_EQ(y.shape(), (Shape{1, 2, 2, 2}));
  // Every window touches the zero padding (top-left ones) or not (bottom-right ones).
  EXPECT_EQ(y.at({0, 0, 0, 0}), 0.0);
  EXPECT_EQ(y.at({0, 0, 1, 1}), 0.0);
  EXPECT_LT(y.at({0, 1, 1, 0}), 0.0);  // the window rows 1..3, cols 1..3 lies inside the image
}

TEST(Ops, ReshapeAndFlattenGradients) {
  Tensor x = random({2, 3, 2, 2}, 40);
  EXPECT_TRUE(check_tape_gradients([](In in) { return ops::flatten(in[0]); }, {x}));
  EXPECT_TRUE(check_tape_gradients([](In in) { return ops::mul(ops::reshape(in[0], {6, 4}), ops::reshape(in[0], {6, 4})); },
                              {x}));
}

TEST(Ops, CrossEntropyGradientsAndValue) {
  Tensor logits = random({5, 4}, 50, -3.0, 3.0);
  Tensor labels = Tensor::from_vector(std::vector<int32_t>{0, 3, 1, 1, 2}, {5});
  Tensor weights = random({4}, 51, 0.5, 2.0);
  EXPECT_TRUE(check_tape_gradients([labels](In in) { return ops::softmax_cross_entropy(in[0], labels); }, {logits}));
  EXPECT_TRUE(check_tape_gradients([labels, weights](In in) { return ops::softmax_cross_entropy(in[0], labels, weights); },
                              {logits}));
  EXPECT_TRUE(check_tape_gradients([labels](In in) { return ops::softmax_cross_entropy(in[0], labels, Tensor(), 0.1); },
                              {logits}));
  // Hand-computed: logits (1, 2, 3), label 2: loss = log(e + e^2 + e^3) - 3 = 0.40760596444.
  Tensor z = Tensor::from_vector(std::vector<double>{1, 2, 3}, {1, 3});
  Tensor label = Tensor::from_vector(std::vector<int32_t>{2}, {1});
  EXPECT_NEAR(ops::softmax_cross_entropy(z, label).at({}), 0.40760596444438, 1e-12);
  Tensor p = ops::softmax(z);
  EXPECT_NEAR(p.at({0, 2}), 0.665240955774822, 1e-12);  // e^3 / (e + e^2 + e^3)
  EXPECT_THROW(ops::softmax_cross_entropy(z, Tensor::from_vector(std::vector<int32_t>{0, 1}, {2})), Error);
}

// ops::batch_norm on the CPU runs the fast f32 kernels for f32 and the reference for f64: the two
// agree through the op, in training (forward, moving statistics, every gradient), in inference
// (fast) and in a frozen layer whose backward needs the reference's mask.
TEST(Ops, BatchNormF32FastPathMatchesF64Reference) {
  const Tensor x64 = random({3, 5, 4, 13}, 40, -2.0, 3.0), dy64 = random({3, 5, 4, 13}, 41);
  const Tensor gamma64 = random({13}, 42, 0.5, 1.5), beta64 = random({13}, 43, -0.5, 0.5);
  const test::Tolerance tol{5e-5, 5e-5};  // f32 arithmetic against double on the same inputs
  for (bool training : {true, false}) {
    for (bool with_grad : {true, false}) {
      SCOPED_TRACE(testing::Message() << "training " << training << ", gradients " << with_grad);
      std::vector<Tensor> outputs[2], grads[2], moving[2];
      for (int k = 0; k < 2; ++k) {
        const DType dtype = k == 0 ? DType::F64 : DType::F32;
        Tensor x = x64.to(dtype), gamma = gamma64.to(dtype), beta = beta64.to(dtype);
        Tensor mm = Tensor::full({13}, 0.1, dtype), mv = Tensor::full({13}, 1.3, dtype);
        if (with_grad) {
          x.set_requires_grad(true);
          gamma.set_requires_grad(true);
          beta.set_requires_grad(true);
        }
        ops::BatchNormOptions options;
        options.training = training;
        Tensor y = ops::batch_norm(x, gamma, beta, mm, mv, options);
        outputs[k] = {y.to(DType::F64)};
        moving[k] = {mm.to(DType::F64), mv.to(DType::F64)};
        if (with_grad) {
          backward(ops::sum(ops::mul(y, dy64.to(dtype))));
          grads[k] = {x.grad().to(DType::F64), gamma.grad().to(DType::F64), beta.grad().to(DType::F64)};
        }
      }
      ALZ_EXPECT_CLOSE(outputs[1][0], outputs[0][0], tol);
      ALZ_EXPECT_CLOSE(moving[1][0], moving[0][0], tol);
      ALZ_EXPECT_CLOSE(moving[1][1], moving[0][1], tol);
      for (size_t i = 0; i < grads[0].size(); ++i) ALZ_EXPECT_CLOSE(grads[1][i], grads[0][i], tol);
    }
  }
}

}  // namespace
}  // namespace alz
