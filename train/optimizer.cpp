// Optimizer, SGD and Adam (train/optimizer.h): parameter bookkeeping, state save/load, and the
// dispatch to the CPU reference loops or the fused CUDA kernels of kernels/optimizer.h.
// CUDA path per step: (re)upload the (param, grad, state, count) table only if a pointer
// changed, [norm partials], prepare (t += 1, clip factor), ONE fused update launch.
// Tested by tests/test_optimizer.cpp and tests/gpu/test_optimizer_gpu.cpp.
#include "train/optimizer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <sstream>

#include "kernels/optimizer.h"
#include "tensor/autograd.h"
#include "tensor/error.h"
#include "tensor/profiler.h"

#if ALZ_HAS_CUDA
#include "kernels/cuda/check.h"
#include "tensor/cuda/context.h"
#include "tensor/cuda_runtime.h"
#endif

namespace alz {

// ---------------------------------------------------------------- the CUDA side state
#if ALZ_HAS_CUDA
struct Optimizer::CudaState {
  static constexpr int kStagingSlots = 4;

  int device = 0;
  cudaStream_t stream = nullptr;
  kernels::OptimizerScalars* scalars = nullptr;  // device
  double* partials = nullptr;                    // device, one per chunk (clipping)
  char* table = nullptr;                         // device: entries, then chunks at chunk_offset
  size_t chunk_offset = 0;
  size_t table_bytes = 0;
  char* staging[kStagingSlots] = {};  // pinned host copies of the table, used round-robin
  cudaEvent_t copied[kStagingSlots] = {};
  bool pending[kStagingSlots] = {};
  int next_slot = 0;
  std::vector<kernels::MultiTensorEntry> uploaded;  // what the device table holds now
  int32_t num_chunks = 0;
  bool has_table = false;
  uint64_t uploads = 0;

  CudaState(int device_index, size_t max_entries, size_t max_chunks) : device(device_index) {
    stream = cuda::context(device).compute_stream;
    chunk_offset = (max_entries * sizeof(kernels::MultiTensorEntry) + 255) / 256 * 256;
    table_bytes = chunk_offset + std::max<size_t>(max_chunks, 1) * sizeof(kernels::MultiTensorChunk);
    scalars = static_cast<kernels::OptimizerScalars*>(cuda::device_allocate(sizeof(kernels::OptimizerScalars), device));
    partials = static_cast<double*>(cuda::device_allocate(std::max<size_t>(max_chunks, 1) * sizeof(double), device));
    table = static_cast<char*>(cuda::device_allocate(table_bytes, device));
    for (int s = 0; s < kStagingSlots; ++s) {
      staging[s] = static_cast<char*>(cuda::pinned_allocate(table_bytes));
      ALZ_CUDA_CHECK(cudaEventCreateWithFlags(&copied[s], cudaEventDisableTiming));
    }
  }

  ~CudaState() {  // teardown only: wait for our work, then give everything back (no throwing)
    for (int s = 0; s < kStagingSlots; ++s) {
      if (copied[s]) {
        if (pending[s]) cudaEventSynchronize(copied[s]);
        cudaEventDestroy(copied[s]);
      }
    }
    cudaStreamSynchronize(stream);
    try {
      for (char* buffer : staging)
        if (buffer) cuda::pinned_free(buffer);
      cuda::device_free(table);
      cuda::device_free(partials);
      cuda::device_free(scalars);
    } catch (...) {
    }
  }

  kernels::MultiTensorEntry* device_entries() const { return reinterpret_cast<kernels::MultiTensorEntry*>(table); }
  kernels::MultiTensorChunk* device_chunks() const {
    return reinterpret_cast<kernels::MultiTensorChunk*>(table + chunk_offset);
  }

  static bool same(const std::vector<kernels::MultiTensorEntry>& a, const std::vector<kernels::MultiTensorEntry>& b) {
    return a.size() == b.size() &&
           (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(kernels::MultiTensorEntry)) == 0);
  }

