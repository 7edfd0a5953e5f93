// CPU reference of softmax cross-entropy from logits (kernels/softmax_xent.h):
//   L = sum_i w[y_i] * (lse_i - sum_j t[i, j] z[i, j]) / sum_i w[y_i],  t = (1-eps) onehot + eps/K,
//   dL/dz[i, j] = w[y_i] / sum w * (softmax(z_i)_j - t[i, j]).
// Logits (N, K) row-major, labels (N) int32. Accumulates in double.
// Tested by tests/test_softmax_xent.cpp:  ctest --test-dir build -R test_softmax_xent
#include "kernels/softmax_xent.h"

#include <cmath>

#include "core/error.h"

namespace alz::kernels {

namespace {

template <typename T> void check_args(const SoftmaxXentArgs<T>& a) {
  ALZ_CHECK(a.n > 0 && a.k > 0, "softmax cross-entropy: empty logits (N " << a.n << ", K " << a.k << ")");
  ALZ_CHECK(a.labels != nullptr, "softmax cross-entropy: labels are required");
  ALZ_CHECK(a.label_smoothing >= T(0) && a.label_smoothing < T(1),
            "softmax cross-entropy: label smoothing " << a.label_smoothing << " outside [0, 1)");
  for (int64_t i = 0; i < a.n; ++i) {
    ALZ_CHECK(a.labels[i] >= 0 && a.labels[i] < a.k,
              "softmax cross-entropy: label " << a.labels[i] << " of row " << i << " outside [0, " << a.k << ")");
  }
}

// One row's max m and log sum_j exp(z_j - m) (the max subtracted before exp), so
// lse = m + log_sum and loss = log_sum + sum_j t_j (m - z_j): every term is >= 0, no cancellation.
struct RowStats {
  double max, log_sum;
};

template <typename T> RowStats row_stats(const T* z, int64_t k) {
  double max = static_cast<double>(z[0]);
  for (int64_t j = 1; j < k; ++j) max = std::fmax(max, static_cast<double>(z[j]));
  double sum = 0.0;
  for (int64_t j = 0; j < k; ++j) sum += std::exp(static_cast<double>(z[j]) - max);
  return RowStats{max, std::log(sum)};
}

template <typename T> double target(const SoftmaxXentArgs<T>& a, int64_t i, int64_t j) {
  const double eps = static_cast<double>(a.label_smoothing);
  return (j == a.labels[i] ? 1.0 - eps : 0.0) + eps / static_cast<double>(a.k);
}

template <typename T> double sample_weight(const SoftmaxXentArgs<T>& a, int64_t i) {
  return a.class_weights ? static_cast<double>(a.class_weights[a.labels[i]]) : 1.0;
}

template <typename T> double weight_total(const SoftmaxXentArgs<T>& a) {
  double total = 0.0;
  for (int64_t i = 0; i < a.n; ++i) total += sample_weight(a, i);
  ALZ_CHECK(total > 0.0, "softmax cross-entropy: the class weights of the batch's labels sum to " << total);
  return total;
}

}  // namespace

template <typename T> T softmax_xent_forward_cpu(const T* logits, const SoftmaxXentArgs<T>& a, T* probs) {
  check_args(a);
  const double total = weight_total(a);
  double weighted = 0.0;
  for (int64_t i = 0; i < a.n; ++i) {
    const T* z = logits + i * a.k;
    const RowStats row = row_stats(z, a.k);
    double loss = row.log_sum;
    for (int64_t j = 0; j < a.k; ++j) loss += target(a, i, j) * (row.max - static_cast<double>(z[j]));
    weighted += sample_weight(a, i) * loss;
    if (probs) {
      const double lse = row.max + row.log_sum;
      for (int64_t j = 0; j < a.k; ++j) probs[i * a.k + j] = static_cast<T>(std::exp(static_cast<double>(z[j]) - lse));
    }
  }
  return static_cast<T>(weighted / total);
}

template <typename T>
void softmax_xent_backward_cpu(const T* logits, const SoftmaxXentArgs<T>& a, T dloss, T* dlogits, bool accumulate) {
  check_args(a);
  const double total = weight_total(a);
  for (int64_t i = 0; i < a.n; ++i) {
    const T* z = logits + i * a.k;
    const RowStats row = row_stats(z, a.k);
    const double lse = row.max + row.log_sum;
    const double scale = static_cast<double>(dloss) * sample_weight(a, i) / total;
    for (int64_t j = 0; j < a.k; ++j) {
      const double p = std::exp(static_cast<double>(z[j]) - lse);
      const T g = static_cast<T>(scale * (p - target(a, i, j)));
      T& out = dlogits[i * a.k + j];
      out = accumulate ? out + g : g;
    }
  }
}

template float softmax_xent_forward_cpu<float>(const float*, const SoftmaxXentArgs<float>&, float*);
template double softmax_xent_forward_cpu<double>(const double*, const SoftmaxXentArgs<double>&, double*);
template void softmax_xent_backward_cpu<float>(const float*, const SoftmaxXentArgs<float>&, float, float*, bool);
template void softmax_xent_backward_cpu<double>(const double*, const SoftmaxXentArgs<double>&, double, double*, bool);

}  // namespace alz::kernels
