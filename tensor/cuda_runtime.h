// The CUDA runtime as seen from code that must also build without CUDA: device discovery,
// the caching device allocator, the pinned host allocator and raw copies. Implemented in
// tensor/cuda/*.cpp with the toolkit, and in tensor/no_cuda/runtime_stub.cpp without it
// (where device_count() is 0 and everything else throws "built without CUDA").
//
// Discovery never throws: with no driver or no device, device_count() is 0 and
// unavailable_reason() says why ("no CUDA driver", "no CUDA device", ...).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace alz::cuda {

struct DeviceProperties {
  int index = 0;
  std::string name;
  size_t total_memory = 0;  // bytes
  int compute_major = 0, compute_minor = 0;
  int multiprocessors = 0;
};

bool built_with_cuda();
int device_count();                // 0 without a usable device; never throws
bool available();                  // device_count() > 0
std::string unavailable_reason();  // empty when available
std::vector<DeviceProperties> devices();
std::string library_versions();  // "CUDA runtime 13.0, driver 13.0, cuDNN 9.19.0, cuBLAS 13.0.0"

// ---- caching device allocator ----
// Requests are rounded up to 512 bytes and served from cudaMalloc'd segments by best fit, with
// splitting and merging (tensor/block_allocator.h); freed blocks stay cached per device, so a
// warm training step calls cudaMalloc zero times. A CUDA graph's capture allocates from a
// private pool of that graph (tensor/cuda_graph.h).
struct AllocatorStats {
  size_t allocated_bytes = 0;  // handed out now
  size_t reserved_bytes = 0;   // held from cudaMalloc (allocated + cached)
  size_t peak_allocated_bytes = 0;
  // What callers asked for, before rounding to 512 bytes (allocated_bytes - requested_bytes is
  // the rounding's cost; PyTorch's max_memory_allocated rounds the same way).
  size_t requested_bytes = 0;
  size_t peak_requested_bytes = 0;
  uint64_t cuda_malloc_calls = 0;
  uint64_t cache_hits = 0;
  uint64_t cache_flushes = 0;   // times cudaMalloc failed and every cached block was freed (then retried)
  size_t graph_pool_bytes = 0;  // part of reserved_bytes kept for CUDA graphs' replays (tensor/cuda_graph.h)
};
void* device_allocate(size_t bytes, int device);
void device_free(void* pointer);
AllocatorStats allocator_stats(int device);
void reset_peak_stats(int device);
void release_cached_blocks();  // cudaFree every cached (free) block on every device
size_t allocator_size_class(size_t bytes);  // the block size a request gets: rounded to 512 bytes

// ---- pinned host allocator (cached the same way; cudaHostAlloc is slow) ----
void* pinned_allocate(size_t bytes);
void pinned_free(void* pointer);

// ---- copies ----
// kind is inferred from the pointers (unified addressing). `stream` nullptr means the
// device's default compute stream (found from the pointers; give the stream, e.g.
// compute_stream(device), to skip that query).
void copy_sync(void* dst, const void* src, size_t bytes);
void copy_async(void* dst, const void* src, size_t bytes, Stream stream);
void synchronize(int device);
Stream compute_stream(int device);  // the device's compute stream (tensor/cuda/context.h)  // waits for the device's
                                    // streams (tests and benchmarks only)

// ---- device-side element work used by Tensor (tensor/cuda/tensor_kernels.cu) ----
void fill_device(void* data, DType dtype, int64_t count, double value, int device);
void arange_device(void* data, DType dtype, int64_t count, int device);
void uniform_device(void* data, DType dtype, int64_t count, uint64_t seed, uint64_t offset, float low, float high,
                    int device);
void normal_device(void* data, DType dtype, int64_t count, uint64_t seed, uint64_t offset, float mean, float stddev,
                   int device);
void convert_device(const void* src, DType src_dtype, void* dst, DType dst_dtype, int64_t count, int device);

}  // namespace alz::cuda
