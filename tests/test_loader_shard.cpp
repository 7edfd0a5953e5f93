// The loader's data-parallel shards (data/loader.h, LoaderOptions::rank and ::world): for each
// world size, the ranks' batches b put side by side are exactly batch b of one process with the
// global batch size (the same global order), each sample is seen once per epoch, every batch
// knows its global size, and a last batch smaller than the world leaves some ranks empty.
// Run: ctest --test-dir build -R LoaderShard
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "data/image.h"
#include "data/loader.h"
#include "support/compare.h"

namespace alz::data {
namespace {

namespace fs = std::filesystem;

// `count` small random PNGs; label = i % 4.
std::vector<Sample> make_samples(const std::string& dir, int count) {
  std::vector<Sample> samples;
  std::mt19937 rng(7);
  for (int i = 0; i < count; ++i) {
    Image image(6 + i % 3, 5 + i % 2, 3);
    for (auto& v : image.pixels) v = static_cast<uint8_t>(rng() & 0xFF);
    char name[32];
    std::snprintf(name, sizeof name, "s%d.png", i);
    std::string path = (fs::path(dir) / name).string();
    write_png(path, image);
    samples.push_back({path, i % 4, ""});
  }
  return samples;
}

LoaderOptions options(int batch, int rank, int world) {
  LoaderOptions o;
  o.batch_size = batch;
  o.height = 4;
  o.width = 4;
  o.workers = 2;
  o.seed = 99;
  o.rank = rank;
  o.world = world;
  return o;
}

struct EpochBatches {
  std::vector<std::vector<int64_t>> samples;
  std::vector<int64_t> global_sizes;
};

EpochBatches read_epoch(Loader& loader) {
  EpochBatches out;
  while (std::optional<Batch> batch = loader.next()) {
    EXPECT_EQ(batch->images.dim(0), static_cast<int64_t>(batch->samples.size()));
    out.samples.push_back(batch->samples);
    out.global_sizes.push_back(batch->global_size);
  }
  return out;
}

// 23 samples: 2 ranks x 4 leave a last global batch of 7, 3 ranks x 4 one of 11, and 5 ranks
// x 2 one of 3 for 5 ranks (two ranks get an empty share).
TEST(LoaderShard, RanksSplitTheSingleProcessBatchesExactlyOnce) {
  std::string dir = test::fresh_temp_dir("loader_shard");
  std::vector<Sample> samples = make_samples(dir, 23);
  struct Case {
    int world, batch;
  };
  for (Case c : {Case{2, 4}, Case{3, 4}, Case{5, 2}}) {
    SCOPED_TRACE("world " + std::to_string(c.world) + ", batch " + std::to_string(c.batch));
    Loader single(samples, options(c.batch * c.world, 0, 1));
    std::vector<std::unique_ptr<Loader>> ranks;
    for (int r = 0; r < c.world; ++r) ranks.push_back(std::make_unique<Loader>(samples, options(c.batch, r, c.world)));
    for (int epoch = 0; epoch < 2; ++epoch) {
      EpochBatches whole = read_epoch(single);
      std::vector<EpochBatches> parts;
      for (auto& loader : ranks) parts.push_back(read_epoch(*loader));
      std::vector<int> seen(samples.size(), 0);
      for (size_t b = 0; b < whole.samples.size(); ++b) {
        std::vector<int64_t> joined;
        for (int r = 0; r < c.world; ++r) {
          ASSERT_EQ(parts[r].samples.size(), whole.samples.size()) << "rank " << r;
          EXPECT_LE(parts[r].samples[b].size(), static_cast<size_t>(c.batch));
          EXPECT_EQ(parts[r].global_sizes[b], static_cast<int64_t>(whole.samples[b].size()));
          joined.insert(joined.end(), parts[r].samples[b].begin(), parts[r].samples[b].end());
        }
        EXPECT_EQ(joined, whole.samples[b]) << "batch " << b << " of epoch " << epoch;
        for (int64_t s : joined) ++seen[static_cast<size_t>(s)];
      }
      for (size_t s = 0; s < seen.size(); ++s) EXPECT_EQ(seen[s], 1) << "sample " << s << " epoch " << epoch;
    }
  }
}

TEST(LoaderShard, ResumePositionIsTheSameGlobalBatch) {
  std::string dir = test::fresh_temp_dir("loader_shard_resume");
  std::vector<Sample> samples = make_samples(dir, 17);
  Loader straight(samples, options(3, 1, 2));
  read_epoch(straight);
  std::vector<std::vector<int64_t>> rest;
  for (int i = 0; i < 2; ++i) rest.push_back(straight.next()->samples);  // epoch 1, batches 0 and 1
  Loader resumed(samples, options(3, 1, 2));
  resumed.set_position(1, 1);
  EXPECT_EQ(resumed.next()->samples, rest[1]);
}

}  // namespace
}  // namespace alz::data
