// Unfused batch normalisation on the CPU (kernels/batch_norm.h): the forward normalises each
// channel, the moving statistics follow Keras (momentum, biased variance), inference uses them,
// and the backward matches central finite differences in f64.
//   ctest --test-dir build -R "^BatchNorm\."      (or build/tests/test_batch_norm)
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/error.h"
#include "kernels/batch_norm.h"
#include "support/compare.h"
#include "support/finite_difference.h"

namespace alz::kernels {
namespace {

using test::Tolerance;

// x[r, c] = offset_c + spread_c * N(0, 1), offsets and spreads different per channel.
std::vector<double> random_activations(int64_t rows, int64_t channels, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_real_distribution<double> offset(-2.0, 2.0), spread(0.5, 2.0);
  std::vector<double> off(channels), sp(channels), x(rows * channels);
  for (int64_t c = 0; c < channels; ++c) off[c] = offset(rng), sp[c] = spread(rng);
  for (int64_t i = 0; i < rows * channels; ++i) x[i] = off[i % channels] + sp[i % channels] * normal(rng);
  return x;
}

std::vector<double> random_uniform(int64_t count, double low, double high, uint64_t seed) {
  return test::random_vector(static_cast<size_t>(count), seed, low, high);
}

struct Moments {
  std::vector<double> mean, var;  // var biased
};

Moments direct_moments(const std::vector<double>& x, int64_t rows, int64_t channels) {
  Moments m{std::vector<double>(channels, 0.0), std::vector<double>(channels, 0.0)};
  for (int64_t c = 0; c < channels; ++c) {
    for (int64_t r = 0; r < rows; ++r) m.mean[c] += x[r * channels + c];
    m.mean[c] /= rows;
    for (int64_t r = 0; r < rows; ++r)
      m.var[c] += (x[r * channels + c] - m.mean[c]) * (x[r * channels + c] - m.mean[c]);
    m.var[c] /= rows;
  }
  return m;
}

TEST(BatchNorm, TrainingForwardNormalisesEachChannelAndUpdatesMovingStatistics) {
  const int64_t rows = 37, channels = 5;
  std::vector<double> x = random_activations(rows, channels, 1);
  std::vector<double> gamma = random_uniform(channels, 0.5, 1.5, 2), beta = random_uniform(channels, -1, 1, 3);
  std::vector<double> moving_mean = random_uniform(channels, -1, 1, 4),
                      moving_var = random_uniform(channels, 0.5, 2, 5);
  const std::vector<double> old_mean = moving_mean, old_var = moving_var;
  std::vector<double> y(rows * channels), save_mean(channels), save_invstd(channels);
  BatchNormForwardArgs<double> a{.x = x.data(),
                                 .y = y.data(),
                                 .rows = rows,
                                 .channels = channels,
                                 .gamma = gamma.data(),
                                 .beta = beta.data(),
                                 .moving_mean = moving_mean.data(),
                                 .moving_variance = moving_var.data(),
                                 .saved = {save_mean.data(), save_invstd.data()}};
  batch_norm_forward_training_cpu(a);

  const Moments batch = direct_moments(x, rows, channels);
  const Moments out = direct_moments(y, rows, channels);
  std::vector<double> invstd(channels), expected_out_var(channels), expected_mm(channels), expected_mv(channels);
  for (int64_t c = 0; c < channels; ++c) {
    invstd[c] = 1.0 / std::sqrt(batch.var[c] + kBatchNormEpsilon);
    expected_out_var[c] = gamma[c] * gamma[c] * batch.var[c] / (batch.var[c] + kBatchNormEpsilon);
    expected_mm[c] = 0.99 * old_mean[c] + 0.01 * batch.mean[c];
    expected_mv[c] = 0.99 * old_var[c] + 0.01 * batch.var[c];  // Keras: the biased variance
  }
  const Tolerance exact{1e-12, 1e-12};  // f64 sums of 37 terms
  ALZ_EXPECT_CLOSE(save_mean, batch.mean, exact);
  ALZ_EXPECT_CLOSE(save_invstd, invstd, exact);
  ALZ_EXPECT_CLOSE(out.mean, beta, exact);
  ALZ_EXPECT_CLOSE(out.var, expected_out_var, exact);
  ALZ_EXPECT_CLOSE(moving_mean, expected_mm, exact);
  ALZ_EXPECT_CLOSE(moving_var, expected_mv, exact);

  // In place (y aliases x) gives the same output; nullptr moving statistics are skipped.
  std::vector<double> in_place = x;
  a.x = a.y = in_place.data();
  a.moving_mean = a.moving_variance = nullptr;
  batch_norm_forward_training_cpu(a);
  ALZ_EXPECT_CLOSE(in_place, y, Tolerance({0.0, 0.0}));  // same arithmetic, same order
}

// L = sum(w * y); gradients by central differences of L in f64.
void check_backward_by_finite_differences(int64_t rows, int64_t channels, uint64_t seed) {
  SCOPED_TRACE("rows " + std::to_string(rows) + ", channels " + std::to_string(channels));
  std::vector<double> x = random_activations(rows, channels, seed);
  std::vector<double> gamma = random_uniform(channels, 0.5, 1.5, seed + 1);
  std::vector<double> beta = random_uniform(channels, -1, 1, seed + 2);
  std::vector<double> w = random_uniform(rows * channels, -1, 1, seed + 3);
  auto loss = [&](const std::vector<double>& xv, const std::vector<double>& g, const std::vector<double>& b) {
    std::vector<double> y(rows * channels), m(channels), s(channels);
    batch_norm_forward_training_cpu(BatchNormForwardArgs<double>{.x = xv.data(),
                                                                 .y = y.data(),
                                                                 .rows = rows,
                                                                 .channels = channels,
                                                                 .gamma = g.data(),
                                                                 .beta = b.data(),
                                                                 .saved = {m.data(), s.data()}});
    double sum = 0.0;
    for (int64_t i = 0; i < rows * channels; ++i) sum += w[i] * y[i];
    return sum;
  };
  const double h = 1e-6;
  auto numeric = [&](std::vector<double>& v) {  // v is x, gamma or beta, perturbed in place
    std::vector<double> grad(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      const double keep = v[i];
      v[i] = keep + h;
      const double up = loss(x, gamma, beta);
      v[i] = keep - h;
      const double down = loss(x, gamma, beta);
      v[i] = keep;
      grad[i] = (up - down) / (2 * h);
    }
    return grad;
  };
  const std::vector<double> num_dx = numeric(x), num_dgamma = numeric(gamma), num_dbeta = numeric(beta);

  std::vector<double> y(rows * channels), mean(channels), invstd(channels);
  batch_norm_forward_training_cpu(BatchNormForwardArgs<double>{.x = x.data(),
                                                               .y = y.data(),
                                                               .rows = rows,
                                                               .channels = channels,
                                                               .gamma = gamma.data(),
                                                               .beta = beta.data(),
                                                               .saved = {mean.data(), invstd.data()}});
  std::vector<double> dx(rows * channels, 123.0);                     // overwritten
  std::vector<double> dgamma(channels, 0.25), dbeta(channels, -0.5);  // accumulated
  batch_norm_backward_cpu(BatchNormBackwardArgs<double>{.x = x.data(),
                                                        .dy = w.data(),
                                                        .dx = dx.data(),
                                                        .rows = rows,
                                                        .channels = channels,
                                                        .gamma = gamma.data(),
                                                        .saved = {mean.data(), invstd.data()},
                                                        .dgamma = dgamma.data(),
                                                        .dbeta = dbeta.data(),
                                                        .accumulate_params = true});
  for (int64_t c = 0; c < channels; ++c) dgamma[c] -= 0.25, dbeta[c] += 0.5;
  const Tolerance fd{1e-6, 1e-5};  // central differences, h = 1e-6: truncation ~h^2, rounding ~1e-16/h
  ALZ_EXPECT_CLOSE(dx, num_dx, fd);
  ALZ_EXPECT_CLOSE(dgamma, num_dgamma, fd);
  ALZ_EXPECT_CLOSE(dbeta, num_dbeta, fd);
}

TEST(BatchNorm, BackwardMatchesFiniteDifferences) {
  check_backward_by_finite_differences(7, 3, 10);
  check_backward_by_finite_differences(12, 1, 20);
  check_backward_by_finite_differences(1, 4, 30);  // one row: y = beta, dx = 0
  check_backward_by_finite_differences(5, 6, 40);
}

TEST(BatchNorm, InferenceUsesMovingStatistics) {
  const int64_t rows = 9, channels = 7;
  std::vector<double> x = random_activations(rows, channels, 50);
  std::vector<double> gamma = random_uniform(channels, 0.5, 1.5, 51), beta = random_uniform(channels, -1, 1, 52);
  std::vector<double> mm = random_uniform(channels, -1, 1, 53), mv = random_uniform(channels, 0.5, 2, 54);
  std::vector<double> y(rows * channels), expected(rows * channels);
  const BatchNormForwardArgs<double> inference{.x = x.data(),
                                               .y = y.data(),
                                               .rows = rows,
                                               .channels = channels,
                                               .gamma = gamma.data(),
                                               .beta = beta.data(),
                                               .moving_mean = mm.data(),
                                               .moving_variance = mv.data()};
  batch_norm_forward_inference_cpu(inference);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < channels; ++c)
      expected[r * channels + c] =
          gamma[c] * (x[r * channels + c] - mm[c]) / std::sqrt(mv[c] + kBatchNormEpsilon) + beta[c];
  ALZ_EXPECT_CLOSE(y, expected, Tolerance({1e-12, 1e-12}));  // f64, a few operations

