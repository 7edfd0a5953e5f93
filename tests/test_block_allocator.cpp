// The caching device allocator's books (tensor/block_allocator.h) on a backend of host memory:
// request and segment sizes, reuse, best fit, splitting, merging, release, the flush and retry
// after a failed reservation, out-of-memory messages, CUDA graph pools, and a randomised run
// checked against a model of the live blocks (no overlap, no corruption, exact statistics).
// Also the allocation trace that feeds bench/bench_allocator --replay (tensor/allocation_trace.h).
// Run: ctest --test-dir build -R "BlockAllocator|AllocationTrace"
#include "tensor/block_allocator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <random>
#include <set>
#include <vector>

#include "core/error.h"
#include "support/compare.h"
#include "tensor/allocation_trace.h"
#include "tensor/tensor.h"

namespace alz {
namespace {

constexpr size_t kMiB = size_t{1} << 20;

// Segments from aligned_alloc, under an optional limit, with every call counted.
class HostMemory : public MemoryBackend {
 public:
  explicit HostMemory(size_t limit = size_t{64} << 30) : limit_(limit) {}
  ~HostMemory() override { EXPECT_TRUE(outstanding.empty()) << outstanding.size() << " segments never given back"; }

  void* reserve(size_t bytes, int device, bool capturing) override {
    reserve_calls.push_back({bytes, device, capturing});
    if (held(device) + bytes > limit_) return nullptr;
    void* pointer = std::aligned_alloc(kBlockGranule, bytes);
    if (pointer) outstanding[pointer] = {bytes, device};
    return pointer;
  }
  void release(void* segment, size_t bytes, int device) override {
    auto found = outstanding.find(segment);
    ASSERT_NE(found, outstanding.end()) << "released a segment never reserved";
    EXPECT_EQ(found->second.bytes, bytes);
    EXPECT_EQ(found->second.device, device);
    EXPECT_TRUE(waited.count(device)) << "device " << device << " released without a wait";
    outstanding.erase(found);
    std::free(segment);
  }
  void wait_for_device(int device) override { waited.insert(device); }
  std::string out_of_memory_text(int device) const override {
    return "out of test memory on device " + std::to_string(device);
  }

  size_t held(int device) const {
    size_t total = 0;
    for (const auto& [pointer, segment] : outstanding)
      if (segment.device == device) total += segment.bytes;
    return total;
  }

  struct Call {
    size_t bytes;
    int device;
    bool capturing;
  };
  struct Held {
    size_t bytes;
    int device;
  };
  std::vector<Call> reserve_calls;
  std::map<void*, Held> outstanding;
  std::set<int> waited;

