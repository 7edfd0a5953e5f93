// Data-parallel pieces of the training run (train/distributed.h).
// Validation: each rank predicts its shard; the rows (sample index, label, K probabilities) are
// gathered with MPI_Allgatherv as doubles (a float survives the round trip exactly), sorted by
// sample index, and the mean loss is summed in that order: the predictions and metrics equal
// those of one process evaluating the same weights.
// Tested under mpirun by tests/dist/: ctest --test-dir build -R Dist
#include "train/distributed.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "tensor/cuda_runtime.h"
#include "train/evaluate.h"

namespace alz::train {

Device device_for_rank(Device device, const dist::Communicator& comm) {
  if (!device.is_cuda() || !comm.distributed()) return device;
  int count = cuda::device_count();
  ALZ_CHECK(count > 0, "no CUDA device for " << comm.describe());
  if (comm.local_rank() >= count)
    ALZ_FAIL(comm.describe() << ": " << count << " GPUs on this node but more ranks; start one rank per GPU");
  return Device::cuda(comm.local_rank());
}

double sum_across_ranks(double value, dist::Communicator& comm) {
  comm.all_reduce_sum(&value, 1);
  return value;
}

int64_t sum_across_ranks(int64_t value, dist::Communicator& comm) {
  comm.all_reduce_sum(&value, 1);
  return value;
}

data::DatasetIndex validation_shard(const data::DatasetIndex& index, const dist::Communicator& comm,
                                    int64_t& first_sample) {
  first_sample = 0;
  if (!comm.distributed()) return index;
  data::DatasetIndex shard = index;
  for (data::Split& split : shard.splits) {
    if (split.name != "val") continue;
    const auto n = static_cast<int64_t>(split.samples.size());
    ALZ_CHECK(n >= comm.size(),
              "the validation split has " << n << " samples, fewer than the " << comm.size() << " ranks that share it");
    first_sample = n * comm.rank() / comm.size();
    const int64_t end = n * (comm.rank() + 1) / comm.size();
    split.samples = std::vector<data::Sample>(split.samples.begin() + first_sample, split.samples.begin() + end);
  }
  return shard;
}

Predictions predict_across_ranks(ResNetV2& model, data::Loader& loader, int64_t classes, dist::Communicator& comm,
                                 int64_t first_sample) {
  if (!comm.distributed()) return predict_loader(model, loader);
  Predictions mine = predict_loader(model, loader);
  const auto k = static_cast<size_t>(classes);
  const size_t row = 2 + k;  // sample, label, probabilities
  std::vector<double> rows;
  rows.reserve(mine.labels.size() * row);
  for (size_t i = 0; i < mine.labels.size(); ++i) {
    rows.push_back(static_cast<double>(first_sample + mine.samples[i]));
    rows.push_back(static_cast<double>(mine.labels[i]));
    for (size_t c = 0; c < k; ++c) rows.push_back(mine.probs[i * k + c]);
  }
  std::vector<double> all = comm.all_gather(rows);
  const size_t n = all.size() / row;
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return all[a * row] < all[b * row]; });
  Predictions gathered;
  gathered.probs.resize(n * k);
  gathered.labels.resize(n);
  gathered.samples.resize(n);
  gathered.seconds = mine.seconds;
  double loss_sum = 0.0;  // -log p[label], summed in sample order as predict_loader does
  for (size_t j = 0; j < n; ++j) {
    const double* r = all.data() + order[j] * row;
    gathered.samples[j] = static_cast<int64_t>(r[0]);
    gathered.labels[j] = static_cast<int>(r[1]);
    for (size_t c = 0; c < k; ++c) gathered.probs[j * k + c] = static_cast<float>(r[2 + c]);
    loss_sum += -std::log(std::max(gathered.probs[j * k + static_cast<size_t>(gathered.labels[j])], 1e-30f));
  }
  gathered.mean_loss = n == 0 ? 0.0 : loss_sum / static_cast<double>(n);
  return gathered;
}

}  // namespace alz::train
