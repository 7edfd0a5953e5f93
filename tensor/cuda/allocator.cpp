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
//
// CUDA graphs (tensor/cuda_graph.h) get private pools (tensor/cuda/graph_pool.h): while a
// capture is active on a thread, that thread's device allocations come from the graph's pool
// (its free blocks, else a block moved over from the general cache, else cudaMalloc with the
// thread's capture mode relaxed for the call, as cudaMalloc is not itself captured) and its frees
// go to that pool. A pool's blocks are never handed to eager code while the graph lives; when it
// is destroyed they return to the general cache. No cache flush happens during a capture (it
// would synchronise the device): an allocation that does not fit fails, and so does the capture.
// Tests: tests/gpu/test_cuda_runtime_gpu.cpp (reuse makes no new cudaMalloc, statistics) and
// tests/gpu/test_cuda_graph_gpu.cpp (graph pools).
#include <cuda_runtime.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/cuda/check.h"
#include "tensor/cuda/graph_pool.h"
#include "tensor/cuda_runtime.h"

namespace alz::cuda {

namespace {

constexpr size_t kSmallGranule = 512;
constexpr size_t kLargeThreshold = size_t{1} << 20;
constexpr size_t kLargeGranule = size_t{2} << 20;

struct Block {
  size_t size = 0;    // the size class actually reserved
  size_t requested = 0;  // what the caller asked for
  int device = -1;    // -1: pinned host
  uint64_t pool = 0;  // the graph pool it belongs to; 0: the general cache
};

struct Pool {
  std::multimap<size_t, void*> free_blocks;  // size class -> cached pointers
  AllocatorStats stats;
};

// A CUDA graph's private pool: free blocks kept for that graph's replays only.
struct GraphPool {
  int device = 0;
  std::multimap<size_t, void*> free_blocks;
  size_t bytes = 0;  // reserved by the pool: its blocks in use and free
};

// The graph pool this thread allocates from (0: none); set by graph_pool_begin.
thread_local uint64_t t_graph_pool = 0;

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

class CachingAllocator {
 public:
  void* allocate(size_t bytes, int device) {
    size_t size = allocator_size_class(bytes);
    std::lock_guard<std::mutex> lock(mutex_);
    Pool& pool = pools_[device];
    GraphPool* graph = capturing_pool(device);
    void* pointer = nullptr;
    if (graph) {
      pointer = take(graph->free_blocks, size);
      if (pointer == nullptr && (pointer = take(pool.free_blocks, size)) != nullptr) {
        graph->bytes += size;  // moved from the general cache: the graph's from now on
        pool.stats.graph_pool_bytes += size;
      }
      if (pointer != nullptr) ++pool.stats.cache_hits;
    } else if ((pointer = take(pool.free_blocks, size)) != nullptr) {
      ++pool.stats.cache_hits;
    }
    if (pointer == nullptr) {
      pointer = raw_allocate(size, device);
      if (pointer == nullptr && t_graph_pool == 0) {  // no flush inside a capture (it synchronises)
        ++pool.stats.cache_flushes;                   // a sign that the working set nearly fills the device
        release_locked();
        pointer = raw_allocate(size, device);
      }
      if (pointer == nullptr) {
        ALZ_FAIL((device >= 0 ? "CUDA out of memory on device " + std::to_string(device)
                              : std::string("out of pinned host memory"))
                 << ": asked for " << bytes << " bytes; allocated " << pool.stats.allocated_bytes << ", reserved "
                 << pool.stats.reserved_bytes << " bytes"
                 << (graph ? " (inside a CUDA graph capture, where cached blocks are not released)" : ""));
      }
      ++pool.stats.cuda_malloc_calls;
      pool.stats.reserved_bytes += size;
      if (graph) {
        graph->bytes += size;
        pool.stats.graph_pool_bytes += size;
      }
    }
    live_[pointer] = Block{size, bytes, device, graph ? t_graph_pool : 0};
    pool.stats.allocated_bytes += size;
    pool.stats.peak_allocated_bytes = std::max(pool.stats.peak_allocated_bytes, pool.stats.allocated_bytes);
    pool.stats.requested_bytes += bytes;
    pool.stats.peak_requested_bytes = std::max(pool.stats.peak_requested_bytes, pool.stats.requested_bytes);
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
    pool.stats.requested_bytes -= block.requested;
    // A block of a live graph's pool goes back to that pool (reserved for the graph either way).
    // Any other block freed inside a capture may be read by the graph being captured: it becomes
    // that graph's. Otherwise the block returns to the general cache.
    GraphPool* target = nullptr;
    uint64_t target_id = 0;
    if (auto owner = graph_pools_.find(block.pool); block.pool != 0 && owner != graph_pools_.end()) {
      target = &owner->second;
      target_id = block.pool;
    } else if ((target = capturing_pool(block.device)) != nullptr) {
      target_id = t_graph_pool;
    }
    if (!target) {
      pool.free_blocks.emplace(block.size, pointer);
      return;
    }
    if (block.pool != target_id) {  // from the general cache (or a pool gone) to the capturing graph
      pool.stats.graph_pool_bytes += block.size;
      target->bytes += block.size;
    }
    target->free_blocks.emplace(block.size, pointer);
  }

