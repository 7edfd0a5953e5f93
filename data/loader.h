// The prefetching batch loader: worker threads decode, resize, augment and preprocess samples
// into host batches while the training step runs; batches come out in a fixed order.
//
//   Loader loader(split.samples, options);          // options.seed fixes order and augmentation
//   loader.set_position(start_epoch, start_batch);  // resume: the same batches as before
//   for (int epoch = start_epoch; epoch < epochs; ++epoch)
//     while (std::optional<Batch> batch = loader.next()) step(batch->images, batch->labels);
//
// Batch b of epoch e holds the samples at positions [b*N, b*N + n) of the epoch's order
// (seeded_permutation(count, seed, e) when shuffling, else 0..count-1); images are
// (n, H, W, 3) f32 or bf16 with y = x / 127.5 - 1, where x are the resized float pixels
// (resize_image with options.resize, never rounded: without augmentation and with the keras
// method, exactly Keras's x / 127.5 - 1 of tf.image.resize's output); labels are (n) int32
// class indices, as a tensor on the target device and as a host vector (`labels_int`). With
// augmentation, sample i of epoch e is transformed with
// draw_augment_params(augment_options, seed, e, i, H, W) after the resize: the result does not
// depend on the workers or the order. Evaluation loaders leave `augment` off.
// next() returns std::nullopt once at the end of each epoch and then starts the next one.
//
// On a CUDA target, host batches are pinned; next() copies the batch on the device's
// copy_stream (tensor/cuda/context.h), records an event after the copy and makes the compute
// stream wait on it, so the host never blocks on the copy. The device tensors come from a ring
// of `device_buffers` slots reused in turn: a batch's device tensors stay valid until
// `device_buffers` more calls of next() (work queued on the compute stream before then is
// ordered correctly); clone() them to keep them longer.
//
// A file that fails to decode throws alz::Error "<path>: <reason>" from next(); scan with
// ScanOptions::verify_images to find such files before training.
//
// Tested in tests/test_loader.cpp and tests/gpu/test_loader_gpu.cpp; measured by
// bench/bench_loader.cpp:
//   cmake --build build --target test_loader bench_loader && build/tests/test_loader
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "data/augment.h"
#include "data/dataset.h"
#include "data/image.h"
#include "data/resize.h"
#include "tensor/tensor.h"

