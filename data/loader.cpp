// The prefetching loader (see data/loader.h). Workers take work one sample at a time from the
// global sequence (epoch-major, then batch, then slot) while the batch it belongs to is within
// `prefetch_batches` of what the consumer wants; each writes its sample straight into the
// batch's host tensors; the consumer takes batches strictly in order. Per sample:
//   decode (or the cache) -> resize to (H, W), floats -> augment (training) -> y = x / 127.5 - 1.
// The cache keeps, per sample, whichever is smaller: the resized floats (H * W * 3 * 4 bytes)
// or the decoded bytes (h * w * 3, resized again on each use); both give the same floats.
//
// Tested in tests/test_loader.cpp, tests/gpu/test_loader_gpu.cpp; bench/bench_loader.cpp.
#include "data/loader.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <numeric>
#include <sstream>

#include "core/error.h"

namespace alz::data {
namespace {

double now_seconds() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

}  // namespace

struct Loader::Pending {
  int64_t epoch = 0, batch = 0;
  std::vector<int64_t> samples;  // (n)
  Tensor images, labels;         // host
  int64_t remaining = 0;
  bool ready = false;
  std::string error;        // first failure, if any
  int64_t global_size = 0;  // samples of the batch over all ranks
};

Loader::Loader(std::vector<Sample> samples, LoaderOptions options) : samples_(std::move(samples)), options_(options) {
  const auto count = static_cast<int64_t>(samples_.size());
  ALZ_CHECK(count > 0, "loader: no samples");
  ALZ_CHECK(options_.batch_size >= 1, "loader: batch size " << options_.batch_size << " must be positive");
  ALZ_CHECK(options_.height >= 1 && options_.width >= 1,
            "loader: image size " << options_.height << "x" << options_.width << " must be positive");
  ALZ_CHECK(options_.dtype == DType::F32 || options_.dtype == DType::BF16,
            "loader: images must be f32 or bf16, not " << dtype_name(options_.dtype));
  ALZ_CHECK(options_.prefetch_batches >= 1, "loader: prefetch_batches must be at least 1");
  for (const Sample& s : samples_) ALZ_CHECK(s.label >= 0, "loader: " << s.path << " has no label (" << s.label << ")");
  ALZ_CHECK(options_.world >= 1 && options_.rank >= 0 && options_.rank < options_.world,
            "loader: rank " << options_.rank << " of " << options_.world);
  const int64_t global = global_batch_size();
  batches_per_epoch_ = options_.drop_last ? count / global : (count + global - 1) / global;
  ALZ_CHECK(batches_per_epoch_ > 0,
            "loader: " << count << " samples with batch size " << global << " and drop_last give no batch");
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  workers_ = options_.workers > 0 ? options_.workers : static_cast<int>(cores);
  if (options_.cache) cache_.resize(samples_.size());
  if (options_.device.is_cuda())
    copier_ = std::make_unique<detail::DeviceCopier>(options_.device, std::max(1, options_.device_buffers),
                                                     options_.batch_size);
}

Loader::~Loader() { stop_workers(); }

int64_t Loader::batch_samples(int64_t batch) const {
  const auto count = static_cast<int64_t>(samples_.size());
  return std::min<int64_t>(global_batch_size(), count - batch * global_batch_size());
}

int64_t Loader::shard_begin(int64_t batch) const {
  return batch * global_batch_size() + batch_samples(batch) * options_.rank / options_.world;
}

std::vector<int64_t> Loader::epoch_order(int64_t epoch) const {
  const auto count = static_cast<int64_t>(samples_.size());
  if (options_.shuffle) return seeded_permutation(count, options_.seed, static_cast<uint64_t>(epoch));
  std::vector<int64_t> order(static_cast<size_t>(count));
  std::iota(order.begin(), order.end(), int64_t{0});
  return order;
}

std::shared_ptr<const FloatImage> Loader::cached_or_load(int64_t sample) {
  auto resize = [&](const Image& decoded) {
    return std::make_shared<const FloatImage>(resize_image(decoded, options_.height, options_.width, options_.resize));
  };
  if (options_.cache) {
    CacheEntry entry;
    {
      std::lock_guard<std::mutex> lock(cache_mutex_);
      entry = cache_[sample];
    }
    if (entry.resized || entry.decoded) {
      {
        std::lock_guard<std::mutex> stats_lock(stats_mutex_);
        ++stats_.cache_hits;
      }
      return entry.resized ? entry.resized : resize(*entry.decoded);
    }
  }
  auto decoded = std::make_shared<const Image>(decode_image_file(samples_[sample].path, options_.limits));
  std::shared_ptr<const FloatImage> resized = resize(*decoded);
  if (options_.cache) {
    const auto resized_bytes = static_cast<int64_t>(resized->pixels.size() * sizeof(float));
    const auto decoded_bytes = static_cast<int64_t>(decoded->pixels.size());
    CacheEntry entry;
    if (resized_bytes <= decoded_bytes)
      entry.resized = resized;
    else
      entry.decoded = decoded;
    const int64_t bytes = std::min(resized_bytes, decoded_bytes);
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (!cache_[sample].resized && !cache_[sample].decoded && cache_bytes_ + bytes <= options_.cache_max_bytes) {
      cache_[sample] = entry;
      cache_bytes_ += bytes;
    }
  }
  return resized;
}

std::shared_ptr<const FloatImage> Loader::prepare(int64_t sample, int64_t epoch) {
  std::shared_ptr<const FloatImage> base = cached_or_load(sample);
  if (!options_.augment) return base;
  AugmentParams params =
      draw_augment_params(options_.augment_options, options_.seed, epoch, sample, options_.height, options_.width);
  return std::make_shared<const FloatImage>(augment_image(*base, params));
}

FloatImage Loader::load_sample(int64_t sample, int64_t epoch) {
  ALZ_CHECK(sample >= 0 && sample < size(), "loader: sample " << sample << " out of range [0, " << size() << ")");
  return *prepare(sample, epoch);
}

std::shared_ptr<Loader::Pending> Loader::make_pending(int64_t global_batch) {
  auto pending = std::make_shared<Pending>();
  pending->epoch = global_batch / batches_per_epoch_;
  pending->batch = global_batch % batches_per_epoch_;
  auto order = orders_.find(pending->epoch);
  if (order == orders_.end()) order = orders_.emplace(pending->epoch, epoch_order(pending->epoch)).first;
  const int64_t begin = shard_begin(pending->batch);  // this rank's share of the global batch
  const int64_t m = batch_samples(pending->batch);
  const int64_t n = pending->batch * global_batch_size() + m * (options_.rank + 1) / options_.world - begin;
  pending->global_size = m;
  pending->samples.assign(order->second.begin() + begin, order->second.begin() + begin + n);
  // Forget orders of epochs no batch in flight can need.
  while (!orders_.empty() && orders_.begin()->first < consumed_ / batches_per_epoch_) orders_.erase(orders_.begin());
  const bool pinned = options_.device.is_cuda();
  pending->images = Tensor::empty({n, options_.height, options_.width, 3}, options_.dtype, Device::cpu(), pinned);
  pending->labels = Tensor::empty({n}, DType::I32, Device::cpu(), pinned);
  pending->remaining = n;
  pending->ready = n == 0;  // a rank's share of a last batch smaller than the world is empty
  return pending;
}

void Loader::fill(Pending& pending, int64_t slot) {
  const int64_t sample = pending.samples[slot];
  std::shared_ptr<const FloatImage> image = prepare(sample, pending.epoch);
  const size_t per_image = size_t(options_.height) * options_.width * 3;
  if (options_.dtype == DType::F32) {
    preprocess_to_float(*image, static_cast<float*>(pending.images.raw_data()) + slot * per_image);
  } else {
    preprocess_to_bf16(*image, static_cast<bf16*>(pending.images.raw_data()) + slot * per_image);
  }
  static_cast<int32_t*>(pending.labels.raw_data())[slot] = samples_[sample].label;
}

void Loader::worker_loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    work_cv_.wait(lock, [&] { return stopping_ || next_batch_ < consumed_ + options_.prefetch_batches; });
    if (stopping_) return;
    const int64_t global = next_batch_, slot = next_slot_;
    std::shared_ptr<Pending> pending;
    auto found = pending_.find(global);
    if (found != pending_.end()) {
      pending = found->second;
    } else {
      try {
        pending = make_pending(global);
      } catch (const std::exception& e) {  // allocation failure: hand it to the consumer
        pending = std::make_shared<Pending>();
        pending->error = e.what();
        pending->ready = true;
        pending_[global] = pending;
        ++next_batch_;
        next_slot_ = 0;
        done_cv_.notify_all();
        continue;
      }
      pending_[global] = pending;
      if (pending->samples.empty()) {  // an empty share: ready as it is
        ++next_batch_;
        next_slot_ = 0;
        done_cv_.notify_all();
        continue;
      }
    }
    if (++next_slot_ == static_cast<int64_t>(pending->samples.size())) {
      ++next_batch_;
      next_slot_ = 0;
    }
    lock.unlock();
    const double start = now_seconds();
    std::string error;
    try {
      fill(*pending, slot);
    } catch (const std::exception& e) {
      error = e.what();
    }
    const double busy = now_seconds() - start;
    {
      std::lock_guard<std::mutex> stats_lock(stats_mutex_);
      stats_.worker_seconds += busy;
      ++stats_.images;
    }
    lock.lock();
    if (!error.empty() && pending->error.empty()) pending->error = error;
    if (--pending->remaining == 0) {
      pending->ready = true;
      done_cv_.notify_all();
    }
  }
}

