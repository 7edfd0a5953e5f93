// Dense algebra: matrix multiply and the fully connected (Keras Dense) layer.
//
//   matmul:  C (M, N) = alpha * op(A) · op(B) + beta * C, all row-major;
//            op(A) is (M, K): A is stored (M, K), or (K, M) when trans_a;
//            op(B) is (K, N): B is stored (K, N), or (N, K) when trans_b.
//            beta == 0 never reads C (it may hold garbage); beta == 1 accumulates.
//   linear:  y (B, out) = x (B, in) · W (in, out) + b (out), W in the Keras Dense layout.
//            backward: dx (B, in) (+)= dy · Wᵀ,  dW (in, out) (+)= xᵀ · dy,  db (+)= sum_rows dy.
//            Any of dx, dW, db may be nullptr; `accumulate_dx` and `accumulate_params` say
//            whether dx and dW/db are overwritten or added into (the gradient rule:
//            tensor/autograd.h).
//
// CPU: cblas_sgemm / cblas_dgemm (OpenBLAS). CUDA: cuBLAS from host code, with the caller's
// handle (e.g. alz::cuda::Context::cublas), which also gives the stream (cublasGetStream);
// row-major results come from the column-major library by computing Cᵀ = op(B)ᵀ · op(A)ᵀ.
// f32 GEMMs may use TF32 tensor cores; set_gemm_allow_tf32(false) makes every later call
// strict fp32 (the switch sets the handle's math mode, CUBLAS_TF32_TENSOR_OP_MATH or
// CUBLAS_DEFAULT_MATH, before each call, always with CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION).
// bf16: storage only; accumulation, split-K partial sums and the bias add are f32, one rounding.
// Tested by tests/test_gemm.cpp and tests/gpu/test_ops_gpu.cpp; benchmarked by
// bench/bench_gemm_cpu.cpp and bench/bench_gemm.cu:  build/bench/bench_gemm
#pragma once
#include <cstdint>

#include "core/bf16.h"

#if ALZ_HAS_CUDA
#include <cublas_v2.h>
#endif

namespace alz::kernels {

// Arguments of the Dense backward. dy (batch, out), x (batch, in), W (in, out); dx (batch, in),
// dw (in, out), db (out), each nullptr when not wanted.
template <typename T> struct LinearBackwardArgs {
  const T* dy = nullptr;
  const T* x = nullptr;
  const T* w = nullptr;
  T* dx = nullptr;
  T* dw = nullptr;
  T* db = nullptr;
  int64_t batch = 0, in = 0, out = 0;
  bool accumulate_dx = false;      // false: dx overwritten; true: added into
  bool accumulate_params = false;  // the same for dw and db
};

// ---------------------------------------------------------------- CPU (T = float, double)
template <typename T>
void matmul_cpu(const T* a, const T* b, T* c, int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b,
                T alpha = T(1), T beta = T(0));

// b may be nullptr (no bias).
template <typename T>
void linear_forward_cpu(const T* x, const T* w, const T* b, T* y, int64_t batch, int64_t in, int64_t out);
template <typename T> void linear_backward_cpu(const LinearBackwardArgs<T>& a);

#if ALZ_HAS_CUDA
// ---------------------------------------------------------------- CUDA (cuBLAS)
// Process-wide switch, default true (TF32 allowed for f32 GEMMs).
void set_gemm_allow_tf32(bool allow);
bool gemm_allow_tf32();

void matmul_cuda(cublasHandle_t handle, const float* a, const float* b, float* c, int64_t m, int64_t n, int64_t k,
                 bool trans_a, bool trans_b, float alpha = 1.0f, float beta = 0.0f);
// bf16 inputs and output, f32 accumulation (cublasGemmEx, CUBLAS_COMPUTE_32F).
void matmul_cuda(cublasHandle_t handle, const bf16* a, const bf16* b, bf16* c, int64_t m, int64_t n, int64_t k,
                 bool trans_a, bool trans_b, float alpha = 1.0f, float beta = 0.0f);

// Floats of device workspace linear_backward_cuda needs (for db; 0 when db is not wanted is
// fine too, pass nullptr then).
int64_t linear_backward_workspace_elements(int64_t batch, int64_t out);

void linear_forward_cuda(cublasHandle_t handle, const float* x, const float* w, const float* b, float* y, int64_t batch,
                         int64_t in, int64_t out);
void linear_forward_cuda(cublasHandle_t handle, const bf16* x, const bf16* w, const bf16* b, bf16* y, int64_t batch,
                         int64_t in, int64_t out);
void linear_backward_cuda(cublasHandle_t handle, const LinearBackwardArgs<float>& a, float* workspace);
void linear_backward_cuda(cublasHandle_t handle, const LinearBackwardArgs<bf16>& a, float* workspace);
#endif

}  // namespace alz::kernels
