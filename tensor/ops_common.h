// Shared plumbing of the op files (tensor/ops_*.cpp): argument checks and the one dispatch
// from a tensor's device and dtype to a typed kernel call. Internal to tensor/.
//
// Every op calls its kernels through dispatch(): one call holds the CPU body and the CUDA
// body, and picks one by the tensor's device, then the element type by its dtype:
//
//   dispatch(x, "relu",
//            [&](auto tag) {                                 // CPU: T = float or double
//              using T = decltype(tag);
//              kernels::relu_forward_cpu(x.data<T>(), y.data<T>(), x.numel());
//            },
//            ALZ_ON_CUDA([&](auto tag, cudaStream_t s) {     // CUDA: T = float or bf16
//              using T = decltype(tag);
//              kernels::relu_forward_cuda(x.data<T>(), y.data<T>(), x.numel(), s);
//            }));
//
// The CUDA body gets the device's compute stream (cuBLAS and cuDNN handles are bound to it:
// cublas_of(t), cudnn_of(t)). A CUDA body written for f32 alone passes CudaTypes::F32Only as
// the last argument (a bf16 tensor then fails with a message naming the op) and ignores its
// tag, using float: the body is still compiled for both types.
//
// Why a macro around the CUDA body: in a CPU-only build (-DALZ_CUDA=OFF) cudaStream_t and the
// *_cuda launchers do not exist, so the CUDA body must not be compiled at all. ALZ_ON_CUDA(...)
// keeps its argument when the build has CUDA and replaces it by a NoCudaBody placeholder when
// it has not; dispatch() then fails for a CUDA tensor with "this build has no CUDA backend".
// The macro is variadic because the commas inside a lambda would split a plain macro argument.
// Work that only the CUDA path needs (a scratch buffer, a workspace) goes inside the CUDA body.
//
// Exercised by every op test (tests/test_ops.cpp, tests/gpu/test_autograd_ops_gpu.cpp); the
// CPU-only build: cmake -S . -B build-cpu -DALZ_CUDA=OFF.
#pragma once
#include <cstdint>
#include <type_traits>

#include "core/bf16.h"
#include "core/error.h"
#include "tensor/tensor.h"

#if ALZ_HAS_CUDA
#include <cuda_runtime.h>

#include "tensor/cuda/context.h"
#endif

namespace alz::ops::detail {

// What ALZ_ON_CUDA(...) leaves in a build without CUDA.
struct NoCudaBody {};

// clang-format off
#if ALZ_HAS_CUDA
#define ALZ_ON_CUDA(...) __VA_ARGS__
#else
#define ALZ_ON_CUDA(...) ::alz::ops::detail::NoCudaBody{}
#endif
// clang-format on

// The element types a CUDA body is written for.
enum class CudaTypes { F32OrBf16, F32Only };

#if ALZ_HAS_CUDA
inline cudaStream_t stream_of(const Tensor& t) { return cuda::context(t.device().index).compute_stream; }
inline cublasHandle_t cublas_of(const Tensor& t) { return cuda::context(t.device().index).cublas; }
inline cudnnHandle_t cudnn_of(const Tensor& t) { return cuda::context(t.device().index).cudnn; }
#endif

// Runs on_cpu(T{}) for a CPU tensor (T = float or double) or on_cuda(T{}, stream) for a CUDA
// tensor (T = float, or bf16 unless `types` is F32Only); any other dtype is an alz::Error
// naming `op`.
template <typename CpuBody, typename CudaBody>
void dispatch(const Tensor& t, const char* op, CpuBody&& on_cpu, CudaBody&& on_cuda,
              CudaTypes types = CudaTypes::F32OrBf16) {
  if (t.device().is_cpu()) {
    switch (t.dtype()) {
      case DType::F32: on_cpu(float{}); return;
      case DType::F64: on_cpu(double{}); return;
      default: ALZ_FAIL(op << ": " << t.summary() << ": the CPU path takes f32 or f64 (bf16 only where the op has it)");
    }
  }
#if ALZ_HAS_CUDA
  const bool bf16_ok = types == CudaTypes::F32OrBf16;
  switch (t.dtype()) {
    case DType::F32: on_cuda(float{}, stream_of(t)); return;
    case DType::BF16:
      if (bf16_ok) {
        on_cuda(bf16{}, stream_of(t));
        return;
      }
      [[fallthrough]];
    default: ALZ_FAIL(op << ": " << t.summary() << ": the CUDA path takes f32" << (bf16_ok ? " or bf16" : ""));
  }
#else
  static_assert(std::is_same_v<std::decay_t<CudaBody>, NoCudaBody>, "wrap the CUDA body in ALZ_ON_CUDA(...)");
  (void)on_cuda;
  (void)types;
  ALZ_FAIL(op << ": " << t.summary() << ": this build has no CUDA backend (built with ALZ_CUDA=OFF)");
#endif
}

// A float scratch buffer on the tensor's device (from the caching allocator).
inline Tensor scratch_floats(int64_t count, const Tensor& like) {
  return Tensor::empty({count < 1 ? 1 : count}, DType::F32, like.device());
}

// bf16 on the CPU (the rule is in tensor/ops.h): is `t` a CPU bf16 tensor, which the op runs
// through f32? Each op starts with
//   if (cpu_bf16(x)) return to_bf16(op(as_f32(x), ...));
inline bool cpu_bf16(const Tensor& t) { return t.defined() && t.device().is_cpu() && t.dtype() == DType::BF16; }
Tensor as_f32(const Tensor& t);   // cast(t, F32) for a bf16 tensor, else t itself
Tensor to_bf16(const Tensor& t);  // cast(t, BF16)

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
