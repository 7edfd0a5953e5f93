// Central finite differences of ops on the autograd tape (tensor/ops.h): the gradient checker
// for anything that takes Tensors and records its backward (f64, CPU).
//
// Which checker when:
//   this header (check_tape_gradients)       an op or a composition of ops on Tensors, through
//                                            the tape's backward: tests/test_ops.cpp runs it over
//                                            every case of the op table (support/op_cases.h)
//   support/finite_difference.h              a raw kernel (kernels/*.h) on std::vector<double>:
//     (check_gradient)                       the kernel tests
//
// For y = f(inputs) it takes the scalar L = sum(y * r) with a fixed random r, so every
// output element matters, runs backward from y with gradient r (= dL/dy) for the analytic
// gradients, and compares each with central differences (L(x + eps) - L(x - eps)) / (2 eps)
// on every input element (L summed in double, outside the tape).
//
//   EXPECT_TRUE(alz::test::check_tape_gradients(
//       [](const std::vector<Tensor>& in) { return ops::conv2d(in[0], in[1], in[2]); },
//       {x, w, b}));
//
// Inputs must be CPU f64 tensors, or I32 (labels: left alone); the checker marks every f64
// one as needing a gradient and fails when one receives none.
#pragma once
#include <functional>
#include <vector>

#include "support/compare.h"
#include "tensor/tensor.h"

namespace alz::test {

using TapeFunction = std::function<Tensor(const std::vector<Tensor>&)>;

// f64 central differences, eps 1e-6: O(eps^2) truncation plus ~1e-16 |L| / eps rounding.
constexpr Tolerance kTapeGradTolerance{1e-7, 1e-5};

::testing::AssertionResult check_tape_gradients(const TapeFunction& f, std::vector<Tensor> inputs, double eps = 1e-6,
                                                Tolerance tol = kTapeGradTolerance, uint64_t seed = 1234);

}  // namespace alz::test
