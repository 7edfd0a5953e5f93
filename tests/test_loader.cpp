// Tests of data/loader.h on the CPU: every sample once per epoch, order fixed by the seed,
// partial batches, resume positions, batch contents equal to a single-threaded pipeline,
// augmentation only when asked, the resize method, the cache (the same batches, the smaller
// form kept, bounded), bf16 output and bad files. Keras's own pixels: tests/test_image_keras.cpp.
//   cmake --build build --target test_loader && build/tests/test_loader
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "core/error.h"
#include "data/loader.h"
#include "support/compare.h"

namespace alz::data {
namespace {

namespace fs = std::filesystem;

// `count` small grey JPEG-free PNGs (exact decode) of odd sizes; label = i % 3.
std::vector<Sample> make_samples(const std::string& dir, int count) {
  std::vector<Sample> samples;
  std::mt19937 rng(11);
  for (int i = 0; i < count; ++i) {
    Image image(9 + i % 4, 7 + i % 3, 3);
    for (auto& v : image.pixels) v = static_cast<uint8_t>(rng() & 0xFF);
    std::string path = (fs::path(dir) / ("s" + std::to_string(i) + ".png")).string();
    write_png(path, image);
    samples.push_back({path, i % 3, ""});
  }
  return samples;
}

LoaderOptions small_options(int batch, int workers) {
  LoaderOptions o;
  o.batch_size = batch;
  o.height = 5;
  o.width = 6;
  o.workers = workers;
  o.seed = 1234;
  o.prefetch_batches = 3;
  return o;
}

std::vector<std::vector<int64_t>> epoch_batches(Loader& loader) {
  std::vector<std::vector<int64_t>> out;
  while (std::optional<Batch> batch = loader.next()) out.push_back(batch->samples);
  return out;
}

class LoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::fresh_temp_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    samples_ = make_samples(dir_, 23);
  }
  std::string dir_;
  std::vector<Sample> samples_;
};

TEST_F(LoaderTest, EverySampleOncePerEpochWithPartialBatch) {
  Loader loader(samples_, small_options(5, 3));
  EXPECT_EQ(loader.batches_per_epoch(), 5);
  for (int epoch = 0; epoch < 3; ++epoch) {
    auto batches = epoch_batches(loader);
    ASSERT_EQ(batches.size(), 5u);
    EXPECT_EQ(batches.back().size(), 3u) << "23 = 4 * 5 + 3";
    std::multiset<int64_t> seen;
    for (const auto& b : batches) seen.insert(b.begin(), b.end());
    ASSERT_EQ(seen.size(), 23u);
    for (int64_t i = 0; i < 23; ++i) EXPECT_EQ(seen.count(i), 1u) << "epoch " << epoch << " sample " << i;
    EXPECT_EQ(loader.epoch(), epoch + 1);
  }
  LoaderOptions drop = small_options(5, 2);
  drop.drop_last = true;
  Loader dropping(samples_, drop);
  auto batches = epoch_batches(dropping);
  ASSERT_EQ(batches.size(), 4u);
  for (const auto& b : batches) EXPECT_EQ(b.size(), 5u);
}

TEST_F(LoaderTest, OrderIsFixedBySeedAndChangesPerEpoch) {
  Loader a(samples_, small_options(4, 4)), b(samples_, small_options(4, 1));
  auto a0 = epoch_batches(a), b0 = epoch_batches(b);
  EXPECT_EQ(a0, b0) << "the worker count must not change the order";
  auto a1 = epoch_batches(a);
  EXPECT_NE(a0, a1) << "each epoch has its own order";
  LoaderOptions other = small_options(4, 2);
  other.seed = 99;
  Loader c(samples_, other);
  EXPECT_NE(epoch_batches(c), a0);
  LoaderOptions ordered = small_options(4, 2);
  ordered.shuffle = false;
  Loader d(samples_, ordered);
  auto d0 = epoch_batches(d);
  for (size_t i = 0; i < d0.size(); ++i)
    for (size_t j = 0; j < d0[i].size(); ++j) EXPECT_EQ(d0[i][j], int64_t(i * 4 + j));
}