  // Makes the device table describe `entries`; copies only when it differs from the last one.
  void upload(const std::vector<kernels::MultiTensorEntry>& entries) {
    if (has_table && same(entries, uploaded)) return;
    const std::vector<kernels::MultiTensorChunk> chunks = kernels::multi_tensor_chunks(entries);
    const size_t bytes = chunk_offset + chunks.size() * sizeof(kernels::MultiTensorChunk);
    ALZ_CHECK(bytes <= table_bytes, "optimizer: the gradient table outgrew its buffer (" << bytes << " > "
                                                                                        << table_bytes << " bytes)");
    const int s = next_slot;
    next_slot = (next_slot + 1) % kStagingSlots;
    if (pending[s]) ALZ_CUDA_CHECK(cudaEventSynchronize(copied[s]));  // its copy was queued 4 uploads ago
    if (!entries.empty()) std::memcpy(staging[s], entries.data(), entries.size() * sizeof(kernels::MultiTensorEntry));
    if (!chunks.empty())
      std::memcpy(staging[s] + chunk_offset, chunks.data(), chunks.size() * sizeof(kernels::MultiTensorChunk));
    ALZ_CUDA_CHECK(cudaMemcpyAsync(table, staging[s], bytes, cudaMemcpyHostToDevice, stream));
    ALZ_CUDA_CHECK(cudaEventRecord(copied[s], stream));
    pending[s] = true;
    uploaded = entries;
    num_chunks = static_cast<int32_t>(chunks.size());
    has_table = true;
    ++uploads;
  }
};
#else
struct Optimizer::CudaState {};
#endif

// ---------------------------------------------------------------- Optimizer
namespace {

void check_non_negative(double value, const char* what, const std::string& kind) {
  ALZ_CHECK(std::isfinite(value) && value >= 0.0, kind << " optimizer: " << what << " must be a finite value >= 0, got "
                                                        << value);
}

Tensor host_copy(const Tensor& t) { return t.device().is_cpu() ? t.clone() : t.to(Device::cpu()); }

Tensor scalar_f64(double value) { return Tensor::full({}, value, DType::F64); }

}  // namespace

Optimizer::Optimizer(std::string kind, std::vector<ParamRef> params, std::vector<std::string> state_names,
                     double learning_rate, double clip_global_norm)
    : kind_(std::move(kind)), state_names_(std::move(state_names)), lr_(learning_rate), clip_(clip_global_norm) {
  check_non_negative(learning_rate, "learning_rate", kind_);
  check_non_negative(clip_global_norm, "clip_global_norm", kind_);
  std::set<std::string> names;
  std::set<const Tensor*> tensors;
  bool first = true;
  for (ParamRef& ref : params) {
    if (!ref.trainable) continue;  // frozen: never touched
    ALZ_CHECK(ref.tensor && ref.tensor->defined(), kind_ << " optimizer: parameter '" << ref.name << "' is undefined");
    ALZ_CHECK(names.insert(ref.name).second, kind_ << " optimizer: parameter name '" << ref.name << "' appears twice");
    ALZ_CHECK(tensors.insert(ref.tensor).second, kind_ << " optimizer: parameter '" << ref.name
                                                       << "' is the same tensor as an earlier one");
    const Tensor& p = *ref.tensor;
    if (first) device_ = p.device();
    first = false;
    ALZ_CHECK(p.device() == device_, kind_ << " optimizer: parameter '" << ref.name << "' is on " << p.device().str()
                                           << " but the others are on " << device_.str());
    const bool dtype_ok = p.dtype() == DType::F32 || (device_.is_cpu() && p.dtype() == DType::F64);
    ALZ_CHECK(dtype_ok, kind_ << " optimizer: parameter '" << ref.name << "' is " << dtype_name(p.dtype()) << " on "
                              << device_.str() << " (supported: f32, and f64 on the CPU)");
    Slot slot{ref.name, ref.tensor, {}};
    for (size_t k = 0; k < state_names_.size(); ++k) slot.state.push_back(Tensor::zeros(p.shape(), p.dtype(), device_));
    slots_.push_back(std::move(slot));
  }
#if ALZ_HAS_CUDA
  if (device_.is_cuda()) {
    size_t max_chunks = 0;
    for (const Slot& slot : slots_)
      max_chunks += static_cast<size_t>((slot.param->numel() + kernels::kMultiTensorChunk - 1) / kernels::kMultiTensorChunk);
    cuda_ = std::make_unique<CudaState>(device_.index, slots_.size(), max_chunks);
    kernels::optimizer_set_scalars_cuda(cuda_->scalars, lr_, 0, cuda_->stream);
  }
#endif
}

