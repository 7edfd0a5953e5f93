// The bookkeeping of the caching device allocator (tensor/cuda/allocator.cpp), free of CUDA so
// that the CPU suite tests every rule of it: where a request is placed, when memory is reused,
// split, merged and given back, and how CUDA graphs' private pools are kept apart.
//
// How it works:
//   - A request is rounded up to 512 bytes (allocator_size_class) and served from the best
//     fitting free block: the smallest one that is large enough, lowest address first. A larger
//     block is split: the front is handed out and the rest stays free. A freed block merges with
//     its free neighbours of the same segment and owner, so segments do not wear into crumbs.
//   - Memory comes from the backend (cudaMalloc, cudaHostAlloc) in segments. Requests up to
//     1 MiB share 2 MiB segments ("small" blocks); larger requests take a 20 MiB segment when
//     under 10 MiB, so that several share it, else a segment of their size rounded to 2 MiB.
//     Small and large requests never share a segment: small tensors that live long would
//     otherwise pin large segments.
//   - Nothing is given back to the backend until release() or a failed reservation, which
//     returns every segment of that device that is wholly free (after backend.wait_for_device)
//     and retries once. Inside a CUDA graph capture nothing is given back (that would
//     synchronise).
//   - Stream order: a block freed after work was queued on the device's compute stream may be
//     handed out again at once, as later users queue behind that work (PyTorch's rule too).
//   - CUDA graphs (tensor/cuda/graph_pool.h): every block has an owner, the general cache (0) or
//     a graph's pool. While a capture on `device` is active, allocate(..., capture_pool) serves
//     from the pool's free blocks, else takes a piece of a general free block for the pool, else
//     reserves a segment that the pool owns whole. A block freed during a capture becomes the
//     pool's (the graph may read it), and a pool's block freed at any time goes back to the pool.
//     Eager requests never get a pool's block. Destroying a pool hands its blocks, free and in
//     use, to the general cache.
//   - Planned captures: best fit leaves a graph's pool about 4 % larger than the captured step's
//     peak in use (ResNet152V2: 9.50 against 9.09 GiB; bench/RESULTS.md), since blocks freed
//     during a capture can serve only that graph. So the eager step before a capture may be
//     recorded (AllocationRecording: every request of one thread on one device, and when it is
//     freed), and plan() places those requests in one region by their lifetimes, largest first,
//     each at the lowest offset that no request living at the same time covers. The pool
//     reserves that region when it is made (after giving back the device's wholly free general
//     segments), and the capture's k-th request takes its planned place when it is the same
//     size and that place is free; at the first request that differs the plan is dropped and
//     the rest of the capture is served by best fit (large requests from the region's free
//     blocks first), so a capture that does not repeat the recorded step stays correct.
//   - Statistics: allocated_bytes counts blocks handed out (requests rounded to 512 bytes),
//     requested_bytes what callers asked for, reserved_bytes the segments held.
//
// Why splitting: with exact size classes and 2 MiB granules, every tensor above 1 MiB wasted up
// to 2 MiB, and a free block could serve only its own class, so a ResNet152V2 step held more
// than PyTorch's (bench/RESULTS.md, "Peak memory").
//
// Not thread-safe by itself: the CUDA allocator holds one mutex around every call.
// Tests: tests/test_block_allocator.cpp (a backend on host memory; rules, statistics, plans,
// and randomised runs checked against a model of which bytes are live); the figures of a
// ResNet152V2 step: bench/bench_allocator --replay (bench/RESULTS.md).
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "tensor/cuda_runtime.h"

namespace alz {

// Where segments come from. reserve returns nullptr when the memory is not there; it is called
// with `capturing` true while a graph capture is active on the calling thread.
class MemoryBackend {
 public:
  virtual ~MemoryBackend() = default;
  virtual void* reserve(size_t bytes, int device, bool capturing) = 0;
  virtual void release(void* segment, size_t bytes, int device) = 0;
  virtual void wait_for_device(int device) = 0;  // queued work may still use cached blocks
  // "CUDA out of memory on device 0" or "out of pinned host memory", for the error message.
  virtual std::string out_of_memory_text(int device) const = 0;
};

constexpr size_t kBlockGranule = 512;                   // every block is a multiple of this
constexpr size_t kSmallRequestMax = size_t{1} << 20;    // up to this: a small block
constexpr size_t kSmallSegmentBytes = size_t{2} << 20;  // segments of small blocks
constexpr size_t kMidRequestMax = size_t{10} << 20;     // under this: a shared large segment
constexpr size_t kMidSegmentBytes = size_t{20} << 20;
constexpr size_t kLargeSegmentGranule = size_t{2} << 20;
constexpr size_t kLargestRequest = size_t{1} << 48;  // 256 TiB: larger is a bug (and would overflow)

size_t block_size_for(size_t bytes);    // the rounded size a request of `bytes` is handed
size_t segment_size_for(size_t bytes);  // the segment reserved when no free block fits it

// Where each of a recorded step's requests goes in a planned region (offsets from its start).
struct MemoryPlan {
  std::vector<size_t> sizes;    // the k-th request's block size
  std::vector<size_t> offsets;  // and its place
  size_t bytes = 0;             // the region: the highest end of any place
};

// The requests one thread makes on one device while recording, in order, and when each is freed.
class AllocationRecording {
 public:
  explicit AllocationRecording(int device) : device_(device) {}
  int device() const { return device_; }
  void allocated(const void* address, size_t size);  // size: the block size handed out
  void freed(const void* address);                   // ignored for blocks not allocated while recording
  size_t requests() const { return sizes_.size(); }
  // Greedy by size: largest first, each at the lowest offset free of every request whose
  // lifetime overlaps its own; a request not freed while recording lives to the end.
  MemoryPlan plan() const;

