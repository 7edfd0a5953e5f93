// 2-D convolution on the CPU as im2col + GEMM (OpenBLAS), f32 and f64. See kernels/conv2d.h.
//
//   forward          y  (M x K)   = col (M x RSC) * w^T (RSC x K)        M = images * P * Q
//   backward data    dcol (M x RSC) = dy (M x K) * w (K x RSC), then col2im into dx
//   backward filter  dw (K x RSC) (+)= dy^T (K x M) * col (M x RSC)
// where col[(n,p,q), (r,s,c)] = x[n, p*sh - pt + r, q*sw - pl + s, c] (0 in the padding).
// A 1x1 stride-1 convolution without padding needs no col: x itself is (N*H*W x C).
//
// Threads: the GEMMs run on OpenBLAS's threads. With OpenBLAS's OpenMP build (the one
// cmake/dependencies.cmake links) im2col, col2im and the bias loops are OpenMP loops on the
// same thread pool. With the pthread build they stay serial: its workers keep spinning for a
// while after each GEMM, and an OpenMP region right after one fights them for the cores (on 2
// cores an OpenMP im2col made a 3x3 conv at batch 2, 64x64 input take ~11 ms instead of
// ~0.2 ms). kernels/cpu_threads.h says which build is in use.
//
// Layout NHWC (C fastest), filters KRSC. Tests: build/tests/test_conv2d.
// Bench: build/bench/bench_conv_cpu.
#include "kernels/conv2d.h"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <sstream>
#include <vector>

#include "core/error.h"
#include "kernels/cpu_threads.h"

namespace alz {

Conv2dParams Conv2dParams::make(int n, int h, int w, int c, int k, int kernel, int stride, int pad) {
  Conv2dParams p;
  p.N = n, p.H = h, p.W = w, p.C = c, p.K = k, p.R = kernel, p.S = kernel;
  p.stride_h = p.stride_w = stride;
  p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = pad;
  return p;
}

std::string Conv2dParams::str() const {
  std::ostringstream out;
  out << "N" << N << " " << H << "x" << W << "x" << C << " -> K" << K << " " << R << "x" << S << " s" << stride_h << "x"
      << stride_w << " pad(t" << pad_top << ",b" << pad_bottom << ",l" << pad_left << ",r" << pad_right << ")";
  if (stride_h > 0 && stride_w > 0 && H + pad_top + pad_bottom >= R && W + pad_left + pad_right >= S)
    out << " -> " << P() << "x" << Q();
  return out.str();
}

void Conv2dParams::validate(const char* what) const {
  ALZ_CHECK(N > 0 && H > 0 && W > 0 && C > 0 && K > 0 && R > 0 && S > 0,
            what << ": every size must be positive, got " << str());
  ALZ_CHECK(stride_h > 0 && stride_w > 0, what << ": strides must be positive, got " << str());
  ALZ_CHECK(pad_top >= 0 && pad_bottom >= 0 && pad_left >= 0 && pad_right >= 0,
            what << ": padding must be non-negative, got " << str());
  ALZ_CHECK(H + pad_top + pad_bottom >= R && W + pad_left + pad_right >= S,
            what << ": the " << R << "x" << S << " filter is larger than the padded input, " << str());
}

namespace {

std::atomic<int64_t> g_column_budget{int64_t(8) << 20};
constexpr int64_t kParallelMinElements = 1 << 15;  // below this, threads cost more than they save
constexpr int64_t kBiasChunks = 64;                // fixed row chunks of the bias gradient sum

inline CBLAS_TRANSPOSE trans(bool t) { return t ? CblasTrans : CblasNoTrans; }

// Row-major C (m x n) = alpha * op(A) * op(B) + beta * C.
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float beta, const float* a, int64_t lda, const float* b,
          int64_t ldb, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, trans(ta), trans(tb), int(m), int(n), int(k), 1.0f, a, int(lda), b, int(ldb), beta, c,
              int(ldc));
}
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double beta, const double* a, int64_t lda, const double* b,
          int64_t ldb, double* c, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, trans(ta), trans(tb), int(m), int(n), int(k), 1.0, a, int(lda), b, int(ldb), beta, c,
              int(ldc));
}

// A per-thread scratch that grows to the largest request and is kept for the next call.
template <typename T> T* scratch(int64_t count) {
  thread_local std::vector<T> buffer;
  if (int64_t(buffer.size()) < count) buffer.resize(size_t(count));
  return buffer.data();
}

