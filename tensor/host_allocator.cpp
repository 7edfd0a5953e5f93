// Caching allocator for CPU tensor memory (tensor/host_allocator.h): free lists per size
// class under one mutex, a cap on the cached total, statistics.
#include "tensor/host_allocator.h"

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

#include "core/error.h"

namespace alz {

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

size_t default_limit() {
  if (kSanitized) return 0;
  if (const char* mb = std::getenv("ALZ_HOST_CACHE_MB")) {
    char* end = nullptr;
    const unsigned long long value = std::strtoull(mb, &end, 10);
    if (end != mb && *end == '\0') return static_cast<size_t>(value) << 20;
  }
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  const size_t quarter = pages > 0 && page > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(page) / 4 : 0;
  return std::min(quarter, size_t{4} << 30);
}

void* system_allocate(size_t bytes) {
  const size_t rounded = (std::max<size_t>(bytes, 1) + kHostAlignment - 1) / kHostAlignment * kHostAlignment;
  void* pointer = std::aligned_alloc(kHostAlignment, rounded);
  ALZ_CHECK(pointer != nullptr, "out of host memory allocating " << bytes << " bytes");
  return pointer;
}

class HostCache {
 public:
  void* allocate(size_t bytes) {
    if (bytes < kHostCacheMinBytes) return system_allocate(bytes);
    const size_t size = host_size_class(bytes);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stats_.allocated_bytes += size;
      stats_.peak_allocated_bytes = std::max(stats_.peak_allocated_bytes, stats_.allocated_bytes);
      auto cached = free_.find(size);
      if (cached != free_.end()) {
        void* pointer = cached->second;
        free_.erase(cached);
        stats_.cached_bytes -= size;
        ++stats_.cache_hits;
        return pointer;
      }
      ++stats_.system_allocations;
    }
    try {
      return system_allocate(size);
    } catch (...) {
      release();  // the cache may be what filled memory: give it back and try once more
      try {
        return system_allocate(size);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex_);
        stats_.allocated_bytes -= size;
        throw;
      }
    }
  }

  void free(void* pointer, size_t bytes) {
    if (pointer == nullptr) return;
    if (bytes < kHostCacheMinBytes) {
      std::free(pointer);
      return;
    }
    const size_t size = host_size_class(bytes);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stats_.allocated_bytes -= size;
      if (stats_.cached_bytes + size <= limit()) {
        free_.emplace(size, pointer);
        stats_.cached_bytes += size;
        return;
      }
    }
    std::free(pointer);
  }

  HostAllocatorStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    HostAllocatorStats s = stats_;
    s.cache_limit_bytes = limit();
    return s;
  }

  void reset_peak() {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.peak_allocated_bytes = stats_.allocated_bytes;
  }

  void set_limit(size_t bytes) {
    std::vector<void*> to_free;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      limit_ = kSanitized ? 0 : bytes;
      limit_set_ = true;
      // Largest blocks first until the cached total fits.
      while (stats_.cached_bytes > limit_ && !free_.empty()) {
        auto largest = std::prev(free_.end());
        stats_.cached_bytes -= largest->first;
        to_free.push_back(largest->second);
        free_.erase(largest);
      }
    }
    for (void* p : to_free) std::free(p);
  }

  void release() {
    std::multimap<size_t, void*> blocks;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      blocks.swap(free_);
      stats_.cached_bytes = 0;
    }
    for (auto& [size, pointer] : blocks) std::free(pointer);
  }

  void lock() { mutex_.lock(); }  // around fork() only (cache() below)
  void unlock() { mutex_.unlock(); }

 private:
  size_t limit() {  // under mutex_
    if (!limit_set_) {
      limit_ = default_limit();
      limit_set_ = true;
    }
    return limit_;
  }

  std::mutex mutex_;
  std::multimap<size_t, void*> free_;  // size class -> cached blocks
  HostAllocatorStats stats_;
  size_t limit_ = 0;
  bool limit_set_ = false;
};

HostCache& cache() {
  static HostCache* instance = [] {
    auto* made = new HostCache();  // never destroyed: tensors may outlive statics
    // Fork-safe: the mutex is held across fork(), so a child process (models/sandbox.h reads
    // untrusted files in one) never inherits it locked by a thread that does not exist there.
    pthread_atfork([] { cache().lock(); }, [] { cache().unlock(); }, [] { cache().unlock(); });
    return made;
  }();
  return *instance;
}

}  // namespace

size_t host_size_class(size_t bytes) {
  if (bytes < kHostCacheMinBytes)
    return (std::max<size_t>(bytes, 1) + kHostAlignment - 1) / kHostAlignment * kHostAlignment;
  // 8 classes per power of two: round up to a multiple of 2^(floor(log2(bytes)) - 3).
  size_t power = size_t{1} << (63 - __builtin_clzll(static_cast<unsigned long long>(bytes)));
  const size_t step = power / 8;
  return (bytes + step - 1) / step * step;
}

void* host_allocate(size_t bytes) { return cache().allocate(bytes); }
void host_free(void* pointer, size_t bytes) { cache().free(pointer, bytes); }
HostAllocatorStats host_allocator_stats() { return cache().stats(); }
void reset_host_peak_stats() { cache().reset_peak(); }
void set_host_cache_limit(size_t bytes) { cache().set_limit(bytes); }
void release_host_cache() { cache().release(); }

}  // namespace alz
