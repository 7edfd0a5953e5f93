// Element kernels behind Tensor on the GPU: fill, arange, uniform, normal and dtype conversion.
// Each element is computed from its index alone with the same host/device functions as the
// CPU loops in tensor/tensor.cpp (core/philox.h, core/bf16.h), so both devices give
// bit-identical results. Grid-stride loops; launched on the device's compute stream.
// Tests: tests/gpu/test_tensor_gpu.cpp (GPU == CPU, bit-exact).
#include <cuda_runtime.h>

#include "core/bf16.h"
#include "core/cuda/check.h"
#include "core/philox.h"
#include "tensor/cuda/context.h"
#include "tensor/cuda_runtime.h"

namespace alz::cuda {

namespace {

constexpr int kThreads = 256;

int blocks_for(int64_t count) {
  int64_t blocks = (count + kThreads - 1) / kThreads;
  return static_cast<int>(blocks < 4096 ? (blocks < 1 ? 1 : blocks) : 4096);
}

__device__ __forceinline__ void store_float(void* data, DType dtype, int64_t i, float value) {
  if (dtype == DType::F32)
    static_cast<float*>(data)[i] = value;
  else if (dtype == DType::F64)
    static_cast<double*>(data)[i] = value;
  else if (dtype == DType::I32)
    static_cast<int32_t*>(data)[i] = static_cast<int32_t>(value);
  else
    static_cast<bf16*>(data)[i] = float_to_bf16(value);
}

__device__ __forceinline__ void store_double(void* data, DType dtype, int64_t i, double value) {
  if (dtype == DType::F32)
    static_cast<float*>(data)[i] = static_cast<float>(value);
  else if (dtype == DType::F64)
    static_cast<double*>(data)[i] = value;
  else if (dtype == DType::I32)
    static_cast<int32_t*>(data)[i] = static_cast<int32_t>(value);
  else
    static_cast<bf16*>(data)[i] = float_to_bf16(static_cast<float>(value));
}

__device__ __forceinline__ double load_double(const void* data, DType dtype, int64_t i) {
  if (dtype == DType::F32) return static_cast<const float*>(data)[i];
  if (dtype == DType::F64) return static_cast<const double*>(data)[i];
  if (dtype == DType::I32) return static_cast<const int32_t*>(data)[i];
  return bf16_to_float(static_cast<const bf16*>(data)[i]);
}

__global__ void fill_kernel(void* data, DType dtype, int64_t count, double value) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count; i += int64_t{gridDim.x} * blockDim.x)
    store_double(data, dtype, i, value);
}

__global__ void arange_kernel(void* data, DType dtype, int64_t count) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count; i += int64_t{gridDim.x} * blockDim.x)
    store_double(data, dtype, i, static_cast<double>(i));
}

__global__ void uniform_kernel(void* data, DType dtype, int64_t count, uint64_t seed, uint64_t offset, float low,
                               float high) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count; i += int64_t{gridDim.x} * blockDim.x)
    store_float(data, dtype, i, philox_uniform(seed, offset, i, low, high));
}

__global__ void normal_kernel(void* data, DType dtype, int64_t count, uint64_t seed, uint64_t offset, float mean,
                              float stddev) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count; i += int64_t{gridDim.x} * blockDim.x)
    store_float(data, dtype, i, philox_normal(seed, offset, i, mean, stddev));
}

// f64 -> bf16 rounds through f32, as the CPU path does.
__global__ void convert_kernel(const void* src, DType src_dtype, void* dst, DType dst_dtype, int64_t count) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count; i += int64_t{gridDim.x} * blockDim.x) {
    double value = load_double(src, src_dtype, i);
    if (dst_dtype == DType::BF16)
      store_float(dst, dst_dtype, i, static_cast<float>(value));
    else
      store_double(dst, dst_dtype, i, value);
  }
}

}  // namespace

void fill_device(void* data, DType dtype, int64_t count, double value, int device) {
  if (count == 0) return;
  fill_kernel<<<blocks_for(count), kThreads, 0, context(device).compute_stream>>>(data, dtype, count, value);
  ALZ_CUDA_CHECK_LAUNCH();
}

void arange_device(void* data, DType dtype, int64_t count, int device) {
  if (count == 0) return;
  arange_kernel<<<blocks_for(count), kThreads, 0, context(device).compute_stream>>>(data, dtype, count);
  ALZ_CUDA_CHECK_LAUNCH();
}

void uniform_device(void* data, DType dtype, int64_t count, uint64_t seed, uint64_t offset, float low, float high,
                    int device) {
  if (count == 0) return;
  uniform_kernel<<<blocks_for(count), kThreads, 0, context(device).compute_stream>>>(data, dtype, count, seed, offset,
                                                                                     low, high);
  ALZ_CUDA_CHECK_LAUNCH();
}

void normal_device(void* data, DType dtype, int64_t count, uint64_t seed, uint64_t offset, float mean, float stddev,
                   int device) {
  if (count == 0) return;
  normal_kernel<<<blocks_for(count), kThreads, 0, context(device).compute_stream>>>(data, dtype, count, seed, offset,
                                                                                    mean, stddev);
  ALZ_CUDA_CHECK_LAUNCH();
}

void convert_device(const void* src, DType src_dtype, void* dst, DType dst_dtype, int64_t count, int device) {
  if (count == 0) return;
  convert_kernel<<<blocks_for(count), kThreads, 0, context(device).compute_stream>>>(src, src_dtype, dst, dst_dtype,
                                                                                     count);
  ALZ_CUDA_CHECK_LAUNCH();
}

}  // namespace alz::cuda