bool plain_gemm(const Conv2dParams& p) { return p.pointwise() && p.stride_h == 1 && p.stride_w == 1; }

// Images per im2col chunk: as many as fit the column budget, at least one.
int chunk_images(const Conv2dParams& p) {
  int64_t per_image = int64_t(p.P()) * p.Q() * p.R * p.S * p.C;
  int64_t images = g_column_budget.load() / std::max<int64_t>(per_image, 1);
  return int(std::clamp<int64_t>(images, 1, p.N));
}

// col (images*P*Q, R*S*C) for images [n0, n0 + images).
template <typename T> void im2col(const Conv2dParams& p, const T* x, int n0, int images, T* col) {
  const int P = p.P(), Q = p.Q(), C = p.C;
  const int64_t row = int64_t(p.R) * p.S * C;
  const bool parallel = kernels::blas_shares_openmp_threads() && int64_t(images) * P * Q * row >= kParallelMinElements;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t np = 0; np < int64_t(images) * P; ++np) {
    const int n = n0 + int(np / P), oh = int(np % P);
    for (int oq = 0; oq < Q; ++oq) {
      T* dst = col + (np * Q + oq) * row;
      for (int r = 0; r < p.R; ++r) {
        const int h = oh * p.stride_h - p.pad_top + r;
        for (int s = 0; s < p.S; ++s, dst += C) {
          const int w = oq * p.stride_w - p.pad_left + s;
          if (h < 0 || h >= p.H || w < 0 || w >= p.W) {
            std::fill(dst, dst + C, T(0));
          } else {
            const T* src = x + ((int64_t(n) * p.H + h) * p.W + w) * C;
            std::copy(src, src + C, dst);
          }
        }
      }
    }
  }
}

// dx[n,h,w,:] = sum of the col entries that im2col copied from (n,h,w): a gather, so rows of
// dx are independent and no two threads write the same element.
template <typename T> void col2im(const Conv2dParams& p, const T* col, int n0, int images, T* dx) {
  const int P = p.P(), Q = p.Q(), C = p.C;
  const int64_t row = int64_t(p.R) * p.S * C;
  const bool parallel =
      kernels::blas_shares_openmp_threads() && int64_t(images) * p.H * p.W * C >= kParallelMinElements;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t nh = 0; nh < int64_t(images) * p.H; ++nh) {
    const int n = int(nh / p.H), h = int(nh % p.H);
    for (int w = 0; w < p.W; ++w) {
      T* dst = dx + ((int64_t(n0 + n) * p.H + h) * p.W + w) * C;
      std::fill(dst, dst + C, T(0));
      for (int r = 0; r < p.R; ++r) {
        const int th = h + p.pad_top - r;  // = oh * stride_h
        if (th < 0 || th % p.stride_h != 0 || th / p.stride_h >= P) continue;
        const int oh = th / p.stride_h;
        for (int s = 0; s < p.S; ++s) {
          const int tw = w + p.pad_left - s;
          if (tw < 0 || tw % p.stride_w != 0 || tw / p.stride_w >= Q) continue;
          const int oq = tw / p.stride_w;
          const T* src = col + ((int64_t(n) * P + oh) * Q + oq) * row + (int64_t(r) * p.S + s) * C;
          for (int c = 0; c < C; ++c) dst[c] += src[c];
        }
      }
    }
  }
}

}  // namespace

void set_conv2d_cpu_column_budget(int64_t elements) {
  ALZ_CHECK(elements > 0, "set_conv2d_cpu_column_budget: the budget must be positive, got " << elements);
  g_column_budget.store(elements);
}
int64_t conv2d_cpu_column_budget() { return g_column_budget.load(); }

template <typename T> void conv2d_forward_cpu(const Conv2dParams& p, const T* x, const T* w, const T* bias, T* y) {
  p.validate("conv2d_forward_cpu");
  const int64_t pq = int64_t(p.P()) * p.Q(), rsc = int64_t(p.R) * p.S * p.C;
  if (plain_gemm(p)) {
    gemm(false, true, p.N * pq, p.K, p.C, T(0), x, p.C, w, p.C, y, p.K);  // (NHW x C) * (C x K)
  } else {
    const int chunk = chunk_images(p);
    T* col = scratch<T>(chunk * pq * rsc);
    for (int n0 = 0; n0 < p.N; n0 += chunk) {
      const int images = std::min(chunk, p.N - n0);
      im2col(p, x, n0, images, col);
      gemm(false, true, images * pq, p.K, rsc, T(0), col, rsc, w, rsc, y + n0 * pq * p.K, p.K);
    }
  }
  if (bias != nullptr) {
    const int64_t rows = p.N * pq;
    const bool parallel = kernels::blas_shares_openmp_threads() && rows * p.K >= kParallelMinElements;
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t m = 0; m < rows; ++m) {
      for (int k = 0; k < p.K; ++k) y[m * p.K + k] += bias[k];
    }
  }
}

