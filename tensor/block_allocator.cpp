// The caching allocator's bookkeeping: best fit, splitting, merging, graph pools, statistics
// (tensor/block_allocator.h says the rules and why). Tests: tests/test_block_allocator.cpp.
#include "tensor/block_allocator.h"

#include <algorithm>
#include <limits>
#include <numeric>
#include <vector>

#include "core/error.h"

namespace alz {

namespace {

size_t round_up(size_t value, size_t granule) { return (value + granule - 1) / granule * granule; }

}  // namespace

size_t block_size_for(size_t bytes) { return round_up(std::max<size_t>(bytes, 1), kBlockGranule); }

size_t segment_size_for(size_t bytes) {
  const size_t size = block_size_for(bytes);
  if (size <= kSmallRequestMax) return kSmallSegmentBytes;
  if (size < kMidRequestMax) return kMidSegmentBytes;
  return round_up(size, kLargeSegmentGranule);
}

void AllocationRecording::allocated(const void* address, size_t size) {
  live_[address] = sizes_.size();
  sizes_.push_back(size);
  born_.push_back(events_++);
  died_.push_back(std::numeric_limits<size_t>::max());  // not freed (yet): lives to the end
}

void AllocationRecording::freed(const void* address) {
  auto found = live_.find(address);
  if (found == live_.end()) return;
  died_[found->second] = events_++;
  live_.erase(found);
}

MemoryPlan AllocationRecording::plan() const {
  const size_t count = sizes_.size();
  MemoryPlan plan;
  plan.sizes = sizes_;
  plan.offsets.assign(count, 0);
  std::vector<size_t> order(count);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return sizes_[a] > sizes_[b]; });
  struct Placed {
    size_t start, end, born, died;
  };
  std::vector<Placed> placed;
  placed.reserve(count);
  std::vector<std::pair<size_t, size_t>> taken;  // places of requests living at the same time
  for (size_t k : order) {
    taken.clear();
    for (const Placed& other : placed)
      if (other.born < died_[k] && born_[k] < other.died) taken.emplace_back(other.start, other.end);
    std::sort(taken.begin(), taken.end());
    size_t offset = 0;
    for (const auto& [start, end] : taken) {
      if (offset + sizes_[k] <= start) break;  // fits in the gap before this one
      offset = std::max(offset, end);
    }
    plan.offsets[k] = offset;
    placed.push_back({offset, offset + sizes_[k], born_[k], died_[k]});
    plan.bytes = std::max(plan.bytes, offset + sizes_[k]);
  }
  return plan;
}

BlockAllocator::~BlockAllocator() {
  std::set<int> devices;
  for (const auto& [base, segment] : segments_) devices.insert(segment.device);
  for (int device : devices) backend_.wait_for_device(device);
  for (auto& [base, segment] : segments_) {
    for (Block* block = segment.first; block != nullptr;) {
      Block* next = block->next;
      delete block;
      block = next;
    }
    backend_.release(base, segment.size, segment.device);
  }
}

void* BlockAllocator::allocate(size_t bytes, int device, uint64_t capture_pool, AllocationRecording* recording) {
  ALZ_CHECK(bytes <= kLargestRequest, backend_.out_of_memory_text(device) << ": asked for " << bytes
                                                                          << " bytes, more than any device holds");
  const size_t size = block_size_for(bytes);
  const bool small = size <= kSmallRequestMax;
  DevicePool& pool = devices_[device];
  GraphPool* graph = capturing_pool(device, capture_pool);
  Block* block = graph && !graph->plan.sizes.empty() ? take_planned(*graph, size) : nullptr;
  if (block == nullptr && graph) {
    FreeSet& own = graph->free.of(small);
    FreeSet& general = pool.free.of(small);
    if ((block = best_fit(own, size)) != nullptr) {
      split_and_take(block, size, own);
    } else if ((block = best_fit(general, size)) != nullptr) {
      split_and_take(block, size, general);  // the rest stays in the general cache
      block->owner = capture_pool;           // this piece is the graph's from now on
      graph->bytes += block->size;
      pool.stats.graph_pool_bytes += block->size;
    }
  } else if (block == nullptr && (block = best_fit(pool.free.of(small), size)) != nullptr) {
    split_and_take(block, size, pool.free.of(small));
  }
  if (block != nullptr)
    ++pool.stats.cache_hits;
  else
    block = reserve_segment(bytes, size, device, small, graph, graph ? capture_pool : 0, capture_pool != 0);
  block->in_use = true;
  block->requested = bytes;
  in_use_[block->address] = block;
  pool.stats.allocated_bytes += block->size;
  pool.stats.peak_allocated_bytes = std::max(pool.stats.peak_allocated_bytes, pool.stats.allocated_bytes);
  pool.stats.requested_bytes += bytes;
  pool.stats.peak_requested_bytes = std::max(pool.stats.peak_requested_bytes, pool.stats.requested_bytes);
  if (recording != nullptr && recording->device() == device) recording->allocated(block->address, block->size);
  return block->address;
}

