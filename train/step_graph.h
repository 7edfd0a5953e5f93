// The training step replayed as one CUDA graph (`alz train --cuda-graph on`, the default on a
// GPU). Trainer::train_step hands every batch to StepGraph::run with the eager step as a
// function; run decides, batch by batch:
//
//   - CPU, --cuda-graph off, or a capture that failed: the eager step, always;
//   - the first kWarmupSteps full batches: the eager step. They pick the cuDNN algorithms, grow
//     the workspaces and fill the allocator's cache, none of which may happen inside a capture.
//     The last of them records its device allocations (CudaGraph::record_allocations), so that
//     the capture places the same requests by a plan: the graph's pool then holds the step's
//     peak in use, not what best fit would leave (tensor/block_allocator.h);
//   - the next full batch: the batch is copied into static input tensors (images, labels) and
//     the eager step is captured once (tensor/cuda_graph.h) on them: forward, loss, backward,
//     the optimizer's update and zero_grad. The loss and logits tensors it produced become the
//     static outputs. Then the graph is replayed, which runs this batch's step;
//   - every later full batch: a copy into the static inputs (device to device, on the compute
//     stream), set_learning_rate having been queued before, one graph launch, and
//     Optimizer::count_replayed_step. The outputs are the static loss and logits: read or copy
//     them before the next step overwrites them (EpochTotals::add queues its copies at once);
//   - a batch of another shape (the last, partial batch of an epoch under --last-batch eager):
//     the eager step. It uses the same parameters and optimizer state, in memory of its own;
//     the next full batch replays the graph again.
//
// The graph and eager steps run the same kernels on the same values, so they give the same
// results (tests/gpu/test_cuda_graph_gpu.cpp checks the losses and the final parameters). If the
// capture fails, one line on stderr says why and the run goes on eagerly. status() says which
// happened, for run_info.json. Validation (train/evaluate.h) runs eagerly beside the graph; its
// allocations never touch the graph's pool.
//
// Tested by tests/gpu/test_cuda_graph_gpu.cpp (GPU) and tests/test_trainer.cpp (CPU: eager).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "optim/optimizer.h"
#include "tensor/cuda_graph.h"
#include "tensor/tensor.h"

namespace alz::train {

class StepGraph {
 public:
  static constexpr int kWarmupSteps = 2;

  struct Outputs {
    Tensor loss;    // () the batch-mean loss
    Tensor logits;  // (n, classes)
  };
  // One training step on (images (n, H, W, 3), labels (n)): forward, loss, backward, the
  // optimizer's update, zero_grad; returns the loss and logits.
  using Step = std::function<Outputs(const Tensor& images, const Tensor& labels)>;

  // mode: "on" or "off". On a CPU device the graph is never used (and `on` says so once, on
  // stderr unless quiet). full_batch: the batch size whose steps are captured.
  StepGraph(const std::string& mode, Device device, int64_t full_batch, Optimizer& optimizer, bool quiet);
  ~StepGraph();
  StepGraph(const StepGraph&) = delete;
  StepGraph& operator=(const StepGraph&) = delete;

  Outputs run(const Tensor& images, const Tensor& labels, const Step& step);

  // Data-parallel runs: `all_captured(captured here)` is called on every rank right after each
  // capture attempt (a collective: the ranks must reach it at the same step) and answers whether
  // every rank captured. If one did not, run() throws alz::Error on every rank instead of going
  // on eagerly, because a rank replaying and another running eagerly after a failed capture
  // could issue different collectives.
  void require_every_rank(std::function<bool(bool captured)> all_captured);

  bool replaying() const { return graph_ != nullptr; }  // captured: full batches replay it
  int64_t replays() const { return replays_; }
  int64_t eager_steps() const { return eager_steps_; }
  // "on: captured at step 3 of this process, 1234 nodes, 512.0 MiB pool", "off", "off (CPU)",
  // "off: the capture failed: ...", "on: waiting for the warm-up steps".
  std::string status() const;

 private:
  Outputs eager(const Tensor& images, const Tensor& labels, const Step& step);
  void capture(const Tensor& images, const Tensor& labels, const Step& step);

  bool enabled_ = false;
  Device device_;
  int64_t full_batch_ = 0;
  Optimizer& optimizer_;
  bool quiet_ = false;
  std::string off_reason_;  // why the graph is not used ("" while enabled)
  int64_t steps_ = 0, eager_steps_ = 0, replays_ = 0, captured_at_ = 0;
  int warm_ = 0;
  Tensor static_images_, static_labels_;  // the graph's inputs, refilled before each replay
  Outputs outputs_;                       // the graph's outputs
  std::unique_ptr<cuda::CudaGraph> graph_;
  std::unique_ptr<cuda::CudaGraph> planned_;  // the last warm-up step recorded its allocations into it
  std::function<bool(bool)> all_captured_;  // data-parallel: every rank's capture, or an error
};

}  // namespace alz::train