namespace alz::data {

struct LoaderOptions {
  int batch_size = 32;
  int height = 224, width = 224;
  ResizeMethod resize = ResizeMethod::Keras;  // keras (as Keras) or area (box filter when shrinking)
  bool shuffle = true;                        // per-epoch order from the seed
  bool drop_last = false;                     // drop the last partial batch
  uint64_t seed = 0;
  bool augment = false;  // training only
  AugmentOptions augment_options;
  int workers = 0;                      // 0: all cores
  int prefetch_batches = 4;             // batches decoded ahead of the consumer
  bool cache = false;                   // keep each image in memory: resized (floats) or decoded
                                        // (uint8, resized again on use), whichever is smaller
  int64_t cache_max_bytes = 8LL << 30;  // images past this are not cached
  DType dtype = DType::F32;             // F32 or BF16 images
  Device device = Device::cpu();        // CUDA: pinned host batches copied asynchronously
  int device_buffers = 2;               // ring size of device batches (CUDA target)
  DecodeLimits limits;
  // Data parallelism: this loader is rank `rank` of `world`. Global batch b of an epoch is the
  // positions [b*G, b*G + m) of the epoch's order (G = batch_size * world, the order the same as
  // one process's); rank r takes [b*G + floor(r*m/W), b*G + floor((r+1)*m/W)) of it, so each
  // sample is seen once per epoch by one rank, and a full batch gives every rank batch_size.
  // A last batch of fewer samples than ranks leaves some ranks an empty batch (n = 0).
  int rank = 0;
  int world = 1;
};

struct Batch {
  int64_t epoch = 0;
  int64_t index = 0;                // batch index within the epoch
  Tensor images;                    // (n, H, W, 3) on options.device
  Tensor labels;                    // (n) i32 class indices on options.device
  std::vector<int32_t> labels_int;  // (n) the same, host int32
  std::vector<int64_t> samples;     // (n) indices into the loader's sample list
  int64_t global_size = 0;          // samples of this batch over all ranks (n with one rank)
  Tensor host_images;               // (n, H, W, 3) the host batch (== images on a CPU target)
};

struct LoaderStats {
  int64_t images = 0;     // samples prepared by the workers (some may be dropped by set_position)
  int64_t delivered = 0;  // samples handed out by next()
  int64_t cache_hits = 0;
  int64_t cache_bytes = 0;      // held by the cache now
  double worker_seconds = 0.0;  // summed over workers, busy time only
  double wall_seconds = 0.0;    // since the first next()
  double wait_seconds = 0.0;    // time next() waited for a batch
  // Images per second observed by the consumer, and what the workers could sustain if never
  // starved (images / (worker_seconds / workers)).
  double images_per_second() const { return wall_seconds > 0 ? delivered / wall_seconds : 0.0; }
  double capacity_images_per_second(int workers) const {
    return worker_seconds > 0 ? images * workers / worker_seconds : 0.0;
  }
};

namespace detail {
// Host-to-device batch copies (data/cuda/loader_copy.cpp; data/no_cuda/loader_copy.cpp throws).
class DeviceCopier {
 public:
  DeviceCopier(Device device, int buffers, int64_t max_batch);
  ~DeviceCopier();
  DeviceCopier(const DeviceCopier&) = delete;
  DeviceCopier& operator=(const DeviceCopier&) = delete;
  // Queues the copies; returns device views of the ring slot's tensors.
  void upload(const Tensor& host_images, const Tensor& host_labels, Tensor& device_images, Tensor& device_labels);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};
}  // namespace detail

class Loader {
 public:
  Loader(std::vector<Sample> samples, LoaderOptions options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // The next batch of the current epoch, or std::nullopt at its end (the position then moves
  // to batch 0 of the next epoch).
  std::optional<Batch> next();

  // Where the next call of next() reads; set it to resume (drops batches prepared ahead).
  void set_position(int64_t epoch, int64_t batch);
  int64_t epoch() const { return epoch_; }
  int64_t batch_index() const { return batch_; }

  int64_t batches_per_epoch() const { return batches_per_epoch_; }
  int64_t size() const { return static_cast<int64_t>(samples_.size()); }
  int workers() const { return workers_; }
  const LoaderOptions& options() const { return options_; }
  LoaderStats stats() const;
  std::string describe() const;  // one line: samples, batches, workers, augmentation, rate

  // The sample order of one epoch (what the batches follow).
  std::vector<int64_t> epoch_order(int64_t epoch) const;

  // Decode -> resize -> (augment) for one sample, as the workers do it; for tests.
  FloatImage load_sample(int64_t sample, int64_t epoch);

 private:
  struct Pending;  // a batch being filled by the workers
  void start_workers();
  void stop_workers();
  void worker_loop();
  int64_t batch_samples(int64_t batch) const;  // samples in global batch `batch` of an epoch, all ranks
  int64_t shard_begin(int64_t batch) const;    // this rank's first position in the epoch's order
  int64_t global_batch_size() const { return int64_t{options_.batch_size} * options_.world; }
  std::shared_ptr<const FloatImage> cached_or_load(int64_t sample);          // resized, not augmented
  std::shared_ptr<const FloatImage> prepare(int64_t sample, int64_t epoch);  // + augmentation
  std::shared_ptr<Pending> make_pending(int64_t global_batch);               // under mutex_
  void fill(Pending& pending, int64_t slot);

  std::vector<Sample> samples_;
  LoaderOptions options_;
  int workers_ = 1;
  int64_t batches_per_epoch_ = 0;

  // Consumer position.
  int64_t epoch_ = 0, batch_ = 0;

  // Shared with the workers, under mutex_.
  mutable std::mutex mutex_;
  std::condition_variable work_cv_, done_cv_;
  bool stopping_ = false;
  bool started_ = false;
  int64_t consumed_ = 0;    // global batch number (epoch * batches_per_epoch + batch) next() wants
  int64_t next_batch_ = 0;  // the next item a worker takes: slot next_slot_ of global batch next_batch_
  int64_t next_slot_ = 0;
  std::map<int64_t, std::shared_ptr<Pending>> pending_;
  std::map<int64_t, std::vector<int64_t>> orders_;  // epoch -> order, for epochs in flight
  std::vector<std::thread> threads_;

  // Cache: per sample, the resized floats or the decoded bytes (the smaller), or nothing.
  struct CacheEntry {
    std::shared_ptr<const FloatImage> resized;
    std::shared_ptr<const Image> decoded;
  };
  mutable std::mutex cache_mutex_;
  std::vector<CacheEntry> cache_;
  int64_t cache_bytes_ = 0;

  // Statistics.
  mutable std::mutex stats_mutex_;
  LoaderStats stats_;
  bool clock_started_ = false;
  double clock_start_ = 0.0;

  std::unique_ptr<detail::DeviceCopier> copier_;
};

}  // namespace alz::data
