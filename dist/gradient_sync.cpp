// The host all-reduce of gradients and the initial broadcast (dist/gradient_sync.h).
// Per bucket: copy each gradient (zeros where a parameter has none) into one f32 host buffer,
// scaled by this rank's share w_r; MPI_Allreduce sums the buffer over ranks in place; copy back.
// The sum of a float over ranks is the same on every rank (MPI's reduction of the same
// operands; with two ranks a + b = b + a exactly), so the replicas stay bit-identical.
// Tested under mpirun by tests/dist/: ctest --test-dir build -R Dist
#include "dist/gradient_sync.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "tensor/autograd.h"

namespace alz::dist {

HostGradientSync::HostGradientSync(Communicator& comm, std::vector<ParamRef> params, std::vector<ParamRef> buffers,
                                   int64_t bucket_bytes)
    : comm_(comm), params_(std::move(params)), buffers_(std::move(buffers)) {
  std::erase_if(params_, [](const ParamRef& p) { return !p.trainable; });
  bucket_elements_ = std::max<int64_t>(bucket_bytes / static_cast<int64_t>(sizeof(float)), 1);
  for (const ParamRef& p : params_)
    ALZ_CHECK(p.tensor->dtype() == DType::F32,
              "data-parallel training needs f32 parameters; " << p.name << " is " << p.tensor->summary());
}

void HostGradientSync::synchronize(double weight) {
  weight_ = weight;
  // Buckets: consecutive parameters up to bucket_elements_ (a larger parameter is a bucket alone).
  size_t first = 0;
  int64_t elements = 0;
  for (size_t i = 0; i < params_.size(); ++i) {
    int64_t n = params_[i].tensor->numel();
    if (i > first && elements + n > bucket_elements_) {
      reduce_bucket(first, i);
      first = i;
      elements = 0;
    }
    elements += n;
  }
  if (first < params_.size()) reduce_bucket(first, params_.size());
  if (!buffers_.empty()) average_buffers();
}

void HostGradientSync::average_buffers() {
  int64_t total = 0;
  for (const ParamRef& b : buffers_) total += b.tensor->numel();
  buffer_.resize(static_cast<size_t>(total));
  const float w = 1.0f / static_cast<float>(comm_.size());
  int64_t offset = 0;
  for (const ParamRef& b : buffers_) {
    Tensor host = b.tensor->to(Device::cpu());
    const float* v = host.data<float>();
    for (int64_t k = 0; k < host.numel(); ++k) buffer_[static_cast<size_t>(offset + k)] = v[k] * w;
    offset += host.numel();
  }
  comm_.all_reduce_sum(buffer_.data(), total);
  offset = 0;
  for (const ParamRef& b : buffers_) {
    Tensor host = Tensor::empty(b.tensor->shape(), DType::F32, Device::cpu());
    std::memcpy(host.data<float>(), buffer_.data() + offset, host.nbytes());
    b.tensor->copy_from(host);
    offset += host.numel();
  }
}

std::vector<ParamRef> trained_buffers(const std::vector<ParamRef>& all) {
  auto layer_of = [](const std::string& name) { return name.substr(0, name.rfind('/')); };
  std::vector<std::string> trained;
  for (const ParamRef& p : all)
    if (p.kind == ParamKind::Weight && p.trainable) trained.push_back(layer_of(p.name));
  std::vector<ParamRef> out;
  for (const ParamRef& p : all)
    if (p.kind == ParamKind::Buffer && std::find(trained.begin(), trained.end(), layer_of(p.name)) != trained.end())
      out.push_back(p);
  return out;
}

void HostGradientSync::reduce_bucket(size_t first, size_t last) {
  int64_t total = 0;
  for (size_t i = first; i < last; ++i) total += params_[i].tensor->numel();
  buffer_.resize(static_cast<size_t>(total));
  const float w = static_cast<float>(weight_);
  int64_t offset = 0;
  for (size_t i = first; i < last; ++i) {  // pack: w_r * g (zeros without a gradient)
    Tensor grad = params_[i].tensor->grad();
    int64_t n = params_[i].tensor->numel();
    float* out = buffer_.data() + offset;
    if (grad.defined()) {
      Tensor host = grad.to(Device::cpu());
      const float* g = host.data<float>();
      for (int64_t k = 0; k < n; ++k) out[k] = g[k] * w;
    } else {
      std::fill(out, out + n, 0.0f);
    }
    offset += n;
  }
  comm_.all_reduce_sum(buffer_.data(), total);  // sum over ranks of w_r * g_r
  offset = 0;
  for (size_t i = first; i < last; ++i) {  // unpack into each parameter's gradient
    Tensor& param = *params_[i].tensor;
    int64_t n = param.numel();
    Tensor host = Tensor::empty(param.shape(), DType::F32, Device::cpu());
    std::memcpy(host.data<float>(), buffer_.data() + offset, static_cast<size_t>(n) * sizeof(float));
    std::shared_ptr<AutogradMeta>& meta = param.autograd_meta();
    ALZ_CHECK(meta != nullptr, "gradient sync: " << params_[i].name << " does not require a gradient");
    if (meta->grad.defined() && !meta->grad.storage_shared()) {
      meta->grad.copy_from(host);
    } else {
      meta->grad = host.to(param.device());
    }
    offset += n;
  }
}

std::unique_ptr<GradientSync> make_gradient_sync(Communicator& comm, std::vector<ParamRef> params,
                                                 std::vector<ParamRef> buffers, Device device, int64_t bucket_bytes) {
  if (!comm.distributed()) return nullptr;
  (void)device;  // the NCCL path (dist/nccl/) takes CUDA devices when built with it
  return std::make_unique<HostGradientSync>(comm, std::move(params), std::move(buffers), bucket_bytes);
}

void broadcast_parameters(Communicator& comm, const std::vector<ParamRef>& params) {
  if (!comm.distributed()) return;
  for (const ParamRef& p : params) {
    Tensor host = p.tensor->to(Device::cpu()).clone();
    comm.broadcast(host.raw_data(), static_cast<int64_t>(host.nbytes()), 0);
    p.tensor->copy_from(host);
  }
}

}  // namespace alz::dist
