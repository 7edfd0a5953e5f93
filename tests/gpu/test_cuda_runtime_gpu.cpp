// CUDA runtime: discovery, the caching allocator (reuse makes no new cudaMalloc; statistics;
// releasing cached blocks, blocks cut out of segments never overlapping on the device), pinned
// allocation, the per-device context and its workspaces.
// Labelled `gpu`; skips with a reason without a device. Run: ctest --test-dir build -L gpu
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <vector>

#include "core/error.h"
#include "support/compare.h"
#include "tensor/cuda/context.h"
#include "tensor/cuda_runtime.h"
#include "tensor/tensor.h"

namespace alz {
namespace {

TEST(CudaRuntimeGpu, DiscoveryReportsDevices) {
  ALZ_REQUIRE_GPU();
  auto list = cuda::devices();
  ASSERT_EQ(static_cast<int>(list.size()), cuda::device_count());
  EXPECT_FALSE(list[0].name.empty());
  EXPECT_GT(list[0].total_memory, size_t{1} << 30);
  EXPECT_GE(list[0].compute_major, 7);
  EXPECT_NE(cuda::library_versions().find("cuDNN"), std::string::npos);
}

TEST(CudaRuntimeGpu, FreedBlockIsReusedWithoutCudaMalloc) {
  ALZ_REQUIRE_GPU();
  const size_t bytes = (size_t{3} << 20) + 123;  // a large class
  void* first = cuda::device_allocate(bytes, 0);
  cuda::device_free(first);
  auto before = cuda::allocator_stats(0);
  void* second = cuda::device_allocate(bytes, 0);
  auto after = cuda::allocator_stats(0);
  EXPECT_EQ(after.cuda_malloc_calls, before.cuda_malloc_calls);
  EXPECT_EQ(after.cache_hits, before.cache_hits + 1);
  EXPECT_EQ(second, first);
  cuda::device_free(second);

  // Tensors too: a warm loop of the same shapes makes no cudaMalloc.
  for (int warm = 0; warm < 2; ++warm) Tensor::empty({64, 56, 56, 7}, DType::F32, Device::cuda());
  auto warm_stats = cuda::allocator_stats(0);
  for (int step = 0; step < 10; ++step) {
    Tensor a = Tensor::empty({64, 56, 56, 7}, DType::F32, Device::cuda());
    Tensor b = Tensor::empty({33}, DType::BF16, Device::cuda());
  }
  EXPECT_EQ(cuda::allocator_stats(0).cuda_malloc_calls,
            warm_stats.cuda_malloc_calls + 1);  // a small segment for the 33 elements, once
}

TEST(CudaRuntimeGpu, StatisticsTrackAllocatedReservedPeak) {
  ALZ_REQUIRE_GPU();
  cuda::release_cached_blocks();
  auto base = cuda::allocator_stats(0);
  cuda::reset_peak_stats(0);
  const size_t five_mib = cuda::allocator_size_class(5 << 20);
  EXPECT_EQ(five_mib, size_t{5} << 20);  // requests round to 512 bytes (tensor/block_allocator.h)
  EXPECT_EQ(cuda::allocator_size_class(1), 512u);
  const size_t one_mib_and_more = cuda::allocator_size_class((size_t{1} << 20) + 12);
  EXPECT_EQ(one_mib_and_more, (size_t{1} << 20) + 512);
  size_t reserved_in_use = 0;
  {
    Tensor a = Tensor::empty({5 << 18}, DType::F32, Device::cuda());  // 5 MiB
    auto during = cuda::allocator_stats(0);
    EXPECT_EQ(during.allocated_bytes, base.allocated_bytes + five_mib);
    EXPECT_GE(during.reserved_bytes, during.allocated_bytes);
    EXPECT_GE(during.peak_allocated_bytes, during.allocated_bytes);
    Tensor b = Tensor::empty({(1 << 18) + 3}, DType::F32, Device::cuda());  // 1 MiB + 12 B
    auto both = cuda::allocator_stats(0);
    const size_t asked = (size_t{5} << 20) + (size_t{1} << 20) + 12;  // before rounding
    EXPECT_EQ(both.allocated_bytes, base.allocated_bytes + five_mib + one_mib_and_more);
    EXPECT_EQ(both.requested_bytes, base.requested_bytes + asked);
    EXPECT_EQ(both.peak_requested_bytes, base.requested_bytes + asked);
    EXPECT_LE(both.reserved_bytes, base.reserved_bytes + (size_t{20} << 20)) << "both share one 20 MiB segment";
    reserved_in_use = both.reserved_bytes;
  }
  auto after = cuda::allocator_stats(0);
  EXPECT_EQ(after.requested_bytes, base.requested_bytes);
  EXPECT_EQ(after.allocated_bytes, base.allocated_bytes);
  EXPECT_EQ(after.peak_allocated_bytes, base.allocated_bytes + five_mib + one_mib_and_more);
  EXPECT_EQ(after.reserved_bytes, reserved_in_use);  // cached, not returned
  cuda::release_cached_blocks();
  EXPECT_EQ(cuda::allocator_stats(0).reserved_bytes, base.reserved_bytes) << "the new segment went back";
}

TEST(CudaRuntimeGpu, PinnedAllocationIsCached) {
  ALZ_REQUIRE_GPU();
  Tensor p = Tensor::empty({1000}, DType::F32, Device::cpu(), true);
  EXPECT_TRUE(p.is_pinned());
  void* address = p.raw_data();
  p = Tensor();
  Tensor q = Tensor::empty({1000}, DType::F32, Device::cpu(), true);
  EXPECT_EQ(q.raw_data(), address);
}

TEST(CudaRuntimeGpu, ContextHandlesAndWorkspace) {
  ALZ_REQUIRE_GPU();
  auto& ctx = cuda::context(0);
  EXPECT_NE(ctx.compute_stream, nullptr);
  EXPECT_NE(ctx.copy_stream, nullptr);
  cudaStream_t bound = nullptr;
  ASSERT_EQ(cublasGetStream(ctx.cublas, &bound), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(bound, ctx.compute_stream);
  ASSERT_EQ(cudnnGetStream(ctx.cudnn, &bound), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(bound, ctx.compute_stream);
  void* ws = ctx.workspace(1 << 20);
  EXPECT_EQ(ctx.workspace(1000), ws);  // smaller request: same buffer
  EXPECT_GE(ctx.workspace_size(), size_t{1} << 20);
  EXPECT_THROW(cuda::context(cuda::device_count()), Error);
}

// The fused BatchNorm workspace starts zeroed (its counters), is reused for smaller requests,
// and is zeroed again when it grows.
TEST(CudaRuntimeGpu, BnReluWorkspaceIsZeroedWhenCreatedOrGrown) {
  ALZ_REQUIRE_GPU();
  auto& ctx = cuda::context(0);
  auto expect_zero = [&](void* ws, size_t bytes, const char* what) {
    std::vector<unsigned char> host(bytes, 0xff);
    ASSERT_EQ(cudaStreamSynchronize(ctx.compute_stream), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(host.data(), ws, bytes, cudaMemcpyDeviceToHost), cudaSuccess);
    EXPECT_EQ(std::count(host.begin(), host.end(), 0), static_cast<std::ptrdiff_t>(bytes)) << what;
  };
  size_t capacity = 0;
  void* ws = ctx.bn_relu_workspace(4096, capacity);
  ASSERT_NE(ws, nullptr);
  EXPECT_GE(capacity, size_t{4096});
  expect_zero(ws, capacity, "created");
  size_t again = 0;
  EXPECT_EQ(ctx.bn_relu_workspace(100, again), ws);  // smaller request: same buffer
  EXPECT_EQ(again, capacity);
  ASSERT_EQ(cudaMemsetAsync(ws, 0xab, capacity, ctx.compute_stream), cudaSuccess);  // dirty it
  size_t grown = 0;
  void* bigger = ctx.bn_relu_workspace(capacity + 1, grown);
  EXPECT_GT(grown, capacity);
  expect_zero(bigger, grown, "grown");
}

// The books' randomised test (tests/test_block_allocator.cpp) on real device memory: blocks
// cut out of shared segments are filled with their own byte on the compute stream; whatever
// later blocks are filled with, each keeps its byte at both ends until it is freed.
TEST(CudaRuntimeGpu, BlocksCutOutOfSegmentsKeepTheirContents) {
  ALZ_REQUIRE_GPU();
  cudaStream_t stream = cuda::context(0).compute_stream;
  std::mt19937_64 random(1130);
  struct Live {
    size_t bytes;
    unsigned char tag;
  };
  std::map<char*, Live> live;
  auto check = [&](char* p, const Live& block) {
    unsigned char ends[2] = {0, 0};
    ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(&ends[0], p, 1, cudaMemcpyDeviceToHost), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(&ends[1], p + block.bytes - 1, 1, cudaMemcpyDeviceToHost), cudaSuccess);
    EXPECT_EQ(ends[0], block.tag) << "first byte of a block of " << block.bytes;
    EXPECT_EQ(ends[1], block.tag) << "last byte of a block of " << block.bytes;
  };
  for (int step = 0; step < 3000; ++step) {
    if (random() % 2 == 0 || live.empty()) {
      const size_t bytes = static_cast<size_t>(std::exp2(std::uniform_real_distribution<double>(0.0, 24.0)(random)));
      char* p = static_cast<char*>(cuda::device_allocate(bytes, 0));
      auto above = live.lower_bound(p);
      ASSERT_TRUE(above == live.end() || p + bytes <= above->first) << "overlaps the block above";
      if (above != live.begin()) {
        auto below = std::prev(above);
        ASSERT_LE(below->first + below->second.bytes, p) << "overlaps the block below";
      }
      const unsigned char tag = static_cast<unsigned char>(random() % 255 + 1);
      ASSERT_EQ(cudaMemsetAsync(p, tag, bytes, stream), cudaSuccess);
      live[p] = {bytes, tag};
    } else {
      auto victim = live.begin();
      std::advance(victim, static_cast<long>(random() % live.size()));
      ASSERT_NO_FATAL_FAILURE(check(victim->first, victim->second));
      cuda::device_free(victim->first);
      live.erase(victim);
    }
  }
  for (const auto& [p, block] : live) {
    ASSERT_NO_FATAL_FAILURE(check(p, block));
    cuda::device_free(p);
  }
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
}

}  // namespace
}  // namespace alz
