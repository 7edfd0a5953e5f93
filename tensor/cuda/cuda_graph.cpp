// CUDA graphs (tensor/cuda_graph.h): capture on the device's compute stream into a private
// memory pool (tensor/cuda/graph_pool.h), instantiate, replay.
//
// Capture, step by step:
//   1. cudaStreamBeginCapture(compute_stream, cudaStreamCaptureModeThreadLocal);
//   2. this thread's allocations switch to the graph's pool (graph_pool_begin), which places
//      them as planned when record_allocations ran the step before (tensor/block_allocator.h);
//   3. fn() queues its work, which is recorded, not run; an exception is kept for step 6;
//   4. the pool switch ends and cudaStreamEndCapture returns the graph (or the reason the
//      capture was invalidated), which cudaGraphInstantiate turns into an executable graph;
//   5. on success the graph holds the context's workspaces (a workspace that grows later keeps
//      its old block until the graph is gone: the graph's nodes use its address);
//   6. on any failure: the capture is ended in every case, the partial graph and the pool are
//      destroyed, the context's workspaces that fn grew (recorded, never run: the fused
//      BatchNorm workspace would hold counters never zeroed) are dropped so that the next
//      eager call makes them again, and alz::Error names what failed.
// Tested by tests/gpu/test_cuda_graph_gpu.cpp.
#include "tensor/cuda_graph.h"

#include <cuda_runtime.h>

#include <string>
#include <vector>

#include "core/cuda/check.h"
#include "core/cuda/device_guard.h"
#include "core/error.h"
#include "kernels/bn_relu.h"
#include "tensor/cuda/context.h"
#include "tensor/cuda/graph_pool.h"
#include "tensor/cuda_runtime.h"
#include "tensor/profiler.h"

