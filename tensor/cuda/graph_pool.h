// Private memory pools of CUDA graphs, inside the caching device allocator
// (tensor/cuda/allocator.cpp); used by tensor/cuda/cuda_graph.cpp only. The rule they implement
// is described in tensor/cuda_graph.h:
//   - between graph_pool_begin(pool) and graph_pool_end() on a thread, that thread's device
//     allocations on the pool's device are served from the pool (its own free blocks first,
//     then blocks moved over from the device's general cache, then cudaMalloc) and its frees of
//     device blocks from the general cache (or from a pool already destroyed) go to the pool's
//     free list: the captured work may read them;
//   - a block of a live pool, freed by anyone at any time, goes back to that pool;
//   - graph_pool_destroy hands the pool's free blocks to the general cache, and its blocks still
//     in use join the general cache when they are freed.
//   - a pool made with a MemoryPlan (from an AllocationRecording of the eager step before the
//     capture) places the capture's requests as planned (tensor/block_allocator.h).
#pragma once
#include <cstddef>
#include <cstdint>

#include "tensor/block_allocator.h"

namespace alz::cuda {

// A new pool (ids start at 1); with a plan, its region is reserved now.
uint64_t graph_pool_create(int device, const MemoryPlan* plan = nullptr);
bool graph_pool_follows_plan(uint64_t pool);  // planned, and the capture has kept to the plan
// Between these, this thread's requests on recording->device() are written into *recording.
void allocation_recording_begin(AllocationRecording* recording);
void allocation_recording_end();
void graph_pool_begin(uint64_t pool);    // this thread allocates from `pool` (one at a time)
void graph_pool_end();                   // this thread allocates from the general cache again
void graph_pool_destroy(uint64_t pool);  // the caller has made sure no replay is in flight
size_t graph_pool_bytes(uint64_t pool);  // reserved by the pool: in use + free
size_t graph_pool_idle_bytes(uint64_t pool);  // its free blocks: no tensor holds them, replays use them
uint64_t active_graph_pool();            // the pool this thread allocates from, 0 for none

}  // namespace alz::cuda
