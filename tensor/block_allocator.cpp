// The caching allocator's bookkeeping: best fit, splitting, merging, graph pools, statistics
// (tensor/block_allocator.h says the rules and why). Tests: tests/test_block_allocator.cpp.
#include "tensor/block_allocator.h"

#include <algorithm>
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

void* BlockAllocator::allocate(size_t bytes, int device, uint64_t capture_pool) {
  ALZ_CHECK(bytes <= kLargestRequest, backend_.out_of_memory_text(device) << ": asked for " << bytes
                                                                          << " bytes, more than any device holds");
  const size_t size = block_size_for(bytes);
  const bool small = size <= kSmallRequestMax;
  DevicePool& pool = devices_[device];
  GraphPool* graph = capturing_pool(device, capture_pool);
  Block* block = nullptr;
  if (graph) {
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
  } else if ((block = best_fit(pool.free.of(small), size)) != nullptr) {
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
  return block->address;
}

void BlockAllocator::free(void* pointer, uint64_t capture_pool) {
  if (pointer == nullptr) return;
  auto found = in_use_.find(pointer);
  if (found == in_use_.end()) return;  // not ours: a bug, but freeing must never throw
  Block* block = found->second;
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

uint64_t BlockAllocator::create_graph_pool(int device) {
  const uint64_t id = next_graph_pool_++;
  graph_pools_[id].device = device;
  return id;
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
    release_wholly_free_segments();
    base = backend_.reserve(segment_size, device, capturing);
  }
  if (base == nullptr) {
    ALZ_FAIL(backend_.out_of_memory_text(device)
             << ": asked for " << bytes << " bytes (a new segment of " << segment_size << "); allocated "
             << pool.stats.allocated_bytes << ", reserved " << pool.stats.reserved_bytes << " bytes"
             << (capturing ? " (inside a CUDA graph capture, where cached blocks are not released)" : ""));
  }
  ++pool.stats.cuda_malloc_calls;
  pool.stats.reserved_bytes += segment_size;
  Block* whole = new Block;
  whole->address = static_cast<char*>(base);
  whole->size = segment_size;
  whole->device = device;
  whole->small = small;
  whole->owner = graph_id;  // a segment reserved during a capture is the graph's, whole
  segments_[base] = Segment{segment_size, device, whole};
  if (graph) {
    graph->bytes += segment_size;
    pool.stats.graph_pool_bytes += segment_size;
  }
  FreeSet& free = free_lists_of(*whole).of(small);
  free.insert(whole);
  split_and_take(whole, size, free);
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

void BlockAllocator::release_wholly_free_segments() {
  std::vector<void*> bases;
  std::set<int> devices;
  for (auto& [base, segment] : segments_) {
    const Block* first = segment.first;
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
