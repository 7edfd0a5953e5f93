// The training loop's running totals, progress line and steady-state clock (train/progress.h).
#include "train/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "tensor/autograd.h"
#include "tensor/ops.h"

namespace alz::train {

EpochTotals::EpochTotals(double loss_sum, int64_t samples, int64_t classes, Device device)
    : loss_sum_(Tensor::full({}, loss_sum, DType::F32, device)),
      logits_(Tensor::empty({samples, classes}, DType::F32, device)),
      classes_(classes) {}

void EpochTotals::add(const Tensor& loss, const Tensor& logits, const data::Batch& batch) {
  NoGradGuard no_grad;
  int64_t n = batch.images.dim(0);
  Tensor weighted = ops::scale(loss, static_cast<double>(n));
  accumulate_into(loss_sum_, weighted);
  logits_.slice(rows_, rows_ + n).copy_from(logits);  // on the device: queued, no wait
  labels_.insert(labels_.end(), batch.labels_int.begin(), batch.labels_int.end());
  rows_ += n;
}

double EpochTotals::loss_sum() const { return loss_sum_.at({}); }

int64_t EpochTotals::count_correct() const {
  if (rows_ == 0) return 0;
  Tensor host = logits_.slice(0, rows_).to(Device::cpu());
  const float* z = host.data<float>();  // (rows_, classes_)
  int64_t correct = 0;
  for (int64_t i = 0; i < rows_; ++i) {
    int64_t best = 0;
    for (int64_t j = 1; j < classes_; ++j)
      if (z[i * classes_ + j] > z[i * classes_ + best]) best = j;
    correct += best == labels_[i];
  }
  return correct;
}

Progress::Progress(bool quiet)
    : quiet_(quiet), terminal_(isatty(fileno(stderr))), last_(std::chrono::steady_clock::now()) {}

bool Progress::due() {
  auto now = std::chrono::steady_clock::now();
  if (now - last_ < std::chrono::milliseconds(terminal_ ? 500 : 10000)) return false;
  last_ = now;
  return true;
}

void Progress::show(int epoch, int epochs, int64_t batch, int64_t batches, double loss, int64_t images, double seconds,
                    int batch_size) {
  if (quiet_) return;
  double images_per_second = images / std::max(seconds, 1e-9);
  double eta_seconds = (batches - batch) * batch_size / std::max(images_per_second, 1e-9);
  int width = 24, filled = batches ? static_cast<int>(width * batch / batches) : 0;
  std::string bar(filled, '#');
  bar.resize(width, '.');
  char line[256];
  std::snprintf(line, sizeof line, "epoch %d/%d [%s] %lld/%lld loss %.4f  %.1f img/s  ETA %.0fs", epoch, epochs,
                bar.c_str(), static_cast<long long>(batch), static_cast<long long>(batches), loss, images_per_second,
                eta_seconds);
  if (terminal_)
    std::fprintf(stderr, "\r%s\033[K", line);
  else
    std::fprintf(stderr, "%s\n", line);
}

void Progress::end_line() {
  if (!quiet_ && terminal_) std::fprintf(stderr, "\n");
}

SteadyStateClock::SteadyStateClock(bool enabled) : enabled_(enabled) {}

void SteadyStateClock::loop_starts() { loop_start_ = Clock::now(); }

void SteadyStateClock::after_step(int64_t step, const std::function<void()>& wait_for_device) {
  if (enabled_ && step == kWarmupSteps) {
    wait_for_device();
    start_ = Clock::now();
  }
  if (step > kWarmupSteps) ++steps_;
}

void SteadyStateClock::loop_ends(int64_t steps, int batch_size, bool quiet) {
  if (steps <= kWarmupSteps) return;
  seconds_ += std::chrono::duration<double>(Clock::now() - std::max(start_, loop_start_)).count();
  if (enabled_ && !quiet && steps_ > 0)
    std::printf("steady state: %lld steps of batch %d in %.3f s: %.2f ms/step, %.1f images/s\n",
                static_cast<long long>(steps_), batch_size, seconds_, 1e3 * seconds_ / steps_,
                steps_ * batch_size / seconds_);
}

}  // namespace alz::train
