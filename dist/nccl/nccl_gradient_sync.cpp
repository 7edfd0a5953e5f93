// The GPU gradient synchronisation (dist/gradient_sync.h): NCCL's all-reduce on device buffers,
// its communicator bootstrapped through MPI (rank 0's ncclUniqueId broadcast to every rank).
//
// Per bucket (BucketPlan: backward order, launched in order as backward completes them):
//   compute stream:  pack   buffer[offset(p)...] = w_r * grad(p)  (zeros without a gradient)
//                    record ready[b]
//   comm stream:     wait ready[b]; ncclAllReduce(buffer, sum); record done[b]
// so the all-reduce of the late layers runs while the compute stream goes on with the backward
// of the early ones. finish_step() launches what is left, makes the compute stream wait for
// every done[b] and unpacks each bucket into the gradients (device copies), then averages the
// BatchNorm statistics (one small all-reduce on the compute stream). The optimizer, queued after
// that on the compute stream, runs unchanged. Nothing here waits on the host.
// A bucket's buffer is packed again only after the compute stream waited for its last
// all-reduce, so the buffers are reused safely step after step.
//
// Tests: the one-rank NCCL run equals the plain run (tests/gpu/test_nccl_gpu.cpp, on a machine
// with a GPU); the bucket order and sums are those of HostGradientSync, checked on the CPU under
// mpirun (tests/dist/). Bandwidth: bench/bench_allreduce.cpp.
#include <cuda_runtime.h>
#include <nccl.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "core/cuda/check.h"
#include "core/error.h"
#include "dist/gradient_sync.h"
#include "kernels/elementwise.h"
#include "tensor/cuda/context.h"