Optimizer::~Optimizer() = default;

const Tensor* Optimizer::find_grad(const Slot& slot) const {
  const auto& meta = slot.param->autograd_meta();
  if (!meta || !meta->grad.defined()) return nullptr;
  const Tensor& g = meta->grad;
  const Tensor& p = *slot.param;
  ALZ_CHECK(g.numel() == p.numel() && g.dtype() == p.dtype() && g.device() == p.device(),
            kind_ << " optimizer: gradient of '" << slot.name << "' is " << g.summary() << " but the parameter is "
                  << p.summary());
  ALZ_CHECK(p.device() == device_, kind_ << " optimizer: parameter '" << slot.name << "' moved to "
                                         << p.device().str() << " after the optimizer was built on " << device_.str());
  return &g;
}

void Optimizer::step() {
  profiler::Range range("optimizer.step", slots_.empty() ? Tensor() : *slots_.front().param);
  if (device_.is_cuda())
    step_cuda();
  else
    step_cpu();
}

void Optimizer::step_cpu() {
  ++step_;
  double grad_scale = 1.0;
  if (clip_ > 0.0) {
    double total = 0.0;
    for (const Slot& slot : slots_) {
      const Tensor* g = find_grad(slot);
      if (!g) continue;
      total += g->dtype() == DType::F64 ? kernels::sum_squares_cpu(g->data<double>(), g->numel())
                                        : kernels::sum_squares_cpu(g->data<float>(), g->numel());
    }
    last_norm_ = std::sqrt(total);
    grad_scale = kernels::clip_factor(last_norm_, clip_);
  }
  for (Slot& slot : slots_) {
    const Tensor* g = find_grad(slot);
    if (g) update_cpu(slot, *g, grad_scale);
  }
}

void Optimizer::step_cuda() {
#if ALZ_HAS_CUDA
  std::vector<kernels::MultiTensorEntry> entries;
  entries.reserve(slots_.size());
  for (Slot& slot : slots_) {
    const Tensor* g = find_grad(slot);
    if (!g) continue;  // skipped this step: not in the table
    entries.push_back({slot.param->data<float>(), g->data<float>(),
                       slot.state.size() > 0 ? slot.state[0].data<float>() : nullptr,
                       slot.state.size() > 1 ? slot.state[1].data<float>() : nullptr, slot.param->numel()});
  }
  cuda_->upload(entries);
  const double* partials = nullptr;
  if (clip_ > 0.0) {
    kernels::grad_sq_norm_partials_cuda(cuda_->device_entries(), cuda_->device_chunks(), cuda_->num_chunks,
                                        cuda_->partials, cuda_->stream);
    partials = cuda_->partials;
  }
  update_cuda(cuda_->device_entries(), cuda_->device_chunks(), cuda_->num_chunks, partials, cuda_->scalars,
              cuda_->stream);
  ++step_;
#else
  ALZ_FAIL(kind_ << " optimizer: parameters on " << device_.str() << " in a build without CUDA");
#endif
}

void Optimizer::zero_grad() {
  for (Slot& slot : slots_)
    if (slot.param->autograd_meta()) slot.param->autograd_meta()->grad = Tensor();
}

void Optimizer::set_learning_rate(double lr) {
  check_non_negative(lr, "learning_rate", kind_);
  lr_ = lr;
#if ALZ_HAS_CUDA
  if (cuda_) kernels::optimizer_set_learning_rate_cuda(cuda_->scalars, lr_, cuda_->stream);
#endif
}

double Optimizer::last_grad_norm() const {
#if ALZ_HAS_CUDA
  if (cuda_) {
    double norm = -1.0;
    cuda::copy_sync(&norm, &cuda_->scalars->grad_norm, sizeof norm);  // ordered after the step
    return norm;
  }
#endif
  return last_norm_;
}

uint64_t Optimizer::table_uploads() const {
#if ALZ_HAS_CUDA
  if (cuda_) return cuda_->uploads;
#endif
  return 0;
}

