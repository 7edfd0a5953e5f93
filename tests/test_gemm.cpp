// CPU tests of matmul and the Dense layer (kernels/gemm.h, OpenBLAS): every transpose
// combination against a naive triple loop on odd sizes, alpha/beta, empty inner dimension,
// linear forward against a loop and its backward against central finite differences in f64.
//   ctest --test-dir build -R "Gemm|Linear"      (or build/tests/test_gemm)
#include <gtest/gtest.h>

#include <tuple>
#include <vector>

#include "core/error.h"
#include "kernels/gemm.h"
#include "support/finite_difference.h"

namespace alz::kernels {
namespace {

using test::check_gradient;
using test::dot;
using test::random_vector;
using Vec = std::vector<double>;

// C = alpha op(A) op(B) + beta C with plain loops, row-major.
template <typename T>
void naive_matmul(const std::vector<T>& a, const std::vector<T>& b, std::vector<T>& c, int64_t m, int64_t n, int64_t k,
                  bool ta, bool tb, T alpha, T beta) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0.0;
      for (int64_t p = 0; p < k; ++p) {
        const double av = ta ? a[p * m + i] : a[i * k + p];
        const double bv = tb ? b[j * k + p] : b[p * n + j];
        sum += av * bv;
      }
      c[i * n + j] = static_cast<T>(alpha * sum + (beta == T(0) ? 0.0 : beta * c[i * n + j]));
    }
  }
}

class Matmul : public ::testing::TestWithParam<std::tuple<int64_t, int64_t, int64_t, bool, bool>> {};

TEST_P(Matmul, MatchesNaiveLoop) {
  const auto [m, n, k, ta, tb] = GetParam();
  const Vec a = random_vector(m * k, 1), b = random_vector(k * n, 2), c0 = random_vector(m * n, 3);
  Vec c = c0, expect = c0;
  matmul_cpu(a.data(), b.data(), c.data(), m, n, k, ta, tb);
  naive_matmul(a, b, expect, m, n, k, ta, tb, 1.0, 0.0);
  // Tolerance: f64 sums of up to 17 products in a different order.
  EXPECT_TRUE(test::all_close(c, expect, {1e-13, 1e-13}, "f64 matmul"));

  c = c0;
  expect = c0;
  matmul_cpu(a.data(), b.data(), c.data(), m, n, k, ta, tb, -0.5, 2.0);
  naive_matmul(a, b, expect, m, n, k, ta, tb, -0.5, 2.0);
  EXPECT_TRUE(test::all_close(c, expect, {1e-13, 1e-13}, "f64 matmul alpha beta"));

  const auto af = test::to_float(a), bf = test::to_float(b);
  std::vector<float> cf(m * n, 7.0f), expectf(m * n);
  matmul_cpu(af.data(), bf.data(), cf.data(), m, n, k, ta, tb);
  naive_matmul(af, bf, expectf, m, n, k, ta, tb, 1.0f, 0.0f);
  // Tolerance: f32 accumulation of up to 17 products of size <= 1 (~17 * 2^-24 absolute).
  EXPECT_TRUE(test::all_close(cf, expectf, {2e-6, 1e-5}, "f32 matmul"));
}

INSTANTIATE_TEST_SUITE_P(OddSizes, Matmul,
                         ::testing::Combine(::testing::Values(1, 5), ::testing::Values(1, 3, 7),
                                            ::testing::Values(1, 17), ::testing::Bool(), ::testing::Bool()));

TEST(Gemm, EmptyInnerDimensionScalesC) {
  Vec c = {1.0, 2.0, 3.0, 4.0};
  matmul_cpu<double>(nullptr, nullptr, c.data(), 2, 2, 0, false, false, 1.0, 0.5);
  EXPECT_EQ(c, (Vec{0.5, 1.0, 1.5, 2.0}));
  matmul_cpu<double>(nullptr, nullptr, c.data(), 2, 2, 0, false, false);
  EXPECT_EQ(c, (Vec{0.0, 0.0, 0.0, 0.0}));
  EXPECT_THROW(matmul_cpu<double>(nullptr, nullptr, c.data(), -1, 2, 2, false, false), Error);
}

// Dense with W (in, out): batch B, odd sizes including B = 1 and in = out = 1.
class Linear : public ::testing::TestWithParam<std::tuple<int64_t, int64_t, int64_t>> {};

