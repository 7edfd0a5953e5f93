// Data parallelism's one rule: after backward and before the optimizer, every rank holds the
// same gradient, the average over ranks of their batch gradients; the optimizer then runs
// unchanged, and since every rank started from the same weights they stay bit-identical.
//
//   auto sync = dist::make_gradient_sync(dist::world(), model.trainable_parameters(), device);
//   dist::broadcast_parameters(dist::world(), model.parameters());  // rank 0's weights everywhere
//   backward(loss);
//   sync->synchronize(local_samples / double(global_samples));       // all-reduce, averaged once
//   optimizer.step();
//
// The gradient of parameter p becomes  g_p = sum_r w_r * g_p,r; the trainer passes w_r = 1/world
// and weights each rank's loss by its share of the global batch (train/trainer.cpp), so a smaller
// last batch is still the mean over its samples, as one process with the whole batch computes it. A
// parameter that has no gradient on a rank counts as zeros there and gets one.
// BatchNorm's moving statistics, normalised with each replica's own batch statistics (as Keras's
// MirroredStrategy), are averaged over the ranks in the same all-reduce (the mean Keras reads
// from its per-replica copies; the moving average is linear, so averaging every step gives the
// same value): every replica then holds the same model at every step.
// Implementations:
//   HostGradientSync (dist/gradient_sync.cpp): MPI's all-reduce on host buffers (the CPU path;
//     on a GPU it stages through the host, a fallback);
//   NCCL on the device (dist/nccl/), when built with NCCL.
// Tested under mpirun by tests/dist/: ctest --test-dir build -R Dist
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "dist/communicator.h"
#include "layers/module.h"

namespace alz::dist {

class GradientSync {
 public:
  virtual ~GradientSync() = default;
  // weight: w_r above (1/world). Collective.
  virtual void synchronize(double weight) = 0;
  virtual const char* name() const = 0;  // "mpi" or "nccl"
};

// All-reduce through the communicator, in buckets of about `bucket_bytes` (f32 gradients).
class HostGradientSync final : public GradientSync {
 public:
  HostGradientSync(Communicator& comm, std::vector<ParamRef> params, std::vector<ParamRef> buffers,
                   int64_t bucket_bytes);
  void synchronize(double weight) override;
  const char* name() const override { return "mpi"; }

 private:
  void reduce_bucket(size_t first, size_t last);  // params_[first, last)
  void average_buffers();

  Communicator& comm_;
  std::vector<ParamRef> params_;
  std::vector<ParamRef> buffers_;  // averaged with weight 1/world
  int64_t bucket_elements_;
  std::vector<float> buffer_;  // one bucket, host
  double weight_ = 1.0;
};

// The gradient synchronisation for this world and device; nullptr for a world of one (nothing
// to do: the single-process step is unchanged). params: the trainable weights; buffers: the
// statistics to average (none with cross-replica BatchNorm, whose statistics already agree).
std::unique_ptr<GradientSync> make_gradient_sync(Communicator& comm, std::vector<ParamRef> params,
                                                 std::vector<ParamRef> buffers, Device device,
                                                 int64_t bucket_bytes = int64_t{25} << 20);

// The moving statistics of the layers that train (a layer with a trainable weight); a frozen
// layer's statistics do not change and are left alone.
std::vector<ParamRef> trained_buffers(const std::vector<ParamRef>& all);

// Every rank takes rank 0's values of these tensors (weights and BatchNorm statistics), so the
// replicas start identical whatever each process computed before. Collective.
void broadcast_parameters(Communicator& comm, const std::vector<ParamRef>& params);

}  // namespace alz::dist
