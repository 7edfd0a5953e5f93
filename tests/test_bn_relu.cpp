// Fused BatchNorm(+ReLU) on the CPU (kernels/bn_relu.h): equals the unfused reference followed
// by a ReLU (forward, moving and saved statistics, backward with the masked gradient), matches
// central finite differences in f64 away from the ReLU kink, inference (also in place), f32
// agrees with f64, and the OpenMP thread count does not change a bit; dgamma and dbeta are
// overwritten unless accumulate_params asks to add (fused, fast, unfused and frozen backward).
// The fast f32 kernels (BnReluFast.*) against that reference: odd shapes, a large offset, in
// place, threads, the mask.
//   ctest --test-dir build -R "^BnRelu\."      (or build/tests/test_bn_relu)
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/error.h"
#include "kernels/batch_norm.h"
#include "kernels/bn_relu.h"
#include "kernels/frozen_bn.h"
#include "support/bn_shapes.h"
#include "support/compare.h"
#include "support/finite_difference.h"

namespace alz::kernels {
namespace {

using test::to_float;
using test::Tolerance;

std::vector<double> random_normal(int64_t count, double mean, double stddev, uint64_t seed) {
  return test::random_normal(static_cast<size_t>(count), seed, mean, stddev);
}
std::vector<double> random_uniform(int64_t count, double low, double high, uint64_t seed) {
  return test::random_vector(static_cast<size_t>(count), seed, low, high);
}

struct Problem {
  int64_t rows, channels;
  std::vector<double> x, dy, gamma, beta, moving_mean, moving_var;
};

// gamma of both signs (a negative gamma flips which side of the mean the ReLU keeps).
Problem make_problem(int64_t rows, int64_t channels, uint64_t seed) {
  Problem p{rows,
            channels,
            random_normal(rows * channels, 0.7, 1.3, seed),
            random_normal(rows * channels, 0, 1, seed + 1),
            random_uniform(channels, 0.5, 1.5, seed + 2),
            random_normal(channels, 0.0, 0.6, seed + 3),
            random_normal(channels, 0, 1, seed + 4),
            random_uniform(channels, 0.5, 2, seed + 5)};
  for (int64_t c = 0; c < channels; c += 3) p.gamma[c] = -p.gamma[c];
  return p;
}

std::vector<double> to_double(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

// The problem with every input rounded to f32, so the reference and the fast path see the same numbers.
Problem rounded(Problem p) {
  for (auto* v : {&p.x, &p.dy, &p.gamma, &p.beta, &p.moving_mean, &p.moving_var})
    for (double& e : *v) e = static_cast<double>(static_cast<float>(e));
  return p;
}

struct Result {
  std::vector<double> y, mean, invstd, moving_mean, moving_var, dx, dgamma, dbeta;
};

Result run_fused(const Problem& p, bool relu) {
  const int64_t n = p.rows * p.channels, c = p.channels;
  Result r{
      std::vector<double>(n), std::vector<double>(c),       std::vector<double>(c),      p.moving_mean,
      p.moving_var,           std::vector<double>(n, 99.0), std::vector<double>(c, 0.5), std::vector<double>(c, -0.25)};
  bn_relu_forward_training_cpu(BnReluForwardArgs<double>{.x = p.x.data(),
                                                         .y = r.y.data(),
                                                         .rows = p.rows,
                                                         .channels = c,
                                                         .gamma = p.gamma.data(),
                                                         .beta = p.beta.data(),
                                                         .moving_mean = r.moving_mean.data(),
                                                         .moving_variance = r.moving_var.data(),
                                                         .saved = {r.mean.data(), r.invstd.data()},
                                                         .relu = relu});
  bn_relu_backward_cpu(BnReluBackwardArgs<double>{.x = p.x.data(),
                                                  .dy = p.dy.data(),
                                                  .dx = r.dx.data(),
                                                  .rows = p.rows,
                                                  .channels = c,
                                                  .gamma = p.gamma.data(),
                                                  .beta = p.beta.data(),
                                                  .saved = {r.mean.data(), r.invstd.data()},
                                                  .relu = relu,
                                                  .dgamma = r.dgamma.data(),
                                                  .dbeta = r.dbeta.data(),
                                                  .accumulate_params = true});
  return r;
}

// The unfused reference, then a ReLU whose backward masks dy by y > 0.
Result run_unfused(const Problem& p, bool relu) {
  const int64_t n = p.rows * p.channels, c = p.channels;
  Result r{std::vector<double>(n), std::vector<double>(c), std::vector<double>(c),      p.moving_mean,
           p.moving_var,           std::vector<double>(n), std::vector<double>(c, 0.5), std::vector<double>(c, -0.25)};
  batch_norm_forward_training_cpu(BatchNormForwardArgs<double>{.x = p.x.data(),
                                                               .y = r.y.data(),
                                                               .rows = p.rows,
                                                               .channels = c,
                                                               .gamma = p.gamma.data(),
                                                               .beta = p.beta.data(),
                                                               .moving_mean = r.moving_mean.data(),
                                                               .moving_variance = r.moving_var.data(),
                                                               .saved = {r.mean.data(), r.invstd.data()}});
  std::vector<double> g = p.dy;
  if (relu) {
    for (int64_t i = 0; i < n; ++i) {
      if (!(r.y[i] > 0.0)) g[i] = 0.0;
      r.y[i] = std::max(r.y[i], 0.0);
    }
  }
  batch_norm_backward_cpu(BatchNormBackwardArgs<double>{.x = p.x.data(),
                                                        .dy = g.data(),
                                                        .dx = r.dx.data(),
                                                        .rows = p.rows,
                                                        .channels = c,
                                                        .gamma = p.gamma.data(),
                                                        .saved = {r.mean.data(), r.invstd.data()},
                                                        .dgamma = r.dgamma.data(),
                                                        .dbeta = r.dbeta.data(),
                                                        .accumulate_params = true});
  return r;
}

void expect_results_close(const Result& a, const Result& b, Tolerance tol) {
  ALZ_EXPECT_CLOSE(a.y, b.y, tol);
  ALZ_EXPECT_CLOSE(a.mean, b.mean, tol);
  ALZ_EXPECT_CLOSE(a.invstd, b.invstd, tol);
  ALZ_EXPECT_CLOSE(a.moving_mean, b.moving_mean, tol);
  ALZ_EXPECT_CLOSE(a.moving_var, b.moving_var, tol);
  ALZ_EXPECT_CLOSE(a.dx, b.dx, tol);
  ALZ_EXPECT_CLOSE(a.dgamma, b.dgamma, tol);
  ALZ_EXPECT_CLOSE(a.dbeta, b.dbeta, tol);
}

TEST(BnRelu, EqualsUnfusedReferencePlusRelu) {
  const int64_t shapes[][2] = {{1, 3}, {7, 13}, {50, 100}, {64, 16}, {3, 1}};
  for (const auto& shape : shapes) {
    for (bool relu : {true, false}) {
      SCOPED_TRACE("rows " + std::to_string(shape[0]) + ", channels " + std::to_string(shape[1]) +
                   (relu ? ", relu" : ", no relu"));
      const Problem p = make_problem(shape[0], shape[1], 100 + shape[0] * 7 + shape[1]);
      expect_results_close(run_fused(p, relu), run_unfused(p, relu), Tolerance{1e-12, 1e-11});  // both f64
    }
  }
}

// Finite differences of L = sum(w * y). The perturbation moves every pre-activation of a channel
// by O(h), so the problem is redrawn until no pre-activation lies within 0.05 of the kink.
void check_finite_differences(int64_t rows, int64_t channels, bool relu) {
  SCOPED_TRACE("rows " + std::to_string(rows) + ", channels " + std::to_string(channels));
  Problem p{};
  for (uint64_t seed = 1000;; seed += 10) {
    ASSERT_LT(seed, 3000u) << "no problem without a pre-activation near the ReLU kink";
    p = make_problem(rows, channels, seed);
    std::vector<double> y(rows * channels), m(channels), s(channels);
    bn_relu_forward_training_cpu(BnReluForwardArgs<double>{.x = p.x.data(),
                                                           .y = y.data(),
                                                           .rows = rows,
                                                           .channels = channels,
                                                           .gamma = p.gamma.data(),
                                                           .beta = p.beta.data(),
                                                           .saved = {m.data(), s.data()},
                                                           .relu = false});  // y = pre
    bool clear = true;
    for (double pre : y) clear = clear && std::fabs(pre) > 0.05;
    if (clear) break;
  }
  auto loss = [&]() {
    std::vector<double> y(rows * channels), m(channels), s(channels);
    bn_relu_forward_training_cpu(BnReluForwardArgs<double>{.x = p.x.data(),
                                                           .y = y.data(),
                                                           .rows = rows,
                                                           .channels = channels,
                                                           .gamma = p.gamma.data(),
                                                           .beta = p.beta.data(),
                                                           .saved = {m.data(), s.data()},
                                                           .relu = relu});
    double sum = 0.0;
    for (int64_t i = 0; i < rows * channels; ++i) sum += p.dy[i] * y[i];
    return sum;
  };
  const double h = 1e-6;
  auto numeric = [&](std::vector<double>& v) {  // v is p.x, p.gamma or p.beta
    std::vector<double> grad(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      const double keep = v[i];
      v[i] = keep + h;
      const double up = loss();
      v[i] = keep - h;
      grad[i] = (up - loss()) / (2 * h);
      v[i] = keep;
    }
    return grad;
  };
  const std::vector<double> num_dx = numeric(p.x), num_dgamma = numeric(p.gamma), num_dbeta = numeric(p.beta);
  const Result r = run_fused(p, relu);
  std::vector<double> dgamma = r.dgamma, dbeta = r.dbeta;
  for (int64_t c = 0; c < channels; ++c) dgamma[c] -= 0.5, dbeta[c] += 0.25;  // accumulated onto these
  const Tolerance fd{1e-6, 1e-5};                                             // central differences, h = 1e-6, f64
  ALZ_EXPECT_CLOSE(r.dx, num_dx, fd);
  ALZ_EXPECT_CLOSE(dgamma, num_dgamma, fd);
  ALZ_EXPECT_CLOSE(dbeta, num_dbeta, fd);
}

TEST(BnRelu, BackwardMatchesFiniteDifferences) {
  check_finite_differences(7, 3, true);
  check_finite_differences(5, 2, true);
  check_finite_differences(1, 3, true);  // one row: y = relu(beta), dx = 0
  check_finite_differences(6, 4, false);
}

TEST(BnRelu, InferenceMatchesUnfusedPlusReluAndRunsInPlace) {
  const Problem p = make_problem(11, 13, 7);
  const int64_t n = p.rows * p.channels;
  for (bool relu : {true, false}) {
    std::vector<double> y(n), expected(n), mm = p.moving_mean, mv = p.moving_var;
    BnReluForwardArgs<double> a{.x = p.x.data(),
                                .y = y.data(),
                                .rows = p.rows,
                                .channels = p.channels,
                                .gamma = p.gamma.data(),
                                .beta = p.beta.data(),
                                .moving_mean = mm.data(),
                                .moving_variance = mv.data(),
                                .relu = relu};
    bn_relu_forward_inference_cpu(a);
    batch_norm_forward_inference_cpu(BatchNormForwardArgs<double>{.x = p.x.data(),
                                                                  .y = expected.data(),
                                                                  .rows = p.rows,
                                                                  .channels = p.channels,
                                                                  .gamma = p.gamma.data(),
                                                                  .beta = p.beta.data(),
                                                                  .moving_mean = mm.data(),
                                                                  .moving_variance = mv.data()});
    if (relu)
      for (double& e : expected) e = std::max(e, 0.0);
    ALZ_EXPECT_CLOSE(y, expected, Tolerance({1e-12, 1e-12}));  // f64, same formula
    std::vector<double> in_place = p.x;
    a.x = a.y = in_place.data();
    bn_relu_forward_inference_cpu(a);
    ALZ_EXPECT_CLOSE(in_place, y, Tolerance({0.0, 0.0}));  // same arithmetic per element
  }
}

TEST(BnRelu, MovingStatisticsFollowKerasOverTwoSteps) {
  const Problem p = make_problem(20, 5, 8), q = make_problem(20, 5, 9);
  std::vector<double> mm = p.moving_mean, mv = p.moving_var, m(5), s(5), y(100);
  for (const Problem* step : {&p, &q})
    bn_relu_forward_training_cpu(BnReluForwardArgs<double>{.x = step->x.data(),
                                                           .y = y.data(),
                                                           .rows = 20,
                                                           .channels = 5,
                                                           .gamma = p.gamma.data(),
                                                           .beta = p.beta.data(),
                                                           .moving_mean = mm.data(),
                                                           .moving_variance = mv.data(),
                                                           .saved = {m.data(), s.data()},
                                                           .momentum = 0.9});
  std::vector<double> expected_mm(5), expected_mv(5);
  for (int64_t c = 0; c < 5; ++c) {
    double batch_mean[2] = {0, 0}, batch_var[2] = {0, 0};
    for (int k = 0; k < 2; ++k) {
      const std::vector<double>& x = k == 0 ? p.x : q.x;
      for (int64_t r = 0; r < 20; ++r) batch_mean[k] += x[r * 5 + c] / 20;
      for (int64_t r = 0; r < 20; ++r)
        batch_var[k] += (x[r * 5 + c] - batch_mean[k]) * (x[r * 5 + c] - batch_mean[k]) / 20;
    }
    expected_mm[c] = 0.9 * (0.9 * p.moving_mean[c] + 0.1 * batch_mean[0]) + 0.1 * batch_mean[1];
    expected_mv[c] = 0.9 * (0.9 * p.moving_var[c] + 0.1 * batch_var[0]) + 0.1 * batch_var[1];  // biased
  }
  ALZ_EXPECT_CLOSE(mm, expected_mm, Tolerance({1e-12, 1e-12}));  // f64
  ALZ_EXPECT_CLOSE(mv, expected_mv, Tolerance({1e-12, 1e-12}));
}

TEST(BnRelu, FloatMatchesDouble) {
  const Problem p = make_problem(300, 21, 11);
  const Result expected = run_fused(p, true);
  const int64_t n = p.rows * p.channels, c = p.channels;
  std::vector<float> x(p.x.begin(), p.x.end()), dy(p.dy.begin(), p.dy.end()), g(p.gamma.begin(), p.gamma.end()),
      b(p.beta.begin(), p.beta.end()), mm(p.moving_mean.begin(), p.moving_mean.end()),
      mv(p.moving_var.begin(), p.moving_var.end()), y(n), m(c), s(c), dx(n), dg(c, 0.5f), db(c, -0.25f);
  bn_relu_forward_training_cpu(BnReluForwardArgs<float>{.x = x.data(),
                                                        .y = y.data(),
                                                        .rows = p.rows,
                                                        .channels = c,
                                                        .gamma = g.data(),
                                                        .beta = b.data(),
                                                        .moving_mean = mm.data(),
                                                        .moving_variance = mv.data(),
                                                        .saved = {m.data(), s.data()}});
  bn_relu_backward_cpu(BnReluBackwardArgs<float>{.x = x.data(),
                                                 .dy = dy.data(),
                                                 .dx = dx.data(),
                                                 .rows = p.rows,
                                                 .channels = c,
                                                 .gamma = g.data(),
                                                 .beta = b.data(),
                                                 .saved = {m.data(), s.data()},
                                                 .dgamma = dg.data(),
                                                 .dbeta = db.data(),
                                                 .accumulate_params = true});
  // Inputs rounded to f32 (relative 6e-8), sums in double: a few f32 ulps. The masks agree
  // unless a pre-activation lies within ~1e-6 of 0; dx is then off at that element only.
  const Tolerance tol{2e-5, 2e-5};
  ALZ_EXPECT_CLOSE(std::vector<double>(y.begin(), y.end()), expected.y, tol);
  ALZ_EXPECT_CLOSE(std::vector<double>(dx.begin(), dx.end()), expected.dx, tol);
  ALZ_EXPECT_CLOSE(std::vector<double>(dg.begin(), dg.end()), expected.dgamma, tol);
  ALZ_EXPECT_CLOSE(std::vector<double>(db.begin(), db.end()), expected.dbeta, tol);
  ALZ_EXPECT_CLOSE(std::vector<double>(mv.begin(), mv.end()), expected.moving_var, tol);
}

TEST(BnRelu, ThreadCountDoesNotChangeResults) {
  const Problem p = make_problem(1000, 40, 12);  // 40,000 elements: the OpenMP loops run in parallel
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const Result one = run_fused(p, true);
  omp_set_num_threads(2);
  const Result two = run_fused(p, true);
  omp_set_num_threads(threads);
  expect_results_close(one, two, Tolerance{0.0, 0.0});  // each channel is summed by one thread, in row order
}

// The gradient rule (tensor/autograd.h): dgamma and dbeta are overwritten unless
// accumulate_params is set, so whatever a buffer held before must not reach the result, and
// accumulating adds exactly the fresh gradient. Checked on the reference, the fast f32 kernels,
// the unfused reference and the frozen (inference-mode) backward.
template <typename T, typename Backward> void check_parameter_gradient_rule(int64_t channels, Backward backward) {
  const T nan = std::numeric_limits<T>::quiet_NaN();
  std::vector<T> fresh_g(channels, nan), fresh_b(channels, nan);  // stale contents: NaN
  backward(fresh_g.data(), fresh_b.data(), false);
  std::vector<T> zero_g(channels, T(0)), zero_b(channels, T(0));
  backward(zero_g.data(), zero_b.data(), true);
  EXPECT_EQ(fresh_g, zero_g) << "overwriting equals accumulating onto zeros, bit for bit";
  EXPECT_EQ(fresh_b, zero_b);
  std::vector<T> acc_g(channels), acc_b(channels), expect_g(channels), expect_b(channels);
  for (int64_t c = 0; c < channels; ++c) {
    acc_g[c] = T(0.5) + T(c), acc_b[c] = T(-0.25) - T(c);
    expect_g[c] = acc_g[c] + fresh_g[c], expect_b[c] = acc_b[c] + fresh_b[c];
  }
  backward(acc_g.data(), acc_b.data(), true);
  // (prior + sum) rounded once against sum rounded, then + prior: a few ulps of values ~C.
  const test::Tolerance ulps{1e-5, 1e-5};
  ALZ_EXPECT_CLOSE(acc_g, expect_g, ulps);
  ALZ_EXPECT_CLOSE(acc_b, expect_b, ulps);
}

TEST(BnRelu, ParameterGradientsAreOverwrittenUnlessAccumulated) {
  const Problem p = rounded(make_problem(37, 11, 31));
  const int64_t c = p.channels, n = p.rows * c;
  std::vector<double> y(n), m(c), s(c), dx(n);
  bn_relu_forward_training_cpu(BnReluForwardArgs<double>{.x = p.x.data(),
                                                         .y = y.data(),
                                                         .rows = p.rows,
                                                         .channels = c,
                                                         .gamma = p.gamma.data(),
                                                         .beta = p.beta.data(),
                                                         .saved = {m.data(), s.data()}});
  BnReluBackwardArgs<double> reference{.x = p.x.data(),
                                       .dy = p.dy.data(),
                                       .dx = dx.data(),
                                       .rows = p.rows,
                                       .channels = c,
                                       .gamma = p.gamma.data(),
                                       .beta = p.beta.data(),
                                       .saved = {m.data(), s.data()}};
  check_parameter_gradient_rule<double>(c, [&](double* dg, double* db, bool accumulate) {
    reference.dgamma = dg, reference.dbeta = db, reference.accumulate_params = accumulate;
    bn_relu_backward_cpu(reference);
  });

  std::vector<float> xf = to_float(p.x), dyf = to_float(p.dy), gf = to_float(p.gamma), bf = to_float(p.beta), yf(n),
                     mf(c), sf(c), dxf(n);
  bn_relu_forward_training_cpu_fast({.x = xf.data(),
                                     .y = yf.data(),
                                     .rows = p.rows,
                                     .channels = c,
                                     .gamma = gf.data(),
                                     .beta = bf.data(),
                                     .saved = {mf.data(), sf.data()}});
  BnReluBackwardArgs<float> fast{.x = xf.data(),
                                 .dy = dyf.data(),
                                 .dx = dxf.data(),
                                 .rows = p.rows,
                                 .channels = c,
                                 .gamma = gf.data(),
                                 .beta = bf.data(),
                                 .saved = {mf.data(), sf.data()}};
  check_parameter_gradient_rule<float>(c, [&](float* dg, float* db, bool accumulate) {
    fast.dgamma = dg, fast.dbeta = db, fast.accumulate_params = accumulate;
    bn_relu_backward_cpu_fast(fast);
  });

  BatchNormBackwardArgs<double> unfused{.x = p.x.data(),
                                        .dy = p.dy.data(),
                                        .dx = dx.data(),
                                        .rows = p.rows,
                                        .channels = c,
                                        .gamma = p.gamma.data(),
                                        .saved = {m.data(), s.data()}};
  check_parameter_gradient_rule<double>(c, [&](double* dg, double* db, bool accumulate) {
    unfused.dgamma = dg, unfused.dbeta = db, unfused.accumulate_params = accumulate;
    batch_norm_backward_cpu(unfused);
  });

  FrozenBnBackwardArgs<double> frozen{.x = p.x.data(),
                                      .dy = p.dy.data(),
                                      .dx = dx.data(),
                                      .rows = p.rows,
                                      .channels = c,
                                      .gamma = p.gamma.data(),
                                      .beta = p.beta.data(),
                                      .moving_mean = p.moving_mean.data(),
                                      .moving_variance = p.moving_var.data()};
  check_parameter_gradient_rule<double>(c, [&](double* dg, double* db, bool accumulate) {
    frozen.dgamma = dg, frozen.dbeta = db, frozen.accumulate_params = accumulate;
    frozen_bn_backward_cpu(frozen);
  });
}

// accumulate_dx (autograd's fused epilogue, tensor/autograd.h): dx overwritten by default, so
// stale contents never reach it; with the flag, dx + the fresh gradient. Reference and fast.
TEST(BnRelu, InputGradientIsOverwrittenUnlessAccumulated) {
  const Problem p = rounded(make_problem(41, 13, 37));
  const int64_t c = p.channels, n = p.rows * c;
  std::vector<double> y(n), m(c), s(c), dg(c), db(c);
  bn_relu_forward_training_cpu(BnReluForwardArgs<double>{.x = p.x.data(),
                                                         .y = y.data(),
                                                         .rows = p.rows,
                                                         .channels = c,
                                                         .gamma = p.gamma.data(),
                                                         .beta = p.beta.data(),
                                                         .saved = {m.data(), s.data()}});
  auto reference = [&](std::vector<double>& dx, bool accumulate) {
    bn_relu_backward_cpu(BnReluBackwardArgs<double>{.x = p.x.data(),
                                                    .dy = p.dy.data(),
                                                    .dx = dx.data(),
                                                    .rows = p.rows,
                                                    .channels = c,
                                                    .gamma = p.gamma.data(),
                                                    .beta = p.beta.data(),
                                                    .saved = {m.data(), s.data()},
                                                    .dgamma = dg.data(),
                                                    .dbeta = db.data(),
                                                    .accumulate_dx = accumulate});
  };
  std::vector<double> fresh(n, std::numeric_limits<double>::quiet_NaN()), zeros(n, 0.0), prior(n), summed(n);
  reference(fresh, false);
  reference(zeros, true);
  EXPECT_EQ(fresh, zeros) << "overwriting equals adding onto zeros, bit for bit";
  for (int64_t i = 0; i < n; ++i) prior[i] = std::sin(0.37 * static_cast<double>(i));
  std::vector<double> expected(n);
  for (int64_t i = 0; i < n; ++i) expected[i] = prior[i] + fresh[i];
  summed = prior;
  reference(summed, true);
  ALZ_EXPECT_CLOSE(summed, expected, (Tolerance{1e-12, 1e-12}));

  std::vector<float> xf = to_float(p.x), dyf = to_float(p.dy), gf = to_float(p.gamma), bf = to_float(p.beta), yf(n),
                     mf(c), sf(c), dgf(c), dbf(c);
  bn_relu_forward_training_cpu_fast({.x = xf.data(),
                                     .y = yf.data(),
                                     .rows = p.rows,
                                     .channels = c,
                                     .gamma = gf.data(),
                                     .beta = bf.data(),
                                     .saved = {mf.data(), sf.data()}});
  auto fast = [&](const float* dy, float* dx, bool accumulate) {
    bn_relu_backward_cpu_fast({.x = xf.data(),
                               .dy = dy,
                               .dx = dx,
                               .rows = p.rows,
                               .channels = c,
                               .gamma = gf.data(),
                               .beta = bf.data(),
                               .saved = {mf.data(), sf.data()},
                               .dgamma = dgf.data(),
                               .dbeta = dbf.data(),
                               .accumulate_dx = accumulate});
  };
  std::vector<float> fresh_f(n, std::numeric_limits<float>::quiet_NaN()), summed_f = to_float(prior);
  fast(dyf.data(), fresh_f.data(), false);
  fast(dyf.data(), summed_f.data(), true);
  ALZ_EXPECT_CLOSE(fresh_f, to_float(fresh), (Tolerance{1e-5, 1e-4}));
  ALZ_EXPECT_CLOSE(summed_f, to_float(expected), (Tolerance{1e-5, 1e-4}));

  // dx may alias dy only when it is overwritten.
  std::vector<float> shared = dyf;
  EXPECT_THROW(fast(shared.data(), shared.data(), true), Error);
}

TEST(BnRelu, RejectsBadArguments) {
  std::vector<float> v(8, 1.0f);
  BnReluForwardArgs<float> forward{.x = v.data(),
                                   .y = v.data(),
                                   .rows = 0,  // no rows
                                   .channels = 4,
                                   .gamma = v.data(),
                                   .beta = v.data(),
                                   .moving_mean = v.data(),
                                   .moving_variance = v.data(),
                                   .saved = {v.data(), v.data() + 4},
                                   .epsilon = 1e-3};
  EXPECT_THROW(bn_relu_forward_training_cpu(forward), Error);
  forward.rows = 2;
  forward.saved = {};  // no saved buffers
  EXPECT_THROW(bn_relu_forward_training_cpu(forward), Error);
  BnReluBackwardArgs<float> backward{.x = v.data(),
                                     .dy = v.data(),
                                     .dx = v.data(),
                                     .rows = 2,
                                     .channels = 4,
                                     .gamma = v.data(),
                                     .beta = v.data(),
                                     .dgamma = v.data(),
                                     .dbeta = v.data()};  // no saved statistics
  EXPECT_THROW(bn_relu_backward_cpu(backward), Error);
}

// ---------------------------------------------------------------- the fast f32 kernels
// kernels/cpu/bn_relu_fast.cpp against the double reference run on the same f32-rounded inputs.

Result run_fast(const Problem& p, bool relu) {
  const int64_t n = p.rows * p.channels, c = p.channels;
  std::vector<float> x = to_float(p.x), dy = to_float(p.dy), g = to_float(p.gamma), b = to_float(p.beta),
                     mm = to_float(p.moving_mean), mv = to_float(p.moving_var), y(n), m(c), s(c), dx(n, 99.0f),
                     dg(c, 0.5f), db(c, -0.25f);
  bn_relu_forward_training_cpu_fast({.x = x.data(),
                                     .y = y.data(),
                                     .rows = p.rows,
                                     .channels = c,
                                     .gamma = g.data(),
                                     .beta = b.data(),
                                     .moving_mean = mm.data(),
                                     .moving_variance = mv.data(),
                                     .saved = {m.data(), s.data()},
                                     .relu = relu});
  bn_relu_backward_cpu_fast({.x = x.data(),
                             .dy = dy.data(),
                             .dx = dx.data(),
                             .rows = p.rows,
                             .channels = c,
                             .gamma = g.data(),
                             .beta = b.data(),
                             .saved = {m.data(), s.data()},
                             .relu = relu,
                             .dgamma = dg.data(),
                             .dbeta = db.data(),
                             .accumulate_params = true});
  return Result{to_double(y),  to_double(m),  to_double(s),  to_double(mm),
                to_double(mv), to_double(dx), to_double(dg), to_double(db)};
}

TEST(BnReluFast, MatchesTheReferenceOnOddShapes) {
  // The odd shapes the CUDA kernels are checked on too (tests/support/bn_shapes.h).
  for (const test::BnShape& shape : test::bn_odd_shapes()) {
    for (bool relu : {true, false}) {
      SCOPED_TRACE(testing::Message() << "rows " << shape.rows << ", C " << shape.channels << ", relu " << relu);
      const Problem p = rounded(make_problem(shape.rows, shape.channels, 40 + shape.rows + shape.channels));
      // f32 arithmetic against double on the same inputs: a few f32 ulps of values of order 1,
      // and of sums over up to 6272 rows. A mask differs only where a pre-activation lies
      // within ~1e-6 of 0 (then one dx element): none of these seeds has one.
      expect_results_close(run_fast(p, relu), run_fused(p, relu), Tolerance{5e-5, 5e-5});
    }
  }
}

TEST(BnReluFast, VarianceStaysAccurateFarFromZero) {
  // Values 1000 + N(0, 0.01): a raw E[x^2] - E[x]^2 in f32 would lose every digit.
  Problem p = make_problem(5000, 8, 77);
  for (double& v : p.x) v = 1000.0 + 0.01 * (v - 0.7) / 1.3;
  p = rounded(p);
  const Result fast = run_fast(p, false), reference = run_fused(p, false);
  ALZ_EXPECT_CLOSE(fast.invstd, reference.invstd, Tolerance({0.0, 1e-4}));
  ALZ_EXPECT_CLOSE(fast.moving_var, reference.moving_var, Tolerance({1e-9, 1e-4}));
  ALZ_EXPECT_CLOSE(fast.mean, reference.mean, Tolerance({0.0, 1e-7}));
}

TEST(BnReluFast, InferenceMatchesTheReferenceAndRunsInPlace) {
  const Problem p = rounded(make_problem(333, 19, 90));
  const int64_t n = p.rows * p.channels, c = p.channels;
  std::vector<double> expected(n), mm_ref = p.moving_mean, mv_ref = p.moving_var;
  bn_relu_forward_inference_cpu(BnReluForwardArgs<double>{.x = p.x.data(),
                                                          .y = expected.data(),
                                                          .rows = p.rows,
                                                          .channels = c,
                                                          .gamma = p.gamma.data(),
                                                          .beta = p.beta.data(),
                                                          .moving_mean = mm_ref.data(),
                                                          .moving_variance = mv_ref.data()});
  std::vector<float> x = to_float(p.x), g = to_float(p.gamma), b = to_float(p.beta), mm = to_float(p.moving_mean),
                     mv = to_float(p.moving_var);
  bn_relu_forward_inference_cpu_fast({.x = x.data(),
                                      .y = x.data(),  // in place
                                      .rows = p.rows,
                                      .channels = c,
                                      .gamma = g.data(),
                                      .beta = b.data(),
                                      .moving_mean = mm.data(),
                                      .moving_variance = mv.data()});
  ALZ_EXPECT_CLOSE(to_double(x), expected, Tolerance({2e-5, 2e-5}));
}

TEST(BnReluFast, ThreadCountDoesNotChangeABit) {
  const Problem p = rounded(make_problem(3000, 24, 13));  // 72,000 elements: the loops run in parallel
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const Result one = run_fast(p, true);
  omp_set_num_threads(2);
  const Result two = run_fast(p, true);
  omp_set_num_threads(3);
  const Result three = run_fast(p, true);
  omp_set_num_threads(threads);
  expect_results_close(one, two, Tolerance{0.0, 0.0});  // fixed chunks, merged in chunk order
  expect_results_close(one, three, Tolerance{0.0, 0.0});
}

TEST(BnReluFast, BackwardRecomputesTheForwardMask) {
  // dy = 1 everywhere: where the forward wrote y = 0 the backward must have seen g = 0, so
  // sum g equals the number of positive outputs per channel, exactly.
  const Problem p = rounded(make_problem(2000, 9, 21));
  const int64_t n = p.rows * p.channels, c = p.channels;
  std::vector<float> x = to_float(p.x), g = to_float(p.gamma), b = to_float(p.beta), y(n), m(c), s(c), dx(n),
                     ones(n, 1.0f), dg(c, 0.0f), db(c, 0.0f);
  bn_relu_forward_training_cpu_fast({.x = x.data(),
                                     .y = y.data(),
                                     .rows = p.rows,
                                     .channels = c,
                                     .gamma = g.data(),
                                     .beta = b.data(),
                                     .saved = {m.data(), s.data()}});
  bn_relu_backward_cpu_fast({.x = x.data(),
                             .dy = ones.data(),
                             .dx = dx.data(),
                             .rows = p.rows,
                             .channels = c,
                             .gamma = g.data(),
                             .beta = b.data(),
                             .saved = {m.data(), s.data()},
                             .dgamma = dg.data(),
                             .dbeta = db.data()});
  for (int64_t ch = 0; ch < c; ++ch) {
    int64_t positive = 0;
    for (int64_t r = 0; r < p.rows; ++r) positive += y[r * c + ch] > 0.0f;
    EXPECT_EQ(db[ch], static_cast<float>(positive)) << "channel " << ch;
  }
}

TEST(BnReluFast, RejectsBadArguments) {
  std::vector<float> v(8, 1.0f);
  BnReluForwardArgs<float> forward{.x = v.data(),
                                   .y = v.data(),
                                   .rows = 0,  // no rows
                                   .channels = 4,
                                   .gamma = v.data(),
                                   .beta = v.data(),
                                   .saved = {v.data(), v.data() + 4},
                                   .epsilon = 1e-3};
  EXPECT_THROW(bn_relu_forward_training_cpu_fast(forward), Error);
  forward.rows = 2;
  forward.moving_mean = v.data();  // without moving_variance
  EXPECT_THROW(bn_relu_forward_training_cpu_fast(forward), Error);
  BnReluBackwardArgs<float> backward{.x = v.data(),
                                     .dy = v.data(),
                                     .dx = v.data(),
                                     .rows = 2,
                                     .channels = 4,
                                     .gamma = v.data(),
                                     .beta = v.data(),
                                     .dgamma = v.data(),
                                     .dbeta = v.data()};  // no saved statistics
  EXPECT_THROW(bn_relu_backward_cpu_fast(backward), Error);
}

}  // namespace
}  // namespace alz::kernels