TEST_P(Linear, ForwardMatchesLoopAndBackwardMatchesFiniteDifferences) {
  const auto [batch, in, out] = GetParam();
  const Vec x = random_vector(batch * in, 4), w = random_vector(in * out, 5), b = random_vector(out, 6),
            g = random_vector(batch * out, 7);
  Vec y(batch * out);
  linear_forward_cpu(x.data(), w.data(), b.data(), y.data(), batch, in, out);
  Vec expect(batch * out);
  for (int64_t r = 0; r < batch; ++r) {
    for (int64_t j = 0; j < out; ++j) {
      double sum = b[j];
      for (int64_t i = 0; i < in; ++i) sum += x[r * in + i] * w[i * out + j];
      expect[r * out + j] = sum;
    }
  }
  // Tolerance: f64 sums of up to 13 terms in a different order.
  EXPECT_TRUE(test::all_close(y, expect, {1e-13, 1e-13}, "linear forward"));

  Vec dx(batch * in), dw(in * out), db(out);
  LinearBackwardArgs<double> args{.dy = g.data(),
                                  .x = x.data(),
                                  .w = w.data(),
                                  .dx = dx.data(),
                                  .dw = dw.data(),
                                  .db = db.data(),
                                  .batch = batch,
                                  .in = in,
                                  .out = out};
  linear_backward_cpu(args);
  auto forward = [&](const Vec& xv, const Vec& wv, const Vec& bv) {
    Vec yv(batch * out);
    linear_forward_cpu(xv.data(), wv.data(), bv.data(), yv.data(), batch, in, out);
    return dot(g, yv);
  };
  EXPECT_TRUE(check_gradient([&](const Vec& v) { return forward(v, w, b); }, x, dx, 1e-6, test::kGradTolerance, "dx"));
  EXPECT_TRUE(check_gradient([&](const Vec& v) { return forward(x, v, b); }, w, dw, 1e-6, test::kGradTolerance, "dW"));
  EXPECT_TRUE(check_gradient([&](const Vec& v) { return forward(x, w, v); }, b, db, 1e-6, test::kGradTolerance, "db"));

  // Accumulating into existing gradients adds exactly the fresh gradient.
  const Vec prior_x = random_vector(batch * in, 8), prior_w = random_vector(in * out, 9),
            prior_b = random_vector(out, 10);
  Vec acc_x = prior_x, acc_w = prior_w, acc_b = prior_b;
  args.dx = acc_x.data();
  args.dw = acc_w.data();
  args.db = acc_b.data();
  args.accumulate_dx = args.accumulate_params = true;
  linear_backward_cpu(args);
  for (size_t i = 0; i < acc_x.size(); ++i) EXPECT_NEAR(acc_x[i], prior_x[i] + dx[i], 1e-13) << "dx " << i;
  for (size_t i = 0; i < acc_w.size(); ++i) EXPECT_NEAR(acc_w[i], prior_w[i] + dw[i], 1e-13) << "dW " << i;
  for (size_t i = 0; i < acc_b.size(); ++i) EXPECT_NEAR(acc_b[i], prior_b[i] + db[i], 1e-13) << "db " << i;
}

INSTANTIATE_TEST_SUITE_P(OddSizes, Linear,
                         ::testing::Values(std::make_tuple(3, 5, 4), std::make_tuple(1, 7, 3), std::make_tuple(1, 1, 1),
                                           std::make_tuple(5, 13, 1)));

TEST(Gemm, LinearWithoutBiasAndSkippedGradients) {
  const int64_t batch = 2, in = 3, out = 2;
  const Vec x = random_vector(batch * in, 11), w = random_vector(in * out, 12), g = random_vector(batch * out, 13);
  Vec y(batch * out), expect(batch * out);
  linear_forward_cpu(x.data(), w.data(), static_cast<const double*>(nullptr), y.data(), batch, in, out);
  matmul_cpu(x.data(), w.data(), expect.data(), batch, out, in, false, false);
  EXPECT_EQ(y, expect);
  Vec dw(in * out), dw_all(in * out), dx(batch * in), db(out);
  LinearBackwardArgs<double> args{
      .dy = g.data(), .x = x.data(), .w = w.data(), .dw = dw.data(), .batch = batch, .in = in, .out = out};
  linear_backward_cpu(args);  // dx and db not wanted
  args.dx = dx.data();
  args.dw = dw_all.data();
  args.db = db.data();
  linear_backward_cpu(args);
  EXPECT_EQ(dw, dw_all);
}

}  // namespace
}  // namespace alz::kernels
