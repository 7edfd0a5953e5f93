// Per-device context (tensor/cuda/context.h): streams, cuBLAS and cuDNN handles bound to the
// compute stream, and the reusable workspaces. Created on first use; kept for the process.
#include "tensor/cuda/context.h"

#include <memory>
#include <mutex>
#include <vector>

#include "core/cuda/check.h"
#include "core/cuda/device_guard.h"
#include "kernels/bn_relu.h"
#include "tensor/cuda_runtime.h"

namespace alz::cuda {

namespace {

std::unique_ptr<Context> create_context(int device) {
  DeviceGuard guard(device);
  auto ctx = std::make_unique<Context>();
  ctx->device = device;
  // Non-blocking streams: nothing on the legacy default stream ever serialises with them,
  // which keeps the training step capturable as a CUDA graph.
  ALZ_CUDA_CHECK(cudaStreamCreateWithFlags(&ctx->compute_stream, cudaStreamNonBlocking));
  ALZ_CUDA_CHECK(cudaStreamCreateWithFlags(&ctx->copy_stream, cudaStreamNonBlocking));
  ALZ_CUBLAS_CHECK(cublasCreate(&ctx->cublas));
  ALZ_CUBLAS_CHECK(cublasSetStream(ctx->cublas, ctx->compute_stream));
  // After cublasSetStream, which resets the workspace to cuBLAS's own pool.
  ctx->cublas_workspace_ = device_allocate(Context::kCublasWorkspaceBytes, device);
  ALZ_CUBLAS_CHECK(cublasSetWorkspace(ctx->cublas, ctx->cublas_workspace_, Context::kCublasWorkspaceBytes));
  ALZ_CUDNN_CHECK(cudnnCreate(&ctx->cudnn));
  ALZ_CUDNN_CHECK(cudnnSetStream(ctx->cudnn, ctx->compute_stream));
  return ctx;
}

}  // namespace

void* Context::workspace(size_t bytes) {
  if (bytes <= workspace_bytes_) return workspace_;
  // Stream-ordered reuse: the old block is only reused by later work on the same stream.
  if (workspace_) retire(workspace_);
  workspace_ = device_allocate(bytes, device);
  workspace_bytes_ = bytes;
  return workspace_;
}

void* Context::bn_relu_workspace(size_t bytes, size_t& capacity) {
  if (bn_relu_workspace_ == nullptr || bn_relu_workspace_bytes_ < bytes) {
    if (bn_relu_workspace_) retire(bn_relu_workspace_);  // stream-ordered, as above
    bn_relu_workspace_bytes_ = 4 * bytes;
    bn_relu_workspace_ = device_allocate(bn_relu_workspace_bytes_, device);
    kernels::bn_relu_workspace_init_cuda(bn_relu_workspace_, bn_relu_workspace_bytes_, compute_stream);
  }
  capacity = bn_relu_workspace_bytes_;
  return bn_relu_workspace_;
}

void Context::retire(void* workspace) {
  if (workspace_holders_ > 0)
    retired_.push_back(workspace);  // a graph's replays still use it
  else
    device_free(workspace);
}

void Context::hold_workspaces() { ++workspace_holders_; }

void Context::release_workspaces() {
  if (workspace_holders_ > 0 && --workspace_holders_ == 0) {
    for (void* workspace : retired_) device_free(workspace);
    retired_.clear();
  }
}

Context& context(int device) {
  static std::mutex mutex;
  static std::vector<std::unique_ptr<Context>> contexts;
  ALZ_CHECK(available(), "no CUDA device: " << unavailable_reason());
  ALZ_CHECK(device >= 0 && device < device_count(),
            "CUDA device " << device << " does not exist (" << device_count() << " found)");
  std::lock_guard<std::mutex> lock(mutex);
  if (contexts.empty()) contexts.resize(static_cast<size_t>(device_count()));
  if (!contexts[device]) contexts[device] = create_context(device);
  return *contexts[device];
}

cudaStream_t stream_or_default(Stream stream, int device) {
  return stream.handle ? static_cast<cudaStream_t>(stream.handle) : context(device).compute_stream;
}

int current_device() {
  int device = 0;
  ALZ_CUDA_CHECK(cudaGetDevice(&device));
  return device;
}

}  // namespace alz::cuda