 private:
  size_t limit_;
};

char* at(void* pointer) { return static_cast<char*>(pointer); }

TEST(BlockAllocator, RequestsRoundTo512BytesAndSegmentsFollowTheRequestSize) {
  EXPECT_EQ(block_size_for(0), 512u);
  EXPECT_EQ(block_size_for(1), 512u);
  EXPECT_EQ(block_size_for(512), 512u);
  EXPECT_EQ(block_size_for(513), 1024u);
  EXPECT_EQ(block_size_for(5 * kMiB), 5 * kMiB) << "no 2 MiB granules for large requests";
  EXPECT_EQ(block_size_for(kMiB + 12), kMiB + 512);
  EXPECT_EQ(segment_size_for(100), 2 * kMiB);
  EXPECT_EQ(segment_size_for(kMiB), 2 * kMiB);
  EXPECT_EQ(segment_size_for(kMiB + 1), 20 * kMiB);
  EXPECT_EQ(segment_size_for(10 * kMiB - 512), 20 * kMiB);
  EXPECT_EQ(segment_size_for(10 * kMiB), 10 * kMiB);
  EXPECT_EQ(segment_size_for(11 * kMiB + 1), 12 * kMiB);
}

TEST(BlockAllocator, AFreedBlockIsReusedWithoutANewSegment) {
  HostMemory memory;
  BlockAllocator books(memory);
  void* first = books.allocate(3 * kMiB + 123, 0);
  books.free(first);
  void* second = books.allocate(3 * kMiB + 123, 0);
  EXPECT_EQ(second, first);
  EXPECT_EQ(memory.reserve_calls.size(), 1u);
  EXPECT_EQ(books.stats(0).cuda_malloc_calls, 1u);
  EXPECT_EQ(books.stats(0).cache_hits, 1u);
  books.free(second);
}

TEST(BlockAllocator, OneSegmentServesSeveralRequestsBySplitting) {
  HostMemory memory;
  BlockAllocator books(memory);
  std::vector<void*> large;
  for (int i = 0; i < 4; ++i) large.push_back(books.allocate(4 * kMiB, 0));
  ASSERT_EQ(memory.reserve_calls.size(), 1u) << "four 4 MiB requests fit one 20 MiB segment";
  EXPECT_EQ(memory.reserve_calls[0].bytes, 20 * kMiB);
  for (int i = 1; i < 4; ++i) EXPECT_EQ(at(large[i]), at(large[0]) + i * 4 * kMiB) << "front of the rest";
  std::vector<void*> small;
  for (int i = 0; i < 100; ++i) small.push_back(books.allocate(10000, 0));  // 10,240 bytes each
  EXPECT_EQ(memory.reserve_calls.size(), 2u) << "100 small requests share one 2 MiB segment";
  EXPECT_EQ(memory.reserve_calls[1].bytes, 2 * kMiB);
  const cuda::AllocatorStats stats = books.stats(0);
  EXPECT_EQ(stats.allocated_bytes, 16 * kMiB + 100 * 10240);
  EXPECT_EQ(stats.requested_bytes, 16 * kMiB + 100 * 10000);
  EXPECT_EQ(stats.reserved_bytes, 22 * kMiB);
  for (void* p : large) books.free(p);
  for (void* p : small) books.free(p);
  EXPECT_EQ(books.stats(0).allocated_bytes, 0u);
  EXPECT_EQ(books.stats(0).peak_allocated_bytes, 16 * kMiB + 100 * 10240);
}

TEST(BlockAllocator, SmallAndLargeRequestsNeverShareASegment) {
  HostMemory memory;
  BlockAllocator books(memory);
  void* large = books.allocate(3 * kMiB, 0);
  books.free(large);  // 20 MiB free in a large segment
  void* small = books.allocate(4096, 0);
  EXPECT_EQ(memory.reserve_calls.size(), 2u);
  EXPECT_EQ(memory.reserve_calls[1].bytes, 2 * kMiB);
  void* small_free = books.allocate(kMiB, 0);  // the largest small request: the small segment's rest
  EXPECT_EQ(memory.reserve_calls.size(), 2u);
  void* large_again = books.allocate(kMiB + 1, 0);
  EXPECT_EQ(large_again, large);
  EXPECT_EQ(memory.reserve_calls.size(), 2u);
  books.free(small);
  books.free(small_free);
  books.free(large_again);
}

TEST(BlockAllocator, BestFitTakesTheSmallestFreeBlockThatFits) {
  HostMemory memory;
  BlockAllocator books(memory);
  // One 20 MiB segment: a[0,6) b[6,7.5) c[7.5,10.5) d[10.5,12.5), rest 7.5 MiB free.
  void* a = books.allocate(6 * kMiB, 0);
  void* b = books.allocate(3 * kMiB / 2, 0);
  void* c = books.allocate(3 * kMiB, 0);
  void* d = books.allocate(2 * kMiB, 0);
  ASSERT_EQ(memory.reserve_calls.size(), 1u);
  books.free(a);  // free: 6 MiB at a, 3 MiB at c, 7.5 MiB after d
  books.free(c);
  void* fits_c = books.allocate(5 * kMiB / 2, 0);
  EXPECT_EQ(fits_c, c) << "2.5 MiB: the 3 MiB block is the best fit";
  void* fits_a = books.allocate(5 * kMiB, 0);
  EXPECT_EQ(fits_a, a) << "5 MiB: the 6 MiB block, not the 7.5 MiB one";
  EXPECT_EQ(memory.reserve_calls.size(), 1u);
  for (void* p : {b, d, fits_c, fits_a}) books.free(p);
}

TEST(BlockAllocator, FreedNeighboursMergeIntoOneBlock) {
  HostMemory memory;
  BlockAllocator books(memory);
  void* a = books.allocate(4 * kMiB, 0);
  void* b = books.allocate(4 * kMiB, 0);
  void* c = books.allocate(4 * kMiB, 0);  // 8 MiB free after c
  books.free(b);
  books.free(a);  // a merges with b: 8 MiB at a, below the 8 MiB after c
  void* eight = books.allocate(8 * kMiB, 0);
  EXPECT_EQ(eight, a) << "a and b merged: the lower of two equal fits";
  books.free(eight);
  books.free(c);  // the whole segment is one free block again
  EXPECT_EQ(books.segment_count(), 1u);
  void* whole = books.allocate(20 * kMiB, 0);
  EXPECT_EQ(whole, a) << "every piece merged back";
  EXPECT_EQ(memory.reserve_calls.size(), 1u);
  books.free(whole);
  books.release();
  EXPECT_EQ(books.segment_count(), 0u);
  EXPECT_EQ(books.stats(0).reserved_bytes, 0u);
  EXPECT_TRUE(memory.outstanding.empty());
}

TEST(BlockAllocator, ReleaseGivesBackOnlyWhollyFreeSegmentsAfterWaiting) {
  HostMemory memory;
  BlockAllocator books(memory);
  void* kept = books.allocate(12 * kMiB, 0);  // a 12 MiB segment, in use
  void* gone = books.allocate(16 * kMiB, 0);  // a 16 MiB segment
  void* partly = books.allocate(2 * kMiB, 1);  // a 20 MiB segment on device 1, partly in use
  books.free(gone);
  books.release();
  EXPECT_EQ(memory.waited, std::set<int>({0})) << "only the device whose segment goes";
  EXPECT_EQ(books.segment_count(), 2u);
  EXPECT_EQ(books.stats(0).reserved_bytes, 12 * kMiB);
  EXPECT_EQ(books.stats(1).reserved_bytes, 20 * kMiB);
  books.free(kept);
  books.free(partly);
  books.release();
  EXPECT_EQ(books.segment_count(), 0u);
  EXPECT_EQ(memory.waited, std::set<int>({0, 1}));
}

TEST(BlockAllocator, AFailedReservationGivesBackCachedSegmentsAndRetries) {
  HostMemory memory(40 * kMiB);
  BlockAllocator books(memory);
  books.free(books.allocate(12 * kMiB, 0));  // 12 MiB cached
  books.free(books.allocate(12 * kMiB, 1));  // and on another device, whose cache stays
  void* big = books.allocate(30 * kMiB, 0);  // 12 + 30 > 40: flush, then it fits
  EXPECT_NE(big, nullptr);
  const cuda::AllocatorStats stats = books.stats(0);
  EXPECT_EQ(stats.cache_flushes, 1u);
  EXPECT_EQ(stats.reserved_bytes, 30 * kMiB);
  EXPECT_EQ(memory.reserve_calls.size(), 4u);  // 12, 12 on device 1, 30 refused, 30
  EXPECT_EQ(books.stats(1).reserved_bytes, 12 * kMiB);
  books.free(big);
}

TEST(BlockAllocator, OutOfMemorySaysWhereAndHowMuchAndChangesNothing) {
  HostMemory memory(32 * kMiB);
  BlockAllocator books(memory);
  void* held = books.allocate(24 * kMiB, 3);
  const cuda::AllocatorStats before = books.stats(3);
  try {
    books.allocate(16 * kMiB, 3);
    FAIL() << "24 + 16 MiB cannot fit 32";
  } catch (const Error& error) {
    const std::string text = error.what();
    EXPECT_NE(text.find("out of test memory on device 3"), std::string::npos) << text;
    EXPECT_NE(text.find("asked for 16777216 bytes"), std::string::npos) << text;
    EXPECT_NE(text.find("allocated 25165824, reserved 25165824"), std::string::npos) << text;
  }
  const cuda::AllocatorStats after = books.stats(3);
  EXPECT_EQ(after.allocated_bytes, before.allocated_bytes);
  EXPECT_EQ(after.reserved_bytes, before.reserved_bytes);
  EXPECT_EQ(books.segment_count(), 1u);
  books.free(held);
}

TEST(BlockAllocator, AnAbsurdRequestIsRefusedBeforeItsSizeOverflows) {
  HostMemory memory;
  BlockAllocator books(memory);
  const size_t absurd = ~size_t{0} - 3;  // rounding up to 512 bytes would wrap to a tiny block
  const std::string message = test::error_message([&] { books.allocate(absurd, 0); });
  EXPECT_NE(message.find("asked for " + std::to_string(absurd) + " bytes"), std::string::npos) << message;
  EXPECT_TRUE(memory.reserve_calls.empty());
  EXPECT_EQ(books.stats(0).allocated_bytes, 0u);
}

TEST(BlockAllocator, InsideACaptureAFailedReservationReleasesNothing) {
  HostMemory memory(32 * kMiB);
  BlockAllocator books(memory);
  books.free(books.allocate(12 * kMiB, 0));  // cached, too small to serve 24 MiB; a flush would make room
  const uint64_t pool = books.create_graph_pool(0);
  try {
    books.allocate(24 * kMiB, 0, pool);
    FAIL() << "no flush inside a capture, so 12 + 24 MiB cannot fit 32";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("inside a CUDA graph capture"), std::string::npos) << error.what();
  }
  EXPECT_TRUE(memory.reserve_calls.back().capturing);
  EXPECT_EQ(books.segment_count(), 1u);
  EXPECT_EQ(books.stats(0).cache_flushes, 0u);
  books.destroy_graph_pool(pool);
}

TEST(BlockAllocator, AGraphTakesAPieceOfAGeneralFreeBlockBeforeReserving) {
  HostMemory memory;
  BlockAllocator books(memory);
  books.free(books.allocate(8 * kMiB, 0));  // a 20 MiB segment, free
  const uint64_t pool = books.create_graph_pool(0);
  void* captured = books.allocate(4 * kMiB, 0, pool);
  EXPECT_EQ(memory.reserve_calls.size(), 1u);
  EXPECT_EQ(books.graph_pool_bytes(pool), 4 * kMiB);
  EXPECT_EQ(books.stats(0).graph_pool_bytes, 4 * kMiB);
  EXPECT_EQ(books.graph_pool_idle_bytes(pool), 0u);
  void* eager = books.allocate(16 * kMiB, 0);  // the general rest of the segment
  EXPECT_EQ(memory.reserve_calls.size(), 1u);
  EXPECT_EQ(at(eager), at(captured) + 4 * kMiB);
  books.free(eager);
  books.free(captured);  // after the capture: still the pool's
  EXPECT_EQ(books.graph_pool_idle_bytes(pool), 4 * kMiB);
  void* eager_whole = books.allocate(20 * kMiB, 0);
  EXPECT_EQ(memory.reserve_calls.size(), 2u) << "the pool's 4 MiB do not merge with the general 16";
  books.destroy_graph_pool(pool);
  EXPECT_EQ(books.stats(0).graph_pool_bytes, 0u);
  void* merged = books.allocate(20 * kMiB, 0);  // eager_whole still holds the other segment
  EXPECT_EQ(merged, captured) << "handed back and merged with its general neighbour";
  EXPECT_EQ(memory.reserve_calls.size(), 2u);
  books.free(merged);
  books.free(eager_whole);
}

TEST(BlockAllocator, ASegmentReservedDuringACaptureIsTheGraphsWhole) {
  HostMemory memory;
  BlockAllocator books(memory);
  const uint64_t pool = books.create_graph_pool(0);
  void* captured = books.allocate(4 * kMiB, 0, pool);
  ASSERT_EQ(memory.reserve_calls.size(), 1u);
  EXPECT_TRUE(memory.reserve_calls[0].capturing);
  EXPECT_EQ(books.graph_pool_bytes(pool), 20 * kMiB);
  EXPECT_EQ(books.graph_pool_idle_bytes(pool), 16 * kMiB);
  void* eager = books.allocate(4 * kMiB, 0);
  EXPECT_EQ(memory.reserve_calls.size(), 2u) << "the graph's idle 16 MiB are not for eager code";
  EXPECT_FALSE(memory.reserve_calls[1].capturing);
  void* captured_more = books.allocate(8 * kMiB, 0, pool);
  EXPECT_EQ(at(captured_more), at(captured) + 4 * kMiB) << "a later capture uses the pool's own blocks";
  EXPECT_EQ(memory.reserve_calls.size(), 2u);
  books.destroy_graph_pool(pool);
  books.free(captured);  // in use at the destruction: joins the general cache now
  books.free(captured_more);
  books.free(eager);
  books.release();
  EXPECT_EQ(books.segment_count(), 0u) << "both segments wholly free and general";
}

TEST(BlockAllocator, AGeneralBlockFreedDuringACaptureBecomesTheGraphs) {
  HostMemory memory;
  BlockAllocator books(memory);
  void* weights = books.allocate(kMiB, 0);
  const uint64_t pool = books.create_graph_pool(0);
  books.free(weights, pool);  // the graph may read it: it is the graph's now
  EXPECT_EQ(books.graph_pool_bytes(pool), kMiB);
  EXPECT_EQ(books.graph_pool_idle_bytes(pool), kMiB);
  void* eager = books.allocate(kMiB, 0);
  EXPECT_NE(eager, weights);
  void* captured = books.allocate(kMiB, 0, pool);
  EXPECT_EQ(captured, weights);
  books.free(captured);
  books.free(eager);
  books.destroy_graph_pool(pool);
}

TEST(BlockAllocator, ACaptureServesOnlyItsOwnDeviceAndNeverPinnedMemory) {
  HostMemory memory(64 * kMiB);
  BlockAllocator books(memory);
  const uint64_t pool = books.create_graph_pool(0);
  void* other_device = books.allocate(kMiB, 1, pool);
  void* pinned = books.allocate(kMiB, -1, pool);
  EXPECT_EQ(books.graph_pool_bytes(pool), 0u);
  EXPECT_EQ(books.stats(1).graph_pool_bytes, 0u);
  ASSERT_EQ(memory.reserve_calls.size(), 2u);
  EXPECT_TRUE(memory.reserve_calls[0].capturing) << "cudaMalloc must still run relaxed";
  books.free(other_device, pool);
  books.free(pinned, pool);
  EXPECT_EQ(books.graph_pool_bytes(pool), 0u);
  EXPECT_EQ(books.stats(-1).allocated_bytes, 0u);
  books.destroy_graph_pool(pool);
}

TEST(AllocationRecording, PlanPlacesRequestsThatLiveTogetherApartAndReusesTheRest) {
  AllocationRecording recording(0);
  int a = 0, b = 0, c = 0, d = 0;  // their addresses stand in for blocks'
  recording.allocated(&a, 4 * kMiB);  // event 0
  recording.allocated(&b, 2 * kMiB);  // 1
  recording.freed(&a);                // 2
  recording.allocated(&c, 3 * kMiB);  // 3: may take a's place
  recording.allocated(&d, 1 * kMiB);  // 4: lives to the end
  recording.freed(&b);
  recording.freed(&c);
  recording.freed(&a);  // not live: ignored
  const MemoryPlan plan = recording.plan();
  EXPECT_EQ(plan.sizes, (std::vector<size_t>{4 * kMiB, 2 * kMiB, 3 * kMiB, 1 * kMiB}));
  // Largest first: a at 0; c at 0 (a is gone by then); b beside both (4); d in the gap at 3.
  EXPECT_EQ(plan.offsets, (std::vector<size_t>{0, 4 * kMiB, 0, 3 * kMiB}));
  EXPECT_EQ(plan.bytes, 6 * kMiB) << "the peak in use: a + b, or b + c + d";
}

TEST(BlockAllocator, APlannedCapturePutsEachRequestAtItsPlace) {
  HostMemory memory;
  BlockAllocator books(memory);
  books.free(books.allocate(kMiB, 1));  // another device's cached segment: kept
  const std::vector<size_t> step = {3 * kMiB, 100, 12 * kMiB, 5000, 2 * kMiB};
  AllocationRecording recording(0);
  std::vector<void*> eager;
  for (size_t bytes : step) eager.push_back(books.allocate(bytes, 0, 0, &recording));
  books.free(eager[2], 0, &recording);  // a temporary
  books.free(eager[1], 0, &recording);
  void* late = books.allocate(8 * kMiB, 0, 0, &recording);  // may reuse the temporary's place
  ASSERT_EQ(recording.requests(), 6u);
  books.free(eager[0]);  // after the recording: the plan sees them live to the end
  books.free(eager[3]);
  books.free(eager[4]);
  books.free(late);
  const MemoryPlan plan = recording.plan();
  EXPECT_EQ(plan.bytes, 17 * kMiB + 512 + 5120) << "the peak in use: the first five requests";
  const size_t reserves_before = memory.reserve_calls.size();
  const uint64_t pool = books.create_graph_pool(0, &plan);
  ASSERT_EQ(memory.reserve_calls.size(), reserves_before + 1);
  EXPECT_EQ(memory.reserve_calls.back().bytes, plan.bytes) << "the plan's region";
  EXPECT_FALSE(memory.reserve_calls.back().capturing);
  EXPECT_EQ(books.segment_count(), 2u) << "the device's wholly free segments went back first";
  EXPECT_EQ(books.graph_pool_bytes(pool), plan.bytes);
  char* region = nullptr;
  std::vector<void*> captured;
  for (size_t bytes : step) captured.push_back(books.allocate(bytes, 0, pool));
  region = at(captured[0]) - plan.offsets[0];
  books.free(captured[2], pool);
  books.free(captured[1], pool);
  captured.push_back(books.allocate(8 * kMiB, 0, pool));
  for (size_t k = 0; k < captured.size(); ++k)
    EXPECT_EQ(at(captured[k]), region + plan.offsets[k]) << "request " << k;
  EXPECT_TRUE(books.graph_pool_follows_plan(pool));
  EXPECT_EQ(memory.reserve_calls.size(), reserves_before + 1) << "nothing reserved during the capture";
  EXPECT_EQ(books.graph_pool_bytes(pool), plan.bytes);
  for (size_t k : {0, 3, 4, 5}) books.free(captured[k]);
  EXPECT_EQ(books.graph_pool_idle_bytes(pool), plan.bytes);
  books.destroy_graph_pool(pool);
}

TEST(BlockAllocator, ACaptureThatDiffersFromItsPlanGoesOnByBestFit) {
  HostMemory memory;
  BlockAllocator books(memory);
  AllocationRecording recording(0);
  void* a = books.allocate(4 * kMiB, 0, 0, &recording);
  void* b = books.allocate(4 * kMiB, 0, 0, &recording);
  books.free(a, 0, &recording);
  void* c = books.allocate(2 * kMiB, 0, 0, &recording);  // planned into a's place
  books.free(b, 0, &recording);
  books.free(c, 0, &recording);
  const MemoryPlan plan = recording.plan();
  const uint64_t pool = books.create_graph_pool(0, &plan);
  void* a2 = books.allocate(4 * kMiB, 0, pool);
  void* b2 = books.allocate(4 * kMiB, 0, pool);
  // a2 stays live, so c's planned place is taken: the plan is dropped, best fit serves c2.
  void* c2 = books.allocate(2 * kMiB, 0, pool);
  EXPECT_FALSE(books.graph_pool_follows_plan(pool));
  EXPECT_TRUE(at(c2) + 2 * kMiB <= at(a2) || at(a2) + 4 * kMiB <= at(c2)) << "c2 must not overlap a2";
  EXPECT_TRUE(at(c2) + 2 * kMiB <= at(b2) || at(b2) + 4 * kMiB <= at(c2)) << "nor b2";
  // A request of another size also drops a plan, at once.
  AllocationRecording other(0);
  books.free(books.allocate(kMiB, 0, 0, &other), 0, &other);
  const MemoryPlan small_plan = other.plan();
  const uint64_t pool2 = books.create_graph_pool(0, &small_plan);
  void* different = books.allocate(3 * kMiB, 0, pool2);
  EXPECT_FALSE(books.graph_pool_follows_plan(pool2));
  for (void* p : {a2, b2, c2, different}) books.free(p);
  books.destroy_graph_pool(pool);
  books.destroy_graph_pool(pool2);
}

// Random steps recorded eagerly, then captured with the plan, as they were or changed (a size,
// a free moved): live blocks never overlap and keep their contents, and an unchanged step
// follows its plan from the first request to the last.
TEST(BlockAllocator, RandomPlannedCapturesStayCorrectWhenTheStepChanges) {
  HostMemory memory;
  std::mt19937_64 random(1201);
  for (int round = 0; round < 60; ++round) {
    BlockAllocator books(memory);
    // A step: a list of requests; op >= 0 allocates sizes[op], op < 0 frees the (-op-1)-th request.
    std::vector<size_t> sizes;
    std::vector<int> ops;
    std::vector<int> live_requests;
    for (int i = 0; i < 120; ++i) {
      if (random() % 3 != 0 || live_requests.empty()) {
        sizes.push_back(static_cast<size_t>(std::exp2(std::uniform_real_distribution<double>(6.0, 24.0)(random))));
        ops.push_back(static_cast<int>(sizes.size()) - 1);
        live_requests.push_back(ops.back());
      } else {
        const size_t pick = random() % live_requests.size();
        ops.push_back(-live_requests[pick] - 1);
        live_requests.erase(live_requests.begin() + static_cast<long>(pick));
      }
    }
    std::map<char*, std::pair<size_t, uint8_t>> live;  // address -> bytes, tag
    auto run = [&](uint64_t pool, AllocationRecording* recording, const std::vector<size_t>& request_sizes,
                   const std::vector<int>& program) {
      std::vector<char*> pointers(request_sizes.size(), nullptr);
      for (int op : program) {
        if (op >= 0) {
          const size_t bytes = request_sizes[static_cast<size_t>(op)];
          char* p = at(books.allocate(bytes, 0, pool, recording));
          auto above = live.lower_bound(p);
          ASSERT_TRUE(above == live.end() || p + bytes <= above->first) << "overlaps the block above";
          if (above != live.begin()) {
            auto below = std::prev(above);
            ASSERT_LE(below->first + below->second.first, p) << "overlaps the block below";
          }
          const uint8_t tag = static_cast<uint8_t>(random());
          p[0] = static_cast<char>(tag);
          p[bytes - 1] = static_cast<char>(tag);
          live[p] = {bytes, tag};
          pointers[static_cast<size_t>(op)] = p;
        } else {
          char* p = pointers[static_cast<size_t>(-op - 1)];
          const auto [bytes, tag] = live.at(p);
          ASSERT_EQ(static_cast<uint8_t>(p[0]), tag);
          ASSERT_EQ(static_cast<uint8_t>(p[bytes - 1]), tag);
          books.free(p, pool, recording);
          live.erase(p);
        }
      }
      for (char* p : pointers)  // what the step left live is freed after it, outside the recording
        if (p != nullptr && live.count(p)) {
          books.free(p);
          live.erase(p);
        }
    };
    AllocationRecording recording(0);
    ASSERT_NO_FATAL_FAILURE(run(0, &recording, sizes, ops));
    const MemoryPlan plan = recording.plan();
    std::vector<size_t> captured_sizes = sizes;
    std::vector<int> captured_ops = ops;
    const int change = static_cast<int>(random() % 3);  // 0: the same step
    if (change == 1) captured_sizes[random() % sizes.size()] += 512 * (1 + random() % 8);
    if (change == 2) {  // a free moved later, past an allocation
      for (size_t i = 0; i + 1 < captured_ops.size(); ++i)
        if (captured_ops[i] < 0 && captured_ops[i + 1] >= 0) {
          std::swap(captured_ops[i], captured_ops[i + 1]);
          break;
        }
    }
    const uint64_t pool = books.create_graph_pool(0, &plan);
    ASSERT_NO_FATAL_FAILURE(run(pool, nullptr, captured_sizes, captured_ops));
    if (change == 0) {
      EXPECT_TRUE(books.graph_pool_follows_plan(pool)) << "round " << round;
      EXPECT_EQ(books.graph_pool_bytes(pool), plan.bytes);
    }
    books.destroy_graph_pool(pool);
  }
}

TEST(BlockAllocator, DestructionGivesBackEverySegment) {
  HostMemory memory;
  {
    BlockAllocator books(memory);
    books.allocate(3 * kMiB, 0);
    books.allocate(100, 0);
    books.free(books.allocate(30 * kMiB, 2));
  }
  EXPECT_TRUE(memory.outstanding.empty());
}

// Random requests, frees, captures and pool destructions on three devices, against a model:
// live blocks never overlap and keep their contents; eager requests and other graphs never get
// memory a live graph holds; statistics equal the model's sums; at the end everything is back.
TEST(BlockAllocator, RandomisedRunKeepsEveryRule) {
  HostMemory memory(size_t{96} << 20);  // per device: small enough that flushes and refusals happen
  std::mt19937_64 random(20261130);
  struct Live {
    size_t bytes;
    int device;
    uint8_t tag;
    uint64_t pool;  // the graph pool it belongs to, 0: the general cache
  };
  std::map<char*, Live> live;
  std::map<uint64_t, std::vector<std::pair<char*, size_t>>> graph_ranges;  // live pools' memory
  uint64_t capture = 0;
  uint64_t refusals = 0;
  const int devices[] = {0, 1, -1};
  auto overlaps_graph = [&](char* p, size_t size, uint64_t except) {
    for (const auto& [pool, ranges] : graph_ranges) {
      if (pool == except) continue;
      for (const auto& [start, length] : ranges)
        if (p < start + length && start < p + size) return true;
    }
    return false;
  };
  {
    BlockAllocator books(memory);
    auto check_books = [&] {
      for (int device : devices) {
        size_t allocated = 0, requested = 0;
        for (const auto& [p, block] : live)
          if (block.device == device) {
            allocated += block_size_for(block.bytes);
            requested += block.bytes;
          }
        const cuda::AllocatorStats stats = books.stats(device);
        ASSERT_EQ(stats.allocated_bytes, allocated) << "device " << device;
        ASSERT_EQ(stats.requested_bytes, requested) << "device " << device;
        ASSERT_EQ(stats.reserved_bytes, memory.held(device)) << "device " << device;
        ASSERT_GE(stats.peak_allocated_bytes, stats.allocated_bytes);
      }
      ASSERT_EQ(books.segment_count(), memory.outstanding.size());
    };
    for (int step = 0; step < 20000; ++step) {
      const int action = static_cast<int>(random() % 100);
      if (action < 50 && live.size() < 96) {
        const int device = devices[random() % 3];
        const double log_bytes = std::uniform_real_distribution<double>(0.0, 25.0)(random);  // 1 B .. 32 MiB
        const size_t bytes = static_cast<size_t>(std::exp2(log_bytes));
        char* p = nullptr;
        try {
          p = at(books.allocate(bytes, device, capture));
        } catch (const Error&) {
          ++refusals;
          ASSERT_NO_FATAL_FAILURE(check_books());
          continue;
        }
        const size_t size = block_size_for(bytes);
        auto next = live.lower_bound(p);
        ASSERT_TRUE(next == live.end() || p + size <= next->first) << "overlaps the block above";
        if (next != live.begin()) {
          auto below = std::prev(next);
          ASSERT_LE(below->first + block_size_for(below->second.bytes), p) << "overlaps the block below";
        }
        const bool in_capture = capture != 0 && device == 0;
        ASSERT_FALSE(overlaps_graph(p, size, in_capture ? capture : 0)) << "memory of another graph's pool";
        if (in_capture) graph_ranges[capture].push_back({p, size});
        const uint8_t tag = static_cast<uint8_t>(random());
        p[0] = static_cast<char>(tag);
        p[bytes - 1] = static_cast<char>(tag);
        live[p] = {bytes, device, tag, in_capture ? capture : 0};
      } else if (action < 90 && !live.empty()) {
        auto victim = live.begin();
        std::advance(victim, static_cast<long>(random() % live.size()));
        char* p = victim->first;
        const Live block = victim->second;
        ASSERT_EQ(static_cast<uint8_t>(p[0]), block.tag) << "a live block was written by someone else";
        ASSERT_EQ(static_cast<uint8_t>(p[block.bytes - 1]), block.tag);
        if (capture != 0 && block.device == 0 && block.pool == 0)  // the capture may read it: its graph's now
          graph_ranges[capture].push_back({p, block_size_for(block.bytes)});
        books.free(p, capture);
        live.erase(victim);
      } else if (action < 94) {
        if (capture == 0) {  // begin a capture, or end it
          capture = books.create_graph_pool(0);
          graph_ranges[capture];
        } else {
          capture = 0;
        }
      } else if (action < 97 && !graph_ranges.empty()) {
        auto pool = graph_ranges.begin();
        std::advance(pool, static_cast<long>(random() % graph_ranges.size()));
        if (pool->first == capture) continue;
        books.destroy_graph_pool(pool->first);
        for (auto& [p, block] : live)
          if (block.pool == pool->first) block.pool = 0;
        graph_ranges.erase(pool);
      } else if (action < 98) {
        books.release();
      }
      if (step % 97 == 0) {
        ASSERT_NO_FATAL_FAILURE(check_books());
      }
    }
    EXPECT_GT(refusals, 0u) << "the limit should have refused some requests";
    EXPECT_GT(books.stats(0).cache_flushes, 0u) << "and made some flushes";
    for (const auto& [p, block] : live) books.free(p);
    live.clear();
    for (const auto& [pool, ranges] : graph_ranges) books.destroy_graph_pool(pool);
    ASSERT_NO_FATAL_FAILURE(check_books());
    for (int device : devices) EXPECT_EQ(books.stats(device).graph_pool_bytes, 0u);
    books.release();
    EXPECT_EQ(books.segment_count(), 0u) << "every block merged back into whole segments";
  }
  EXPECT_TRUE(memory.outstanding.empty());
}

TEST(AllocationTrace, RecordsEachTensorAllocationAndFreeInOrder) {
  const std::string path = test::fresh_temp_dir("allocation_trace") + "/step.trace";
  std::ostringstream a_address, b_address;
  start_allocation_trace(path);
  EXPECT_TRUE(allocation_trace_enabled());
  trace_mark("step");
  {
    Tensor a = Tensor::empty({1000}, DType::F32);
    a_address << static_cast<const void*>(a.raw_data());
    {
      Tensor b = Tensor::empty({3, 5}, DType::BF16);
      b_address << static_cast<const void*>(b.raw_data());
    }
  }
  stop_allocation_trace();
  EXPECT_FALSE(allocation_trace_enabled());
  Tensor after = Tensor::empty({7}, DType::F32);  // not recorded
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  const std::vector<std::string> expected = {"m step", "a " + a_address.str() + " 4000 cpu",
                                             "a " + b_address.str() + " 30 cpu",
                                             "f " + b_address.str(), "f " + a_address.str()};
  EXPECT_EQ(lines, expected);
}

TEST(AllocationTrace, AnUnwritablePathIsAClearError) {
  const std::string message = test::error_message([] { start_allocation_trace("/nonexistent-folder/step.trace"); });
  EXPECT_NE(message.find("/nonexistent-folder/step.trace"), std::string::npos) << message;
  EXPECT_FALSE(allocation_trace_enabled());
}

}  // namespace
}  // namespace alz