  // With momentum 0 the moving statistics become the batch's, so inference reproduces training.
  std::vector<double> y_train(rows * channels), m(channels), s(channels);
  BatchNormForwardArgs<double> training = inference;
  training.y = y_train.data();
  training.saved = {m.data(), s.data()};
  training.momentum = 0.0;
  batch_norm_forward_training_cpu(training);
  batch_norm_forward_inference_cpu(inference);
  ALZ_EXPECT_CLOSE(y, y_train, Tolerance({1e-12, 1e-12}));  // same formula, f64
}

TEST(BatchNorm, FloatMatchesDouble) {
  const int64_t rows = 100, channels = 7;
  std::vector<double> x = random_activations(rows, channels, 60), dy = random_uniform(rows * channels, -1, 1, 61);
  std::vector<double> gamma = random_uniform(channels, 0.5, 1.5, 62), beta = random_uniform(channels, -1, 1, 63);
  auto run = [&](auto zero) {
    using T = decltype(zero);
    std::vector<T> xt(x.begin(), x.end()), dyt(dy.begin(), dy.end()), g(gamma.begin(), gamma.end()),
        b(beta.begin(), beta.end()), y(rows * channels), dx(rows * channels), m(channels), s(channels),
        mm(channels, T(0)), mv(channels, T(1)), dg(channels, T(0)), db(channels, T(0));
    batch_norm_forward_training_cpu(BatchNormForwardArgs<T>{.x = xt.data(),
                                                            .y = y.data(),
                                                            .rows = rows,
                                                            .channels = channels,
                                                            .gamma = g.data(),
                                                            .beta = b.data(),
                                                            .moving_mean = mm.data(),
                                                            .moving_variance = mv.data(),
                                                            .saved = {m.data(), s.data()}});
    batch_norm_backward_cpu(BatchNormBackwardArgs<T>{.x = xt.data(),
                                                     .dy = dyt.data(),
                                                     .dx = dx.data(),
                                                     .rows = rows,
                                                     .channels = channels,
                                                     .gamma = g.data(),
                                                     .saved = {m.data(), s.data()},
                                                     .dgamma = dg.data(),
                                                     .dbeta = db.data()});
    std::vector<double> all(y.begin(), y.end());
    all.insert(all.end(), dx.begin(), dx.end());
    all.insert(all.end(), dg.begin(), dg.end());
    all.insert(all.end(), db.begin(), db.end());
    all.insert(all.end(), mv.begin(), mv.end());
    return all;
  };
  ALZ_EXPECT_CLOSE(run(0.0f), run(0.0), Tolerance({1e-5, 1e-5}));  // f32 inputs rounded, f64 sums inside
}

TEST(BatchNorm, RejectsEmptyShapes) {
  std::vector<float> v(4, 1.0f);
  EXPECT_THROW(batch_norm_forward_training_cpu(BatchNormForwardArgs<float>{.x = v.data(),
                                                                           .y = v.data(),
                                                                           .rows = 0,
                                                                           .channels = 4,
                                                                           .gamma = v.data(),
                                                                           .beta = v.data(),
                                                                           .moving_mean = v.data(),
                                                                           .moving_variance = v.data(),
                                                                           .saved = {v.data(), v.data()}}),
               Error);
  EXPECT_THROW(batch_norm_backward_cpu(BatchNormBackwardArgs<float>{.x = v.data(),
                                                                    .dy = v.data(),
                                                                    .dx = v.data(),
                                                                    .rows = 4,
                                                                    .channels = 0,
                                                                    .gamma = v.data(),
                                                                    .saved = {v.data(), v.data()},
                                                                    .dgamma = v.data(),
                                                                    .dbeta = v.data()}),
               Error);
}

}  // namespace
}  // namespace alz::kernels
