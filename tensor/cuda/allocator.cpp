// Caching device allocator and pinned host allocator (tensor/cuda_runtime.h): the CUDA side of
// tensor/block_allocator.h, which keeps the books (best fit, splitting, merging, graph pools,
// statistics; its header gives the rules). Here: segments come from cudaMalloc (device) and
// cudaHostAlloc (pinned host, device -1: cudaHostAlloc is slow, so pinned memory is cached the
// same way), one mutex guards every call, and each thread's active graph capture is remembered.
//
// Blocks are stream-ordered on the device's compute stream: a block freed after work was queued
// on that stream may be handed out again at once, because later users queue behind it (the
// same rule as PyTorch's allocator). Memory handed to another stream must outlive that stream's
// use of it. Before segments are given back (release_cached_blocks, or a failed cudaMalloc
// outside a capture) the device is synchronised, since queued work may still use them.
//
// CUDA graphs (tensor/cuda_graph.h) get private pools (tensor/cuda/graph_pool.h): while a
// capture is active on a thread, that thread's device allocations come from the graph's pool,
// and cudaMalloc is called with the thread's capture mode relaxed (cudaMalloc is not captured).
// Tests: tests/test_block_allocator.cpp (the books, on the CPU); tests/gpu/test_cuda_runtime_gpu.cpp
// (reuse makes no new cudaMalloc, statistics) and tests/gpu/test_cuda_graph_gpu.cpp (graph pools).
#include <cuda_runtime.h>

#include <mutex>
#include <new>
#include <string>

#include "core/cuda/check.h"
#include "core/cuda/device_guard.h"
#include "tensor/block_allocator.h"
#include "tensor/cuda/graph_pool.h"
#include "tensor/cuda_runtime.h"

namespace alz::cuda {

namespace {

// The graph pool this thread allocates from (0: none); set by graph_pool_begin.
thread_local uint64_t t_graph_pool = 0;
// The recording of this thread's requests (nullptr: none); set by allocation_recording_begin.
thread_local AllocationRecording* t_recording = nullptr;

// Lets this thread make a call that stream capture does not allow by default (cudaMalloc,
// cudaHostAlloc) while one of its streams is capturing; restores the mode afterwards.
class RelaxedCaptureMode {
 public:
  explicit RelaxedCaptureMode(bool needed) : needed_(needed) {
    if (needed_) cudaThreadExchangeStreamCaptureMode(&mode_);
  }
  ~RelaxedCaptureMode() {
    if (needed_) cudaThreadExchangeStreamCaptureMode(&mode_);
  }
  RelaxedCaptureMode(const RelaxedCaptureMode&) = delete;
  RelaxedCaptureMode& operator=(const RelaxedCaptureMode&) = delete;

 private:
  bool needed_;
  cudaStreamCaptureMode mode_ = cudaStreamCaptureModeRelaxed;
};

class CudaMemory : public MemoryBackend {
 public:
  void* reserve(size_t bytes, int device, bool capturing) override {
    RelaxedCaptureMode relaxed(capturing);
    void* pointer = nullptr;
    cudaError_t status = cudaSuccess;
    if (device >= 0) {
      DeviceGuard on(device, std::nothrow);
      status = cudaMalloc(&pointer, bytes);
    } else {
      status = cudaHostAlloc(&pointer, bytes, cudaHostAllocPortable);
    }
    if (status != cudaSuccess) {
      cudaGetLastError();  // clear the error, so that later calls do not report it
      return nullptr;
    }
    return pointer;
  }
  void release(void* segment, size_t, int device) override {
    if (device >= 0) {
      DeviceGuard on(device, std::nothrow);
      cudaFree(segment);
    } else {
      cudaFreeHost(segment);
    }
  }
  // Pinned memory (device -1) may be read by copies queued on any device.
  void wait_for_device(int device) override {
    auto synchronize = [](int each) {
      DeviceGuard on(each, std::nothrow);
      cudaDeviceSynchronize();
    };
    if (device >= 0) return synchronize(device);
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) return;
    for (int each = 0; each < count; ++each) synchronize(each);
  }
  std::string out_of_memory_text(int device) const override {
    return device >= 0 ? "CUDA out of memory on device " + std::to_string(device) : "out of pinned host memory";
  }
};

class CachingAllocator {
 public:
  void* allocate(size_t bytes, int device) {
    std::lock_guard<std::mutex> lock(mutex_);
    return books_.allocate(bytes, device, t_graph_pool, t_recording);
  }
  void free(void* pointer) {
    std::lock_guard<std::mutex> lock(mutex_);
    books_.free(pointer, t_graph_pool, t_recording);
  }
  // Runs `fn(books)` under the lock.
  template <typename Fn>
  auto locked(Fn fn) {
    std::lock_guard<std::mutex> lock(mutex_);
    return fn(books_);
  }

 private:
  std::mutex mutex_;
  CudaMemory memory_;
  BlockAllocator books_{memory_};
};

CachingAllocator& allocator() {
  static CachingAllocator* instance = new CachingAllocator();  // never destroyed: frees at exit are unsafe
  return *instance;
}

}  // namespace

size_t allocator_size_class(size_t bytes) { return block_size_for(bytes); }

void* device_allocate(size_t bytes, int device) {
  ALZ_CHECK(available(), "cannot allocate CUDA memory: " << unavailable_reason());
  ALZ_CHECK(device >= 0 && device < device_count(), "CUDA device " << device << " does not exist");
  return allocator().allocate(bytes, device);
}
void device_free(void* pointer) { allocator().free(pointer); }
AllocatorStats allocator_stats(int device) {
  return allocator().locked([&](BlockAllocator& books) { return books.stats(device); });
}
void reset_peak_stats(int device) {
  allocator().locked([&](BlockAllocator& books) { books.reset_peak(device); });
}
void release_cached_blocks() {
  allocator().locked([](BlockAllocator& books) { books.release(); });
}

uint64_t graph_pool_create(int device, const MemoryPlan* plan) {
  return allocator().locked([&](BlockAllocator& books) { return books.create_graph_pool(device, plan); });
}
bool graph_pool_follows_plan(uint64_t pool) {
  return allocator().locked([&](BlockAllocator& books) { return books.graph_pool_follows_plan(pool); });
}
void allocation_recording_begin(AllocationRecording* recording) {
  ALZ_CHECK(t_recording == nullptr, "an allocation recording is already active on this thread");
  t_recording = recording;
}
void allocation_recording_end() { t_recording = nullptr; }
void graph_pool_begin(uint64_t pool) {
  ALZ_CHECK(t_graph_pool == 0, "a CUDA graph capture is already active on this thread");
  const bool exists = allocator().locked([&](BlockAllocator& books) { return books.graph_pool_exists(pool); });
  ALZ_CHECK(exists, "graph memory pool " << pool << " does not exist");
  t_graph_pool = pool;
}
void graph_pool_end() { t_graph_pool = 0; }
void graph_pool_destroy(uint64_t pool) {
  allocator().locked([&](BlockAllocator& books) { books.destroy_graph_pool(pool); });
}
size_t graph_pool_bytes(uint64_t pool) {
  return allocator().locked([&](BlockAllocator& books) { return books.graph_pool_bytes(pool); });
}
size_t graph_pool_idle_bytes(uint64_t pool) {
  return allocator().locked([&](BlockAllocator& books) { return books.graph_pool_idle_bytes(pool); });
}
uint64_t active_graph_pool() { return t_graph_pool; }

void* pinned_allocate(size_t bytes) { return allocator().allocate(bytes, -1); }
void pinned_free(void* pointer) { allocator().free(pointer); }

}  // namespace alz::cuda
