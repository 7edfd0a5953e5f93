// The host all-reduce of gradients and the initial broadcast (dist/gradient_sync.h).
// Buckets (BucketPlan): in backward order, launched in order as their gradients complete.
// Per bucket: copy each gradient (zeros where a parameter has none) into one f32 host buffer,
// scaled by this rank's share w_r; MPI_Allreduce sums the buffer over ranks in place; copy back.
// The sum of a float over ranks is the same on every rank (MPI's reduction of the same
// operands; with two ranks a + b = b + a exactly), so the replicas stay bit-identical.
// Tested under mpirun by tests/dist/: ctest --test-dir build -R Dist
#include "dist/gradient_sync.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/error.h"
#include "tensor/autograd.h"

namespace alz::dist {

BackwardOverlap::BackwardOverlap(GradientSync* sync) {
  if (sync) scope_.emplace([sync](const AutogradMeta& leaf) { sync->gradient_ready(leaf); });
}

BucketPlan::BucketPlan(const std::vector<ParamRef>& params, int64_t bucket_bytes) {
  const int64_t bucket_elements = std::max<int64_t>(bucket_bytes / static_cast<int64_t>(sizeof(float)), 1);
  bucket_of_.resize(params.size());
  for (size_t k = params.size(); k-- > 0;) {  // backward order: the last layer's gradients come first
    const int64_t n = params[k].tensor->numel();
    if (buckets_.empty() || (!buckets_.back().params.empty() && buckets_.back().elements + n > bucket_elements))
      buckets_.emplace_back();
    buckets_.back().params.push_back(k);
    buckets_.back().elements += n;
    bucket_of_[k] = buckets_.size() - 1;
    const std::shared_ptr<AutogradMeta>& meta = params[k].tensor->autograd_meta();
    ALZ_CHECK(meta != nullptr, "gradient sync: " << params[k].name << " does not require a gradient");
    param_of_[meta.get()] = k;
    names_.push_back(params[k].name);
  }
  std::reverse(names_.begin(), names_.end());
  reset();
}

void BucketPlan::reset() {
  ready_.assign(bucket_of_.size(), false);
  missing_.clear();
  for (const Bucket& b : buckets_) missing_.push_back(b.params.size());
  next_launch_ = 0;
}

std::vector<size_t> BucketPlan::mark_ready(const AutogradMeta& leaf) {
  auto it = param_of_.find(&leaf);
  if (it == param_of_.end()) return {};
  const size_t k = it->second;
  ALZ_CHECK(!ready_[k], "gradient sync: " << names_[k]
                                          << " received a second gradient in one step after its bucket was complete; "
                                             "overlapped synchronisation needs each parameter used once per step");
  ready_[k] = true;
  --missing_[bucket_of_[k]];
  std::vector<size_t> launch;
  while (next_launch_ < buckets_.size() && missing_[next_launch_] == 0) launch.push_back(next_launch_++);
  return launch;
}

std::vector<size_t> BucketPlan::launch_rest() {
  std::vector<size_t> launch;
  while (next_launch_ < buckets_.size()) launch.push_back(next_launch_++);
  return launch;
}

std::vector<ParamRef> synchronised_parameters(std::vector<ParamRef> params) {
  std::erase_if(params, [](const ParamRef& p) { return !p.trainable; });
  for (const ParamRef& p : params)
    ALZ_CHECK(p.tensor->dtype() == DType::F32 && p.tensor->device() == params.front().tensor->device(),
              "data-parallel training needs f32 parameters on one device; " << p.name << " is " << p.tensor->summary());
  return params;
}

HostGradientSync::HostGradientSync(Communicator& comm, std::vector<ParamRef> params, std::vector<ParamRef> buffers,
                                   int64_t bucket_bytes)
    : comm_(comm),
      params_(synchronised_parameters(std::move(params))),
      buffers_(std::move(buffers)),
      plan_(params_, bucket_bytes) {}

void HostGradientSync::begin_step(double weight) {
  weight_ = weight;
  plan_.reset();
}

void HostGradientSync::gradient_ready(const AutogradMeta& leaf) {
  for (size_t bucket : plan_.mark_ready(leaf)) reduce_bucket(bucket);
}

void HostGradientSync::finish_step() {
  for (size_t bucket : plan_.launch_rest()) reduce_bucket(bucket);
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

void HostGradientSync::reduce_bucket(size_t bucket) {
  const std::vector<size_t>& members = plan_.buckets()[bucket].params;
  int64_t total = 0;
  for (size_t i : members) total += params_[i].tensor->numel();
  buffer_.resize(static_cast<size_t>(total));
  const float w = static_cast<float>(weight_);
  int64_t offset = 0;
  for (size_t i : members) {  // pack: w_r * g (zeros without a gradient)
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
  for (size_t i : members) {  // unpack into each parameter's gradient
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
                                                 std::vector<ParamRef> buffers, Device device, int64_t bucket_bytes,
                                                 bool force) {
  if (!comm.distributed() && !force) return nullptr;
  const char* backend = std::getenv("ALZ_DIST_BACKEND");
  const bool host_forced = backend != nullptr && std::string(backend) == "mpi";
  if (device.is_cuda() && !host_forced)
    if (std::unique_ptr<GradientSync> nccl = make_nccl_gradient_sync(comm, params, buffers, device, bucket_bytes))
      return nccl;
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
