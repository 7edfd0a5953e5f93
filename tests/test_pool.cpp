// CPU tests of Keras max pooling (kernels/pool.h): hand-computed windows with symmetric and
// asymmetric zero padding, all-negative inputs (the padding zeros win at the border), first
// arg-max routing on ties, the 1x1 stride-2 shortcut on odd sizes, backward against central
// finite differences in f64 on odd shapes, accumulate, and shape errors.
//   ctest --test-dir build -R test_pool
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "kernels/pool.h"
#include "support/finite_difference.h"
#include "support/pool_pad_shapes.h"

namespace alz::kernels {
namespace {

using test::check_gradient;
using test::dot;
using test::random_vector;
using Vec = std::vector<double>;

MaxPool2dParams pool(ImageShape in, int64_t k, int64_t s, Padding2d pad = {}) {
  MaxPool2dParams p;
  p.input = in;
  p.kernel_h = p.kernel_w = k;
  p.stride_h = p.stride_w = s;
  p.pad = pad;
  return p;
}

Vec forward(const Vec& x, const MaxPool2dParams& p) {
  Vec y(max_pool_output_shape(p).numel());
  max_pool_forward_cpu(x.data(), y.data(), p);
  return y;
}

// (1, 4, 4, 1)
const Vec kImage = {1,  3,  2,  0.5,  //
                    4,  -1, 6,  2,    //
                    -3, 7,  1,  8,    //
                    2,  0,  -5, 9};

TEST(MaxPool, HandComputedWindows) {
  const ImageShape in{1, 4, 4, 1};
  EXPECT_EQ(forward(kImage, pool(in, 2, 2)), (Vec{4, 6, 7, 9}));
  // pool1 geometry: 3x3 stride 2 after one zero row/column on every side.
  EXPECT_EQ(forward(kImage, pool(in, 3, 2, {1, 1, 1, 1})), (Vec{4, 6, 7, 9}));
  // Asymmetric padding (bottom and right only): windows rows/cols {0..2, 2..4}, 4 is padding.
  EXPECT_EQ(forward(kImage, pool(in, 3, 2, {0, 1, 0, 1})), (Vec{7, 8, 7, 9}));
  const ImageShape out = max_pool_output_shape(pool(in, 3, 2, {0, 1, 0, 1}));
  EXPECT_EQ(out.h, 2);
  EXPECT_EQ(out.w, 2);
}

TEST(MaxPool, AllNegativeInputsGiveZeroAtThePaddedBorder) {
  // (1, 5, 5, 2), every value in [-2, -1): padded to 7x7, 3x3 stride 2 -> 3x3 outputs. Every
  // window but the centre one touches the zero padding, so its max is the padding's 0.
  const ImageShape in{1, 5, 5, 2};
  const MaxPool2dParams p = pool(in, 3, 2, {1, 1, 1, 1});
  const Vec x = random_vector(in.numel(), 1, -2.0, -1.0);
  const Vec y = forward(x, p);
  ASSERT_EQ(y.size(), 18u);
  for (int64_t oh = 0; oh < 3; ++oh) {
    for (int64_t ow = 0; ow < 3; ++ow) {
      for (int64_t c = 0; c < 2; ++c) {
        const double v = y[(oh * 3 + ow) * 2 + c];
        if (oh == 1 && ow == 1) {
          double best = -1e300;  // the centre window covers input rows and columns 1..3
          for (int64_t h = 1; h <= 3; ++h) {
            for (int64_t w = 1; w <= 3; ++w) best = std::max(best, x[(h * 5 + w) * 2 + c]);
          }
          EXPECT_EQ(v, best);
          EXPECT_LT(v, -1.0 + 1e-12);
        } else {
          EXPECT_EQ(v, 0.0) << "window (" << oh << ", " << ow << ") channel " << c;
        }
      }
    }
  }
  // Backward: the border windows' gradient goes nowhere, the centre's to its arg-max only.
  const Vec g = random_vector(y.size(), 2);
  Vec dx(x.size());
  max_pool_backward_cpu(x.data(), g.data(), dx.data(), p, false);
  for (int64_t c = 0; c < 2; ++c) {
    double total = 0.0;
    int nonzero = 0;
    for (int64_t i = c; i < in.numel(); i += 2) {
      total += dx[i];
      nonzero += dx[i] != 0.0;
    }
    EXPECT_EQ(nonzero, 1);
    EXPECT_EQ(total, g[(1 * 3 + 1) * 2 + c]);
  }
}

TEST(MaxPool, TiesRouteToTheFirstArgMaxInRowMajorOrder) {
  // (1, 3, 3, 1) all equal, 2x2 stride 1: each window's first tap is its top-left.
  const ImageShape in{1, 3, 3, 1};
  const Vec x(9, 1.5), g = {1.0, 2.0, 3.0, 4.0};
  Vec dx(9);
  max_pool_backward_cpu(x.data(), g.data(), dx.data(), pool(in, 2, 1), false);
  EXPECT_EQ(dx, (Vec{1, 2, 0, 3, 4, 0, 0, 0, 0}));
  // A tie between a padding zero and a real 0 that comes later: the padding is first, so the
  // gradient goes nowhere. (1, 1, 1, 1) with value 0, 3x3 window over one pixel of padding.
  const Vec zero = {0.0}, g1 = {5.0};
  Vec d1 = {0.0};
  max_pool_backward_cpu(zero.data(), g1.data(), d1.data(), pool({1, 1, 1, 1}, 3, 1, {1, 1, 1, 1}), false);
  EXPECT_EQ(d1[0], 0.0);
  // Without padding before it, the real 0 wins: pad only bottom/right.
  max_pool_backward_cpu(zero.data(), g1.data(), d1.data(), pool({1, 1, 1, 1}, 2, 1, {0, 1, 0, 1}), false);
  EXPECT_EQ(d1[0], 5.0);
}

TEST(MaxPool, OneByOneStrideTwoShortcutOnOddSizes) {
  // (2, 5, 7, 3) -> (2, 3, 4, 3): y = x[:, ::2, ::2, :]
  const ImageShape in{2, 5, 7, 3};
  const MaxPool2dParams p = pool(in, 1, 2);
  const Vec x = random_vector(in.numel(), 3);
  const Vec y = forward(x, p);
  const ImageShape out = max_pool_output_shape(p);
  ASSERT_EQ(out.h, 3);
  ASSERT_EQ(out.w, 4);
  Vec dx(x.size());
  const Vec g = random_vector(y.size(), 4);
  max_pool_backward_cpu(x.data(), g.data(), dx.data(), p, false);
  for (int64_t n = 0; n < 2; ++n) {
    for (int64_t h = 0; h < 5; ++h) {
      for (int64_t w = 0; w < 7; ++w) {
        for (int64_t c = 0; c < 3; ++c) {
          const int64_t i = ((n * 5 + h) * 7 + w) * 3 + c;
          const bool kept = h % 2 == 0 && w % 2 == 0;
          const int64_t o = ((n * 3 + h / 2) * 4 + w / 2) * 3 + c;
          if (kept) {
            EXPECT_EQ(y[o], x[i]);
          }
          EXPECT_EQ(dx[i], kept ? g[o] : 0.0);
        }
      }
    }
  }
}

// The odd shapes the CUDA kernels are checked on too (tests/support/pool_pad_shapes.h).
using PoolCase = test::PoolShape;

class MaxPoolGradient : public ::testing::TestWithParam<PoolCase> {};

TEST_P(MaxPoolGradient, BackwardMatchesFiniteDifferences) {
  const PoolCase c = GetParam();
  const MaxPool2dParams p = pool(c.in, c.k, c.s, c.pad);
  const Vec x = random_vector(c.in.numel(), 5, c.low, c.high), g = random_vector(max_pool_output_shape(p).numel(), 6);
  Vec dx(x.size());
  max_pool_backward_cpu(x.data(), g.data(), dx.data(), p, false);
  EXPECT_TRUE(check_gradient([&](const Vec& v) { return dot(g, forward(v, p)); }, x, dx));
  // accumulate adds the same gradient onto what is there
  const Vec prior = random_vector(x.size(), 7);
  Vec acc = prior;
  max_pool_backward_cpu(x.data(), g.data(), acc.data(), p, true);
  for (size_t i = 0; i < acc.size(); ++i) EXPECT_NEAR(acc[i], prior[i] + dx[i], 1e-15) << i;
}

INSTANTIATE_TEST_SUITE_P(OddShapes, MaxPoolGradient, ::testing::ValuesIn(test::max_pool_odd_shapes()));

TEST(MaxPool, FloatMatchesDouble) {
  const ImageShape in{2, 7, 5, 3};
  const MaxPool2dParams p = pool(in, 3, 2, {1, 1, 1, 1});
  const Vec x = random_vector(in.numel(), 8);
  const auto xf = test::to_float(x);
  std::vector<float> yf(max_pool_output_shape(p).numel());
  max_pool_forward_cpu(xf.data(), yf.data(), p);
  EXPECT_EQ(yf, test::to_float(forward(x, p)));  // max selects an input: exact
}

TEST(MaxPool, BadShapesThrow) {
  EXPECT_THROW(max_pool_output_shape(pool({1, 2, 2, 1}, 3, 1)), Error);                 // window too big
  EXPECT_NO_THROW(max_pool_output_shape(pool({1, 2, 2, 1}, 3, 1, {1, 0, 1, 0})));       // fits once padded
  EXPECT_THROW(max_pool_output_shape(pool({1, 4, 4, 1}, 2, 0)), Error);                 // zero stride
  EXPECT_THROW(max_pool_output_shape(pool({1, 4, 4, 1}, 2, 1, {-1, 0, 0, 0})), Error);  // negative pad
}

}  // namespace
}  // namespace alz::kernels
