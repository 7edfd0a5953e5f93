// The autograd tape (tensor/autograd.h): recording, backward, release.
#include "tensor/autograd.h"

#include <algorithm>
#include <utility>

#include "core/error.h"
#include "tensor/grad_mode.h"
#include "tensor/profiler.h"

namespace alz {

namespace {

thread_local bool t_grad_enabled = true;

// This thread's tape: weak references, so a graph nobody can reach any more disappears on
// its own; the strong references run from outputs to their nodes to the inputs' metas.
thread_local std::vector<std::weak_ptr<Node>> t_tape;

// The node whose backward function runs now on this thread (pending_gradient_of_input).
thread_local Node* t_running_node = nullptr;
class RunningNode {
 public:
  explicit RunningNode(Node* node) : previous_(t_running_node) { t_running_node = node; }
  ~RunningNode() { t_running_node = previous_; }
  RunningNode(const RunningNode&) = delete;
  RunningNode& operator=(const RunningNode&) = delete;

 private:
  Node* previous_;
};

void prune_tape() {
  t_tape.erase(std::remove_if(t_tape.begin(), t_tape.end(), [](const auto& weak) { return weak.expired(); }),
               t_tape.end());
}

// Sums a contribution into a pending gradient. The first contribution is kept as it is, even
// when another input got the same tensor (add hands dy to both of its inputs); a later one is
// added in place, after copying the slot first if some other tensor still holds its buffer.
// In a residual block the sharer (the branch's own gradient) is usually released by the time
// the second contribution arrives, so no copy is made.
void add_gradient(Tensor& slot, Tensor gradient) {
  if (!slot.defined()) {
    slot = std::move(gradient);
    return;
  }
  if (slot.storage_shared()) slot = slot.clone();
  accumulate_into(slot, gradient);
}

}  // namespace

bool grad_enabled() { return t_grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(t_grad_enabled) { t_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { t_grad_enabled = previous_; }
EnableGradGuard::EnableGradGuard() : previous_(t_grad_enabled) { t_grad_enabled = true; }
EnableGradGuard::~EnableGradGuard() { t_grad_enabled = previous_; }

bool Tensor::requires_grad() const { return autograd_ && autograd_->requires_grad; }

Tensor& Tensor::set_requires_grad(bool flag) {
  ALZ_CHECK(!(autograd_ && autograd_->grad_fn),
            "set_requires_grad on a result of an op (" << summary() << "); only leaves take it");
  if (!autograd_) autograd_ = std::make_shared<AutogradMeta>();
  autograd_->requires_grad = flag;
  return *this;
}

Tensor Tensor::grad() const { return autograd_ ? autograd_->grad : Tensor(); }

namespace {
thread_local LeafGradientHook t_leaf_hook;
}

LeafGradientHookScope::LeafGradientHookScope(LeafGradientHook hook) : previous_(std::move(t_leaf_hook)) {
  t_leaf_hook = std::move(hook);
}
LeafGradientHookScope::~LeafGradientHookScope() { t_leaf_hook = std::move(previous_); }

bool needs_record(std::initializer_list<const Tensor*> inputs) {
  if (!t_grad_enabled) return false;
  for (const Tensor* input : inputs)
    if (input && input->defined() && input->requires_grad()) return true;
  return false;
}

void record(const std::string& name, Tensor& output, std::initializer_list<const Tensor*> inputs,
            BackwardFunction backward_fn) {
  auto node = std::make_shared<Node>();
  node->name = name;
  for (const Tensor* input : inputs) {
    bool wants = input && input->defined() && input->requires_grad();
    node->inputs.push_back(wants ? input->autograd_meta() : nullptr);
  }
  node->backward = std::move(backward_fn);
  node->output_shape = output.shape();
  node->output_dtype = output.dtype();
  auto meta = std::make_shared<AutogradMeta>();
  meta->requires_grad = true;
  meta->grad_fn = node;
  output.autograd_meta() = meta;
  if (t_tape.size() >= 4096 && t_tape.size() % 4096 == 0) prune_tape();
  t_tape.push_back(node);
}

void backward(const Tensor& root) {
  ALZ_CHECK(root.defined() && root.numel() == 1,
            "backward(loss) needs a scalar; got " << root.summary() << " (use backward(tensor, grad))");
  Tensor one = Tensor::ones(root.shape(), root.dtype(), root.device());
  backward(root, one);
}

void backward(const Tensor& root, const Tensor& grad) {
  ALZ_CHECK(root.requires_grad(), "backward on " << root.summary() << ", which needs no gradient");
  check_same_shape(root, grad, "backward");
  check_same_dtype(root, grad, "backward");
  check_same_device(root, grad, "backward");
  const auto& meta = root.autograd_meta();
  if (!meta->grad_fn) {  // a leaf: its gradient is the given one
    add_gradient(meta->grad, grad.clone());
    return;
  }
  ALZ_CHECK(!meta->grad_fn->released, "backward through '" << meta->grad_fn->name
                                                           << "' a second time: the graph was released by the first "
                                                           << "backward (compute the forward again)");
  meta->grad_fn->grad_output = grad.clone();  // the caller keeps its tensor

  // Reverse order of recording is a topological order: every consumer comes after its producer.
  // A node is part of this backward when a gradient reached it; it runs once, and right after
  // it has run it drops what it saved and its pending gradient, so memory falls as backward
  // proceeds. Nodes of other graphs on the tape are left alone. The nodes are held here for the
  // walk: a node's only owner may be its consumer, which lets go of its inputs once it has run.
  std::vector<std::shared_ptr<Node>> nodes;
  nodes.reserve(t_tape.size());
  for (const auto& weak : t_tape)
    if (std::shared_ptr<Node> node = weak.lock()) nodes.push_back(std::move(node));
  for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
    Node* node = it->get();
    if (node->released || !node->grad_output.defined()) continue;
    std::vector<Tensor> input_grads;
    {
      const std::string range_name = node->name + ".backward";
      profiler::Range range(range_name.c_str(), node->grad_output);
      RunningNode running(node);
      input_grads = node->backward(node->grad_output);
    }
    ALZ_CHECK(input_grads.size() == node->inputs.size(), "backward of '" << node->name << "' returned "
                                                                         << input_grads.size() << " gradients for "
                                                                         << node->inputs.size() << " inputs");
    node->grad_output = Tensor();  // before the hand-over: a slot sharing it need not be copied
    for (size_t i = 0; i < node->inputs.size(); ++i) {
      const auto& input = node->inputs[i];
      if (!input || !input_grads[i].defined()) continue;
      if (input->grad_fn) {
        ALZ_CHECK(!input->grad_fn->released, "backward reached '" << input->grad_fn->name
                                                                  << "', whose graph an earlier backward already "
                                                                  << "released (compute the forward again)");
        add_gradient(input->grad_fn->grad_output, std::move(input_grads[i]));
      } else if (input->requires_grad) {
        add_gradient(input->grad, std::move(input_grads[i]));
        if (t_leaf_hook) t_leaf_hook(*input);
      }
    }
    node->backward = nullptr;
    node->inputs.clear();
    node->released = true;
  }
  t_tape.erase(std::remove_if(t_tape.begin(), t_tape.end(),
                              [](const auto& weak) {
                                auto node = weak.lock();
                                return !node || node->released;
                              }),
               t_tape.end());
}

Tensor pending_gradient_of_input(size_t index, const Shape& shape, DType dtype, Device device) {
  if (t_running_node == nullptr || index >= t_running_node->inputs.size()) return Tensor();
  const std::shared_ptr<AutogradMeta>& input = t_running_node->inputs[index];
  if (!input || !input->grad_fn || input->grad_fn->released) return Tensor();
  const Tensor& sum = input->grad_fn->grad_output;
  if (!sum.defined() || sum.storage_shared() || sum.shape() != shape || sum.dtype() != dtype ||
      sum.device() != device)
    return Tensor();
  return sum;
}

size_t tape_size() {
  prune_tape();
  return t_tape.size();
}

}  // namespace alz
