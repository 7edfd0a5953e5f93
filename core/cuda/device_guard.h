// DeviceGuard: makes a CUDA device current for a scope and restores the previous one, so that
// code working for one device (its context, a graph, a loader's copies) leaves the caller's
// current device as it found it. Host code only (.cpp files of the CUDA build).
//
//   { cuda::DeviceGuard guard(device.index); ...cudaMalloc, cudaStreamCreate... }
//   { cuda::DeviceGuard guard(device, std::nothrow); ... }   // never throws
//
// Used by tensor/cuda/context.cpp, tensor/cuda/cuda_graph.cpp, tensor/cuda/allocator.cpp and
// data/cuda/loader_copy.cpp;
// exercised by their GPU tests (tests/gpu/).
#pragma once
#include <cuda_runtime.h>

#include <new>

#include "core/cuda/check.h"

namespace alz::cuda {

class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    ALZ_CUDA_CHECK(cudaGetDevice(&previous_));
    if (device != previous_) ALZ_CUDA_CHECK(cudaSetDevice(device));
    switched_ = device != previous_;
  }
  // Never throws, for code that must not (the caching allocator, under its lock): a device that
  // cannot be made current shows in the call the guard is for.
  DeviceGuard(int device, std::nothrow_t) {
    if (cudaGetDevice(&previous_) == cudaSuccess && device != previous_)
      switched_ = cudaSetDevice(device) == cudaSuccess;
  }
  ~DeviceGuard() {
    if (switched_) cudaSetDevice(previous_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
  bool switched_ = false;
};

}  // namespace alz::cuda
