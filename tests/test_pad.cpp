// CPU tests of zero padding (kernels/pad.h): a hand-checked asymmetric pad, the backward crop
// against central finite differences in f64 on odd shapes, accumulate, and bad arguments.
//   ctest --test-dir build -R test_pad
#include <gtest/gtest.h>

#include <vector>

#include "core/error.h"
#include "kernels/pad.h"
#include "support/finite_difference.h"
#include "support/pool_pad_shapes.h"

namespace alz::kernels {
namespace {

using test::check_gradient;
using test::dot;
using test::random_vector;
using Vec = std::vector<double>;

TEST(ZeroPad, AsymmetricPadByHand) {
  // (1, 2, 2, 1) padded top 1, bottom 0, left 2, right 1 -> (1, 3, 5, 1)
  const Vec x = {1, 2, 3, 4};
  const Padding2d pad{1, 0, 2, 1};
  const ImageShape out = padded_shape({1, 2, 2, 1}, pad);
  ASSERT_EQ(out.h, 3);
  ASSERT_EQ(out.w, 5);
  Vec y(out.numel(), -7.0);
  zero_pad_forward_cpu(x.data(), y.data(), {1, 2, 2, 1}, pad);
  EXPECT_EQ(y, (Vec{0, 0, 0, 0, 0,  //
                    0, 0, 1, 2, 0,  //
                    0, 0, 3, 4, 0}));
}

TEST(ZeroPad, ChannelsStayTogether) {
  // (1, 1, 1, 3) padded by 1 on each side: the centre pixel keeps its 3 channels in order.
  const Vec x = {0.5, -1.5, 2.5};
  Vec y(27, -7.0);
  zero_pad_forward_cpu(x.data(), y.data(), {1, 1, 1, 3}, {1, 1, 1, 1});
  for (int64_t i = 0; i < 27; ++i) EXPECT_EQ(y[i], (i / 3 == 4) ? x[i % 3] : 0.0) << i;
}

// The odd shapes the CUDA kernels are checked on too (tests/support/pool_pad_shapes.h).
using PadCase = test::PadShape;

class ZeroPadGradient : public ::testing::TestWithParam<PadCase> {};

TEST_P(ZeroPadGradient, BackwardCropsAndMatchesFiniteDifferences) {
  const PadCase c = GetParam();
  const ImageShape out = padded_shape(c.in, c.pad);
  const Vec x = random_vector(c.in.numel(), 1), g = random_vector(out.numel(), 2);
  Vec dx(x.size());
  zero_pad_backward_cpu(g.data(), dx.data(), c.in, c.pad, false);
  auto f = [&](const Vec& v) {
    Vec y(out.numel());
    zero_pad_forward_cpu(v.data(), y.data(), c.in, c.pad);
    return dot(g, y);
  };
  EXPECT_TRUE(check_gradient(f, x, dx));
  const Vec prior = random_vector(x.size(), 3);
  Vec acc = prior;
  zero_pad_backward_cpu(g.data(), acc.data(), c.in, c.pad, true);
  for (size_t i = 0; i < acc.size(); ++i) EXPECT_EQ(acc[i], prior[i] + dx[i]) << i;
}

INSTANTIATE_TEST_SUITE_P(OddShapes, ZeroPadGradient, ::testing::ValuesIn(test::zero_pad_odd_shapes()));

TEST(ZeroPad, FloatMatchesDouble) {
  const ImageShape in{2, 3, 5, 3};
  const Padding2d pad{2, 1, 0, 3};
  const Vec x = random_vector(in.numel(), 4);
  const auto xf = test::to_float(x);
  const ImageShape out = padded_shape(in, pad);
  Vec y(out.numel());
  std::vector<float> yf(out.numel());
  zero_pad_forward_cpu(x.data(), y.data(), in, pad);
  zero_pad_forward_cpu(xf.data(), yf.data(), in, pad);
  EXPECT_EQ(yf, test::to_float(y));  // a copy: exact
}

TEST(ZeroPad, NegativeArgumentsThrow) {
  EXPECT_THROW(padded_shape({1, 2, 2, 1}, {0, -1, 0, 0}), Error);
  EXPECT_THROW(padded_shape({1, -2, 2, 1}, {0, 0, 0, 0}), Error);
}

}  // namespace
}  // namespace alz::kernels
