// Finite differences of ops on the tape (tests/support/tape_gradcheck.h).
#include "support/tape_gradcheck.h"

#include "tensor/autograd.h"

namespace alz::test {

namespace {

double weighted_sum(const Tensor& y, const Tensor& weights) {
  std::vector<double> values = y.to_vector(), w = weights.to_vector();
  double total = 0;
  for (size_t i = 0; i < values.size(); ++i) total += values[i] * w[i];
  return total;
}

}  // namespace

::testing::AssertionResult check_tape_gradients(const TapeFunction& f, std::vector<Tensor> inputs, double eps,
                                                Tolerance tol, uint64_t seed) {
  for (Tensor& input : inputs) {
    if (!input.defined() || input.dtype() == DType::I32) continue;  // labels take no gradient
    if (input.dtype() != DType::F64 || !input.device().is_cpu())
      return ::testing::AssertionFailure() << "check_tape_gradients needs CPU f64 inputs; got " << input.summary();
    input.set_requires_grad(true);
  }
  // Analytic: L = sum(y * r), so dL/dy = r: backward from y with gradient r (through no op
  // but f's own, so a broken mul or sum cannot hide in the checker).
  Tensor y = f(inputs);
  Generator gen(seed);
  Tensor r = Tensor::uniform(y.shape(), gen, -1.0, 1.0, DType::F64);
  backward(y, r);

  for (size_t which = 0; which < inputs.size(); ++which) {
    Tensor& input = inputs[which];
    if (!input.defined() || input.dtype() == DType::I32) continue;
    Tensor analytic = input.grad();
    const std::string what = "gradient of input " + std::to_string(which) + " " + shape_str(input.shape());
    if (!analytic.defined()) return ::testing::AssertionFailure() << what << ": none received";
    std::vector<double> numeric(static_cast<size_t>(input.numel()));
    double* data = input.data<double>();
    NoGradGuard no_grad;
    for (int64_t i = 0; i < input.numel(); ++i) {
      double saved = data[i];
      data[i] = saved + eps;
      double plus = weighted_sum(f(inputs), r);
      data[i] = saved - eps;
      double minus = weighted_sum(f(inputs), r);
      data[i] = saved;
      numeric[i] = (plus - minus) / (2 * eps);
    }
    auto result = all_close(analytic.to_vector(), numeric, tol, what);
    if (!result) return result;
  }
  return ::testing::AssertionSuccess();
}

}  // namespace alz::test
