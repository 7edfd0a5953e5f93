// CPU tests of the elementwise kernels (kernels/elementwise.h): hand-checked forward values,
// every backward against central finite differences in f64, the accumulate flag, skipped
// (nullptr) gradients, and float against double.
//   ctest --test-dir build -R "^Elementwise\."      (or build/tests/test_elementwise)
#include <gtest/gtest.h>

#include <vector>

#include "kernels/elementwise.h"
#include "support/finite_difference.h"

namespace alz::kernels {
namespace {

using test::check_gradient;
using test::dot;
using test::random_vector;
using Vec = std::vector<double>;

TEST(Elementwise, ForwardValuesByHand) {
  const Vec a = {1.5, -2.0, 3.25}, b = {0.5, 4.0, -1.0};
  Vec y(3);
  add_forward_cpu(a.data(), b.data(), y.data(), 3);
  EXPECT_EQ(y, (Vec{2.0, 2.0, 2.25}));
  sub_forward_cpu(a.data(), b.data(), y.data(), 3);
  EXPECT_EQ(y, (Vec{1.0, -6.0, 4.25}));
  mul_forward_cpu(a.data(), b.data(), y.data(), 3);
  EXPECT_EQ(y, (Vec{0.75, -8.0, -3.25}));
  scale_forward_cpu(a.data(), -2.0, y.data(), 3);
  EXPECT_EQ(y, (Vec{-3.0, 4.0, -6.5}));
  relu_forward_cpu(a.data(), y.data(), 3);
  EXPECT_EQ(y, (Vec{1.5, 0.0, 3.25}));
}

// Binary op forward as a function of one operand, the other fixed.
using BinaryForward = void (*)(const double*, const double*, double*, int64_t);

void expect_binary_gradients(BinaryForward forward, const Vec& da, const Vec& db, const Vec& a, const Vec& b,
                             const Vec& g, const char* what) {
  const int64_t n = static_cast<int64_t>(a.size());
  auto f_a = [&](const Vec& v) {
    Vec y(n);
    forward(v.data(), b.data(), y.data(), n);
    return dot(g, y);
  };
  auto f_b = [&](const Vec& v) {
    Vec y(n);
    forward(a.data(), v.data(), y.data(), n);
    return dot(g, y);
  };
  EXPECT_TRUE(check_gradient(f_a, a, da, 1e-6, test::kGradTolerance, std::string(what) + " da"));
  EXPECT_TRUE(check_gradient(f_b, b, db, 1e-6, test::kGradTolerance, std::string(what) + " db"));
}

TEST(Elementwise, BinaryBackwardMatchesFiniteDifferences) {
  const int64_t n = 37;  // odd
  const Vec a = random_vector(n, 1), b = random_vector(n, 2), g = random_vector(n, 3);
  Vec da(n), db(n);
  expect_binary_gradients(add_forward_cpu<double>, g, g, a, b, g, "add");  // ops::add hands dy to both
  scaled_grad_cpu(g.data(), 1.0, da.data(), n, false);                     // ops::sub: dy and -dy
  scaled_grad_cpu(g.data(), -1.0, db.data(), n, false);
  expect_binary_gradients(sub_forward_cpu<double>, da, db, a, b, g, "sub");
  mul_backward_cpu(g.data(), a.data(), b.data(), da.data(), db.data(), n, false);
  expect_binary_gradients(mul_forward_cpu<double>, da, db, a, b, g, "mul");
}

TEST(Elementwise, ScaleBackwardMatchesFiniteDifferences) {
  const int64_t n = 11;
  const double alpha = -0.7;
  const Vec x = random_vector(n, 4), g = random_vector(n, 5);
  Vec dx(n);
  scaled_grad_cpu(g.data(), alpha, dx.data(), n, false);
  auto f = [&](const Vec& v) {
    Vec y(n);
    scale_forward_cpu(v.data(), alpha, y.data(), n);
    return dot(g, y);
  };
  EXPECT_TRUE(check_gradient(f, x, dx));
}

TEST(Elementwise, ReluBackwardFromOutputOrInputMatchesFiniteDifferences) {
  const int64_t n = 29;
  Vec x = random_vector(n, 6);
  for (double& v : x) v += v > 0 ? 0.05 : -0.05;  // keep every value away from the kink at 0
  const Vec g = random_vector(n, 7);
  Vec y(n), dx_from_y(n), dx_from_x(n);
  relu_forward_cpu(x.data(), y.data(), n);
  relu_backward_cpu(g.data(), y.data(), dx_from_y.data(), n, false);
  relu_backward_cpu(g.data(), x.data(), dx_from_x.data(), n, false);
  EXPECT_EQ(dx_from_y, dx_from_x);
  auto f = [&](const Vec& v) {
    Vec out(n);
    relu_forward_cpu(v.data(), out.data(), n);
    return dot(g, out);
  };
  EXPECT_TRUE(check_gradient(f, x, dx_from_y));
}

TEST(Elementwise, ReluGradientAtZeroIsZero) {
  const Vec x = {0.0, -0.0, 1.0}, g = {5.0, 5.0, 5.0};
  Vec dx(3);
  relu_backward_cpu(g.data(), x.data(), dx.data(), 3, false);
  EXPECT_EQ(dx, (Vec{0.0, 0.0, 5.0}));
}

// Bias add on NHWC shapes (N, H, W, C): rows = N*H*W.
class BiasAdd : public ::testing::TestWithParam<std::vector<int64_t>> {};

TEST_P(BiasAdd, ForwardAndBackward) {
  const auto s = GetParam();
  const int64_t rows = s[0] * s[1] * s[2], channels = s[3], n = rows * channels;
  const Vec x = random_vector(n, 8), bias = random_vector(channels, 9), g = random_vector(n, 10);
  Vec y(n);
  bias_add_forward_cpu(x.data(), bias.data(), y.data(), rows, channels);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < channels; ++c) ASSERT_EQ(y[r * channels + c], x[r * channels + c] + bias[c]);
  }
  Vec dx(n), dbias(channels);
  bias_add_backward_cpu(g.data(), dx.data(), dbias.data(), rows, channels, false, false);
  auto f_x = [&](const Vec& v) {
    Vec out(n);
    bias_add_forward_cpu(v.data(), bias.data(), out.data(), rows, channels);
    return dot(g, out);
  };
  auto f_b = [&](const Vec& v) {
    Vec out(n);
    bias_add_forward_cpu(x.data(), v.data(), out.data(), rows, channels);
    return dot(g, out);
  };
  EXPECT_TRUE(check_gradient(f_x, x, dx, 1e-6, test::kGradTolerance, "bias add dx"));
  EXPECT_TRUE(check_gradient(f_b, bias, dbias, 1e-6, test::kGradTolerance, "bias add dbias"));
}

