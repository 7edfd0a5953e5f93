// Module: the base of every layer and model. A module owns named tensors — trainable weights
// and buffers (BatchNorm moving statistics) — and child modules, and carries three switches:
//   training       train or eval mode (BatchNorm: batch statistics or moving statistics);
//   trainable      Keras's `trainable`: a frozen module's weights get no gradient, and a frozen
//                  BatchNorm runs in inference mode even while training (as in Keras);
//   compute dtype  mixed precision, as Keras's `mixed_bfloat16` policy: the weights keep their
//                  dtype (f32 master weights: what the optimizer updates and checkpoints hold)
//                  and Conv2D and Dense compute in bf16, casting each weight as they use it
//                  (ops::cast: its gradient comes back in f32). BatchNorm's gamma, beta and
//                  statistics stay f32. Unset (the default): the weights' own dtype.
// Every tensor carries its Keras weight name, e.g. "conv2_block1_1_conv/kernel", so that
// checkpoints map onto Keras's by name (models/checkpoint.h).
//
//   for (ParamRef& p : model.parameters()) std::cout << p.name << " " << p.tensor->summary();
//
// Tested in tests/test_layers.cpp.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace alz {

enum class ParamKind : uint8_t { Weight, Buffer };
// How a tensor maps onto Keras's layout: conv kernels are KRSC here and HWIO in Keras.
enum class KerasLayout : uint8_t { Same, ConvKRSC };

struct ParamRef {
  std::string name;  // Keras weight name: "<layer>/<weight>"
  Tensor* tensor;    // the module's own tensor (stable address)
  ParamKind kind;
  KerasLayout layout;
  bool trainable;  // a Weight of a trainable module
};

class Module {
 public:
  explicit Module(std::string name) : name_(std::move(name)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  const std::string& name() const { return name_; }

  // Every weight and buffer of this module and its children, in creation order.
  std::vector<ParamRef> parameters();
  std::vector<ParamRef> trainable_parameters();  // Weights of trainable modules
  int64_t count_parameters(bool trainable_only = false);

  const std::vector<Module*>& children() const { return children_; }  // in creation order (exporters)

  void set_training(bool training);  // this module and its children
  bool training() const { return training_; }
  void set_trainable(bool trainable);  // this module and its children (freezing)
  bool trainable() const { return trainable_; }

  // Mixed precision (above): this module and its children compute in `dtype` (BF16), or in
  // their weights' dtype again after clear_compute_dtype().
  void set_compute_dtype(DType dtype);
  void clear_compute_dtype();
  std::optional<DType> compute_dtype() const { return compute_dtype_; }
  // Inference only: Conv2D and Dense store their weights in the compute dtype, so that no cast
  // runs per forward (batch-1 latency). Not for a model that trains or is saved afterwards.
  virtual void store_weights_in_compute_dtype();

  void to(Device device);  // moves every tensor; weights keep requires_grad = trainable
  void cast(DType dtype);  // converts every tensor (f64 on the CPU for gradient checks)
  void zero_grad();        // drops accumulated gradients

 protected:
  void add_weight(const std::string& weight_name, Tensor& tensor, KerasLayout layout = KerasLayout::Same);
  void add_buffer(const std::string& weight_name, Tensor& tensor);
  void add_child(Module& child);
  // `weight` as a layer computes with it: cast to the compute dtype when one is set (and the
  // weight is defined and floating point), else the weight itself.
  Tensor for_compute(const Tensor& weight) const;

 private:
  struct Entry {
    std::string weight_name;
    Tensor* tensor;
    ParamKind kind;
    KerasLayout layout;
  };
  std::string name_;
  std::vector<Entry> entries_;
  std::vector<Module*> children_;
  bool training_ = true;
  bool trainable_ = true;
  std::optional<DType> compute_dtype_;
};

// Keras's glorot_uniform: U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)).
Tensor glorot_uniform(const Shape& shape, int64_t fan_in, int64_t fan_out, Generator& gen);

}  // namespace alz