TEST_F(LoaderTest, BatchContentsMatchTheSingleSamplePipeline) {
  for (bool augment : {false, true}) {
    for (DType dtype : {DType::F32, DType::BF16}) {
      LoaderOptions o = small_options(6, 3);
      o.augment = augment;
      o.dtype = dtype;
      Loader loader(samples_, o);
      Loader reference(samples_, o);  // used only for load_sample
      for (int epoch = 0; epoch < 2; ++epoch) {
        while (std::optional<Batch> batch = loader.next()) {
          const int64_t n = static_cast<int64_t>(batch->samples.size());
          ASSERT_EQ(batch->images.shape(), (Shape{n, 5, 6, 3}));
          ASSERT_EQ(batch->images.dtype(), dtype);
          ASSERT_EQ(batch->labels.shape(), Shape{n});
          ASSERT_EQ(batch->labels.dtype(), DType::I32);
          std::vector<double> images = batch->images.to_vector(), labels = batch->labels.to_vector();
          for (int64_t i = 0; i < n; ++i) {
            const int64_t s = batch->samples[i];
            EXPECT_EQ(labels[i], samples_[s].label);
            EXPECT_EQ(batch->labels_int[i], samples_[s].label);
            FloatImage expected = reference.load_sample(s, epoch);
            std::vector<float> f(expected.pixels.size());
            preprocess_to_float(expected, f.data());
            for (size_t k = 0; k < f.size(); ++k) {
              double want = dtype == DType::F32 ? f[k] : bf16_to_float(float_to_bf16(f[k]));
              ASSERT_EQ(images[i * 90 + k], want) << "sample " << s << " element " << k;
            }
          }
        }
      }
    }
  }
}

TEST_F(LoaderTest, AugmentationOnlyWhenAskedAndPerEpoch) {
  LoaderOptions plain = small_options(23, 2);
  plain.shuffle = false;
  LoaderOptions aug = plain;
  aug.augment = true;
  Loader p(samples_, plain), a(samples_, aug);
  std::vector<double> p0 = p.next()->images.to_vector(), a0 = a.next()->images.to_vector();
  EXPECT_NE(p0, a0);
  EXPECT_FALSE(p.next().has_value());
  EXPECT_FALSE(a.next().has_value());
  EXPECT_EQ(p.next()->images.to_vector(), p0) << "evaluation batches never change";
  EXPECT_NE(a.next()->images.to_vector(), a0) << "a new epoch draws new augmentations";
}

TEST_F(LoaderTest, ResumeSeesTheSameBatches) {
  LoaderOptions o = small_options(4, 3);
  o.augment = true;
  Loader full(samples_, o);
  std::vector<std::vector<int64_t>> order;
  std::vector<std::vector<double>> images;
  for (int epoch = 0; epoch < 3; ++epoch)
    while (std::optional<Batch> b = full.next()) {
      order.push_back(b->samples);
      images.push_back(b->images.to_vector());
    }
  // Resume at epoch 1, batch 4 (of 6), after a few batches were already prefetched elsewhere.
  Loader resumed(samples_, o);
  resumed.next();
  resumed.next();
  resumed.set_position(1, 4);
  EXPECT_EQ(resumed.epoch(), 1);
  EXPECT_EQ(resumed.batch_index(), 4);
  size_t k = 6 + 4;
  for (int epoch = 1; epoch < 3; ++epoch)
    while (std::optional<Batch> b = resumed.next()) {
      ASSERT_LT(k, order.size());
      EXPECT_EQ(b->samples, order[k]);
      EXPECT_EQ(b->images.to_vector(), images[k]) << "batch " << k;
      ++k;
    }
  EXPECT_EQ(k, order.size());
  EXPECT_THROW(resumed.set_position(0, 7), Error);
  EXPECT_THROW(resumed.set_position(-1, 0), Error);
}

TEST_F(LoaderTest, CacheGivesTheSameBatches) {
  LoaderOptions o = small_options(7, 2);
  Loader plain(samples_, o);
  o.cache = true;
  o.prefetch_batches = 1;  // no work on epoch 1 before epoch 0 is done: every read then hits
  Loader cached(samples_, o);
  for (int epoch = 0; epoch < 2; ++epoch) {
    std::optional<Batch> a, b;
    while ((a = plain.next())) {
      b = cached.next();
      ASSERT_TRUE(b.has_value());
      EXPECT_EQ(a->images.to_vector(), b->images.to_vector());
    }
    EXPECT_FALSE(cached.next().has_value());
  }
  EXPECT_GE(cached.stats().cache_hits, 23) << "the second epoch reads only the cache";
  EXPECT_EQ(plain.stats().cache_hits, 0);
  LoaderStats s = cached.stats();
  EXPECT_EQ(s.delivered, 46);
  EXPECT_GT(s.images_per_second(), 0.0);
  EXPECT_NE(cached.describe().find("images/s"), std::string::npos);
}

