// The direct convolution, straight from the definitions in kernels/conv2d.h, accumulating in
// double: the oracle the im2col path (kernels/cpu/conv2d.cpp) and cuDNN are tested against.
// Slow (no blocking, no threads); tests only.
//
//   y[n,p,q,k]   = b[k] + sum_{r,s,c} x[n, p*sh-pt+r, q*sw-pl+s, c] * w[k,r,s,c]
//   dx[n,h,w,c]  = sum over (p,q,k,r,s) with h = p*sh-pt+r, w = q*sw-pl+s of dy[n,p,q,k] * w[k,r,s,c]
//   dw[k,r,s,c] (+)= sum_{n,p,q} dy[n,p,q,k] * x[n, p*sh-pt+r, q*sw-pl+s, c]
//   db[k]       (+)= sum_{n,p,q} dy[n,p,q,k]
//
// Layout NHWC, filters KRSC. Tests: build/tests/test_conv2d.
#include <vector>

#include "kernels/conv2d.h"

namespace alz {

namespace {

// x[n, h, w, c] or 0 in the padding.
template <typename T> double input_at(const Conv2dParams& p, const T* x, int n, int h, int w, int c) {
  if (h < 0 || h >= p.H || w < 0 || w >= p.W) return 0.0;
  return double(x[((int64_t(n) * p.H + h) * p.W + w) * p.C + c]);
}

}  // namespace

template <typename T>
void conv2d_forward_reference(const Conv2dParams& p, const T* x, const T* w, const T* bias, T* y) {
  p.validate("conv2d_forward_reference");
  const int P = p.P(), Q = p.Q();
  for (int n = 0; n < p.N; ++n)
    for (int oh = 0; oh < P; ++oh)
      for (int oq = 0; oq < Q; ++oq)
        for (int k = 0; k < p.K; ++k) {
          double sum = bias != nullptr ? double(bias[k]) : 0.0;
          for (int r = 0; r < p.R; ++r)
            for (int s = 0; s < p.S; ++s)
              for (int c = 0; c < p.C; ++c)
                sum += input_at(p, x, n, oh * p.stride_h - p.pad_top + r, oq * p.stride_w - p.pad_left + s, c) *
                       double(w[((int64_t(k) * p.R + r) * p.S + s) * p.C + c]);
          y[((int64_t(n) * P + oh) * Q + oq) * p.K + k] = T(sum);
        }
}

template <typename T> void conv2d_backward_data_reference(const Conv2dParams& p, const T* dy, const T* w, T* dx) {
  p.validate("conv2d_backward_data_reference");
  const int P = p.P(), Q = p.Q();
  std::vector<double> acc(size_t(p.x_count()), 0.0);
  for (int n = 0; n < p.N; ++n)
    for (int oh = 0; oh < P; ++oh)
      for (int oq = 0; oq < Q; ++oq)
        for (int k = 0; k < p.K; ++k) {
          const double g = double(dy[((int64_t(n) * P + oh) * Q + oq) * p.K + k]);
          for (int r = 0; r < p.R; ++r)
            for (int s = 0; s < p.S; ++s) {
              const int h = oh * p.stride_h - p.pad_top + r, ww = oq * p.stride_w - p.pad_left + s;
              if (h < 0 || h >= p.H || ww < 0 || ww >= p.W) continue;  // padding: no gradient
              for (int c = 0; c < p.C; ++c)
                acc[size_t(((int64_t(n) * p.H + h) * p.W + ww) * p.C + c)] +=
                    g * double(w[((int64_t(k) * p.R + r) * p.S + s) * p.C + c]);
            }
        }
  for (size_t i = 0; i < acc.size(); ++i) dx[i] = T(acc[i]);
}

template <typename T>
void conv2d_backward_filter_reference(const Conv2dParams& p, const T* x, const T* dy, T* dw, bool accumulate) {
  p.validate("conv2d_backward_filter_reference");
  const int P = p.P(), Q = p.Q();
  for (int k = 0; k < p.K; ++k)
    for (int r = 0; r < p.R; ++r)
      for (int s = 0; s < p.S; ++s)
        for (int c = 0; c < p.C; ++c) {
          double sum = 0.0;
          for (int n = 0; n < p.N; ++n)
            for (int oh = 0; oh < P; ++oh)
              for (int oq = 0; oq < Q; ++oq)
                sum += double(dy[((int64_t(n) * P + oh) * Q + oq) * p.K + k]) *
                       input_at(p, x, n, oh * p.stride_h - p.pad_top + r, oq * p.stride_w - p.pad_left + s, c);
          T& out = dw[((int64_t(k) * p.R + r) * p.S + s) * p.C + c];
          out = T(sum + (accumulate ? double(out) : 0.0));
        }
}

template <typename T> void conv2d_backward_bias_reference(const Conv2dParams& p, const T* dy, T* db, bool accumulate) {
  p.validate("conv2d_backward_bias_reference");
  const int64_t rows = int64_t(p.N) * p.P() * p.Q();
  for (int k = 0; k < p.K; ++k) {
    double sum = 0.0;
    for (int64_t m = 0; m < rows; ++m) sum += double(dy[m * p.K + k]);
    db[k] = T(sum + (accumulate ? double(db[k]) : 0.0));
  }
}

#define ALZ_CONV2D_REFERENCE_INSTANTIATE(T)                                                             \
  template void conv2d_forward_reference<T>(const Conv2dParams&, const T*, const T*, const T*, T*);     \
  template void conv2d_backward_data_reference<T>(const Conv2dParams&, const T*, const T*, T*);         \
  template void conv2d_backward_filter_reference<T>(const Conv2dParams&, const T*, const T*, T*, bool); \
  template void conv2d_backward_bias_reference<T>(const Conv2dParams&, const T*, T*, bool);
ALZ_CONV2D_REFERENCE_INSTANTIATE(float)
ALZ_CONV2D_REFERENCE_INSTANTIATE(double)
#undef ALZ_CONV2D_REFERENCE_INSTANTIATE

}  // namespace alz
