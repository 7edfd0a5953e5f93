// Optimizers over a model's trainable parameters: SGD (momentum, Nesterov) and Adam (Keras
// defaults and Keras's epsilon placement), each with Keras's decoupled weight decay, an optional
// coupled L2 term and optional global-norm gradient clipping. The formulas are written out in
// kernels/optimizer.h:
//   SGD   vel = momentum * vel - lr * g;  p += vel  (Nesterov: p += momentum * vel - lr * g)
//   Adam  p -= lr * sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + epsilon)
//   clip  g *= min(1, clip_global_norm / (global_norm + 1e-6))
//
// Weight decay follows Keras 3, which applies every optimizer's `weight_decay` decoupled:
// before each update, p -= lr * weight_decay * p, with the step's learning rate, on every kept
// parameter (Keras decays every variable unless told to exclude some). Keras's AdamW is Adam
// with this term (and a default weight_decay of 0.004), so here `Adam` with weight_decay > 0 IS
// AdamW: `alz train --optimizer adamw` and `--optimizer adam --weight-decay` are the same rule.
// The older coupled form, which adds the decay to the gradient (g += l2 * p, i.e. the gradient
// of an l2/2 * |p|^2 penalty; Keras's kernel_regularizer=L2(l2 / 2)), is the separate `l2`
// option. With momentum or Adam the two differ: coupled L2 is rescaled by Adam's 1/sqrt(v) and
// carried in the velocity, the decoupled decay is not. Both are 0 by default.
//
// The loss these optimizers descend (train/, tensor/ops_loss.cpp) is the cross-entropy of the
// logits. Keras's cross-entropy on probabilities (from_logits=False, as behind the softmax head
// of keras.applications) clips them to [1e-7, 1 - 1e-7] first, so a saturated sample gets a zero
// gradient there; alz's does not (see tensor/ops_loss.cpp): a deliberate difference.
//
//   Adam adam(model.trainable_parameters(), AdamOptions{.learning_rate = 1e-3});
//   for (...) { adam.zero_grad(); backward(loss(model(x))); adam.step(); }
//   save_safetensors(path, adam.state());   ...   adam.load_state(load_safetensors(path).tensors);
//
// Which parameters: the constructor keeps the ParamRefs with `trainable` true (frozen ones are
// never touched) and creates their state (zeros, same device and dtype). At each step a kept
// parameter whose grad() is undefined is skipped: its value and state stay as they are; t is
// the optimizer's global step count and advances on every step() (as Keras's `iterations`).
// Build the optimizer after the model is on its device and in its dtype.
//
// Devices: every parameter on one device. CPU: f32 or f64, the reference loops. CUDA: f32,
// one fused multi-tensor launch per step (plus a one-block prepare kernel, and one norm
// kernel when clipping); the learning rate and t live in device memory, so step() never
// synchronises with the host. The device table of (param, grad, state, count) is uploaded
// only when a pointer changes (a gradient reallocated after zero_grad(), say); an upload goes
// through a ring of pinned staging buffers and waits only for an upload four tables back.
// Everything runs on the device's compute stream (tensor/cuda/context.h). step() may be
// captured in a CUDA graph (tensor/cuda_graph.h): the captured step reads a parameter table owned
// by the graph and the learning rate and t from device memory, so set_learning_rate before a
// replay is what that replay uses; a step() inside a capture runs nothing and does not count,
// and the caller counts each replay with count_replayed_step(). The CUDA side (the
// table, its staging buffers, the launches) lives in optim/cuda/optimizer_cuda.cpp; this header
// shows no CUDA type.
//
// Saved state (std::vector<NamedTensor>, host copies, for tensor/safetensors.h; weight decay
// and l2 add none, so files saved before they changed load unchanged):
//   "<kind>/step", "<kind>/learning_rate"         0-d f64 scalars
//   "adam/m/<param name>", "adam/v/<param name>"  (Adam);  "sgd/velocity/<param name>" (SGD
//                                                 with momentum), same shape and dtype as p
// Loading them into an optimizer over the same parameters resumes bit-exactly.
//
// Tested by tests/test_optimizer.cpp and tests/gpu/test_optimizer_gpu.cpp:
//   ctest --test-dir build -R Optimizer
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "layers/module.h"
#include "tensor/safetensors.h"
#include "tensor/tensor.h"

