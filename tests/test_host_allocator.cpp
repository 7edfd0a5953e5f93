// The caching allocator of CPU tensor memory (tensor/host_allocator.h): size classes, reuse of
// a freed block by the next request of its class, small requests passed through, the cap on
// cached bytes, release, alignment, statistics, and tensors using it.
// Run: ctest --test-dir build -R HostAllocator
#include <gtest/gtest.h>

#include <cstdint>
#include <thread>
#include <vector>

#include "tensor/host_allocator.h"
#include "tensor/tensor.h"

namespace alz {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kCaching = false;  // sanitizer builds never cache (see the header)
#else
constexpr bool kCaching = true;
#endif

// Each test starts from an empty cache with a known limit.
class HostAllocator : public ::testing::Test {
 protected:
  void SetUp() override {
    release_host_cache();
    set_host_cache_limit(size_t{256} << 20);
  }
  void TearDown() override { release_host_cache(); }
};

TEST_F(HostAllocator, SizeClassesAreAtMostAnEighthLarger) {
  EXPECT_EQ(host_size_class(1), kHostAlignment);
  EXPECT_EQ(host_size_class(100), 128u);
  EXPECT_EQ(host_size_class(kHostCacheMinBytes), kHostCacheMinBytes);
  EXPECT_EQ(host_size_class(kHostCacheMinBytes + 1), kHostCacheMinBytes + kHostCacheMinBytes / 8);
  for (size_t bytes : {size_t{70000}, size_t{1} << 20, (size_t{3} << 20) + 17, size_t{123456789}}) {
    const size_t size = host_size_class(bytes);
    EXPECT_GE(size, bytes);
    EXPECT_LE(size, bytes + bytes / 8 + 1) << bytes;
    EXPECT_EQ(host_size_class(size), size) << "a class maps to itself";
  }
}

TEST_F(HostAllocator, AFreedBlockServesTheNextRequestOfItsClass) {
  if (!kCaching) GTEST_SKIP() << "AddressSanitizer build: the cache is off";
  const size_t bytes = size_t{1} << 20;
  const HostAllocatorStats before = host_allocator_stats();
  void* a = host_allocate(bytes);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % kHostAlignment, 0u);
  host_free(a, bytes);
  EXPECT_EQ(host_allocator_stats().cached_bytes, host_size_class(bytes));
  void* b = host_allocate(bytes - 1000);  // same class
  EXPECT_EQ(b, a);
  const HostAllocatorStats after = host_allocator_stats();
  EXPECT_EQ(after.cache_hits, before.cache_hits + 1);
  EXPECT_EQ(after.system_allocations, before.system_allocations + 1);
  EXPECT_EQ(after.cached_bytes, 0u);
  void* c = host_allocate(bytes * 2);  // another class: a new block
  EXPECT_NE(c, b);
  host_free(b, bytes - 1000);
  host_free(c, bytes * 2);
}

TEST_F(HostAllocator, SmallRequestsAreNotCached) {
  const HostAllocatorStats before = host_allocator_stats();
  void* p = host_allocate(1000);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % kHostAlignment, 0u);
  host_free(p, 1000);
  const HostAllocatorStats after = host_allocator_stats();
  EXPECT_EQ(after.cached_bytes, 0u);
  EXPECT_EQ(after.system_allocations, before.system_allocations);
}

TEST_F(HostAllocator, TheLimitCapsWhatIsKept) {
  set_host_cache_limit(size_t{3} << 20);
  const size_t bytes = size_t{2} << 20;
  void* a = host_allocate(bytes);
  void* b = host_allocate(bytes);
  host_free(a, bytes);
  host_free(b, bytes);  // would exceed 3 MiB: back to the system
  EXPECT_EQ(host_allocator_stats().cached_bytes, kCaching ? bytes : 0u);
  EXPECT_EQ(host_allocator_stats().cache_limit_bytes, kCaching ? size_t{3} << 20 : 0u);
  set_host_cache_limit(0);  // lowering the limit frees what no longer fits
  EXPECT_EQ(host_allocator_stats().cached_bytes, 0u);
}

TEST_F(HostAllocator, ReleaseEmptiesTheCacheAndStatisticsFollowUse) {
  const HostAllocatorStats start = host_allocator_stats();
  const size_t bytes = size_t{5} << 20;
  void* a = host_allocate(bytes);
  EXPECT_EQ(host_allocator_stats().allocated_bytes, start.allocated_bytes + host_size_class(bytes));
  EXPECT_GE(host_allocator_stats().peak_allocated_bytes, start.allocated_bytes + host_size_class(bytes));
  host_free(a, bytes);
  EXPECT_EQ(host_allocator_stats().allocated_bytes, start.allocated_bytes);
  release_host_cache();
  EXPECT_EQ(host_allocator_stats().cached_bytes, 0u);
  reset_host_peak_stats();
  EXPECT_EQ(host_allocator_stats().peak_allocated_bytes, host_allocator_stats().allocated_bytes);
}

TEST_F(HostAllocator, ThreadsAllocateAndFreeConcurrently) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < 200; ++i) {
        const size_t bytes = (size_t{64} << 10) * size_t(1 + (i + t) % 5);
        auto* p = static_cast<unsigned char*>(host_allocate(bytes));
        p[0] = static_cast<unsigned char>(i);
        p[bytes - 1] = static_cast<unsigned char>(t);
        EXPECT_EQ(p[0], static_cast<unsigned char>(i));
        host_free(p, bytes);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(host_allocator_stats().allocated_bytes, 0u) << "every block handed out came back";
}

TEST_F(HostAllocator, CpuTensorsReuseTheirMemoryAcrossSteps) {
  if (!kCaching) GTEST_SKIP() << "AddressSanitizer build: the cache is off";
  const void* first = nullptr;
  {
    Tensor t = Tensor::empty({256, 1024}, DType::F32);  // 1 MiB
    first = t.raw_data();
  }
  const HostAllocatorStats before = host_allocator_stats();
  Tensor again = Tensor::zeros({256, 1024}, DType::F32);
  EXPECT_EQ(again.raw_data(), first) << "the freed block came back";
  EXPECT_EQ(host_allocator_stats().system_allocations, before.system_allocations);
  EXPECT_EQ(again.at({255, 1023}), 0.0) << "zeros() still zeroes a reused block";
}

}  // namespace
}  // namespace alz