TEST_F(LoaderTest, ResizeMethodIsTheOptions) {
  // No augmentation: a batch is exactly preprocess(resize_image(decode(file), method)).
  for (ResizeMethod method : {ResizeMethod::Keras, ResizeMethod::Area}) {
    LoaderOptions o = small_options(23, 2);
    o.shuffle = false;
    o.height = 4;  // every source is 9..12 x 7..9: both axes shrink
    o.width = 3;
    o.resize = method;
    Loader loader(samples_, o);
    std::vector<double> images = loader.next()->images.to_vector();
    for (int64_t s = 0; s < 23; ++s) {
      FloatImage expected = resize_image(decode_image_file(samples_[s].path), 4, 3, method);
      std::vector<float> f(expected.pixels.size());
      preprocess_to_float(expected, f.data());
      for (size_t k = 0; k < f.size(); ++k) ASSERT_EQ(images[s * 36 + k], f[k]) << resize_method_name(method);
    }
    EXPECT_NE(loader.describe().find(std::string("resize ") + resize_method_name(method)), std::string::npos);
  }
}

TEST_F(LoaderTest, CacheKeepsTheSmallerFormAndStaysBounded) {
  // Sample i is (9 + i % 4) x (7 + i % 3) x 3 bytes decoded; resized it is H * W * 3 floats.
  for (auto [height, width] : {std::pair{5, 6}, std::pair{2, 2}}) {
    int64_t all = 0;
    for (int i = 0; i < 23; ++i)
      all += std::min<int64_t>((9 + i % 4) * (7 + i % 3) * 3, int64_t{height} * width * 3 * 4);
    for (int64_t limit : {int64_t{1} << 30, all / 2}) {
      LoaderOptions o = small_options(7, 2);
      o.height = height;
      o.width = width;
      o.augment = true;
      Loader plain(samples_, o);
      o.cache = true;
      o.cache_max_bytes = limit;
      Loader cached(samples_, o);
      for (int epoch = 0; epoch < 2; ++epoch) {
        while (std::optional<Batch> a = plain.next()) {
          std::optional<Batch> b = cached.next();
          ASSERT_TRUE(b.has_value());
          ASSERT_EQ(a->images.to_vector(), b->images.to_vector()) << "a cached image gives the same floats";
        }
        ASSERT_FALSE(cached.next().has_value());
      }
      const int64_t held = cached.stats().cache_bytes;
      EXPECT_LE(held, limit);
      if (limit > all)
        EXPECT_EQ(held, all) << "every sample cached in its smaller form";
      else
        EXPECT_GT(held, 0);
    }
  }
}

TEST_F(LoaderTest, BadFileThrowsNamingItAndLoaderContinues) {
  std::vector<Sample> samples = samples_;
  std::ofstream((fs::path(dir_) / "bad.png").string()) << "not a png";
  samples[5].path = (fs::path(dir_) / "bad.png").string();
  LoaderOptions o = small_options(4, 2);
  o.shuffle = false;
  Loader loader(samples, o);
  EXPECT_TRUE(loader.next().has_value());  // samples 0..3
  try {
    loader.next();  // samples 4..7
    FAIL() << "expected alz::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.png: not an image"), std::string::npos) << e.what();
  }
  std::optional<Batch> after = loader.next();
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->samples.front(), 8);
}

TEST(LoaderOptionsCheck, InvalidSettingsThrow) {
  std::vector<Sample> samples = {{"a.png", 0, ""}, {"b.png", 1, ""}};
  LoaderOptions o;
  o.batch_size = 3;
  o.drop_last = true;
  EXPECT_THROW(Loader(samples, o), Error);  // no batch at all
  EXPECT_THROW(Loader({}, LoaderOptions{}), Error);
  o = LoaderOptions{};
  o.batch_size = 0;
  EXPECT_THROW(Loader(samples, o), Error);
  o = LoaderOptions{};
  o.dtype = DType::F64;
  EXPECT_THROW(Loader(samples, o), Error);
  std::vector<Sample> unlabelled = {{"a.png", -1, ""}};
  EXPECT_THROW(Loader(unlabelled, LoaderOptions{}), Error);
}

}  // namespace
}  // namespace alz::data
