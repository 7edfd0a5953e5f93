// CPU tests of softmax cross-entropy (kernels/softmax_xent.h): hand-computed losses (plain, class
// weights, label smoothing, both), probabilities, stability for huge logits, the backward
// against central finite differences in f64 for every configuration, the upstream gradient and
// accumulate, and label errors.
//   ctest --test-dir build -R test_softmax_xent
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.h"
#include "kernels/softmax_xent.h"
#include "support/finite_difference.h"

namespace alz::kernels {
namespace {

using test::check_gradient;
using test::random_vector;
using Vec = std::vector<double>;

// Logits (2, 3) and labels {0, 2}.
//   row 0: z = (2, 1, 0.1),   lse = log(e^2 + e^1 + e^0.1)     = 2.4170300162778333
//   row 1: z = (0.5, 2.5, -1), lse = log(e^0.5 + e^2.5 + e^-1) = 2.6531782071222882
const Vec kLogits = {2.0, 1.0, 0.1, 0.5, 2.5, -1.0};
const std::vector<int32_t> kLabels = {0, 2};
const Vec kWeights = {2.0, 1.0, 0.5};

SoftmaxXentArgs<double> args(const Vec* weights = nullptr, double eps = 0.0) {
  SoftmaxXentArgs<double> a;
  a.labels = kLabels.data();
  a.class_weights = weights ? weights->data() : nullptr;
  a.label_smoothing = eps;
  a.n = 2;
  a.k = 3;
  return a;
}

// Tolerance for the hand values: double arithmetic, the constants printed to 17 digits.
constexpr double kHandTol = 1e-14;

TEST(SoftmaxXent, PlainMeanByHand) {
  // loss_0 = lse_0 - z_00 = 0.4170300162778333, loss_1 = lse_1 - z_12 = 3.6531782071222882
  // L = (0.4170300162778333 + 3.6531782071222882) / 2
  Vec probs(6);
  EXPECT_NEAR(softmax_xent_forward_cpu(kLogits.data(), args(), probs.data()), 2.035104111700061, kHandTol);
  // p = exp(z - lse)
  const Vec expect = {0.659001138885968,   0.24243297070471395, 0.0985658904093182,
                      0.11611453467414115, 0.8579768106084572,  0.025908654717401523};
  EXPECT_TRUE(test::all_close(probs, expect, {1e-15, 1e-14}, "probabilities"));
}

TEST(SoftmaxXent, ClassWeightsGiveTheWeightedMean) {
  // w[y] = (2, 0.5): L = (2 * 0.4170300162778333 + 0.5 * 3.6531782071222882) / (2 + 0.5)
  EXPECT_NEAR(softmax_xent_forward_cpu(kLogits.data(), args(&kWeights), static_cast<double*>(nullptr)),
              1.0642596544467242, kHandTol);
}

TEST(SoftmaxXent, LabelSmoothingByHand) {
  // eps = 0.1, K = 3: loss_i = lse_i - 0.9 z_{i,y_i} - (0.1 / 3) sum_j z_ij
  //   row 0: 2.4170300162778333 - 1.8 - 0.1/3 * 3.1 = 0.5136966829445
  //   row 1: 2.6531782071222882 + 0.9 - 0.1/3 * 2.0 = 3.4865115404556213
  EXPECT_NEAR(softmax_xent_forward_cpu(kLogits.data(), args(nullptr, 0.1), static_cast<double*>(nullptr)),
              2.0001041117000606, kHandTol);
  // with weights: (2 * 0.5136966829445 + 0.5 * 3.4865115404556213) / 2.5
  EXPECT_NEAR(softmax_xent_forward_cpu(kLogits.data(), args(&kWeights, 0.1), static_cast<double*>(nullptr)),
              1.1082596544467243, kHandTol);
}

TEST(SoftmaxXent, HugeLogitsStayFinite) {
  // Shifting every logit by a constant changes nothing; 1000 would overflow a naive exp.
  Vec shifted = kLogits;
  for (double& z : shifted) z += 1000.0;
  const double loss = softmax_xent_forward_cpu(shifted.data(), args(), static_cast<double*>(nullptr));
  EXPECT_TRUE(std::isfinite(loss));
  // Tolerance: 1000 + z loses ~1e-13 of each logit to rounding.
  EXPECT_NEAR(loss, 2.035104111700061, 1e-12);
  std::vector<float> huge = {3e4f, -3e4f, 0.0f};
  const int32_t label = 1;
  SoftmaxXentArgs<float> a;
  a.labels = &label;
  a.n = 1;
  a.k = 3;
  EXPECT_FLOAT_EQ(softmax_xent_forward_cpu(huge.data(), a, static_cast<float*>(nullptr)), 6e4f);
}

struct XentCase {
  int64_t n, k;
  bool weighted;
  double eps;
};

class SoftmaxXentGradient : public ::testing::TestWithParam<XentCase> {};

TEST_P(SoftmaxXentGradient, BackwardMatchesFiniteDifferences) {
  const XentCase c = GetParam();
  const Vec logits = random_vector(c.n * c.k, 1, -3.0, 3.0), weights = random_vector(c.k, 2, 0.2, 2.0);
  std::vector<int32_t> labels(c.n);
  for (int64_t i = 0; i < c.n; ++i) labels[i] = static_cast<int32_t>((i * 7 + 3) % c.k);
  SoftmaxXentArgs<double> a;
  a.labels = labels.data();
  a.class_weights = c.weighted ? weights.data() : nullptr;
  a.label_smoothing = c.eps;
  a.n = c.n;
  a.k = c.k;
  const double upstream = 1.3;
  Vec dz(logits.size());
  softmax_xent_backward_cpu(logits.data(), a, upstream, dz.data(), false);
  auto f = [&](const Vec& v) {
    return upstream * softmax_xent_forward_cpu(v.data(), a, static_cast<double*>(nullptr));
  };
  EXPECT_TRUE(check_gradient(f, logits, dz));
  // Each row's gradient sums to 0 (softmax and targets both sum to 1).
  for (int64_t i = 0; i < c.n; ++i) {
    double row = 0.0;
    for (int64_t j = 0; j < c.k; ++j) row += dz[i * c.k + j];
    EXPECT_NEAR(row, 0.0, 1e-15);
  }
  const Vec prior = random_vector(dz.size(), 3);
  Vec acc = prior;
  softmax_xent_backward_cpu(logits.data(), a, upstream, acc.data(), true);
  for (size_t i = 0; i < acc.size(); ++i) EXPECT_NEAR(acc[i], prior[i] + dz[i], 1e-15) << i;
}

INSTANTIATE_TEST_SUITE_P(Configurations, SoftmaxXentGradient,
                         ::testing::Values(XentCase{5, 4, false, 0.0}, XentCase{5, 4, true, 0.0},
                                           XentCase{3, 7, false, 0.1}, XentCase{3, 7, true, 0.2},
                                           XentCase{1, 1, false, 0.0}, XentCase{1, 33, true, 0.05}));

TEST(SoftmaxXent, FloatMatchesDouble) {
  const Vec logits = random_vector(7 * 5, 4, -4.0, 4.0);
  std::vector<int32_t> labels = {0, 1, 2, 3, 4, 0, 1};
  const Vec w = {0.5, 1.0, 1.5, 2.0, 0.25};
  SoftmaxXentArgs<double> a{labels.data(), w.data(), 0.1, 7, 5};
  const auto wf = test::to_float(w), lf = test::to_float(logits);
  SoftmaxXentArgs<float> af{labels.data(), wf.data(), 0.1f, 7, 5};
  // Tolerance: float inputs, double accumulation inside; output rounded to float.
  EXPECT_NEAR(softmax_xent_forward_cpu(lf.data(), af, static_cast<float*>(nullptr)),
              softmax_xent_forward_cpu(logits.data(), a, static_cast<double*>(nullptr)), 1e-6);
}

TEST(SoftmaxXent, BadArgumentsThrow) {
  const std::vector<int32_t> bad = {0, 3};
  SoftmaxXentArgs<double> a = args();
  a.labels = bad.data();
  EXPECT_THROW(softmax_xent_forward_cpu(kLogits.data(), a, static_cast<double*>(nullptr)), Error);
  a = args(nullptr, 1.0);
  EXPECT_THROW(softmax_xent_forward_cpu(kLogits.data(), a, static_cast<double*>(nullptr)), Error);
  const Vec zero_weights = {0.0, 1.0, 0.0};
  EXPECT_THROW(softmax_xent_forward_cpu(kLogits.data(), args(&zero_weights), static_cast<double*>(nullptr)), Error);
}

}  // namespace
}  // namespace alz::kernels
