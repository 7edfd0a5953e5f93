// Module bookkeeping (layers/module.h): named weights and buffers, modes, device moves.
#include "layers/module.h"

#include <cmath>

#include "tensor/autograd.h"
#include "tensor/ops.h"

namespace alz {

void Module::add_weight(const std::string& weight_name, Tensor& tensor, KerasLayout layout) {
  tensor.set_requires_grad(trainable_);
  entries_.push_back({weight_name, &tensor, ParamKind::Weight, layout});
}

void Module::add_buffer(const std::string& weight_name, Tensor& tensor) {
  entries_.push_back({weight_name, &tensor, ParamKind::Buffer, KerasLayout::Same});
}

void Module::add_child(Module& child) { children_.push_back(&child); }

std::vector<ParamRef> Module::parameters() {
  std::vector<ParamRef> out;
  for (Entry& e : entries_)
    out.push_back({name_ + "/" + e.weight_name, e.tensor, e.kind, e.layout, e.kind == ParamKind::Weight && trainable_});
  for (Module* child : children_) {
    std::vector<ParamRef> nested = child->parameters();
    out.insert(out.end(), nested.begin(), nested.end());
  }
  return out;
}

std::vector<ParamRef> Module::trainable_parameters() {
  std::vector<ParamRef> out;
  for (ParamRef& p : parameters())
    if (p.trainable) out.push_back(p);
  return out;
}

int64_t Module::count_parameters(bool trainable_only) {
  int64_t total = 0;
  for (ParamRef& p : parameters())
    if (!trainable_only || p.trainable) total += p.tensor->numel();
  return total;
}

void Module::set_training(bool training) {
  training_ = training;
  for (Module* child : children_) child->set_training(training);
}

void Module::set_trainable(bool trainable) {
  trainable_ = trainable;
  for (Entry& e : entries_)
    if (e.kind == ParamKind::Weight) e.tensor->set_requires_grad(trainable);
  for (Module* child : children_) child->set_trainable(trainable);
}

void Module::set_compute_dtype(DType dtype) {
  compute_dtype_ = dtype;
  for (Module* child : children_) child->set_compute_dtype(dtype);
}

void Module::clear_compute_dtype() {
  compute_dtype_.reset();
  for (Module* child : children_) child->clear_compute_dtype();
}

void Module::store_weights_in_compute_dtype() {
  for (Module* child : children_) child->store_weights_in_compute_dtype();
}

Tensor Module::for_compute(const Tensor& weight) const {
  if (!compute_dtype_ || !weight.defined() || weight.dtype() == DType::I32) return weight;
  return ops::cast(weight, *compute_dtype_);
}

void Module::to(Device device) {
  for (Entry& e : entries_) {
    if (e.tensor->device() == device) continue;
    *e.tensor = e.tensor->to(device);
    if (e.kind == ParamKind::Weight) e.tensor->set_requires_grad(trainable_);
  }
  for (Module* child : children_) child->to(device);
}

void Module::cast(DType dtype) {
  for (Entry& e : entries_) {
    if (e.tensor->dtype() == dtype) continue;
    *e.tensor = e.tensor->to(dtype);
    if (e.kind == ParamKind::Weight) e.tensor->set_requires_grad(trainable_);
  }
  for (Module* child : children_) child->cast(dtype);
}

void Module::zero_grad() {
  for (Entry& e : entries_)
    if (e.tensor->autograd_meta()) e.tensor->autograd_meta()->grad = Tensor();
  for (Module* child : children_) child->zero_grad();
}

Tensor glorot_uniform(const Shape& shape, int64_t fan_in, int64_t fan_out, Generator& gen) {
  double limit = std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
  return Tensor::uniform(shape, gen, -limit, limit);
}

}  // namespace alz