void BlockAllocator::free(void* pointer, uint64_t capture_pool, AllocationRecording* recording) {
  if (pointer == nullptr) return;
  auto found = in_use_.find(pointer);
  if (found == in_use_.end()) return;  // not ours: a bug, but freeing must never throw
  Block* block = found->second;
  if (recording != nullptr && recording->device() == block->device) recording->freed(pointer);
  in_use_.erase(found);
  DevicePool& pool = devices_[block->device];
  pool.stats.allocated_bytes -= block->size;
  pool.stats.requested_bytes -= block->requested;
  block->in_use = false;
  block->requested = 0;
  // A general block freed while a capture on its device is active may be read by the graph
  // being captured: it becomes the graph's. A pool's block stays the pool's.
  if (block->owner == 0) {
    if (GraphPool* graph = capturing_pool(block->device, capture_pool)) {
      block->owner = capture_pool;
      graph->bytes += block->size;
      pool.stats.graph_pool_bytes += block->size;
    }
  }
  insert_free_and_merge(block);
}

uint64_t BlockAllocator::create_graph_pool(int device, const MemoryPlan* plan) {
  const uint64_t id = next_graph_pool_++;
  GraphPool& graph = graph_pools_[id];
  graph.device = device;
  if (plan == nullptr || plan->sizes.empty() || plan->bytes == 0) return id;
  // The region: after the general cache's wholly free segments went back, so that the device
  // does not hold both (a capture follows eager steps, which leave most of their memory free).
  release_wholly_free_segments(&device);
  const size_t region_bytes = plan->bytes;  // a multiple of 512 bytes (cudaMalloc rounds up to its pages)
  void* base = backend_.reserve(region_bytes, device, false);
  if (base == nullptr) return id;  // no room: best fit alone
  graph.region = add_segment(base, region_bytes, device, false, &graph, id);
  graph.plan = *plan;
  return id;
}

bool BlockAllocator::graph_pool_follows_plan(uint64_t pool) const {
  auto found = graph_pools_.find(pool);
  return found != graph_pools_.end() && !found->second.plan.sizes.empty();
}

BlockAllocator::Block* BlockAllocator::take_planned(GraphPool& graph, size_t size) {
  const size_t request = graph.next_request++;
  if (request < graph.plan.sizes.size() && graph.plan.sizes[request] == size) {
    char* const target = graph.region->address + graph.plan.offsets[request];
    Block* block = graph.region;
    while (block != nullptr && target >= block->address + block->size) block = block->next;
    if (block != nullptr && !block->in_use && target + size <= block->address + block->size) {
      FreeSet& free = graph.free.of(block->small);
      free.erase(block);
      if (target > block->address) {  // the part before the place stays free
        Block* place = new Block(*block);
        place->address = target;
        place->size = block->address + block->size - target;
        place->previous = block;
        if (block->next) block->next->previous = place;
        block->next = place;
        block->size = static_cast<size_t>(target - block->address);
        free.insert(block);
        block = place;
      }
      free.insert(block);
      split_and_take(block, size, free);  // the part after it stays free
      return block;
    }
  }
  graph.plan = MemoryPlan{};  // the capture differs from the recording: best fit from here on
  return nullptr;
}

void BlockAllocator::destroy_graph_pool(uint64_t id) {
  auto found = graph_pools_.find(id);
  if (found == graph_pools_.end()) return;
  devices_[found->second.device].stats.graph_pool_bytes -= found->second.bytes;
  std::vector<Block*> free_blocks(found->second.free.small.begin(), found->second.free.small.end());
  free_blocks.insert(free_blocks.end(), found->second.free.large.begin(), found->second.free.large.end());
  graph_pools_.erase(found);
  for (auto& [address, block] : in_use_)
    if (block->owner == id) block->owner = 0;  // joins the general cache when freed
  // One at a time: a block still waiting here keeps owner `id`, so nothing merges into it (and
  // deletes it) before its turn; its turn merges it with the neighbours already handed over.
  for (Block* block : free_blocks) {
    block->owner = 0;
    insert_free_and_merge(block);
  }
}

bool BlockAllocator::graph_pool_exists(uint64_t pool) const { return graph_pools_.count(pool) > 0; }

size_t BlockAllocator::graph_pool_bytes(uint64_t pool) const {
  auto found = graph_pools_.find(pool);
  return found == graph_pools_.end() ? 0 : found->second.bytes;
}

size_t BlockAllocator::graph_pool_idle_bytes(uint64_t pool) const {
  auto found = graph_pools_.find(pool);
  if (found == graph_pools_.end()) return 0;
  size_t idle = 0;
  for (const Block* block : found->second.free.small) idle += block->size;
  for (const Block* block : found->second.free.large) idle += block->size;
  return idle;
}

cuda::AllocatorStats BlockAllocator::stats(int device) const {
  auto found = devices_.find(device);
  return found == devices_.end() ? cuda::AllocatorStats{} : found->second.stats;
}