void Loader::start_workers() {
  stopping_ = false;
  for (int t = 0; t < workers_; ++t) threads_.emplace_back(&Loader::worker_loop, this);
  started_ = true;
}

void Loader::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  for (auto& thread : threads_) thread.join();
  threads_.clear();
  started_ = false;
}

void Loader::set_position(int64_t epoch, int64_t batch) {
  ALZ_CHECK(epoch >= 0 && batch >= 0 && batch <= batches_per_epoch_,
            "loader: position (epoch " << epoch << ", batch " << batch << ") is invalid; an epoch has "
                                       << batches_per_epoch_ << " batches");
  stop_workers();
  std::lock_guard<std::mutex> lock(mutex_);
  pending_.clear();
  orders_.clear();
  epoch_ = epoch;
  batch_ = batch;
  consumed_ = next_batch_ = epoch * batches_per_epoch_ + batch;
  next_slot_ = 0;
}

std::optional<Batch> Loader::next() {
  if (batch_ >= batches_per_epoch_) {
    ++epoch_;
    batch_ = 0;
    return std::nullopt;
  }
  const int64_t global = epoch_ * batches_per_epoch_ + batch_;
  std::shared_ptr<Pending> pending;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!started_) {
      consumed_ = next_batch_ = global;
      next_slot_ = 0;
      start_workers();
    }
    {
      std::lock_guard<std::mutex> stats_lock(stats_mutex_);
      if (!clock_started_) {
        clock_started_ = true;
        clock_start_ = now_seconds();
      }
    }
    const double wait_start = now_seconds();
    done_cv_.wait(lock, [&] {
      auto it = pending_.find(global);
      return it != pending_.end() && it->second->ready;
    });
    {
      std::lock_guard<std::mutex> stats_lock(stats_mutex_);
      stats_.wait_seconds += now_seconds() - wait_start;
    }
    pending = pending_[global];
    pending_.erase(global);
    consumed_ = global + 1;
  }
  work_cv_.notify_all();
  if (!pending->error.empty()) {
    ++batch_;  // stay consistent: the next call reads the following batch
    ALZ_FAIL("loader: batch " << global % batches_per_epoch_ << " of epoch " << epoch_ << ": " << pending->error);
  }

  Batch batch;
  batch.epoch = epoch_;
  batch.index = batch_;
  batch.samples = pending->samples;
  batch.global_size = pending->global_size;
  batch.host_images = pending->images;
  const auto* labels = static_cast<const int32_t*>(pending->labels.raw_data());
  batch.labels_int.assign(labels, labels + batch.samples.size());
  if (copier_) {
    copier_->upload(pending->images, pending->labels, batch.images, batch.labels);
  } else {
    batch.images = pending->images;
    batch.labels = pending->labels;
  }
  ++batch_;
  {
    std::lock_guard<std::mutex> stats_lock(stats_mutex_);
    stats_.delivered += static_cast<int64_t>(batch.samples.size());
  }
  return batch;
}

