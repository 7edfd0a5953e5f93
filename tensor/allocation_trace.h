// An allocation trace of tensor memory, for allocator studies: with the environment variable
// ALZ_ALLOC_TRACE=FILE, every Storage allocation and free (tensor/tensor.cpp) is appended to
// FILE, one line each, in the order they happen:
//   a <address> <bytes> <device>    device: cpu, pinned or cuda:N
//   f <address>
//   m <label>                       a mark, e.g. "m step" where a training step starts
// bench/bench_allocator --replay FILE runs a trace through the caching device allocator's books
// (tensor/block_allocator.h) and through exact size classes, and prints their peaks; a trace of
// a CPU run stands in for a device's (the same tensors). Memory that is not a tensor's (cuDNN's
// and cuBLAS's workspaces, the optimizer's tables: allocated once) is not in a trace.
//
//   ALZ_ALLOC_TRACE=step.trace build/bench/bench_train_step --device cpu --steps 1 ...
//   build/bench/bench_allocator --replay step.trace --replay-device cpu
//
// Off (one atomic load per allocation) unless the variable is set or start_allocation_trace is
// called. The file is written through stdio's buffer and flushed at stop or at a normal exit. Tests: tests/test_block_allocator.cpp (AllocationTrace.*).
#pragma once
#include <cstddef>

#include <string>

#include "core/dtype.h"

namespace alz {

bool allocation_trace_enabled();
void trace_allocation(const void* address, size_t bytes, Device device, bool pinned);
void trace_free(const void* address);
void trace_mark(const char* label);  // one word

// Starts a trace into `path` (replacing one that runs), as ALZ_ALLOC_TRACE does at the first
// allocation; throws alz::Error naming the file when it cannot be opened. stop flushes and
// closes it.
void start_allocation_trace(const std::string& path);
void stop_allocation_trace();

}  // namespace alz
