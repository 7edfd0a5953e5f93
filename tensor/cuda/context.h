// Per-device CUDA context: the streams, the cuBLAS and cuDNN handles bound to the compute
// stream, and two reusable workspaces (cuDNN/cuBLAS scratch; the fused BatchNorm kernels' own).
// cuBLAS gets a workspace of its own (kCublasWorkspaceBytes, cublasSetWorkspace) so that it
// never allocates inside a GEMM: a CUDA graph capture (tensor/cuda_graph.h) cannot cudaMalloc.
// Created lazily on first use, one per device, kept for the life of the process.
//
//   auto& ctx = alz::cuda::context(0);
//   kernel<<<grid, block, 0, ctx.compute_stream>>>(...);
//   void* ws = ctx.workspace(bytes);   // grows (through the caching allocator), never shrinks
//
// Both workspaces serve work enqueued on compute_stream, one launch after another: a buffer
// is reused as soon as the previous launch is queued, and freed (stream-ordered) when it grows.
// Tested by tests/gpu/test_cuda_runtime_gpu.cpp.
//
// Code that takes an alz::Stream resolves it with stream_or_default(stream, device).
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstddef>
#include <vector>

#include "core/dtype.h"

namespace alz::cuda {

struct Context {
  static constexpr size_t kCublasWorkspaceBytes = size_t{32} << 20;  // cuBLAS's advice for Hopper

  int device = 0;
  cudaStream_t compute_stream = nullptr;  // the training step runs here
  cudaStream_t copy_stream = nullptr;     // host-to-device batches
  cublasHandle_t cublas = nullptr;        // bound to compute_stream
  cudnnHandle_t cudnn = nullptr;          // bound to compute_stream

  // One reusable scratch buffer for cuDNN/cuBLAS; grows to the largest request.
  void* workspace(size_t bytes);
  size_t workspace_size() const { return workspace_bytes_; }

  // The fused BatchNorm(+ReLU) kernels' dedicated workspace (kernels/bn_relu.h): at least
  // `bytes`, its size returned in `capacity`. Its first bytes are "last block" counters that
  // must be zero before a launch; every launch leaves them at zero, so the buffer is zeroed
  // (on compute_stream) only when it is created or grown. Growth allocates 4x the request,
  // so a few larger layers do not reallocate one after another.
  void* bn_relu_workspace(size_t bytes, size_t& capacity);

  // CUDA graphs (tensor/cuda_graph.h) record the workspaces' addresses. While a graph holds
  // them, a workspace that grows keeps its old block (retired, freed when no graph holds any).
  void hold_workspaces();
  void release_workspaces();

  void* cublas_workspace_ = nullptr;  // kCublasWorkspaceBytes, handed to cuBLAS at creation
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  void* bn_relu_workspace_ = nullptr;
  size_t bn_relu_workspace_bytes_ = 0;
  int workspace_holders_ = 0;    // live graphs that recorded the workspaces
  std::vector<void*> retired_;   // old workspaces kept for them
  void retire(void* workspace);  // device_free now, or when no graph holds the workspaces
};

Context& context(int device = 0);  // throws alz::Error without a device
cudaStream_t stream_or_default(Stream stream, int device);
int current_device();  // what cudaGetDevice says

}  // namespace alz::cuda