std::vector<NamedTensor> Optimizer::state() const {
  std::vector<NamedTensor> out;
  out.push_back({kind_ + "/step", scalar_f64(static_cast<double>(step_))});
  out.push_back({kind_ + "/learning_rate", scalar_f64(lr_)});
  for (size_t k = 0; k < state_names_.size(); ++k)
    for (const Slot& slot : slots_) out.push_back({kind_ + "/" + state_names_[k] + "/" + slot.name, host_copy(slot.state[k])});
  return out;
}

void Optimizer::load_state(const std::vector<NamedTensor>& state) {
  const std::string prefix = kind_ + "/";
  std::map<std::string, const Tensor*> given;
  for (const NamedTensor& nt : state)
    if (nt.name.compare(0, prefix.size(), prefix) == 0) given[nt.name] = &nt.tensor;  // others: not ours

  std::ostringstream problems;
  auto take = [&](const std::string& name) -> const Tensor* {
    auto it = given.find(name);
    if (it == given.end()) {
      problems << "\n  missing '" << name << "'";
      return nullptr;
    }
    const Tensor* t = it->second;
    given.erase(it);
    return t;
  };
  auto scalar = [&](const std::string& name, double& value) {
    const Tensor* t = take(name);
    if (!t) return false;
    if (!t->defined() || t->numel() != 1) {
      problems << "\n  '" << name << "' must hold one value, got " << (t->defined() ? t->summary() : "undefined");
      return false;
    }
    value = t->to_vector()[0];
    return true;
  };
  double step = 0.0, lr = 0.0;
  const bool has_step = scalar(prefix + "step", step);
  const bool has_lr = scalar(prefix + "learning_rate", lr);
  if (has_step && !(step >= 0.0 && step == std::floor(step) && step < 9.0e15))
    problems << "\n  '" << prefix << "step' must be a whole number >= 0, got " << step;
  if (has_lr && !(std::isfinite(lr) && lr >= 0.0))
    problems << "\n  '" << prefix << "learning_rate' must be finite and >= 0, got " << lr;
  std::vector<std::pair<Tensor*, const Tensor*>> copies;
  for (size_t k = 0; k < state_names_.size(); ++k) {
    for (Slot& slot : slots_) {
      const std::string name = prefix + state_names_[k] + "/" + slot.name;
      const Tensor* t = take(name);
      if (!t) continue;
      if (!t->defined() || t->shape() != slot.param->shape() || t->dtype() != slot.param->dtype()) {
        problems << "\n  '" << name << "' is " << (t->defined() ? t->summary() : "undefined") << ", expected "
                 << shape_str(slot.param->shape()) << " " << dtype_name(slot.param->dtype());
        continue;
      }
      copies.emplace_back(&slot.state[k], t);
    }
  }
  for (const auto& [name, t] : given) problems << "\n  unexpected '" << name << "' (no such parameter or state here)";
  const std::string text = problems.str();
  ALZ_CHECK(text.empty(), kind_ << " optimizer: cannot load the saved state:" << text);

  for (auto& [dst, src] : copies) dst->copy_from(*src);
  step_ = static_cast<int64_t>(step);
  lr_ = lr;
#if ALZ_HAS_CUDA
  if (cuda_) kernels::optimizer_set_scalars_cuda(cuda_->scalars, lr_, step_, cuda_->stream);
#endif
}

