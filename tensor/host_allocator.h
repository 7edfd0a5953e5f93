// Caching allocator for the memory of CPU tensors.
//
// Why: a training step frees and allocates the same activation sizes every step. glibc serves
// large blocks with fresh mmap()s and gives them back with munmap(), so every step page-faults
// its whole working set in again and the kernel zeroes each page: 15-25% of a ResNet152V2
// training step on 2 cores (bench/RESULTS.md).
// How: a request of at least kHostCacheMinBytes is rounded up to a size class (8 classes per
// power of two: at most 12.5% slack) and taken from that class's free list when a block is
// there, else from the system (aligned_alloc). A freed block goes back on its list while the
// cached total stays under the limit (default: a quarter of physical memory, at most 4 GiB;
// ALZ_HOST_CACHE_MB overrides it, 0 turns caching off), else back to the system. Smaller
// requests go straight to aligned_alloc and free (glibc's bins reuse those well). Builds with
// AddressSanitizer never cache, so use-after-free stays visible. Thread-safe (one mutex).
//
//   void* p = host_allocate(bytes);   ...   host_free(p, bytes);   // the same byte count
//
// Tests: tests/test_host_allocator.cpp. bench/bench_train_step prints the statistics.
#pragma once
#include <cstddef>
#include <cstdint>

namespace alz {

constexpr size_t kHostCacheMinBytes = size_t{64} << 10;  // 64 KiB
constexpr size_t kHostAlignment = 64;                    // every block, cached or not

struct HostAllocatorStats {
  size_t allocated_bytes = 0;  // handed out now (size classes for cached sizes)
  size_t peak_allocated_bytes = 0;
  size_t cached_bytes = 0;  // free blocks kept for reuse
  size_t cache_limit_bytes = 0;
  uint64_t system_allocations = 0;  // blocks of cacheable size taken from the system
  uint64_t cache_hits = 0;          // requests served from a free list
};

void* host_allocate(size_t bytes);            // 64-byte aligned; throws alz::Error when out of memory
void host_free(void* pointer, size_t bytes);  // bytes: what host_allocate was asked for
size_t host_size_class(size_t bytes);         // the block size a request of `bytes` gets
HostAllocatorStats host_allocator_stats();
void reset_host_peak_stats();
void set_host_cache_limit(size_t bytes);  // frees cached blocks beyond it (0 under AddressSanitizer)
void release_host_cache();                // gives every cached block back to the system

}  // namespace alz