  uint64_t create_graph_pool(int device) {
    std::lock_guard<std::mutex> lock(mutex_);
    const uint64_t id = next_graph_pool_++;
    graph_pools_[id].device = device;
    return id;
  }

  // Its free blocks join the general cache; its blocks in use will when they are freed.
  void destroy_graph_pool(uint64_t id) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = graph_pools_.find(id);
    if (found == graph_pools_.end()) return;
    GraphPool& graph = found->second;
    Pool& pool = pools_[graph.device];
    for (auto& [size, pointer] : graph.free_blocks) pool.free_blocks.emplace(size, pointer);
    pool.stats.graph_pool_bytes -= graph.bytes;
    graph_pools_.erase(found);
  }

  size_t graph_pool_bytes(uint64_t id) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = graph_pools_.find(id);
    return found == graph_pools_.end() ? 0 : found->second.bytes;
  }

  size_t graph_pool_idle_bytes(uint64_t id) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = graph_pools_.find(id);
    if (found == graph_pools_.end()) return 0;
    size_t idle = 0;
    for (const auto& entry : found->second.free_blocks) idle += entry.first;
    return idle;
  }

  bool graph_pool_exists(uint64_t id) {
    std::lock_guard<std::mutex> lock(mutex_);
    return graph_pools_.count(id) > 0;
  }

  AllocatorStats stats(int device) {
    std::lock_guard<std::mutex> lock(mutex_);
    return pools_[device].stats;
  }

  void reset_peak(int device) {
    std::lock_guard<std::mutex> lock(mutex_);
    Pool& pool = pools_[device];
    pool.stats.peak_allocated_bytes = pool.stats.allocated_bytes;
    pool.stats.peak_requested_bytes = pool.stats.requested_bytes;
  }

  void release() {
    std::lock_guard<std::mutex> lock(mutex_);
    release_locked();
  }

 private:
  // The pool this thread captures into, when it is on `device` (under mutex_).
  GraphPool* capturing_pool(int device) {
    if (t_graph_pool == 0 || device < 0) return nullptr;
    auto found = graph_pools_.find(t_graph_pool);
    return found != graph_pools_.end() && found->second.device == device ? &found->second : nullptr;
  }

  static void* take(std::multimap<size_t, void*>& free_blocks, size_t size) {
    auto cached = free_blocks.find(size);
    if (cached == free_blocks.end()) return nullptr;
    void* pointer = cached->second;
    free_blocks.erase(cached);
    return pointer;
  }

  static void* raw_allocate(size_t size, int device) {
    RelaxedCaptureMode relaxed(t_graph_pool != 0);  // cudaMalloc is not captured; allowed here
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
  std::map<uint64_t, GraphPool> graph_pools_;
  uint64_t next_graph_pool_ = 1;
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

uint64_t graph_pool_create(int device) { return allocator().create_graph_pool(device); }
void graph_pool_begin(uint64_t pool) {
  ALZ_CHECK(t_graph_pool == 0, "a CUDA graph capture is already active on this thread");
  ALZ_CHECK(allocator().graph_pool_exists(pool), "graph memory pool " << pool << " does not exist");
  t_graph_pool = pool;
}
void graph_pool_end() { t_graph_pool = 0; }
void graph_pool_destroy(uint64_t pool) { allocator().destroy_graph_pool(pool); }
size_t graph_pool_bytes(uint64_t pool) { return allocator().graph_pool_bytes(pool); }
size_t graph_pool_idle_bytes(uint64_t pool) { return allocator().graph_pool_idle_bytes(pool); }
uint64_t active_graph_pool() { return t_graph_pool; }

void* pinned_allocate(size_t bytes) { return allocator().allocate(bytes, -1); }
void pinned_free(void* pointer) { allocator().free(pointer); }

}  // namespace alz::cuda