namespace alz::cuda {

struct CudaGraph::Impl {
  int device = 0;
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  uint64_t pool = 0;
  size_t nodes = 0;
  uint64_t replays = 0;
  std::vector<std::shared_ptr<void>> kept;  // resources the nodes read (keep_alive_until_graph_destroyed)
  std::unique_ptr<MemoryPlan> plan;         // from record_allocations
  bool followed_plan = false;
};

namespace {

// The resources list of the graph being captured on this thread; nullptr when none is.
thread_local std::vector<std::shared_ptr<void>>* t_capturing = nullptr;

std::string cuda_error_text(const char* call, cudaError_t status) {
  return std::string(call) + ": " + cudaGetErrorName(status) + " (" + cudaGetErrorString(status) + ")";
}

}  // namespace

CudaGraph::CudaGraph(int device) : impl_(std::make_unique<Impl>()) {
  context(device);  // throws a clear error without a device
  impl_->device = device;
}

CudaGraph::~CudaGraph() {
  if (!impl_) return;
  if (impl_->exec || impl_->graph) {
    cudaSetDevice(impl_->device);
    try {
      cudaStreamSynchronize(context(impl_->device).compute_stream);  // a replay may still run
    } catch (...) {
    }
    if (impl_->exec) cudaGraphExecDestroy(impl_->exec);
    if (impl_->graph) cudaGraphDestroy(impl_->graph);
    try {
      context(impl_->device).release_workspaces();
    } catch (...) {
    }
  }
  impl_->kept.clear();                               // device blocks among them go back to the pool first...
  if (impl_->pool) graph_pool_destroy(impl_->pool);  // ...and the whole pool to the general cache
}

void CudaGraph::record_allocations(const std::function<void()>& fn) {
  Impl& impl = *impl_;
  ALZ_CHECK(!impl.exec && impl.pool == 0, "CudaGraph: record_allocations comes before the capture");
  AllocationRecording recording(impl.device);
  allocation_recording_begin(&recording);
  try {
    fn();
  } catch (...) {
    allocation_recording_end();
    impl.plan.reset();
    throw;
  }
  allocation_recording_end();
  impl.plan = std::make_unique<MemoryPlan>(recording.plan());
}

void CudaGraph::capture(const std::function<void()>& fn) {
  Impl& impl = *impl_;
  ALZ_CHECK(!impl.exec, "CudaGraph: already captured (a graph is captured once)");
  ALZ_CHECK(t_capturing == nullptr, "CudaGraph: a capture is already active on this thread");
  ALZ_CHECK(!profiler::active(), "CudaGraph: cannot capture while the op profiler runs (profiling is eager)");
  DeviceGuard guard(impl.device);
  Context& ctx = context(impl.device);
  if (impl.pool == 0) impl.pool = graph_pool_create(impl.device, impl.plan.get());
  void* const workspace_before = ctx.workspace_;
  void* const bn_relu_workspace_before = ctx.bn_relu_workspace_;

  cudaError_t status = cudaStreamBeginCapture(ctx.compute_stream, cudaStreamCaptureModeThreadLocal);
  if (status != cudaSuccess) {
    cudaGetLastError();
    ALZ_FAIL("CUDA graph capture failed: " << cuda_error_text("cudaStreamBeginCapture", status));
  }
  graph_pool_begin(impl.pool);
  t_capturing = &impl.kept;
  std::string failure;
  try {
    fn();
  } catch (const std::exception& error) {
    failure = error.what();
  } catch (...) {
    failure = "an exception of unknown type";
  }
  t_capturing = nullptr;
  graph_pool_end();
  impl.followed_plan = impl.plan != nullptr && graph_pool_follows_plan(impl.pool);

  cudaGraph_t graph = nullptr;
  status = cudaStreamEndCapture(ctx.compute_stream, &graph);  // ends the capture in every case
  if (status != cudaSuccess) {
    cudaGetLastError();
    failure += (failure.empty() ? "" : "; then ") + cuda_error_text("cudaStreamEndCapture", status);
  }
  cudaGraphExec_t exec = nullptr;
  if (failure.empty()) {
    status = cudaGraphInstantiate(&exec, graph, 0);
    if (status != cudaSuccess) {
      cudaGetLastError();
      failure = cuda_error_text("cudaGraphInstantiate", status);
      exec = nullptr;
    }
  }
  if (!failure.empty()) {
    if (graph) cudaGraphDestroy(graph);
    impl.kept.clear();
    // Workspaces made inside the failed capture were never initialised: the next eager call
    // makes them again (their blocks go back through the pool to the general cache).
    if (ctx.workspace_ != workspace_before) {
      device_free(ctx.workspace_);
      ctx.workspace_ = nullptr;
      ctx.workspace_bytes_ = 0;
    }
    if (ctx.bn_relu_workspace_ != bn_relu_workspace_before) {
      device_free(ctx.bn_relu_workspace_);
      ctx.bn_relu_workspace_ = nullptr;
      ctx.bn_relu_workspace_bytes_ = 0;
    }
    graph_pool_destroy(impl.pool);  // nothing recorded ever ran: its blocks are plain cache again
    impl.pool = 0;
    ALZ_FAIL("CUDA graph capture failed: " << failure);
  }
  impl.graph = graph;
  impl.exec = exec;
  ctx.hold_workspaces();  // the nodes use the workspaces' present addresses
  ALZ_CUDA_CHECK(cudaGraphGetNodes(graph, nullptr, &impl.nodes));
  // A fused BatchNorm workspace made during the capture is zeroed by the graph's first replay;
  // zero it now too, in case eager work uses it before that replay.
  if (ctx.bn_relu_workspace_ != bn_relu_workspace_before && ctx.bn_relu_workspace_)
    kernels::bn_relu_workspace_init_cuda(ctx.bn_relu_workspace_, ctx.bn_relu_workspace_bytes_, ctx.compute_stream);
}

void CudaGraph::replay() {
  ALZ_CHECK(impl_->exec, "CudaGraph::replay: nothing captured");
  DeviceGuard guard(impl_->device);
  ALZ_CUDA_CHECK(cudaGraphLaunch(impl_->exec, context(impl_->device).compute_stream));
  ++impl_->replays;
}

bool CudaGraph::captured() const { return impl_->exec != nullptr; }
int CudaGraph::device() const { return impl_->device; }
size_t CudaGraph::num_nodes() const { return impl_->nodes; }
size_t CudaGraph::pool_bytes() const { return impl_->pool ? graph_pool_bytes(impl_->pool) : 0; }
size_t CudaGraph::pool_idle_bytes() const { return impl_->pool ? graph_pool_idle_bytes(impl_->pool) : 0; }
bool CudaGraph::followed_memory_plan() const { return impl_->followed_plan; }
uint64_t CudaGraph::replays() const { return impl_->replays; }

bool capturing() { return t_capturing != nullptr; }

void keep_alive_until_graph_destroyed(std::shared_ptr<void> resource) {
  ALZ_CHECK(t_capturing != nullptr, "keep_alive_until_graph_destroyed: no CUDA graph capture is active");
  t_capturing->push_back(std::move(resource));
}

}  // namespace alz::cuda
