// CPU tests of the reductions (kernels/reduce.h): sums and means by hand, per-channel sums and
// means and global average pooling on odd NHWC shapes, every backward against central finite
// differences in f64, and the accumulate flag.
//   ctest --test-dir build -R test_reduce
#include <gtest/gtest.h>

#include <vector>

#include "core/error.h"
#include "kernels/reduce.h"
#include "support/finite_difference.h"

namespace alz::kernels {
namespace {

using test::check_gradient;
using test::dot;
using test::random_vector;
using Vec = std::vector<double>;

TEST(Reduce, SumAndMeanByHand) {
  const Vec x = {1.0, -2.5, 4.0, 0.25, 7.0};
  EXPECT_DOUBLE_EQ(sum_cpu(x.data(), 5), 9.75);
  EXPECT_DOUBLE_EQ(mean_cpu(x.data(), 5), 1.95);
  const std::vector<float> xf = {1.0f, -2.5f, 4.0f, 0.25f, 7.0f};
  EXPECT_FLOAT_EQ(sum_cpu(xf.data(), 5), 9.75f);
  EXPECT_THROW(mean_cpu(x.data(), 0), Error);
}

TEST(Reduce, SumAndMeanBackwardMatchFiniteDifferences) {
  const int64_t n = 23;
  const Vec x = random_vector(n, 1);
  const double upstream = -1.7;
  Vec dx(n);
  sum_backward_cpu(upstream, dx.data(), n, false);
  EXPECT_TRUE(check_gradient([&](const Vec& v) { return upstream * sum_cpu(v.data(), n); }, x, dx, 1e-6,
                             test::kGradTolerance, "sum"));
  mean_backward_cpu(upstream, dx.data(), n, false);
  EXPECT_TRUE(check_gradient([&](const Vec& v) { return upstream * mean_cpu(v.data(), n); }, x, dx, 1e-6,
                             test::kGradTolerance, "mean"));
}

TEST(Reduce, ChannelSumAndMeanByHand) {
  // (rows 2, channels 3)
  const Vec x = {1.0, 2.0, 3.0, 10.0, 20.0, 30.0};
  Vec out(3);
  channel_sum_cpu(x.data(), out.data(), 2, 3);
  EXPECT_EQ(out, (Vec{11.0, 22.0, 33.0}));
  channel_mean_cpu(x.data(), out.data(), 2, 3);
  EXPECT_EQ(out, (Vec{5.5, 11.0, 16.5}));
}

// NHWC shapes (N, H, W, C); odd sizes, N = 1, 1x1 spatial.
class ReduceShapes : public ::testing::TestWithParam<std::vector<int64_t>> {};

TEST_P(ReduceShapes, ChannelReductionsBackwardMatchFiniteDifferences) {
  const auto s = GetParam();
  const int64_t rows = s[0] * s[1] * s[2], channels = s[3], n = rows * channels;
  const Vec x = random_vector(n, 2), g = random_vector(channels, 3);
  Vec dx(n);
  channel_sum_backward_cpu(g.data(), dx.data(), rows, channels, false);
  auto f_sum = [&](const Vec& v) {
    Vec out(channels);
    channel_sum_cpu(v.data(), out.data(), rows, channels);
    return dot(g, out);
  };
  EXPECT_TRUE(check_gradient(f_sum, x, dx, 1e-6, test::kGradTolerance, "channel sum"));
  channel_mean_backward_cpu(g.data(), dx.data(), rows, channels, false);
  auto f_mean = [&](const Vec& v) {
    Vec out(channels);
    channel_mean_cpu(v.data(), out.data(), rows, channels);
    return dot(g, out);
  };
  EXPECT_TRUE(check_gradient(f_mean, x, dx, 1e-6, test::kGradTolerance, "channel mean"));
}

TEST_P(ReduceShapes, GlobalAveragePoolingForwardAndBackward) {
  const auto s = GetParam();
  const int64_t batch = s[0], spatial = s[1] * s[2], channels = s[3], n = batch * spatial * channels;
  const Vec x = random_vector(n, 4), g = random_vector(batch * channels, 5);
  Vec y(batch * channels);
  global_avg_pool_forward_cpu(x.data(), y.data(), batch, spatial, channels);
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t c = 0; c < channels; ++c) {
      double sum = 0.0;
      for (int64_t p = 0; p < spatial; ++p) sum += x[(b * spatial + p) * channels + c];
      // Tolerance: the same sum in a possibly different order.
      EXPECT_NEAR(y[b * channels + c], sum / static_cast<double>(spatial), 1e-14);
    }
  }
  Vec dx(n);
  global_avg_pool_backward_cpu(g.data(), dx.data(), batch, spatial, channels, false);
  auto f = [&](const Vec& v) {
    Vec out(batch * channels);
    global_avg_pool_forward_cpu(v.data(), out.data(), batch, spatial, channels);
    return dot(g, out);
  };
  EXPECT_TRUE(check_gradient(f, x, dx, 1e-6, test::kGradTolerance, "global average pooling"));
}

INSTANTIATE_TEST_SUITE_P(OddShapes, ReduceShapes,
                         ::testing::Values(std::vector<int64_t>{2, 3, 5, 7}, std::vector<int64_t>{1, 1, 1, 3},
                                           std::vector<int64_t>{3, 1, 1, 5}, std::vector<int64_t>{1, 7, 7, 1}));

TEST(Reduce, BackwardAccumulates) {
  const int64_t batch = 2, spatial = 3, channels = 5, n = batch * spatial * channels;
  const Vec g = random_vector(batch * channels, 6), prior = random_vector(n, 7);
  Vec fresh(n), acc = prior;
  global_avg_pool_backward_cpu(g.data(), fresh.data(), batch, spatial, channels, false);
  global_avg_pool_backward_cpu(g.data(), acc.data(), batch, spatial, channels, true);
  Vec expect(n);
  for (int64_t i = 0; i < n; ++i) expect[i] = prior[i] + fresh[i];
  // Tolerance: one rounding of the sum in double.
  EXPECT_TRUE(test::all_close(acc, expect, {1e-15, 1e-15}, "gap accumulate"));
  Vec dx = prior;
  sum_backward_cpu(2.0, dx.data(), n, true);
  for (int64_t i = 0; i < n; ++i) EXPECT_EQ(dx[i], prior[i] + 2.0);
}

TEST(Reduce, FloatMatchesDouble) {
  const int64_t rows = 1000, channels = 3;
  const Vec x = random_vector(rows * channels, 8);
  const auto xf = test::to_float(x);
  Vec out(channels);
  std::vector<float> outf(channels);
  channel_mean_cpu(x.data(), out.data(), rows, channels);
  channel_mean_cpu(xf.data(), outf.data(), rows, channels);
  // Tolerance: float rounding of the inputs (2^-24 relative each) averaged; double accumulation.
  EXPECT_TRUE(test::all_close(test::to_float(out), outf, {1e-7, 1e-6}, "channel mean"));
}

}  // namespace
}  // namespace alz::kernels