void BlockAllocator::reset_peak(int device) {
  cuda::AllocatorStats& stats = devices_[device].stats;
  stats.peak_allocated_bytes = stats.allocated_bytes;
  stats.peak_requested_bytes = stats.requested_bytes;
}

void BlockAllocator::release() { release_wholly_free_segments(); }

size_t BlockAllocator::segment_count() const { return segments_.size(); }

BlockAllocator::FreeLists& BlockAllocator::free_lists_of(const Block& block) {
  return block.owner == 0 ? devices_[block.device].free : graph_pools_.at(block.owner).free;
}

BlockAllocator::GraphPool* BlockAllocator::capturing_pool(int device, uint64_t capture_pool) {
  if (capture_pool == 0) return nullptr;
  auto found = graph_pools_.find(capture_pool);
  return found != graph_pools_.end() && found->second.device == device ? &found->second : nullptr;
}

BlockAllocator::Block* BlockAllocator::best_fit(FreeSet& free, size_t size) {
  Block key;
  key.size = size;  // address nullptr: sorts before every block of this size
  auto found = free.lower_bound(&key);
  return found == free.end() ? nullptr : *found;
}

void BlockAllocator::split_and_take(Block* block, size_t size, FreeSet& free) {
  free.erase(block);
  if (block->size > size) {  // both multiples of kBlockGranule: the rest is at least one granule
    Block* rest = new Block(*block);
    rest->address = block->address + size;
    rest->size = block->size - size;
    rest->previous = block;
    if (block->next) block->next->previous = rest;
    block->next = rest;
    block->size = size;
    free.insert(rest);
  }
}

BlockAllocator::Block* BlockAllocator::reserve_segment(size_t bytes, size_t size, int device, bool small,
                                                       GraphPool* graph, uint64_t graph_id, bool capturing) {
  DevicePool& pool = devices_[device];
  const size_t segment_size = segment_size_for(size);
  void* base = backend_.reserve(segment_size, device, capturing);
  if (base == nullptr && !capturing) {  // no flush inside a capture (it synchronises)
    ++pool.stats.cache_flushes;         // a sign that the working set nearly fills the device
    release_wholly_free_segments(&device);
    base = backend_.reserve(segment_size, device, capturing);
  }
  if (base == nullptr) {
    ALZ_FAIL(backend_.out_of_memory_text(device)
             << ": asked for " << bytes << " bytes (a new segment of " << segment_size << "); allocated "
             << pool.stats.allocated_bytes << ", reserved " << pool.stats.reserved_bytes << " bytes"
             << (capturing ? " (inside a CUDA graph capture, where cached blocks are not released)" : ""));
  }
  // A segment reserved during a capture is the graph's, whole.
  Block* whole = add_segment(base, segment_size, device, small, graph, graph_id);
  split_and_take(whole, size, free_lists_of(*whole).of(small));
  return whole;
}

BlockAllocator::Block* BlockAllocator::add_segment(void* base, size_t size, int device, bool small, GraphPool* graph,
                                                   uint64_t graph_id) {
  DevicePool& pool = devices_[device];
  ++pool.stats.cuda_malloc_calls;
  pool.stats.reserved_bytes += size;
  Block* whole = new Block;
  whole->address = static_cast<char*>(base);
  whole->size = size;
  whole->device = device;
  whole->small = small;
  whole->owner = graph ? graph_id : 0;
  segments_[base] = Segment{size, device, whole};
  if (graph) {
    graph->bytes += size;
    pool.stats.graph_pool_bytes += size;
  }
  free_lists_of(*whole).of(small).insert(whole);
  return whole;
}

void BlockAllocator::insert_free_and_merge(Block* block) {
  FreeSet& free = free_lists_of(*block).of(block->small);
  if (Block* next = block->next; next != nullptr && !next->in_use && next->owner == block->owner) {
    free.erase(next);  // before its size changes: the set is ordered by size
    block->size += next->size;
    block->next = next->next;
    if (next->next) next->next->previous = block;
    delete next;
  }
  if (Block* previous = block->previous; previous != nullptr && !previous->in_use && previous->owner == block->owner) {
    free.erase(previous);
    previous->size += block->size;
    previous->next = block->next;
    if (block->next) block->next->previous = previous;
    delete block;
    block = previous;
  }
  free.insert(block);
}

void BlockAllocator::release_wholly_free_segments(const int* only_device) {
  std::vector<void*> bases;
  std::set<int> devices;
  for (auto& [base, segment] : segments_) {
    const Block* first = segment.first;
    if (only_device != nullptr && segment.device != *only_device) continue;
    if (first->next == nullptr && !first->in_use && first->owner == 0) {
      bases.push_back(base);
      devices.insert(segment.device);
    }
  }
  for (int device : devices) backend_.wait_for_device(device);
  for (void* base : bases) {
    auto found = segments_.find(base);
    Block* block = found->second.first;
    devices_[block->device].free.of(block->small).erase(block);
    devices_[block->device].stats.reserved_bytes -= block->size;
    backend_.release(base, block->size, block->device);
    delete block;
    segments_.erase(found);
  }
}

}  // namespace alz
