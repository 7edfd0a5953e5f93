// CUDA matmul and Dense layer (kernels/gemm.h) through cuBLAS, from host code.
//   C (M, N) = alpha * op(A) · op(B) + beta * C, row-major. cuBLAS is column-major, and a
//   row-major (r, c) matrix is the column-major (c, r) matrix of its transpose, so we ask cuBLAS
//   for Cᵀ (N, M) = op(B)ᵀ · op(A)ᵀ: swap the operands and M with N, keep the transpose flags.
//   Dense: y = x · W + b with W (in, out); dx = dy · Wᵀ, dW = xᵀ · dy, db = sum_rows dy.
// The stream is the one bound to the caller's handle (cublasGetStream).
// Compared with the CPU by tests/gpu/test_ops_gpu.cpp; benchmarked by bench/bench_gemm.cu.
#include "kernels/gemm.h"

#include <algorithm>
#include <atomic>
#include <climits>

#include "core/cuda/check.h"
#include "kernels/elementwise.h"
#include "kernels/reduce.h"

namespace alz::kernels {

namespace {

std::atomic<bool> g_allow_tf32{true};

void check_dims(int64_t m, int64_t n, int64_t k) {
  ALZ_CHECK(m >= 0 && n >= 0 && k >= 0, "matmul: negative size (M " << m << ", N " << n << ", K " << k << ")");
  ALZ_CHECK(m <= INT_MAX && n <= INT_MAX && k <= INT_MAX,
            "matmul: a size exceeds cuBLAS's int range (M " << m << ", N " << n << ", K " << k << ")");
}

cudaStream_t handle_stream(cublasHandle_t handle) {
  cudaStream_t stream = nullptr;
  ALZ_CUBLAS_CHECK(cublasGetStream(handle, &stream));
  return stream;
}

// One cuBLAS call for both storage types: C = alpha op(A) op(B) + beta C (row-major).
void gemm_ex(cublasHandle_t handle, const void* a, const void* b, void* c, cudaDataType_t type, int64_t m, int64_t n,
             int64_t k, bool trans_a, bool trans_b, float alpha, float beta) {
  check_dims(m, n, k);
  if (m == 0 || n == 0) return;
  const bool tf32 = g_allow_tf32.load(std::memory_order_relaxed);
  // DISALLOW_REDUCED_PRECISION_REDUCTION: split-K partial sums stay in f32 (by default cuBLAS may
  // keep them in the bf16 output type, which loses ~3 digits on long inner products).
  const int math =
      (tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH) | CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION;
  ALZ_CUBLAS_CHECK(cublasSetMathMode(handle, static_cast<cublasMath_t>(math)));
  // An empty inner product is legal in cuBLAS (C = beta C); keep the leading dimensions >= 1.
  const int lda = static_cast<int>(std::max<int64_t>(1, trans_a ? m : k));  // row length of A as stored
  const int ldb = static_cast<int>(std::max<int64_t>(1, trans_b ? k : n));
  const cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  if (type == CUDA_R_32F) {
    ALZ_CUBLAS_CHECK(cublasSgemm(handle, op_b, op_a, static_cast<int>(n), static_cast<int>(m), static_cast<int>(k),
                                 &alpha, static_cast<const float*>(b), ldb, static_cast<const float*>(a), lda, &beta,
                                 static_cast<float*>(c), static_cast<int>(n)));
  } else {
    ALZ_CUBLAS_CHECK(cublasGemmEx(handle, op_b, op_a, static_cast<int>(n), static_cast<int>(m), static_cast<int>(k),
                                  &alpha, b, type, ldb, a, type, lda, &beta, c, type, static_cast<int>(n),
                                  CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  }
}

template <typename S>
void linear_forward(cublasHandle_t handle, const S* x, const S* w, const S* b, S* y, int64_t batch, int64_t in,
                    int64_t out) {
  // y = b broadcast over the rows, then y = x·W + 1 * y in one GEMM: the bias is added in f32
  // inside cuBLAS, so a bf16 y is rounded once (adding it after a bf16 GEMM would round twice).
  if (b) bias_fill_cuda(b, y, batch, out, handle_stream(handle));
  matmul_cuda(handle, x, w, y, batch, out, in, false, false, 1.0f, b ? 1.0f : 0.0f);
}

template <typename S> void linear_backward(cublasHandle_t handle, const LinearBackwardArgs<S>& a, float* workspace) {
  const S *dy = a.dy, *x = a.x, *w = a.w;
  S *dx = a.dx, *dw = a.dw, *db = a.db;
  const int64_t batch = a.batch, in = a.in, out = a.out;
  const bool accumulate_dx = a.accumulate_dx, accumulate_params = a.accumulate_params;
  // dx (B, in) = dy (B, out) · Wᵀ, W stored (in, out).
  if (dx) matmul_cuda(handle, dy, w, dx, batch, in, out, false, true, 1.0f, accumulate_dx ? 1.0f : 0.0f);
  // dW (in, out) = xᵀ · dy, x stored (B, in).
  if (dw) matmul_cuda(handle, x, dy, dw, in, out, batch, true, false, 1.0f, accumulate_params ? 1.0f : 0.0f);
  if (db) {
    ALZ_CHECK(workspace != nullptr, "linear backward: db needs a workspace of "
                                        << linear_backward_workspace_elements(batch, out) << " floats");
    channel_sum_cuda(dy, db, batch, out, accumulate_params, workspace, handle_stream(handle));
  }
}

}  // namespace

void set_gemm_allow_tf32(bool allow) { g_allow_tf32.store(allow, std::memory_order_relaxed); }
bool gemm_allow_tf32() { return g_allow_tf32.load(std::memory_order_relaxed); }

void matmul_cuda(cublasHandle_t handle, const float* a, const float* b, float* c, int64_t m, int64_t n, int64_t k,
                 bool trans_a, bool trans_b, float alpha, float beta) {
  gemm_ex(handle, a, b, c, CUDA_R_32F, m, n, k, trans_a, trans_b, alpha, beta);
}

void matmul_cuda(cublasHandle_t handle, const bf16* a, const bf16* b, bf16* c, int64_t m, int64_t n, int64_t k,
                 bool trans_a, bool trans_b, float alpha, float beta) {
  gemm_ex(handle, a, b, c, CUDA_R_16BF, m, n, k, trans_a, trans_b, alpha, beta);
}

int64_t linear_backward_workspace_elements(int64_t batch, int64_t out) {
  return channel_sum_workspace_elements(batch, out);
}

void linear_forward_cuda(cublasHandle_t handle, const float* x, const float* w, const float* b, float* y, int64_t batch,
                         int64_t in, int64_t out) {
  linear_forward(handle, x, w, b, y, batch, in, out);
}

void linear_forward_cuda(cublasHandle_t handle, const bf16* x, const bf16* w, const bf16* b, bf16* y, int64_t batch,
                         int64_t in, int64_t out) {
  linear_forward(handle, x, w, b, y, batch, in, out);
}

void linear_backward_cuda(cublasHandle_t handle, const LinearBackwardArgs<float>& a, float* workspace) {
  linear_backward(handle, a, workspace);
}

void linear_backward_cuda(cublasHandle_t handle, const LinearBackwardArgs<bf16>& a, float* workspace) {
  linear_backward(handle, a, workspace);
}

}  // namespace alz::kernels
