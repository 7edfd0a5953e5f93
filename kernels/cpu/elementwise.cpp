// CPU reference of the elementwise ops (kernels/elementwise.h): add, sub, mul, scale, bias add
// over NHWC rows (N*H*W, C) and ReLU, forward and backward, float and double.
// Plain loops: this is the source of truth the CUDA kernels are compared with.
// Tested by tests/test_elementwise.cpp:  ctest --test-dir build -R "^Elementwise\."
#include "kernels/elementwise.h"

namespace alz::kernels {

namespace {

// dx = (accumulate ? dx : 0) + value, the one place that decides overwrite vs accumulate.
template <typename T> inline void store_grad(T& dx, T value, bool accumulate) { dx = accumulate ? dx + value : value; }

}  // namespace

template <typename T> void add_forward_cpu(const T* a, const T* b, T* y, int64_t count) {
  for (int64_t i = 0; i < count; ++i) y[i] = a[i] + b[i];
}

template <typename T> void sub_forward_cpu(const T* a, const T* b, T* y, int64_t count) {
  for (int64_t i = 0; i < count; ++i) y[i] = a[i] - b[i];
}

template <typename T> void mul_forward_cpu(const T* a, const T* b, T* y, int64_t count) {
  for (int64_t i = 0; i < count; ++i) y[i] = a[i] * b[i];
}

template <typename T> void scale_forward_cpu(const T* x, T alpha, T* y, int64_t count) {
  for (int64_t i = 0; i < count; ++i) y[i] = alpha * x[i];
}

template <typename T> void scaled_grad_cpu(const T* dy, T alpha, T* dx, int64_t count, bool accumulate) {
  if (dx == nullptr) return;
  for (int64_t i = 0; i < count; ++i) store_grad(dx[i], alpha * dy[i], accumulate);
}

template <typename T>
void mul_backward_cpu(const T* dy, const T* a, const T* b, T* da, T* db, int64_t count, bool accumulate) {
  // Read both inputs before writing, so da may alias a or b (each element is read, then written).
  for (int64_t i = 0; i < count; ++i) {
    T grad_a = dy[i] * b[i], grad_b = dy[i] * a[i];
    if (da) store_grad(da[i], grad_a, accumulate);
    if (db) store_grad(db[i], grad_b, accumulate);
  }
}

template <typename T> void bias_add_forward_cpu(const T* x, const T* bias, T* y, int64_t rows, int64_t channels) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < channels; ++c) y[r * channels + c] = x[r * channels + c] + bias[c];
  }
}

template <typename T>
void bias_add_backward_cpu(const T* dy, T* dx, T* dbias, int64_t rows, int64_t channels, bool accumulate_dx,
                           bool accumulate_dbias) {
  if (dbias) {
    for (int64_t c = 0; c < channels; ++c) {
      double sum = 0.0;  // double accumulation: rows can be N*H*W ~ 1e6
      for (int64_t r = 0; r < rows; ++r) sum += static_cast<double>(dy[r * channels + c]);
      store_grad(dbias[c], static_cast<T>(sum), accumulate_dbias);
    }
  }
  scaled_grad_cpu(dy, T(1), dx, rows * channels, accumulate_dx);
}

template <typename T> void relu_forward_cpu(const T* x, T* y, int64_t count) {
  for (int64_t i = 0; i < count; ++i) y[i] = x[i] > T(0) ? x[i] : T(0);
}

template <typename T> void relu_backward_cpu(const T* dy, const T* v, T* dx, int64_t count, bool accumulate) {
  for (int64_t i = 0; i < count; ++i) store_grad(dx[i], v[i] > T(0) ? dy[i] : T(0), accumulate);
}

#define ALZ_INSTANTIATE_ELEMENTWISE(T)                                                    \
  template void add_forward_cpu<T>(const T*, const T*, T*, int64_t);                      \
  template void sub_forward_cpu<T>(const T*, const T*, T*, int64_t);                      \
  template void mul_forward_cpu<T>(const T*, const T*, T*, int64_t);                      \
  template void scale_forward_cpu<T>(const T*, T, T*, int64_t);                           \
  template void scaled_grad_cpu<T>(const T*, T, T*, int64_t, bool);                       \
  template void mul_backward_cpu<T>(const T*, const T*, const T*, T*, T*, int64_t, bool); \
  template void bias_add_forward_cpu<T>(const T*, const T*, T*, int64_t, int64_t);        \
  template void bias_add_backward_cpu<T>(const T*, T*, T*, int64_t, int64_t, bool, bool); \
  template void relu_forward_cpu<T>(const T*, T*, int64_t);                               \
  template void relu_backward_cpu<T>(const T*, const T*, T*, int64_t, bool);

ALZ_INSTANTIATE_ELEMENTWISE(float)
ALZ_INSTANTIATE_ELEMENTWISE(double)
#undef ALZ_INSTANTIATE_ELEMENTWISE

}  // namespace alz::kernels