 private:
  int device_;
  size_t events_ = 0;                               // allocations and frees so far
  std::vector<size_t> sizes_, born_, died_;         // per request: size, event of birth and death
  std::unordered_map<const void*, size_t> live_;    // address -> request
};

class BlockAllocator {
 public:
  explicit BlockAllocator(MemoryBackend& backend) : backend_(backend) {}
  ~BlockAllocator();  // gives every segment back (only tests destroy one)
  BlockAllocator(const BlockAllocator&) = delete;
  BlockAllocator& operator=(const BlockAllocator&) = delete;

  // capture_pool: the graph pool the calling thread captures into (0: none). It applies only
  // when that pool is on `device`. Throws alz::Error when the memory is not there.
  // recording: this thread's recording (nullptr: none); it applies only on its device.
  void* allocate(size_t bytes, int device, uint64_t capture_pool = 0, AllocationRecording* recording = nullptr);
  // The pointer must come from allocate; unknown pointers are ignored (freeing never throws).
  void free(void* pointer, uint64_t capture_pool = 0, AllocationRecording* recording = nullptr);

  // plan: the capture's planned placement (nullptr or an empty plan: best fit only). The
  // region is reserved now; when it cannot be, the pool works without a plan.
  uint64_t create_graph_pool(int device, const MemoryPlan* plan = nullptr);
  bool graph_pool_follows_plan(uint64_t pool) const;  // planned, and no request has differed yet
  void destroy_graph_pool(uint64_t pool);
  bool graph_pool_exists(uint64_t pool) const;
  size_t graph_pool_bytes(uint64_t pool) const;       // owned by the pool: in use and free
  size_t graph_pool_idle_bytes(uint64_t pool) const;  // its free blocks

  cuda::AllocatorStats stats(int device) const;
  void reset_peak(int device);
  void release();              // gives back every wholly free segment of the general cache
  size_t segment_count() const;  // segments held from the backend, all devices

 private:
  struct Block {
    char* address = nullptr;
    size_t size = 0;       // a multiple of kBlockGranule
    size_t requested = 0;  // what the caller asked for (when in use)
    int device = 0;
    bool small = false;    // lies in a small segment
    bool in_use = false;
    uint64_t owner = 0;    // 0: the general cache; else a graph pool
    Block* previous = nullptr;  // neighbours in the same segment, by address
    Block* next = nullptr;
  };
  struct BySizeThenAddress {
    bool operator()(const Block* a, const Block* b) const {
      return a->size != b->size ? a->size < b->size : a->address < b->address;
    }
  };
  using FreeSet = std::set<Block*, BySizeThenAddress>;
  struct FreeLists {
    FreeSet small, large;
    FreeSet& of(bool small_blocks) { return small_blocks ? small : large; }
  };
  struct GraphPool {
    int device = 0;
    FreeLists free;
    size_t bytes = 0;  // owned: in use and free
    MemoryPlan plan;   // empty when there is none or it was dropped
    Block* region = nullptr;  // the first block of the planned region's segment
    size_t next_request = 0;  // of the plan
  };
  struct DevicePool {
    FreeLists free;  // the general cache
    cuda::AllocatorStats stats;
  };

  FreeLists& free_lists_of(const Block& block);
  GraphPool* capturing_pool(int device, uint64_t capture_pool);
  static Block* best_fit(FreeSet& free, size_t size);
  // The planned place of the capture's next request, when it is `size` bytes and free; else
  // nullptr, and the plan is dropped.
  Block* take_planned(GraphPool& graph, size_t size);
  // Hands out the first `size` bytes of a free block, leaving the rest free.
  void split_and_take(Block* block, size_t size, FreeSet& free);
  // A new segment for a request that no free block fits; a graph's (graph_id) when `graph` is
  // given. `capturing`: a capture is active on this thread (on any device): no flush then.
  Block* reserve_segment(size_t bytes, size_t size, int device, bool small, GraphPool* graph, uint64_t graph_id,
                         bool capturing);
  // A segment the backend reserved at `base`: counted, registered, and one free block of the
  // general cache, or of `graph` (graph_id) when given.
  Block* add_segment(void* base, size_t size, int device, bool small, GraphPool* graph, uint64_t graph_id);
  void insert_free_and_merge(Block* block);
  void release_wholly_free_segments(const int* only_device = nullptr);  // nullptr: every device

  MemoryBackend& backend_;
  std::map<int, DevicePool> devices_;
  std::unordered_map<void*, Block*> in_use_;
  std::map<uint64_t, GraphPool> graph_pools_;
  struct Segment {
    size_t size = 0;
    int device = 0;
    Block* first = nullptr;  // never merged away: merging keeps the lower block
  };
  std::map<void*, Segment> segments_;  // by base address
  uint64_t next_graph_pool_ = 1;
};

}  // namespace alz
