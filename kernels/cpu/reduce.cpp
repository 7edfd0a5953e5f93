// CPU reference of the reductions (kernels/reduce.h): whole-tensor sum and mean, per-channel
// sum and mean over the rows N*H*W of an NHWC tensor (N, H, W, C), global average pooling
// (N, H, W, C) -> (N, C), and their backward. Sums accumulate in double.
// Tested by tests/test_reduce.cpp:  ctest --test-dir build -R test_reduce
#include "kernels/reduce.h"

#include "core/error.h"

namespace alz::kernels {

namespace {

template <typename T> inline void store_grad(T& dx, T value, bool accumulate) { dx = accumulate ? dx + value : value; }

}  // namespace

template <typename T> T sum_cpu(const T* x, int64_t count) {
  double sum = 0.0;
  for (int64_t i = 0; i < count; ++i) sum += static_cast<double>(x[i]);
  return static_cast<T>(sum);
}

template <typename T> T mean_cpu(const T* x, int64_t count) {
  ALZ_CHECK(count > 0, "mean: the tensor is empty");
  double sum = 0.0;
  for (int64_t i = 0; i < count; ++i) sum += static_cast<double>(x[i]);
  return static_cast<T>(sum / static_cast<double>(count));
}

template <typename T> void sum_backward_cpu(T dsum, T* dx, int64_t count, bool accumulate) {
  for (int64_t i = 0; i < count; ++i) store_grad(dx[i], dsum, accumulate);
}

template <typename T> void mean_backward_cpu(T dmean, T* dx, int64_t count, bool accumulate) {
  ALZ_CHECK(count > 0, "mean backward: the tensor is empty");
  sum_backward_cpu(static_cast<T>(dmean / static_cast<T>(count)), dx, count, accumulate);
}

template <typename T> void channel_sum_cpu(const T* x, T* out, int64_t rows, int64_t channels) {
  for (int64_t c = 0; c < channels; ++c) {
    double sum = 0.0;
    for (int64_t r = 0; r < rows; ++r) sum += static_cast<double>(x[r * channels + c]);
    out[c] = static_cast<T>(sum);
  }
}

template <typename T> void channel_mean_cpu(const T* x, T* out, int64_t rows, int64_t channels) {
  ALZ_CHECK(rows > 0, "channel mean: no rows to average over");
  for (int64_t c = 0; c < channels; ++c) {
    double sum = 0.0;
    for (int64_t r = 0; r < rows; ++r) sum += static_cast<double>(x[r * channels + c]);
    out[c] = static_cast<T>(sum / static_cast<double>(rows));
  }
}

template <typename T>
void channel_sum_backward_cpu(const T* dout, T* dx, int64_t rows, int64_t channels, bool accumulate) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < channels; ++c) store_grad(dx[r * channels + c], dout[c], accumulate);
  }
}

template <typename T>
void channel_mean_backward_cpu(const T* dout, T* dx, int64_t rows, int64_t channels, bool accumulate) {
  ALZ_CHECK(rows > 0, "channel mean backward: no rows");
  const T inv_rows = T(1) / static_cast<T>(rows);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < channels; ++c) store_grad(dx[r * channels + c], dout[c] * inv_rows, accumulate);
  }
}

template <typename T> void global_avg_pool_forward_cpu(const T* x, T* y, int64_t n, int64_t spatial, int64_t channels) {
  ALZ_CHECK(spatial > 0, "global average pooling: the image has no pixels");
  for (int64_t b = 0; b < n; ++b) channel_mean_cpu(x + b * spatial * channels, y + b * channels, spatial, channels);
}

template <typename T>
void global_avg_pool_backward_cpu(const T* dy, T* dx, int64_t n, int64_t spatial, int64_t channels, bool accumulate) {
  for (int64_t b = 0; b < n; ++b) {
    channel_mean_backward_cpu(dy + b * channels, dx + b * spatial * channels, spatial, channels, accumulate);
  }
}

#define ALZ_INSTANTIATE_REDUCE(T)                                                        \
  template T sum_cpu<T>(const T*, int64_t);                                              \
  template T mean_cpu<T>(const T*, int64_t);                                             \
  template void sum_backward_cpu<T>(T, T*, int64_t, bool);                               \
  template void mean_backward_cpu<T>(T, T*, int64_t, bool);                              \
  template void channel_sum_cpu<T>(const T*, T*, int64_t, int64_t);                      \
  template void channel_mean_cpu<T>(const T*, T*, int64_t, int64_t);                     \
  template void channel_sum_backward_cpu<T>(const T*, T*, int64_t, int64_t, bool);       \
  template void channel_mean_backward_cpu<T>(const T*, T*, int64_t, int64_t, bool);      \
  template void global_avg_pool_forward_cpu<T>(const T*, T*, int64_t, int64_t, int64_t); \
  template void global_avg_pool_backward_cpu<T>(const T*, T*, int64_t, int64_t, int64_t, bool);

ALZ_INSTANTIATE_REDUCE(float)
ALZ_INSTANTIATE_REDUCE(double)
#undef ALZ_INSTANTIATE_REDUCE

}  // namespace alz::kernels
