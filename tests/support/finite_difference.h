// Central finite differences of a scalar function of a std::vector<double>: the gradient
// checker for raw kernels (kernels/*.h), which take pointers and sizes, not Tensors (f64, CPU).
//
// Which checker when:
//   this header (check_gradient)             a kernel's backward, on plain vectors: the kernel
//                                            tests (tests/test_elementwise.cpp, test_pool.cpp, ...)
//   support/tape_gradcheck.h                 an op on the autograd tape (tensor/ops.h), on Tensors:
//     (check_tape_gradients)                 tests/test_ops.cpp runs it over the op table
//                                            (support/op_cases.h)
//
// check_gradient(f, x, analytic, eps, tol) compares `analytic`, the gradient a backward function
// produced at x, with central differences of the scalar function f:
//   numeric[i] = (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)
// through alz::test::all_close (so a failure names the worst element). The error of a central
// difference is O(eps^2) from truncation plus O(1e-16 |f| / eps) from rounding, so eps = 1e-6
// in f64 gives about 1e-9 relative to |f|.
//
// To check an op y = op(x) with vector output, reduce it with fixed random weights g:
// f(x) = sum_i g[i] * op(x)[i]; its gradient is the backward applied to dy = g.
//
//   std::vector<double> x = random_vector(12, 1), g = random_vector(12, 2), dx(12);
//   auto f = [&](const std::vector<double>& v) { std::vector<double> y(12);
//                                                relu_forward_cpu(v.data(), y.data(), 12); return dot(g, y); };
//   relu_backward_cpu(g.data(), x.data(), dx.data(), 12, false);
//   EXPECT_TRUE(check_gradient(f, x, dx));
#pragma once
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "support/compare.h"

namespace alz::test {

using ScalarFunction = std::function<double(const std::vector<double>&)>;

// Default tolerance: f64 central differences with eps 1e-6 on functions of size ~1-100.
constexpr Tolerance kGradTolerance{1e-7, 1e-6};

inline ::testing::AssertionResult check_gradient(const ScalarFunction& f, std::vector<double> x,
                                                 const std::vector<double>& analytic, double eps = 1e-6,
                                                 Tolerance tol = kGradTolerance, const std::string& what = "gradient") {
  if (analytic.size() != x.size()) {
    return ::testing::AssertionFailure() << what << ": analytic gradient has " << analytic.size() << " elements, x has "
                                         << x.size();
  }
  std::vector<double> numeric(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double saved = x[i];
    x[i] = saved + eps;
    const double plus = f(x);
    x[i] = saved - eps;
    const double minus = f(x);
    x[i] = saved;
    numeric[i] = (plus - minus) / (2.0 * eps);
  }
  return all_close(analytic, numeric, tol, what);
}

// sum_i a[i] * b[i]
inline double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double sum = 0.0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) sum += a[i] * b[i];
  return sum;
}

// Seeded uniform values in [low, high) (never all zeros).
inline std::vector<double> random_vector(size_t count, uint64_t seed, double low = -1.0, double high = 1.0) {
  std::mt19937_64 engine(seed);
  std::uniform_real_distribution<double> dist(low, high);
  std::vector<double> values(count);
  for (double& v : values) v = dist(engine);
  return values;
}

// Seeded normal values.
inline std::vector<double> random_normal(size_t count, uint64_t seed, double mean = 0.0, double stddev = 1.0) {
  std::mt19937_64 engine(seed);
  std::normal_distribution<double> dist(mean, stddev);
  std::vector<double> values(count);
  for (double& v : values) v = dist(engine);
  return values;
}

inline std::vector<float> to_float(const std::vector<double>& values) {
  return std::vector<float>(values.begin(), values.end());
}

}  // namespace alz::test
