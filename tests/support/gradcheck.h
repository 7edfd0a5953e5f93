// The shared finite-difference gradient checker for ops on the tape (f64, CPU).
//
// For y = f(inputs) it forms the scalar L = sum(y * r) with a fixed random r, so every
// output element matters, runs backward(L) for the analytic gradients, and compares each
// with central differences (L(x + eps) - L(x - eps)) / (2 eps) on every input element.
//
//   EXPECT_TRUE(alz::test::check_gradients(
//       [](const std::vector<Tensor>& in) { return ops::conv2d(in[0], in[1], in[2]); },
//       {x, w, b}));
//
// Inputs must be CPU f64 tensors; the checker marks them as needing a gradient.
#pragma once
#include <functional>
#include <vector>

#include "support/compare.h"
#include "tensor/tensor.h"

namespace alz::test {

using OpFunction = std::function<Tensor(const std::vector<Tensor>&)>;

::testing::AssertionResult check_gradients(const OpFunction& f, std::vector<Tensor> inputs, double eps = 1e-6,
                                           Tolerance tol = {1e-7, 1e-5}, uint64_t seed = 1234);

}  // namespace alz::test
