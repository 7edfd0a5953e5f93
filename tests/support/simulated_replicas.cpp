// Two simulated replicas of the cross-replica BatchNorm (support/simulated_replicas.h).
#include "support/simulated_replicas.h"

#include <sstream>
#include <string>
#include <vector>

#include "core/generator.h"
#include "support/compare.h"
#include "tensor/autograd.h"
#include "tensor/cross_replica_bn.h"
#include "tensor/ops.h"

namespace alz::test {

::testing::AssertionResult two_replicas_equal_the_whole_batch(int64_t rows, int64_t split, int64_t channels,
                                                              DType dtype, Device device, bool relu, Tolerance tol,
                                                              uint64_t seed) {
  const DType param_dtype = dtype == DType::BF16 ? DType::F32 : dtype;
  Generator gen(seed);
  auto make = [&](const Shape& shape, double low, double high, DType type) {
    return Tensor::uniform(shape, gen, low, high, DType::F64).to(type).to(device);
  };
  const Tensor x = make({rows, channels}, -1.5, 2.0, dtype);
  const Tensor gamma = make({channels}, 0.5, 1.5, param_dtype), beta = make({channels}, -0.3, 0.3, param_dtype);
  const Tensor mean0 = make({channels}, -0.1, 0.1, param_dtype), var0 = make({channels}, 0.8, 1.2, param_dtype);
  const Tensor w = make({rows, channels}, -1.0, 1.0, dtype);  // loss = sum(y * w)
  ops::BatchNormOptions o;
  o.relu = relu;

  // The whole batch in one process.
  Tensor x_whole = x.clone().set_requires_grad(true);
  Tensor mean_whole = mean0.clone(), var_whole = var0.clone();
  Tensor y_whole = ops::batch_norm(x_whole, gamma, beta, mean_whole, var_whole, o);
  backward(y_whole, w);

  // The replicas.
  std::vector<std::vector<std::vector<double>>> calls(2);
  Tensor y[2], dx[2], mean[2], var[2];
  for (int pass = 0; pass < 4; ++pass) {  // 2 calls (forward, backward): 3 passes would do
    for (int r = 0; r < 2; ++r) {
      const int64_t begin = r == 0 ? 0 : split, end = r == 0 ? split : rows;
      size_t call = 0;
      std::vector<std::vector<double>> mine;
      ops::ReplicaSum sum = [&](double* values, int64_t count) {
        mine.emplace_back(values, values + count);
        const auto& other = calls[static_cast<size_t>(1 - r)];
        if (call < other.size() && other[call].size() == static_cast<size_t>(count))
          for (int64_t k = 0; k < count; ++k) values[k] += other[call][static_cast<size_t>(k)];
        ++call;
      };
      Tensor xr = x.slice(begin, end).clone().set_requires_grad(true);
      mean[r] = mean0.clone();
      var[r] = var0.clone();
      y[r] = ops::cross_replica_batch_norm(xr, gamma, beta, mean[r], var[r], o, sum);
      backward(y[r], w.slice(begin, end).clone());
      dx[r] = xr.grad();
      calls[static_cast<size_t>(r)] = mine;
    }
  }

  std::ostringstream failures;
  auto check = [&](const Tensor& actual, const Tensor& expected, const std::string& what) {
    ::testing::AssertionResult result = all_close(actual, expected, tol, what);
    if (!result) failures << "\n  " << result.message();
  };
  for (int r = 0; r < 2; ++r) {
    const int64_t begin = r == 0 ? 0 : split, end = r == 0 ? split : rows;
    const std::string replica = "replica " + std::to_string(r) + " ";
    check(y[r], y_whole.slice(begin, end), replica + "output");
    check(dx[r], x_whole.grad().slice(begin, end), replica + "input gradient");
    check(mean[r], mean_whole, replica + "moving mean");
    check(var[r], var_whole, replica + "moving variance");
  }
  if (failures.str().empty()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "two replicas of " << rows << "x" << channels << " split at " << split
                                       << " (" << dtype_name(dtype) << " on " << device.str() << ")"
                                       << failures.str();
}

}  // namespace alz::test