namespace alz::dist {

namespace {

#define ALZ_NCCL_CHECK(call)                                                                                      \
  do {                                                                                                            \
    ncclResult_t alz_nccl_result = (call);                                                                        \
    ALZ_CHECK(alz_nccl_result == ncclSuccess, "NCCL: " #call " failed: " << ncclGetErrorString(alz_nccl_result)); \
  } while (0)

class NcclGradientSync final : public GradientSync {
 public:
  NcclGradientSync(Communicator& comm, std::vector<ParamRef> params, std::vector<ParamRef> buffers, Device device,
                   int64_t bucket_bytes)
      : comm_(comm),
        params_(synchronised_parameters(std::move(params))),
        buffers_(std::move(buffers)),
        plan_(params_, bucket_bytes),
        device_(device) {
    ALZ_CHECK(params_.empty() || params_.front().tensor->device() == device,
              "NCCL data parallelism: the parameters are on " << params_.front().tensor->device().str() << ", not "
                                                              << device.str());
    ALZ_CUDA_CHECK(cudaSetDevice(device.index));
    ncclUniqueId id{};
    if (comm_.is_root()) ALZ_NCCL_CHECK(ncclGetUniqueId(&id));
    comm_.broadcast(&id, static_cast<int64_t>(sizeof(id)), 0);
    ALZ_NCCL_CHECK(ncclCommInitRank(&nccl_, comm_.size(), id, comm_.rank()));
    ALZ_CUDA_CHECK(cudaStreamCreateWithFlags(&comm_stream_, cudaStreamNonBlocking));
    for (const BucketPlan::Bucket& b : plan_.buckets()) {
      bucket_buffers_.push_back(Tensor::empty({b.elements}, DType::F32, device));
      cudaEvent_t ready = nullptr, done = nullptr;
      ALZ_CUDA_CHECK(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
      ALZ_CUDA_CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
      ready_.push_back(ready);
      done_.push_back(done);
    }
    int64_t statistics = 0;
    for (const ParamRef& b : buffers_) statistics += b.tensor->numel();
    if (statistics > 0) statistics_ = Tensor::empty({statistics}, DType::F32, device);
  }

  ~NcclGradientSync() override {
    cudaStreamSynchronize(comm_stream_);
    for (cudaEvent_t e : ready_) cudaEventDestroy(e);
    for (cudaEvent_t e : done_) cudaEventDestroy(e);
    cudaStreamDestroy(comm_stream_);
    ncclCommDestroy(nccl_);
  }

  void begin_step(double weight) override {
    weight_ = static_cast<float>(weight);
    plan_.reset();
  }

  void gradient_ready(const AutogradMeta& leaf) override {
    for (size_t bucket : plan_.mark_ready(leaf)) launch(bucket);
  }

  void finish_step() override {
    for (size_t bucket : plan_.launch_rest()) launch(bucket);
    cudaStream_t compute = stream();
    for (size_t b = 0; b < plan_.buckets().size(); ++b) {
      ALZ_CUDA_CHECK(cudaStreamWaitEvent(compute, done_[b], 0));
      unpack(b, compute);
    }
    if (statistics_.defined()) average_statistics(compute);
  }

  const char* name() const override { return "nccl"; }

 private:
  cudaStream_t stream() const { return cuda::context(device_.index).compute_stream; }

  // Pack on the compute stream (after the gradients), all-reduce on the communication stream.
  void launch(size_t b) {
    cudaStream_t compute = stream();
    float* buffer = bucket_buffers_[b].data<float>();
    int64_t offset = 0;
    for (size_t k : plan_.buckets()[b].params) {
      const Tensor& grad = params_[k].tensor->grad();
      const int64_t n = params_[k].tensor->numel();
      if (grad.defined())
        kernels::scaled_grad_cuda(grad.data<float>(), weight_, buffer + offset, n, false, compute);
      else
        ALZ_CUDA_CHECK(cudaMemsetAsync(buffer + offset, 0, static_cast<size_t>(n) * sizeof(float), compute));
      offset += n;
    }
    ALZ_CUDA_CHECK(cudaEventRecord(ready_[b], compute));
    ALZ_CUDA_CHECK(cudaStreamWaitEvent(comm_stream_, ready_[b], 0));
    ALZ_NCCL_CHECK(ncclAllReduce(buffer, buffer, static_cast<size_t>(plan_.buckets()[b].elements), ncclFloat, ncclSum,
                                 nccl_, comm_stream_));
    ALZ_CUDA_CHECK(cudaEventRecord(done_[b], comm_stream_));
  }

  // The summed bucket back into each parameter's gradient (a fresh one where it had none).
  void unpack(size_t b, cudaStream_t compute) {
    const float* buffer = bucket_buffers_[b].data<float>();
    int64_t offset = 0;
    for (size_t k : plan_.buckets()[b].params) {
      Tensor& param = *params_[k].tensor;
      const int64_t n = param.numel();
      std::shared_ptr<AutogradMeta>& meta = param.autograd_meta();
      if (!meta->grad.defined() || meta->grad.storage_shared())
        meta->grad = Tensor::empty(param.shape(), DType::F32, device_);
      ALZ_CUDA_CHECK(cudaMemcpyAsync(meta->grad.data<float>(), buffer + offset, static_cast<size_t>(n) * sizeof(float),
                                     cudaMemcpyDeviceToDevice, compute));
      offset += n;
    }
  }

  // BatchNorm's moving statistics averaged over the ranks (weight 1/world), on the compute stream.
  void average_statistics(cudaStream_t compute) {
    float* all = statistics_.data<float>();
    const float w = 1.0f / static_cast<float>(comm_.size());
    int64_t offset = 0;
    for (const ParamRef& b : buffers_) {
      kernels::scaled_grad_cuda(b.tensor->data<float>(), w, all + offset, b.tensor->numel(), false, compute);
      offset += b.tensor->numel();
    }
    ALZ_NCCL_CHECK(ncclAllReduce(all, all, static_cast<size_t>(offset), ncclFloat, ncclSum, nccl_, compute));
    offset = 0;
    for (const ParamRef& b : buffers_) {
      ALZ_CUDA_CHECK(cudaMemcpyAsync(b.tensor->data<float>(), all + offset,
                                     static_cast<size_t>(b.tensor->numel()) * sizeof(float), cudaMemcpyDeviceToDevice,
                                     compute));
      offset += b.tensor->numel();
    }
  }

  Communicator& comm_;
  std::vector<ParamRef> params_;
  std::vector<ParamRef> buffers_;
  BucketPlan plan_;
  Device device_;
  ncclComm_t nccl_ = nullptr;
  cudaStream_t comm_stream_ = nullptr;
  std::vector<Tensor> bucket_buffers_;
  std::vector<cudaEvent_t> ready_, done_;
  Tensor statistics_;
  float weight_ = 1.0f;
};

}  // namespace

std::unique_ptr<GradientSync> make_nccl_gradient_sync(Communicator& comm, std::vector<ParamRef> params,
                                                      std::vector<ParamRef> buffers, Device device,
                                                      int64_t bucket_bytes) {
  if (!device.is_cuda()) return nullptr;
  return std::make_unique<NcclGradientSync>(comm, std::move(params), std::move(buffers), device, bucket_bytes);
}

}  // namespace alz::dist
