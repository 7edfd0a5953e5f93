// CPU convolution (kernels/cpu/conv2d.cpp): the im2col and 1x1 paths against the direct
// nested-loop reference (kernels/cpu/conv2d_reference.cpp) on odd shapes, in f32 and f64, with
// and without chunking; every backward against central finite differences in f64.
//
//   ctest --test-dir build -R Conv2d      or      build/tests/test_conv2d
#include <gtest/gtest.h>

#include <cmath>
#include <ostream>
#include <random>
#include <vector>

#include "core/error.h"
#include "kernels/conv2d.h"
#include "support/compare.h"
#include "support/conv_shapes.h"

namespace alz {
namespace {

using alz::test::Tolerance;

// The shape list is shared with the cuDNN test (tests/support/conv_shapes.h).
using ConvCase = test::ConvShape;
using test::asymmetric;

template <typename T> std::vector<T> random_vector(int64_t count, uint64_t seed) {
  std::mt19937_64 engine(seed);
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  std::vector<T> v(static_cast<size_t>(count));
  for (auto& e : v) e = T(dist(engine));
  return v;
}

template <typename T> std::vector<double> as_double(const std::vector<T>& v) {
  return std::vector<double>(v.begin(), v.end());
}

// Runs every direction through the GEMM path and the reference and compares.
template <typename T> void check_against_reference(const Conv2dParams& p, Tolerance tol) {
  const auto x = random_vector<T>(p.x_count(), 1);
  const auto w = random_vector<T>(p.w_count(), 2);
  const auto b = random_vector<T>(p.K, 3);
  const auto dy = random_vector<T>(p.y_count(), 4);
  const auto dw0 = random_vector<T>(p.w_count(), 5);
  const auto db0 = random_vector<T>(p.K, 6);

  for (const T* bias : {b.data(), static_cast<const T*>(nullptr)}) {
    std::vector<T> y(size_t(p.y_count()), T(1e30)), y_ref(size_t(p.y_count()));
    conv2d_forward_cpu(p, x.data(), w.data(), bias, y.data());
    conv2d_forward_reference(p, x.data(), w.data(), bias, y_ref.data());
    EXPECT_TRUE(alz::test::all_close(as_double(y), as_double(y_ref), tol, bias ? "forward+bias" : "forward"));
  }

  std::vector<T> dx(size_t(p.x_count()), T(1e30)), dx_ref(size_t(p.x_count()));  // dx must be overwritten
  conv2d_backward_data_cpu(p, dy.data(), w.data(), dx.data());
  conv2d_backward_data_reference(p, dy.data(), w.data(), dx_ref.data());
  EXPECT_TRUE(alz::test::all_close(as_double(dx), as_double(dx_ref), tol, "backward_data"));

  for (bool accumulate : {false, true}) {
    std::vector<T> dw = accumulate ? dw0 : std::vector<T>(dw0.size(), T(1e30));
    std::vector<T> dw_ref = dw0;
    conv2d_backward_filter_cpu(p, x.data(), dy.data(), dw.data(), accumulate);
    conv2d_backward_filter_reference(p, x.data(), dy.data(), dw_ref.data(), accumulate);
    EXPECT_TRUE(alz::test::all_close(as_double(dw), as_double(dw_ref), tol,
                                     accumulate ? "backward_filter (accumulate)" : "backward_filter"));

    std::vector<T> db = accumulate ? db0 : std::vector<T>(db0.size(), T(1e30));
    std::vector<T> db_ref = db0;
    conv2d_backward_bias_cpu(p, dy.data(), db.data(), accumulate);
    conv2d_backward_bias_reference(p, dy.data(), db_ref.data(), accumulate);
    EXPECT_TRUE(alz::test::all_close(as_double(db), as_double(db_ref), tol,
                                     accumulate ? "backward_bias (accumulate)" : "backward_bias"));
  }
}

class Conv2dCpu : public ::testing::TestWithParam<ConvCase> {
 protected:
  void TearDown() override { set_conv2d_cpu_column_budget(kDefaultBudget); }
  static constexpr int64_t kDefaultBudget = int64_t(8) << 20;
};

TEST_P(Conv2dCpu, F32MatchesDirectReference) {
  SCOPED_TRACE(GetParam().p.str());
  check_against_reference<float>(GetParam().p, Tolerance{2e-5, 1e-5});  // f32 GEMM, sums of <= ~600 O(1) terms
}

TEST_P(Conv2dCpu, F64MatchesDirectReference) {
  SCOPED_TRACE(GetParam().p.str());
  check_against_reference<double>(GetParam().p, Tolerance{1e-12, 1e-12});  // f64, only summation order differs
}

TEST_P(Conv2dCpu, ChunkedIm2colMatchesReference) {
  // A one-element budget forces one image per im2col chunk (several chunks when N > 1).
  set_conv2d_cpu_column_budget(1);
  SCOPED_TRACE(GetParam().p.str());
  check_against_reference<double>(GetParam().p, Tolerance{1e-12, 1e-12});  // f64, only summation order differs
}

// L = sum(y * g) with a random g, so dL/dy = g; each gradient element against
// (L(v + eps) - L(v - eps)) / (2 eps). L is linear in each input, so the central difference is
// exact up to rounding.
TEST_P(Conv2dCpu, GradientsMatchFiniteDifferences) {
  const Conv2dParams p = GetParam().p;
  SCOPED_TRACE(p.str());
  auto x = random_vector<double>(p.x_count(), 11);
  auto w = random_vector<double>(p.w_count(), 12);
  auto b = random_vector<double>(p.K, 13);
  const auto g = random_vector<double>(p.y_count(), 14);
  std::vector<double> y(size_t(p.y_count()));
  auto loss = [&] {
    conv2d_forward_cpu(p, x.data(), w.data(), b.data(), y.data());
    double sum = 0.0;
    for (size_t i = 0; i < y.size(); ++i) sum += y[i] * g[i];
    return sum;
  };
  const double eps = 1e-6;
  auto numeric = [&](std::vector<double>& v) {
    std::vector<double> grad(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      const double saved = v[i];
      v[i] = saved + eps;
      const double plus = loss();
      v[i] = saved - eps;
      const double minus = loss();
      v[i] = saved;
      grad[i] = (plus - minus) / (2 * eps);
    }
    return grad;
  };
  std::vector<double> dx(x.size()), dw(w.size()), db(b.size());
  conv2d_backward_data_cpu(p, g.data(), w.data(), dx.data());
  conv2d_backward_filter_cpu(p, x.data(), g.data(), dw.data(), false);
  conv2d_backward_bias_cpu(p, g.data(), db.data(), false);
  const Tolerance tol{1e-7, 1e-7};  // f64 rounding of L (|L| ~ 10) divided by 2*eps = 2e-6
  EXPECT_TRUE(alz::test::all_close(dx, numeric(x), tol, "dx vs finite differences"));
  EXPECT_TRUE(alz::test::all_close(dw, numeric(w), tol, "dw vs finite differences"));
  EXPECT_TRUE(alz::test::all_close(db, numeric(b), tol, "db vs finite differences"));
}

INSTANTIATE_TEST_SUITE_P(Shapes, Conv2dCpu, ::testing::ValuesIn(test::conv_odd_shapes()),
                         [](const ::testing::TestParamInfo<ConvCase>& info) { return std::string(info.param.name); });

TEST(Conv2dParamsTest, OutputSizes) {
  EXPECT_EQ(Conv2dParams::make(1, 230, 230, 3, 64, 7, 2, 0).P(), 112);  // ResNetV2 stem on the padded input
  EXPECT_EQ(Conv2dParams::make(1, 224, 224, 3, 64, 7, 2, 3).Q(), 112);
  EXPECT_EQ(Conv2dParams::make(1, 56, 56, 64, 64, 3, 2, 1).P(), 28);  // strided 3x3 of the last block
  EXPECT_EQ(Conv2dParams::make(1, 7, 7, 5, 7, 1, 2, 0).P(), 4);
  EXPECT_EQ(asymmetric(1, 8, 9, 1, 1, 3, 3, 2, 2, 0, 1, 0, 1).P(), 4);
  EXPECT_EQ(asymmetric(1, 8, 9, 1, 1, 3, 3, 2, 2, 0, 1, 0, 1).Q(), 4);
  EXPECT_DOUBLE_EQ(Conv2dParams::make(2, 5, 5, 3, 4, 3, 1, 1).flops(), 2.0 * 2 * 5 * 5 * 4 * 3 * 3 * 3);
}

TEST(Conv2dParamsTest, BadShapesThrowWithTheReason) {
  std::vector<float> buffer(64, 0.5f);
  Conv2dParams too_big = Conv2dParams::make(1, 2, 2, 1, 1, 3, 1, 0);
  try {
    conv2d_forward_cpu(too_big, buffer.data(), buffer.data(), static_cast<const float*>(nullptr), buffer.data());
    FAIL() << "a 3x3 filter on an unpadded 2x2 input must throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("larger than the padded input"), std::string::npos) << e.what();
  }
  Conv2dParams zero_stride = Conv2dParams::make(1, 4, 4, 1, 1, 1, 1, 0);
  zero_stride.stride_w = 0;
  EXPECT_THROW(zero_stride.validate("test"), Error);
  Conv2dParams negative_pad = Conv2dParams::make(1, 4, 4, 1, 1, 3, 1, 0);
  negative_pad.pad_left = -1;
  EXPECT_THROW(negative_pad.validate("test"), Error);
  EXPECT_THROW(set_conv2d_cpu_column_budget(0), Error);
}

}  // namespace
}  // namespace alz