// ---------------------------------------------------------------- SGD
namespace {

kernels::SgdHyper sgd_hyper(const SgdOptions& o) { return {o.momentum, o.nesterov, o.weight_decay}; }
kernels::AdamHyper adam_hyper(const AdamOptions& o) {
  return {o.beta1, o.beta2, o.epsilon, o.weight_decay, o.decoupled};
}

std::vector<std::string> sgd_state_names(const SgdOptions& o) {
  return o.momentum != 0.0 ? std::vector<std::string>{"velocity"} : std::vector<std::string>{};
}

const SgdOptions& checked(const SgdOptions& o) {
  ALZ_CHECK(std::isfinite(o.momentum) && o.momentum >= 0.0 && o.momentum < 1.0,
            "sgd optimizer: momentum must be in [0, 1), got " << o.momentum);
  ALZ_CHECK(!o.nesterov || o.momentum > 0.0, "sgd optimizer: nesterov needs momentum > 0");
  check_non_negative(o.weight_decay, "weight_decay", "sgd");
  return o;
}

const AdamOptions& checked(const AdamOptions& o) {
  ALZ_CHECK(std::isfinite(o.beta1) && o.beta1 >= 0.0 && o.beta1 < 1.0, "adam optimizer: beta1 must be in [0, 1), got "
                                                                           << o.beta1);
  ALZ_CHECK(std::isfinite(o.beta2) && o.beta2 >= 0.0 && o.beta2 < 1.0, "adam optimizer: beta2 must be in [0, 1), got "
                                                                           << o.beta2);
  ALZ_CHECK(std::isfinite(o.epsilon) && o.epsilon > 0.0, "adam optimizer: epsilon must be > 0, got " << o.epsilon);
  check_non_negative(o.weight_decay, "weight_decay", "adam");
  return o;
}

}  // namespace

SGD::SGD(std::vector<ParamRef> params, SgdOptions options)
    : Optimizer("sgd", std::move(params), sgd_state_names(checked(options)), options.learning_rate,
                options.clip_global_norm),
      options_(options) {}

void SGD::update_cpu(Slot& slot, const Tensor& grad, double grad_scale) {
  const kernels::SgdHyper hyper = sgd_hyper(options_);
  Tensor& p = *slot.param;
  if (p.dtype() == DType::F64) {
    kernels::sgd_step_cpu(p.data<double>(), grad.data<double>(), slot.state.empty() ? nullptr : slot.state[0].data<double>(),
                          p.numel(), kernels::sgd_scalars<double>(learning_rate(), hyper, grad_scale));
  } else {
    kernels::sgd_step_cpu(p.data<float>(), grad.data<float>(), slot.state.empty() ? nullptr : slot.state[0].data<float>(),
                          p.numel(), kernels::sgd_scalars<float>(learning_rate(), hyper, grad_scale));
  }
}

// ---------------------------------------------------------------- Adam
Adam::Adam(std::vector<ParamRef> params, AdamOptions options)
    : Optimizer("adam", std::move(params), {"m", "v"}, checked(options).learning_rate, options.clip_global_norm),
      options_(options) {}

void Adam::update_cpu(Slot& slot, const Tensor& grad, double grad_scale) {
  const kernels::AdamHyper hyper = adam_hyper(options_);
  Tensor& p = *slot.param;
  if (p.dtype() == DType::F64) {
    kernels::adam_step_cpu(p.data<double>(), grad.data<double>(), slot.state[0].data<double>(),
                           slot.state[1].data<double>(), p.numel(),
                           kernels::adam_scalars<double>(learning_rate(), hyper, step_count(), grad_scale));
  } else {
    kernels::adam_step_cpu(p.data<float>(), grad.data<float>(), slot.state[0].data<float>(), slot.state[1].data<float>(),
                           p.numel(), kernels::adam_scalars<float>(learning_rate(), hyper, step_count(), grad_scale));
  }
}

#if ALZ_HAS_CUDA
void SGD::update_cuda(const kernels::MultiTensorEntry* entries, const kernels::MultiTensorChunk* chunks,
                      int32_t num_chunks, const double* partials, kernels::OptimizerScalars* scalars,
                      cudaStream_t stream) {
  kernels::sgd_prepare_cuda(scalars, sgd_hyper(options_), partials, num_chunks, clip_global_norm(), stream);
  kernels::sgd_multi_tensor_cuda(entries, chunks, num_chunks, scalars, stream);
}

void Adam::update_cuda(const kernels::MultiTensorEntry* entries, const kernels::MultiTensorChunk* chunks,
                       int32_t num_chunks, const double* partials, kernels::OptimizerScalars* scalars,
                       cudaStream_t stream) {
  kernels::adam_prepare_cuda(scalars, adam_hyper(options_), partials, num_chunks, clip_global_norm(), stream);
  kernels::adam_multi_tensor_cuda(entries, chunks, num_chunks, scalars, stream);
}
#endif

}  // namespace alz