LoaderStats Loader::stats() const {
  std::lock_guard<std::mutex> lock(stats_mutex_);
  LoaderStats out = stats_;
  {
    std::lock_guard<std::mutex> cache_lock(cache_mutex_);
    out.cache_bytes = cache_bytes_;
  }
  out.wall_seconds = clock_started_ ? now_seconds() - clock_start_ : 0.0;
  return out;
}

std::string Loader::describe() const {
  LoaderStats s = stats();
  std::ostringstream out;
  out << "loader: " << size() << " samples, " << batches_per_epoch_ << " batches of " << options_.batch_size;
  if (options_.world > 1) out << " per rank (rank " << options_.rank << " of " << options_.world << ")";
  out << (options_.drop_last ? " (last partial dropped)" : "") << ", " << options_.height << "x" << options_.width
      << " " << dtype_name(options_.dtype) << " (resize " << resize_method_name(options_.resize) << "), " << workers_
      << " workers, " << (options_.shuffle ? "shuffled" : "in order") << ", augmentation "
      << (options_.augment ? options_.augment_options.describe() : "off") << (options_.cache ? ", cached" : "");
  if (s.images > 0)
    out << "; " << static_cast<int64_t>(s.images_per_second()) << " images/s observed, "
        << static_cast<int64_t>(s.capacity_images_per_second(workers_)) << " images/s worker capacity";
  return out.str();
}

}  // namespace alz::data