template <typename T> void conv2d_backward_data_cpu(const Conv2dParams& p, const T* dy, const T* w, T* dx) {
  p.validate("conv2d_backward_data_cpu");
  const int64_t pq = int64_t(p.P()) * p.Q(), rsc = int64_t(p.R) * p.S * p.C;
  if (plain_gemm(p)) {
    gemm(false, false, p.N * pq, p.C, p.K, T(0), dy, p.K, w, p.C, dx, p.C);  // (NHW x K) * (K x C)
    return;
  }
  const int chunk = chunk_images(p);
  T* col = scratch<T>(chunk * pq * rsc);
  for (int n0 = 0; n0 < p.N; n0 += chunk) {
    const int images = std::min(chunk, p.N - n0);
    gemm(false, false, images * pq, rsc, p.K, T(0), dy + n0 * pq * p.K, p.K, w, rsc, col, rsc);
    col2im(p, col, n0, images, dx);
  }
}

template <typename T>
void conv2d_backward_filter_cpu(const Conv2dParams& p, const T* x, const T* dy, T* dw, bool accumulate) {
  p.validate("conv2d_backward_filter_cpu");
  const int64_t pq = int64_t(p.P()) * p.Q(), rsc = int64_t(p.R) * p.S * p.C;
  if (plain_gemm(p)) {
    gemm(true, false, p.K, p.C, p.N * pq, accumulate ? T(1) : T(0), dy, p.K, x, p.C, dw, p.C);
    return;
  }
  const int chunk = chunk_images(p);
  T* col = scratch<T>(chunk * pq * rsc);
  for (int n0 = 0; n0 < p.N; n0 += chunk) {
    const int images = std::min(chunk, p.N - n0);
    im2col(p, x, n0, images, col);
    const T beta = (n0 > 0 || accumulate) ? T(1) : T(0);
    gemm(true, false, p.K, rsc, images * pq, beta, dy + n0 * pq * p.K, p.K, col, rsc, dw, rsc);
  }
}

template <typename T> void conv2d_backward_bias_cpu(const Conv2dParams& p, const T* dy, T* db, bool accumulate) {
  p.validate("conv2d_backward_bias_cpu");
  const int64_t rows = int64_t(p.N) * p.P() * p.Q();
  // Double sums (f32 sums over ~1e6 pixels would lose digits) per fixed chunk of rows, then
  // the chunks in order: the same result with any number of threads.
  const int64_t chunks = std::min(rows, kBiasChunks);
  std::vector<double> partial(size_t(chunks * p.K), 0.0);
  const bool parallel = kernels::blas_shares_openmp_threads() && rows * p.K >= kParallelMinElements;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
    double* sum = partial.data() + chunk * p.K;
    for (int64_t m = chunk * rows / chunks; m < (chunk + 1) * rows / chunks; ++m) {
      const T* g = dy + m * p.K;
      for (int k = 0; k < p.K; ++k) sum[k] += double(g[k]);
    }
  }
  for (int k = 0; k < p.K; ++k) {
    double total = accumulate ? double(db[k]) : 0.0;
    double sum = 0.0;
    for (int64_t chunk = 0; chunk < chunks; ++chunk) sum += partial[size_t(chunk * p.K + k)];
    db[k] = T(sum + total);
  }
}

#define ALZ_CONV2D_CPU_INSTANTIATE(T)                                                             \
  template void conv2d_forward_cpu<T>(const Conv2dParams&, const T*, const T*, const T*, T*);     \
  template void conv2d_backward_data_cpu<T>(const Conv2dParams&, const T*, const T*, T*);         \
  template void conv2d_backward_filter_cpu<T>(const Conv2dParams&, const T*, const T*, T*, bool); \
  template void conv2d_backward_bias_cpu<T>(const Conv2dParams&, const T*, T*, bool);
ALZ_CONV2D_CPU_INSTANTIATE(float)
ALZ_CONV2D_CPU_INSTANTIATE(double)
#undef ALZ_CONV2D_CPU_INSTANTIATE

}  // namespace alz
