// Shared plumbing of the op files (tensor/ops_*.cpp): argument checks and the dispatch from
// a tensor's device and dtype to a typed kernel call. Internal to tensor/.
//
//   on_cpu(x, "relu", [&](auto tag) { using T = decltype(tag); kernels::relu_forward_cpu(x.data<T>(), ...); });
//   on_cuda(x, "relu", [&](auto tag, cudaStream_t s) { using T = decltype(tag); ... });   // float or bf16
#pragma once
#include <cstdint>

#include "core/bf16.h"
#include "core/error.h"
#include "tensor/tensor.h"

#if ALZ_HAS_CUDA
#include <cuda_runtime.h>

#include "tensor/cuda/context.h"
#endif

namespace alz::ops::detail {

// Calls fn(T{}) with T = float or double for a CPU tensor.
template <typename Fn>
void on_cpu(const Tensor& t, const char* op, Fn&& fn) {
  switch (t.dtype()) {
    case DType::F32: fn(float{}); return;
    case DType::F64: fn(double{}); return;
    default: ALZ_FAIL(op << ": " << t.summary() << ": the CPU path takes f32 or f64");
  }
}

#if ALZ_HAS_CUDA
inline cudaStream_t stream_of(const Tensor& t) { return cuda::context(t.device().index).compute_stream; }
inline cublasHandle_t cublas_of(const Tensor& t) { return cuda::context(t.device().index).cublas; }
inline cudnnHandle_t cudnn_of(const Tensor& t) { return cuda::context(t.device().index).cudnn; }

// Calls fn(T{}, stream) with T = float, or bf16 when `bf16_ok`, for a CUDA tensor.
template <typename Fn>
void on_cuda(const Tensor& t, const char* op, Fn&& fn, bool bf16_ok = true) {
  switch (t.dtype()) {
    case DType::F32: fn(float{}, stream_of(t)); return;
    case DType::BF16:
      if (bf16_ok) {
        fn(bf16{}, stream_of(t));
        return;
      }
      [[fallthrough]];
    default:
      ALZ_FAIL(op << ": " << t.summary() << ": the CUDA path takes f32" << (bf16_ok ? " or bf16" : ""));
  }
}
#endif

// A float scratch buffer on the tensor's device (from the caching allocator).
inline Tensor scratch_floats(int64_t count, const Tensor& like) {
  return Tensor::empty({count < 1 ? 1 : count}, DType::F32, like.device());
}

inline void check_binary(const Tensor& a, const Tensor& b, const char* op) {
  ALZ_CHECK(a.defined() && b.defined(), op << ": undefined operand");
  check_same_device(a, b, op);
  check_same_dtype(a, b, op);
  check_same_shape(a, b, op);
}

inline void check_image(const Tensor& x, const char* op) {
  ALZ_CHECK(x.defined() && x.ndim() == 4, op << ": expects an NHWC image batch (N, H, W, C); got " << x.summary());
}

}  // namespace alz::ops::detail
