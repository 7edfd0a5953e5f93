// Optimizer, SGD and Adam (optim/optimizer.h): parameter bookkeeping, state save/load, and the
// CPU reference loops of kernels/optimizer.h. The CUDA path (the device table and the fused
// launches) is optim/cuda/optimizer_cuda.cpp.
// Tested by tests/test_optimizer.cpp and tests/gpu/test_optimizer_gpu.cpp.
#include "optim/optimizer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <sstream>

#include "core/error.h"
#include "kernels/optimizer.h"
#include "optim/detail/device_step.h"
#include "tensor/autograd.h"
#include "tensor/profiler.h"

namespace alz {

// ---------------------------------------------------------------- Optimizer
namespace {

void check_non_negative(double value, const char* what, const std::string& kind) {
  ALZ_CHECK(std::isfinite(value) && value >= 0.0,
            kind << " optimizer: " << what << " must be a finite value >= 0, got " << value);
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
    ALZ_CHECK(tensors.insert(ref.tensor).second,
              kind_ << " optimizer: parameter '" << ref.name << "' is the same tensor as an earlier one");
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
  if (device_.is_cuda()) make_cuda_state();
}

const Tensor* Optimizer::find_grad(const Slot& slot) const {
  const auto& meta = slot.param->autograd_meta();
  if (!meta || !meta->grad.defined()) return nullptr;
  const Tensor& g = meta->grad;
  const Tensor& p = *slot.param;
  ALZ_CHECK(g.numel() == p.numel() && g.dtype() == p.dtype() && g.device() == p.device(),
            kind_ << " optimizer: gradient of '" << slot.name << "' is " << g.summary() << " but the parameter is "
                  << p.summary());
  ALZ_CHECK(p.device() == device_, kind_ << " optimizer: parameter '" << slot.name << "' moved to " << p.device().str()
                                         << " after the optimizer was built on " << device_.str());
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

void Optimizer::zero_grad() {
  for (Slot& slot : slots_)
    if (slot.param->autograd_meta()) slot.param->autograd_meta()->grad = Tensor();
}

void Optimizer::set_learning_rate(double lr) {
  check_non_negative(lr, "learning_rate", kind_);
  lr_ = lr;
  if (cuda_) upload_scalars_cuda(/*with_step=*/false);
}

std::vector<NamedTensor> Optimizer::state() const {
  std::vector<NamedTensor> out;
  out.push_back({kind_ + "/step", scalar_f64(static_cast<double>(step_))});
  out.push_back({kind_ + "/learning_rate", scalar_f64(lr_)});
  for (size_t k = 0; k < state_names_.size(); ++k)
    for (const Slot& slot : slots_)
      out.push_back({kind_ + "/" + state_names_[k] + "/" + slot.name, host_copy(slot.state[k])});
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
  if (cuda_) upload_scalars_cuda(/*with_step=*/true);
}

// ---------------------------------------------------------------- SGD
namespace {

std::vector<std::string> sgd_state_names(const SgdOptions& o) {
  return o.momentum != 0.0 ? std::vector<std::string>{"velocity"} : std::vector<std::string>{};
}

const SgdOptions& checked(const SgdOptions& o) {
  ALZ_CHECK(std::isfinite(o.momentum) && o.momentum >= 0.0 && o.momentum < 1.0,
            "sgd optimizer: momentum must be in [0, 1), got " << o.momentum);
  ALZ_CHECK(!o.nesterov || o.momentum > 0.0, "sgd optimizer: nesterov needs momentum > 0");
  check_non_negative(o.weight_decay, "weight_decay", "sgd");
  check_non_negative(o.l2, "l2", "sgd");
  return o;
}

const AdamOptions& checked(const AdamOptions& o) {
  ALZ_CHECK(std::isfinite(o.beta1) && o.beta1 >= 0.0 && o.beta1 < 1.0,
            "adam optimizer: beta1 must be in [0, 1), got " << o.beta1);
  ALZ_CHECK(std::isfinite(o.beta2) && o.beta2 >= 0.0 && o.beta2 < 1.0,
            "adam optimizer: beta2 must be in [0, 1), got " << o.beta2);
  ALZ_CHECK(std::isfinite(o.epsilon) && o.epsilon > 0.0, "adam optimizer: epsilon must be > 0, got " << o.epsilon);
  check_non_negative(o.weight_decay, "weight_decay", "adam");
  check_non_negative(o.l2, "l2", "adam");
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
    kernels::sgd_step_cpu(p.data<double>(), grad.data<double>(),
                          slot.state.empty() ? nullptr : slot.state[0].data<double>(), p.numel(),
                          kernels::sgd_scalars<double>(learning_rate(), hyper, grad_scale));
  } else {
    kernels::sgd_step_cpu(p.data<float>(), grad.data<float>(),
                          slot.state.empty() ? nullptr : slot.state[0].data<float>(), p.numel(),
                          kernels::sgd_scalars<float>(learning_rate(), hyper, grad_scale));
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
    kernels::adam_step_cpu(p.data<float>(), grad.data<float>(), slot.state[0].data<float>(),
                           slot.state[1].data<float>(), p.numel(),
                           kernels::adam_scalars<float>(learning_rate(), hyper, step_count(), grad_scale));
  }
}

}  // namespace alz
