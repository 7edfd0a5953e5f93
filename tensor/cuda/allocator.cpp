// Caching device allocator and pinned host allocator (tensor/cuda_runtime.h).
//
// Device: a request is rounded up to its size class (512-byte granules below 1 MiB, 2 MiB
// granules above). Freed blocks go on a per-device free list keyed by size class; the next
// request of that class takes one from the list instead of calling cudaMalloc. When
// cudaMalloc fails, every cached block is released and the call retried once.
// Blocks are stream-ordered on the device's compute stream: a block freed after work was
// queued on that stream may be handed out again at once, because later users queue behind it
// (the same rule as PyTorch's allocator). Memory handed to another stream must outlive that
// stream's use of it.
//
// Pinned host memory is cached the same way (cudaHostAlloc is slow) with the same classes.
// Tests: tests/gpu/test_cuda_runtime_gpu.cpp (reuse makes no new cudaMalloc, statistics).
#include <cuda_runtime.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/cuda/check.h"
#include "tensor/cuda_runtime.h"

namespace alz::cuda {

namespace {

constexpr size_t kSmallGranule = 512;
constexpr size_t kLargeThreshold = size_t{1} << 20;
constexpr size_t kLargeGranule = size_t{2} << 20;

struct Block {
  size_t size = 0;  // the size class actually reserved
  int device = -1;  // -1: pinned host
};

struct Pool {
  std::multimap<size_t, void*> free_blocks;  // size class -> cached pointers
  AllocatorStats stats;
};

class CachingAllocator {
 public:
  void* allocate(size_t bytes, int device) {
    size_t size = allocator_size_class(bytes);
    std::lock_guard<std::mutex> lock(mutex_);
    Pool& pool = pools_[device];
    auto cached = pool.free_blocks.find(size);
    void* pointer = nullptr;
    if (cached != pool.free_blocks.end()) {
      pointer = cached->second;
      pool.free_blocks.erase(cached);
      ++pool.stats.cache_hits;
    } else {
      pointer = raw_allocate(size, device);
      if (pointer == nullptr) {
        ++pool.stats.cache_flushes;  // a sign that the working set nearly fills the device
        release_locked();
        pointer = raw_allocate(size, device);
      }
      if (pointer == nullptr) {
        ALZ_FAIL((device >= 0 ? "CUDA out of memory on device " + std::to_string(device)
                              : std::string("out of pinned host memory"))
                 << ": asked for " << bytes << " bytes; allocated " << pool.stats.allocated_bytes << ", reserved "
                 << pool.stats.reserved_bytes << " bytes");
      }
      ++pool.stats.cuda_malloc_calls;
      pool.stats.reserved_bytes += size;
    }
    live_[pointer] = Block{size, device};
    pool.stats.allocated_bytes += size;
    pool.stats.peak_allocated_bytes = std::max(pool.stats.peak_allocated_bytes, pool.stats.allocated_bytes);
    return pointer;
  }

  void free(void* pointer) {
    if (pointer == nullptr) return;
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = live_.find(pointer);
    if (found == live_.end()) return;  // not ours: a bug, but freeing must never throw
    Block block = found->second;
    live_.erase(found);
    Pool& pool = pools_[block.device];
    pool.stats.allocated_bytes -= block.size;
    pool.free_blocks.emplace(block.size, pointer);
  }

  AllocatorStats stats(int device) {
    std::lock_guard<std::mutex> lock(mutex_);
    return pools_[device].stats;
  }

  void reset_peak(int device) {
    std::lock_guard<std::mutex> lock(mutex_);
    Pool& pool = pools_[device];
    pool.stats.peak_allocated_bytes = pool.stats.allocated_bytes;
  }

  void release() {
    std::lock_guard<std::mutex> lock(mutex_);
    release_locked();
  }

 private:
  static void* raw_allocate(size_t size, int device) {
    void* pointer = nullptr;
    if (device >= 0) {
      int previous = 0;
      cudaGetDevice(&previous);
      if (previous != device) cudaSetDevice(device);
      cudaError_t status = cudaMalloc(&pointer, size);
      if (previous != device) cudaSetDevice(previous);
      if (status != cudaSuccess) {
        cudaGetLastError();
        return nullptr;
      }
    } else if (cudaHostAlloc(&pointer, size, cudaHostAllocPortable) != cudaSuccess) {
      cudaGetLastError();
      return nullptr;
    }
    return pointer;
  }

  void release_locked() {
    for (auto& [device, pool] : pools_) {
      if (device >= 0 && !pool.free_blocks.empty()) {
        // A cached block may still be in use by queued work; wait for it before freeing.
        cudaDeviceSynchronize();
      }
      for (auto& [size, pointer] : pool.free_blocks) {
        if (device >= 0)
          cudaFree(pointer);
        else
          cudaFreeHost(pointer);
        pool.stats.reserved_bytes -= size;
      }
      pool.free_blocks.clear();
    }
  }

  std::mutex mutex_;
  std::map<int, Pool> pools_;
  std::unordered_map<void*, Block> live_;
};

CachingAllocator& allocator() {
  static CachingAllocator* instance = new CachingAllocator();  // never destroyed: frees at exit are unsafe
  return *instance;
}

}  // namespace

size_t allocator_size_class(size_t bytes) {
  if (bytes == 0) bytes = 1;
  size_t granule = bytes < kLargeThreshold ? kSmallGranule : kLargeGranule;
  return (bytes + granule - 1) / granule * granule;
}

void* device_allocate(size_t bytes, int device) {
  ALZ_CHECK(available(), "cannot allocate CUDA memory: " << unavailable_reason());
  ALZ_CHECK(device >= 0 && device < device_count(), "CUDA device " << device << " does not exist");
  return allocator().allocate(bytes, device);
}
void device_free(void* pointer) { allocator().free(pointer); }
AllocatorStats allocator_stats(int device) { return allocator().stats(device); }
void reset_peak_stats(int device) { allocator().reset_peak(device); }
void release_cached_blocks() { allocator().release(); }

void* pinned_allocate(size_t bytes) { return allocator().allocate(bytes, -1); }
void pinned_free(void* pointer) { allocator().free(pointer); }

}  // namespace alz::cuda
