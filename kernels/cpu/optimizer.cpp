// CPU reference of the optimizer updates (kernels/optimizer.h): loops over one flat tensor
// calling the shared element update (OpenMP over elements), for float and double; the global-norm partial sum; and the
// host-side chunk table of the fused CUDA kernels.
// Tested by tests/test_optimizer.cpp:  ctest --test-dir build -R Optimizer
#include "kernels/optimizer.h"

#include <limits>

#include "core/error.h"

namespace alz::kernels {

constexpr int64_t kParallelMinElements = 1 << 15;  // elementwise: any split gives the same result

template <typename T> void sgd_step_cpu(T* param, const T* grad, T* velocity, int64_t count, const SgdScalars<T>& s) {
  if (velocity == nullptr) {
#pragma omp parallel for schedule(static) if (count >= kParallelMinElements)
    for (int64_t i = 0; i < count; ++i) {
      T unused = T(0);
      sgd_update(param[i], grad[i], unused, s);
    }
    return;
  }
#pragma omp parallel for schedule(static) if (count >= kParallelMinElements)
  for (int64_t i = 0; i < count; ++i) sgd_update(param[i], grad[i], velocity[i], s);
}

template <typename T> void adam_step_cpu(T* param, const T* grad, T* m, T* v, int64_t count, const AdamScalars<T>& s) {
#pragma omp parallel for schedule(static) if (count >= kParallelMinElements)
  for (int64_t i = 0; i < count; ++i) adam_update(param[i], grad[i], m[i], v[i], s);
}

template <typename T> double sum_squares_cpu(const T* x, int64_t count) {
  double sum = 0.0;
  for (int64_t i = 0; i < count; ++i) sum += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  return sum;
}

std::vector<MultiTensorChunk> multi_tensor_chunks(const std::vector<MultiTensorEntry>& entries) {
  ALZ_CHECK(entries.size() <= static_cast<size_t>(std::numeric_limits<int32_t>::max()),
            "multi-tensor optimizer: " << entries.size() << " tensors exceed the int32 table index");
  std::vector<MultiTensorChunk> chunks;
  for (size_t t = 0; t < entries.size(); ++t) {
    const int64_t count = entries[t].count;
    ALZ_CHECK(count >= 0, "multi-tensor optimizer: tensor " << t << " has a negative element count");
    const int64_t num = (count + kMultiTensorChunk - 1) / kMultiTensorChunk;
    ALZ_CHECK(static_cast<int64_t>(chunks.size()) + num <= std::numeric_limits<int32_t>::max(),
              "multi-tensor optimizer: more than 2^31 chunks of " << kMultiTensorChunk << " elements");
    for (int64_t c = 0; c < num; ++c) chunks.push_back({static_cast<int32_t>(t), static_cast<int32_t>(c)});
  }
  return chunks;
}

template void sgd_step_cpu<float>(float*, const float*, float*, int64_t, const SgdScalars<float>&);
template void sgd_step_cpu<double>(double*, const double*, double*, int64_t, const SgdScalars<double>&);
template void adam_step_cpu<float>(float*, const float*, float*, float*, int64_t, const AdamScalars<float>&);
template void adam_step_cpu<double>(double*, const double*, double*, double*, int64_t, const AdamScalars<double>&);
template double sum_squares_cpu<float>(const float*, int64_t);
template double sum_squares_cpu<double>(const double*, int64_t);

}  // namespace alz::kernels
