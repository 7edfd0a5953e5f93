// The training step as one CUDA graph (train/step_graph.h): warm-up, capture, replay, and the
// eager path for the CPU, other shapes and a failed capture.
#include "train/step_graph.h"

#include <cstdio>
#include <sstream>

#include "core/error.h"

namespace alz::train {

StepGraph::StepGraph(const std::string& mode, Device device, int64_t full_batch, Optimizer& optimizer, bool quiet)
    : device_(device), full_batch_(full_batch), optimizer_(optimizer), quiet_(quiet) {
  ALZ_CHECK(mode == "on" || mode == "off", "--cuda-graph must be on or off; got '" << mode << "'");
  if (mode == "off") {
    off_reason_ = "off";
  } else if (!device.is_cuda()) {
    off_reason_ = "off (CPU: CUDA graphs are a GPU feature; the step runs eagerly)";
    if (!quiet_) std::fprintf(stderr, "alz train: --cuda-graph on has no effect on the CPU; the step runs eagerly\n");
  } else {
    enabled_ = true;
  }
}

StepGraph::~StepGraph() = default;

void StepGraph::require_every_rank(std::function<bool(bool)> all_captured) { all_captured_ = std::move(all_captured); }

StepGraph::Outputs StepGraph::eager(const Tensor& images, const Tensor& labels, const Step& step) {
  ++eager_steps_;
  return step(images, labels);
}

// Records the step on static copies of this batch; the caller replays it.
void StepGraph::capture(const Tensor& images, const Tensor& labels, const Step& step) {
  static_images_ = Tensor::empty(images.shape(), images.dtype(), device_);
  static_labels_ = Tensor::empty(labels.shape(), labels.dtype(), device_);
  static_images_.copy_from(images);  // queued before the capture begins: it runs now
  static_labels_.copy_from(labels);
  auto graph = planned_ ? std::move(planned_) : std::make_unique<cuda::CudaGraph>(device_.index);
  std::string failure;
  try {
    graph->capture([&] { outputs_ = step(static_images_, static_labels_); });
  } catch (const Error& error) {
    failure = error.what();
  }
  if (all_captured_ && !all_captured_(failure.empty())) {
    outputs_ = Outputs{};
    optimizer_.zero_grad();
    ALZ_FAIL("the data-parallel training step could not be captured as a CUDA graph on every rank"
             << (failure.empty() ? "" : " (here: " + failure + ")") << "; run again with --cuda-graph off");
  }
  if (!failure.empty()) {
    // Nothing recorded ran; drop what the capture left on the host side and go on eagerly.
    outputs_ = Outputs{};
    static_images_ = static_labels_ = Tensor();
    optimizer_.zero_grad();
    enabled_ = false;
    off_reason_ = "off: the capture failed: " + failure;
    if (!quiet_)
      std::fprintf(stderr, "alz train: the training step could not be captured as a CUDA graph (%s); it runs eagerly\n",
                   failure.c_str());
    return;
  }
  graph_ = std::move(graph);
  captured_at_ = steps_;
  if (!quiet_)
    std::fprintf(stderr, "alz train: from step %lld on, the training step is replayed as one CUDA graph (%zu nodes)\n",
                 static_cast<long long>(steps_), graph_->num_nodes());
}

StepGraph::Outputs StepGraph::run(const Tensor& images, const Tensor& labels, const Step& step) {
  ++steps_;
  if (!enabled_ || images.dim(0) != full_batch_) return eager(images, labels, step);
  if (!graph_) {
    if (warm_ < kWarmupSteps) {
      if (++warm_ < kWarmupSteps) return eager(images, labels, step);
      // The last warm-up step: its requests become the capture's memory plan.
      planned_ = std::make_unique<cuda::CudaGraph>(device_.index);
      Outputs outputs;
      planned_->record_allocations([&] { outputs = eager(images, labels, step); });
      return outputs;
    }
    capture(images, labels, step);
    if (!graph_) return eager(images, labels, step);
  } else {
    if (images.shape() != static_images_.shape() || images.dtype() != static_images_.dtype() ||
        labels.shape() != static_labels_.shape())
      return eager(images, labels, step);
    static_images_.copy_from(images);  // device to device, on the compute stream before the replay
    static_labels_.copy_from(labels);
  }
  graph_->replay();
  optimizer_.count_replayed_step();
  ++replays_;
  return outputs_;
}

std::string StepGraph::status() const {
  if (!off_reason_.empty()) return off_reason_;
  if (!graph_) return "on: not captured yet (eager warm-up steps)";
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out.precision(1);
  out << "on: captured at step " << captured_at_ << " of this process, " << graph_->num_nodes() << " nodes, "
      << static_cast<double>(graph_->pool_bytes()) / (1024.0 * 1024.0) << " MiB pool"
      << (graph_->followed_memory_plan() ? " (placed by plan)" : "") << "; " << replays_ << " replays, "
      << eager_steps_ << " eager steps";
  return out.str();
}

}  // namespace alz::train
