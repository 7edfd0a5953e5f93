// Reverse-mode automatic differentiation: the tape.
//
// Every op in tensor/ops.h that sees an input needing a gradient records a Node: the metas of
// its inputs and a backward function that maps the gradient of its output to one gradient per
// input. Whatever backward needs (saved tensors, mean/inv-std, shapes) is captured by value in
// that function: a small saved-state struct per op, no globals. The output tensor points at its
// Node; the Node points at its inputs' metas, so a graph lives exactly as long as the tensors
// that can still reach it.
//
// backward(loss) walks the tape (the nodes in the order they were recorded, this thread's)
// in reverse: a node whose output received a gradient runs its backward function and sends
// the results to its inputs — added to a leaf's .grad (parameter gradients accumulate), or
// summed into the producing node's pending gradient (fan-out sums). Each node is released with
// everything it saved as soon as its backward has run, so memory falls during backward;
// backward through a released graph again is an error. Graphs that the root does not reach
// stay on the tape untouched. Nothing here waits for the GPU.
//
//   Tensor w = Tensor::normal({3, 4}, gen).set_requires_grad(true);
//   Tensor loss = ops::mean(ops::matmul(x, w));
//   backward(loss);            // w.grad() now holds d loss / d w
//   { NoGradGuard no_grad; ... }   // evaluation: nothing recorded
//
// THE GRADIENT RULE (written here once; kernels/*.h and tensor/ops_*.cpp point to it):
//   1. Parameter gradients accumulate. A leaf's .grad is a running sum: each use of the leaf
//      in a graph, and each backward() call, adds its contribution, until the optimizer clears
//      it (zero_grad() in optim/ and layers/). Autograd does the adding (accumulate_into).
//   2. Activation gradients are overwritten. Any other gradient lives only during backward:
//      the op that computes it writes it into a fresh buffer and never reads what the buffer
//      held before; contributions from several consumers (fan-out) are summed by autograd.
//      One exception, a fused epilogue: an op whose backward kernel can add (BatchNorm+ReLU in
//      training) may ask for the running sum of an input's gradient
//      (pending_gradient_of_input below), add its contribution into it in place, and return
//      an undefined gradient for that input. The sum is the same; one pass over the tensor
//      and one buffer are saved (a residual block's input: the shortcut's gradient arrives first).
//   3. Kernels follow the same default. A backward kernel overwrites every gradient it writes
//      (dx, dw, db, dgamma, ...). Where it takes `accumulate`, `accumulate_dx` or
//      `accumulate_params`, true adds into the buffer instead: for callers that keep their own
//      sums (tests, benchmarks), and `accumulate_dx` for the fused epilogue of rule 2.
//
// Tested in tests/test_autograd.cpp (fan-out, the gradient rule, no-grad, release, errors) and
// by every op's finite-difference test in tests/test_ops.cpp.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace alz {

struct Node;

// What autograd knows about a tensor. Leaves (parameters, inputs) have no grad_fn.
struct AutogradMeta {
  bool requires_grad = false;
  Tensor grad;                    // accumulated gradient of a leaf (same shape, dtype, device)
  std::shared_ptr<Node> grad_fn;  // the node that produced this tensor; null for a leaf
};

// Maps the gradient of a node's output to one gradient per input (undefined where an input
// needs none). A returned gradient may be grad_output itself or a view of it, for any number
// of inputs (add returns {g, g}): autograd copies a pending gradient before adding a later
// contribution into it whenever another tensor still shares its buffer.
using BackwardFunction = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

struct Node {
  std::string name;                                   // the op, for messages ("conv2d")
  std::vector<std::shared_ptr<AutogradMeta>> inputs;  // null where the input needs no gradient
  BackwardFunction backward;
  Tensor grad_output;  // summed over every use of the output during backward
  Shape output_shape;
  DType output_dtype = DType::F32;
  bool released = false;
};

// Is recording on for this thread? (Off inside a NoGradGuard.)
bool grad_enabled();

class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// Does recording an op with these inputs make sense (grad mode on, one input needs a grad)?
bool needs_record(std::initializer_list<const Tensor*> inputs);

// Records `output = op(inputs)`: gives `output` a grad_fn. Call only when needs_record(...).
void record(const std::string& name, Tensor& output, std::initializer_list<const Tensor*> inputs,
            BackwardFunction backward);

// Backward from a scalar (gradient 1) or from any tensor with a given gradient.
void backward(const Tensor& root);
void backward(const Tensor& root, const Tensor& grad);

// Called during backward (this thread) each time a leaf's .grad has received a contribution,
// with the leaf's meta: data-parallel training starts reducing a parameter's gradient as soon as
// backward has produced it (dist/gradient_sync.h). Installed for a scope; scopes nest.
using LeafGradientHook = std::function<void(const AutogradMeta& leaf)>;
class LeafGradientHookScope {
 public:
  explicit LeafGradientHookScope(LeafGradientHook hook);
  ~LeafGradientHookScope();
  LeafGradientHookScope(const LeafGradientHookScope&) = delete;
  LeafGradientHookScope& operator=(const LeafGradientHookScope&) = delete;

 private:
  LeafGradientHook previous_;
};

// For an op's backward function, while autograd runs it on this thread: the gradient summed so
// far for the running node's input `index`, to add this op's contribution into in place (rule 2).
// Defined only when that input is the output of another op (not a leaf: a leaf's .grad is
// autograd's), a contribution has arrived, no other tensor shares its buffer, and it has this
// shape, dtype and device; otherwise undefined, and the op returns its gradient as usual. An op
// that takes it must add into it and return an undefined gradient for that input.
Tensor pending_gradient_of_input(size_t index, const Shape& shape, DType dtype, Device device);

// Nodes on this thread's tape that are still alive (tests: the tape is released after backward).
size_t tape_size();

// dst += src (same shape/dtype/device), used to accumulate gradients. Implemented in
// tensor/ops_elementwise.cpp on both devices.
void accumulate_into(Tensor& dst, const Tensor& src);

}  // namespace alz