INSTANTIATE_TEST_SUITE_P(OddShapes, BiasAdd,
                         ::testing::Values(std::vector<int64_t>{2, 3, 5, 7}, std::vector<int64_t>{1, 1, 1, 3},
                                           std::vector<int64_t>{3, 1, 1, 1}, std::vector<int64_t>{1, 4, 3, 5}));

TEST(Elementwise, AccumulateAddsIntoTheExistingGradient) {
  const int64_t n = 13, channels = 13;
  const Vec a = random_vector(n, 11), b = random_vector(n, 12), g = random_vector(n, 13), prior = random_vector(n, 14);
  auto check = [&](auto backward, const char* what) {
    Vec fresh_a(n), fresh_b(n), acc_a = prior, acc_b = prior;
    backward(fresh_a.data(), fresh_b.data(), false);
    backward(acc_a.data(), acc_b.data(), true);
    Vec expect_a(n), expect_b(n);
    for (int64_t i = 0; i < n; ++i) {
      expect_a[i] = prior[i] + fresh_a[i];
      expect_b[i] = prior[i] + fresh_b[i];
    }
    // Tolerance: one rounding of the sum in double.
    EXPECT_TRUE(test::all_close(acc_a, expect_a, {1e-15, 1e-15}, std::string(what) + " first"));
    EXPECT_TRUE(test::all_close(acc_b, expect_b, {1e-15, 1e-15}, std::string(what) + " second"));
  };
  check([&](double* da, double* db, bool acc) { mul_backward_cpu(g.data(), a.data(), b.data(), da, db, n, acc); },
        "mul");
  check(
      [&](double* da, double* db, bool acc) {
        relu_backward_cpu(g.data(), a.data(), da, n, acc);
        scaled_grad_cpu(g.data(), 0.5, db, n, acc);
      },
      "relu, scale");
  check(
      [&](double* da, double* db, bool acc) {
        bias_add_backward_cpu(g.data(), da, db, 1, channels, acc, acc);  // one row: dbias == dy
      },
      "bias add");
}

TEST(Elementwise, NullGradientsAreSkipped) {
  const int64_t n = 5;
  const Vec a = random_vector(n, 15), b = random_vector(n, 16), g = random_vector(n, 17);
  Vec da(n), db(n), dbias(n);
  mul_backward_cpu(g.data(), a.data(), b.data(), da.data(), static_cast<double*>(nullptr), n, false);
  mul_backward_cpu(g.data(), a.data(), b.data(), static_cast<double*>(nullptr), db.data(), n, false);
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_EQ(da[i], g[i] * b[i]);
    EXPECT_EQ(db[i], g[i] * a[i]);
  }
  scaled_grad_cpu(g.data(), 2.0, static_cast<double*>(nullptr), n, false);  // nothing to write
  bias_add_backward_cpu(g.data(), static_cast<double*>(nullptr), dbias.data(), 1, n, false, false);
  EXPECT_EQ(dbias, g);
}

TEST(Elementwise, FloatMatchesDouble) {
  const int64_t rows = 6, channels = 5, n = rows * channels;
  const Vec a = random_vector(n, 18), b = random_vector(n, 19), g = random_vector(n, 20),
            bias = random_vector(channels, 21);
  const auto af = test::to_float(a), bf = test::to_float(b), gf = test::to_float(g), biasf = test::to_float(bias);
  Vec y(n), da(n), dbias(channels);
  std::vector<float> yf(n), daf(n), dbiasf(channels);
  mul_forward_cpu(a.data(), b.data(), y.data(), n);
  mul_forward_cpu(af.data(), bf.data(), yf.data(), n);
  // Tolerance: float rounding of inputs and one product, ~2^-23 relative each.
  EXPECT_TRUE(test::all_close(test::to_float(y), yf, {1e-6, 1e-6}, "mul"));
  bias_add_backward_cpu(g.data(), da.data(), dbias.data(), rows, channels, false, false);
  bias_add_backward_cpu(gf.data(), daf.data(), dbiasf.data(), rows, channels, false, false);
  // Tolerance: float inputs summed over 6 rows.
  EXPECT_TRUE(test::all_close(test::to_float(dbias), dbiasf, {1e-6, 1e-6}, "dbias"));
}

}  // namespace
}  // namespace alz::kernels
