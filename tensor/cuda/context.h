// Per-device CUDA context: the streams, the cuBLAS and cuDNN handles bound to the compute
// stream, and one reusable workspace. Created lazily on first use, one per device, kept for
// the life of the process.
//
//   auto& ctx = alz::cuda::context(0);
//   kernel<<<grid, block, 0, ctx.compute_stream>>>(...);
//   void* ws = ctx.workspace(bytes);   // grows (through the caching allocator), never shrinks
//
// Code that takes an alz::Stream resolves it with stream_or_default(stream, device).
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstddef>

#include "core/dtype.h"

namespace alz::cuda {

struct Context {
  int device = 0;
  cudaStream_t compute_stream = nullptr;  // the training step runs here
  cudaStream_t copy_stream = nullptr;     // host-to-device batches
  cublasHandle_t cublas = nullptr;        // bound to compute_stream
  cudnnHandle_t cudnn = nullptr;          // bound to compute_stream

  // One reusable scratch buffer for cuDNN/cuBLAS; grows to the largest request.
  void* workspace(size_t bytes);
  size_t workspace_size() const { return workspace_bytes_; }

  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
};

Context& context(int device = 0);  // throws alz::Error without a device
cudaStream_t stream_or_default(Stream stream, int device);
int current_device();  // what cudaGetDevice says

}  // namespace alz::cuda
