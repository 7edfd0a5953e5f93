// CUDA graphs: record a sequence of GPU work once and launch it again with one call. A training
// step queues about a thousand kernels; replaying them as one graph removes the per-launch host
// cost and the gaps between kernels.
//
//   cuda::CudaGraph graph(/*device=*/0);
//   graph.capture([&] { y = f(x); });   // records the work f queues; runs nothing
//   for (...) { x.copy_from(next); graph.replay(); use(y); }
//
// Capture runs fn on the calling thread while the device's compute stream
// (tensor/cuda/context.h) is in capture mode (cudaStreamCaptureModeThreadLocal: other threads,
// the loader's workers say, keep calling CUDA as usual). Everything fn queues on the compute
// stream becomes a node of the graph; nothing runs until replay(). A replay repeats exactly the
// recorded kernels on exactly the recorded addresses, so:
//   - inputs go into tensors that exist before the capture and are refilled before each replay
//     (x.copy_from above); outputs are the tensors fn produced (y), overwritten by each replay;
//   - fn must not wait for the device, copy from pageable host memory or call cudaMalloc; work
//     that picks algorithms or grows caches belongs in eager warm-up steps before the capture;
//   - host-side effects of fn (a counter incremented, a pointer cached) happen once, at capture.
//
// Memory: while a capture is active on a thread, that thread's device allocations come from a
// private pool of this graph and its frees go back to that pool (tensor/cuda/allocator.cpp).
// After the capture the pool's blocks stay reserved for the graph: a block fn freed is free for
// the graph's own replays, never for eager code, which could otherwise hold memory that a replay
// overwrites. After record_allocations, the pool is one region laid out by the recorded run's
// plan, the size of that run's peak in use. The pool is given back to the caching allocator
// when the graph is destroyed (AllocatorStats::graph_pool_bytes counts it meanwhile).
// Resources that the graph's nodes read and that nobody else keeps (a pinned table the graph
// copies from, say) are handed to the active capture with keep_alive_until_graph_destroyed().
//
// A failed capture (an unsupported call such as a synchronisation inside fn:
// cudaErrorStreamCaptureUnsupported / Invalidated; an exception thrown by fn; instantiation
// failing) ends the capture, leaves the graph empty and throws alz::Error naming what failed,
// so the caller can go on eagerly. Without CUDA (a CPU-only build) capture() throws and
// capturing() is false.
//
// Tested by tests/gpu/test_cuda_graph_gpu.cpp:
//   cmake --build build -j2 --target test_cuda_graph_gpu && ctest --test-dir build -R CudaGraph
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

namespace alz::cuda {

class CudaGraph {
 public:
  explicit CudaGraph(int device = 0);
  ~CudaGraph();  // waits for a replay in flight, destroys the graph, gives the pool back
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;

  // Runs fn eagerly (an ordinary step, right before the capture) and records the device
  // allocations it makes on this thread; capture() then places its own as planned from them
  // (tensor/block_allocator.h: planned captures): the pool holds the step's peak in use rather
  // than what best fit leaves. A capture that does not repeat fn's requests falls back to best
  // fit where it starts to differ. Exceptions of fn pass through (and no plan is kept).
  void record_allocations(const std::function<void()>& fn);
  // Records the GPU work fn queues on the compute stream. Throws alz::Error when the capture
  // fails (the graph stays empty; capture may be tried again). A graph is captured once.
  void capture(const std::function<void()>& fn);
  // Launches the recorded work on the compute stream (asynchronous, like any kernel launch).
  void replay();

  bool captured() const;
  int device() const;
  size_t num_nodes() const;   // kernels, copies and memsets recorded
  size_t pool_bytes() const;  // device memory reserved for this graph's private pool
  // Of pool_bytes(), the blocks no tensor holds between replays: the replays' working memory
  // (activations, saved tensors, gradients of activations), already counted by
  // AllocatorStats::reserved_bytes but not by allocated_bytes. What a replay occupies is
  // allocated_bytes + pool_idle_bytes().
  size_t pool_idle_bytes() const;
  // A plan was recorded and the capture kept to it from its first request to its last.
  bool followed_memory_plan() const;
  uint64_t replays() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// True while this thread is inside CudaGraph::capture.
bool capturing();

// Ties `resource` to the graph being captured on this thread: it is released after that graph
// is destroyed (or at once when the capture fails). Throws alz::Error when no capture is active.
void keep_alive_until_graph_destroyed(std::shared_ptr<void> resource);

}  // namespace alz::cuda
