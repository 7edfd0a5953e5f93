// CPU matmul and Dense layer (kernels/gemm.h) through OpenBLAS:
//   C (M, N) = alpha * op(A) · op(B) + beta * C, row-major;
//   y (B, out) = x (B, in) · W (in, out) + b;  dx = dy · Wᵀ, dW = xᵀ · dy, db = sum_rows dy.
// Tested by tests/test_gemm.cpp (vs a naive loop, finite differences); benchmarked by
// bench/bench_gemm_cpu.cpp:  build/bench/bench_gemm_cpu
#include "kernels/gemm.h"

#include <cblas.h>

#include <climits>

#include "core/error.h"

namespace alz::kernels {

namespace {

void check_dims(int64_t m, int64_t n, int64_t k) {
  ALZ_CHECK(m >= 0 && n >= 0 && k >= 0, "matmul: negative size (M " << m << ", N " << n << ", K " << k << ")");
  ALZ_CHECK(m <= INT_MAX && n <= INT_MAX && k <= INT_MAX,
            "matmul: a size exceeds the BLAS int range (M " << m << ", N " << n << ", K " << k << ")");
}

void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, float alpha, const float* a, int lda,
          const float* b, int ldb, float beta, float* c) {
  cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, n);
}

void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, double alpha, const double* a, int lda,
          const double* b, int ldb, double beta, double* c) {
  cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, n);
}

}  // namespace

template <typename T>
void matmul_cpu(const T* a, const T* b, T* c, int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b, T alpha,
                T beta) {
  check_dims(m, n, k);
  if (m == 0 || n == 0) return;
  if (k == 0) {  // empty inner product: C = beta * C (BLAS would accept it, but make it explicit)
    for (int64_t i = 0; i < m * n; ++i) c[i] = beta == T(0) ? T(0) : beta * c[i];
    return;
  }
  const int lda = static_cast<int>(trans_a ? m : k);  // row length of A as stored
  const int ldb = static_cast<int>(trans_b ? k : n);
  gemm(trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, static_cast<int>(m),
       static_cast<int>(n), static_cast<int>(k), alpha, a, lda, b, ldb, beta, c);
}

template <typename T>
void linear_forward_cpu(const T* x, const T* w, const T* b, T* y, int64_t batch, int64_t in, int64_t out) {
  matmul_cpu(x, w, y, batch, out, in, false, false);
  if (b == nullptr) return;
  for (int64_t r = 0; r < batch; ++r) {
    for (int64_t j = 0; j < out; ++j) y[r * out + j] += b[j];
  }
}

template <typename T> void linear_backward_cpu(const LinearBackwardArgs<T>& a) {
  const T *dy = a.dy, *x = a.x, *w = a.w;
  T *dx = a.dx, *dw = a.dw, *db = a.db;
  const int64_t batch = a.batch, in = a.in, out = a.out;
  const bool accumulate_dx = a.accumulate_dx, accumulate_params = a.accumulate_params;
  // dx (B, in) = dy (B, out) · Wᵀ, W stored (in, out).
  if (dx) matmul_cpu(dy, w, dx, batch, in, out, false, true, T(1), accumulate_dx ? T(1) : T(0));
  // dW (in, out) = xᵀ · dy, x stored (B, in).
  if (dw) matmul_cpu(x, dy, dw, in, out, batch, true, false, T(1), accumulate_params ? T(1) : T(0));
  if (db) {
    for (int64_t j = 0; j < out; ++j) {
      double sum = 0.0;
      for (int64_t r = 0; r < batch; ++r) sum += static_cast<double>(dy[r * out + j]);
      db[j] = accumulate_params ? db[j] + static_cast<T>(sum) : static_cast<T>(sum);
    }
  }
}

#define ALZ_INSTANTIATE_GEMM(T)                                                                     \
  template void matmul_cpu<T>(const T*, const T*, T*, int64_t, int64_t, int64_t, bool, bool, T, T); \
  template void linear_forward_cpu<T>(const T*, const T*, const T*, T*, int64_t, int64_t, int64_t); \
  template void linear_backward_cpu<T>(const LinearBackwardArgs<T>&);

ALZ_INSTANTIATE_GEMM(float)
ALZ_INSTANTIATE_GEMM(double)
#undef ALZ_INSTANTIATE_GEMM

}  // namespace alz::kernels