namespace alz {

struct DeviceStep;  // what a fused CUDA update needs (optim/detail/device_step.h)

struct SgdOptions {
  double learning_rate = 0.01;  // Keras default
  double momentum = 0.0;
  bool nesterov = false;
  double weight_decay = 0.0;      // decoupled, as Keras: p -= lr * weight_decay * p before the update
  double l2 = 0.0;                // coupled L2: g += l2 * p
  double clip_global_norm = 0.0;  // > 0: clip the global gradient norm to this
};

struct AdamOptions {
  double learning_rate = 1e-3;  // Keras defaults
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-7;
  double weight_decay = 0.0;      // decoupled, as Keras (AdamW): p -= lr * weight_decay * p first
  double l2 = 0.0;                // coupled L2: g += l2 * p
  double clip_global_norm = 0.0;  // > 0: clip the global gradient norm to this
};

class Optimizer {
 public:
  virtual ~Optimizer();
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every kept parameter that has a gradient.
  virtual void step();
  // Drops the gradients of the kept parameters (grad becomes undefined).
  void zero_grad();

  void set_learning_rate(double lr);  // used by the next step()
  double learning_rate() const { return lr_; }
  int64_t step_count() const { return step_; }  // steps taken (t of the last step)
  // A replay of a CUDA graph that captured step() ran one more update (t advanced on the
  // device): counts it on the host too.
  void count_replayed_step() { ++step_; }

  // Global gradient norm of the last step (clipping on); -1 before the first step or without
  // clipping. On CUDA this reads device memory and waits for the step: for logging only.
  double last_grad_norm() const;

  std::vector<NamedTensor> state() const;                  // host copies: a snapshot
  void load_state(const std::vector<NamedTensor>& state);  // throws alz::Error on any mismatch

  const std::string& kind() const { return kind_; }  // "sgd" or "adam"
  Device device() const { return device_; }
  size_t num_parameters() const { return slots_.size(); }  // the kept (trainable) ones
  uint64_t table_uploads() const;                          // CUDA: device-table uploads so far (0 on the CPU)

 protected:
  struct Slot {
    std::string name;
    Tensor* param;
    std::vector<Tensor> state;  // per state name, same shape/dtype/device as *param
  };
  Optimizer(std::string kind, std::vector<ParamRef> params, std::vector<std::string> state_names, double learning_rate,
            double clip_global_norm);

  // One CPU update of a parameter with gradient g, scaled by grad_scale; t = step_count().
  virtual void update_cpu(Slot& slot, const Tensor& grad, double grad_scale) = 0;
  // Queues this rule's prepare kernel (t += 1, clip factor from the norm partials) and its one
  // fused update over the device table (optim/detail/device_step.h).
  virtual void update_cuda(const DeviceStep& step) = 0;
  double clip_global_norm() const { return clip_; }

 private:
  struct CudaState;  // optim/cuda/optimizer_cuda.cpp
  struct CudaStateDeleter {
    void operator()(CudaState* state) const;  // defined beside CudaState
  };
  void step_cpu();
  // The CUDA side (optim/cuda/optimizer_cuda.cpp; optim/no_cuda/ without the toolkit).
  void make_cuda_state();
  void step_cuda();
  void upload_scalars_cuda(bool with_step);         // the learning rate (and t) into device memory
  const Tensor* find_grad(const Slot& slot) const;  // nullptr when undefined

  std::string kind_;
  std::vector<std::string> state_names_;
  std::vector<Slot> slots_;
  Device device_;
  double lr_;
  double clip_;
  int64_t step_ = 0;
  double last_norm_ = -1.0;  // CPU
  std::unique_ptr<CudaState, CudaStateDeleter> cuda_;
};

class SGD : public Optimizer {
 public:
  SGD(std::vector<ParamRef> params, SgdOptions options = {});
  const SgdOptions& options() const { return options_; }

 protected:
  void update_cpu(Slot& slot, const Tensor& grad, double grad_scale) override;
  void update_cuda(const DeviceStep& step) override;

 private:
  SgdOptions options_;
};

class Adam : public Optimizer {
 public:
  Adam(std::vector<ParamRef> params, AdamOptions options = {});
  const AdamOptions& options() const { return options_; }

 protected:
  void update_cpu(Slot& slot, const Tensor& grad, double grad_scale) override;
  void update_cuda(const DeviceStep& step) override;

 private:
  AdamOptions options_;
};

}  // namespace alz
