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
// Overlap, as PyTorch's DDP: the parameters are cut into buckets of about `bucket_bytes` in the
// order backward produces their gradients (the reverse of the forward); while backward runs
// (BackwardOverlap around it), a bucket whose every gradient is ready is reduced at once, and
// buckets go out strictly in that order on every rank (collectives must match), so that the
// communication of the late layers overlaps the backward of the early ones. finish_step()
// reduces what is left (a parameter without a gradient counts as zeros), waits, and writes each
// parameter's averaged gradient. synchronize() is begin + finish with no overlap.
// Implementations:
//   HostGradientSync (here): MPI's all-reduce on host buffers (the CPU path; on a GPU it stages
//     through the host, a fallback). A bucket's all-reduce runs inside backward, blocking: the
//     order and the sums are those of the overlapped GPU path, which the CPU tests check.
//   NcclGradientSync (dist/nccl/), when built with NCCL: device buffers, NCCL's all-reduce on
//     a communication stream that waits for the bucket's gradients (a CUDA event) and that the
//     compute stream waits for before the optimizer: backward and communication overlap.
// Tested under mpirun by tests/dist/: ctest --test-dir build -R Dist
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "dist/communicator.h"
#include "layers/module.h"
#include "tensor/autograd.h"

namespace alz::dist {

class GradientSync {
 public:
  virtual ~GradientSync() = default;
  // Before backward: this step's weight w_r (1/world) and a fresh count of ready gradients.
  virtual void begin_step(double weight) = 0;
  // During backward: this leaf's gradient is complete (ignored for a tensor not synchronised).
  virtual void gradient_ready(const AutogradMeta& leaf) = 0;
  // After backward: the remaining buckets, then every averaged gradient in place. Collective.
  virtual void finish_step() = 0;
  void synchronize(double weight) {
    begin_step(weight);
    finish_step();
  }
  virtual const char* name() const = 0;  // "mpi" or "nccl"
};

// Sends every gradient that backward completes within its scope to sync->gradient_ready (a
// null sync: nothing).
class BackwardOverlap {
 public:
  explicit BackwardOverlap(GradientSync* sync);

 private:
  std::optional<LeafGradientHookScope> scope_;
};

// The bucket plan shared by the implementations: params (trainable, in forward order) cut into
// buckets in reverse order, and which bucket each gradient completes.
class BucketPlan {
 public:
  BucketPlan(const std::vector<ParamRef>& params, int64_t bucket_bytes);
  struct Bucket {
    std::vector<size_t> params;  // indices into the params, in backward order
    int64_t elements = 0;
  };
  const std::vector<Bucket>& buckets() const { return buckets_; }
  void reset();  // a new step: nothing ready, nothing launched
  // Marks the leaf ready; returns the buckets that may now be launched, in order (every bucket
  // before them launched already). A leaf reported twice in one step is an error.
  std::vector<size_t> mark_ready(const AutogradMeta& leaf);
  std::vector<size_t> launch_rest();  // every bucket not launched yet, in order

 private:
  std::vector<Bucket> buckets_;
  std::unordered_map<const AutogradMeta*, size_t> param_of_;  // leaf -> param index
  std::vector<size_t> bucket_of_;                             // param index -> bucket
  std::vector<bool> ready_;
  std::vector<size_t> missing_;  // per bucket: gradients not ready yet
  size_t next_launch_ = 0;
  std::vector<std::string> names_;
};

// The parameters a synchronisation keeps: the trainable ones, each checked to be f32 (the
// master weights; bf16 compute casts from them) and on one device. Throws alz::Error naming one
// that is not.
std::vector<ParamRef> synchronised_parameters(std::vector<ParamRef> params);

// All-reduce through the communicator, in buckets of about `bucket_bytes` (f32 gradients).
class HostGradientSync final : public GradientSync {
 public:
  HostGradientSync(Communicator& comm, std::vector<ParamRef> params, std::vector<ParamRef> buffers,
                   int64_t bucket_bytes);
  void begin_step(double weight) override;
  void gradient_ready(const AutogradMeta& leaf) override;
  void finish_step() override;
  const char* name() const override { return "mpi"; }

 private:
  void reduce_bucket(size_t bucket);
  void average_buffers();

  Communicator& comm_;
  std::vector<ParamRef> params_;
  std::vector<ParamRef> buffers_;  // averaged with weight 1/world
  BucketPlan plan_;
  std::vector<float> buffer_;  // one bucket, host
  double weight_ = 1.0;
};

// The gradient synchronisation for this world and device; nullptr for a world of one (nothing
// to do: the single-process step is unchanged). params: the trainable weights; buffers: the
// statistics to average (none with cross-replica BatchNorm, whose statistics already agree).
// On a CUDA device with NCCL built in: NcclGradientSync (ALZ_DIST_BACKEND=mpi forces the host
// path); otherwise HostGradientSync. force: build one even for a world of one (tests, the
// one-rank NCCL check).
std::unique_ptr<GradientSync> make_gradient_sync(Communicator& comm, std::vector<ParamRef> params,
                                                 std::vector<ParamRef> buffers, Device device,
                                                 int64_t bucket_bytes = int64_t{25} << 20, bool force = false);

// The NCCL implementation (dist/nccl/), or nullptr when the build has no NCCL.
std::unique_ptr<GradientSync> make_nccl_gradient_sync(Communicator& comm, std::vector<ParamRef> params,
                                                      std::vector<ParamRef> buffers, Device device,
                                                      int64_t bucket_bytes);

// The moving statistics of the layers that train (a layer with a trainable weight); a frozen
// layer's statistics do not change and are left alone.
std::vector<ParamRef> trained_buffers(const std::vector<ParamRef>& all);

// Every rank takes rank 0's values of these tensors (weights and BatchNorm statistics), so the
// replicas start identical whatever each process computed before. Collective.
void broadcast_parameters(Communicator& comm, const std::vector<ParamRef>& params);

}  // namespace alz::dist
