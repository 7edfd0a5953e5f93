// Loader throughput: decode (176x208 grey JPEG, like the Kaggle originals) -> resize to
// 224x224 -> augment (flip, rotation, zoom, shift, brightness, contrast) -> x/127.5 - 1 into
// f32 NHWC batches of 32, with 1, 2 and all-core worker counts. Target: >= 3,000 images/s on
// 16 cores. The JPEGs (a few hundred brain-like ellipses with texture) are written to a temp
// folder first and removed at the end.
//   cmake --build build --target bench_loader && build/bench/bench_loader
// Output per row: images/s (items_per_second) and the output bytes per second
// (224 * 224 * 3 * 4 = 602 KB per image).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <random>
#include <thread>

#include "data/loader.h"

namespace {

namespace fs = std::filesystem;
using namespace alz::data;

constexpr int kImages = 384;

// An axial-slice-like picture: dark background, a bright ellipse with a darker inner ellipse
// ("ventricles") and per-pixel noise, so JPEG sizes and decode costs are realistic.
Image phantom_slice(int index) {
  std::mt19937 rng(static_cast<uint32_t>(index));
  std::normal_distribution<float> noise(0.0f, 6.0f);
  const int h = 208, w = 176;
  Image image(h, w, 1);
  const float cy = h / 2.0f, cx = w / 2.0f, ry = 85.0f + index % 7, rx = 68.0f + index % 5;
  const float vent = 0.18f + 0.02f * (index % 4);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      float dy = (y - cy) / ry, dx = (x - cx) / rx, r = dy * dy + dx * dx;
      float v = r < 1.0f ? 150.0f + 40.0f * std::cos(9.0f * dx) * std::sin(7.0f * dy) : 5.0f;
      if (r < vent) v = 40.0f;
      image.at(y, x, 0) = static_cast<uint8_t>(std::clamp(v + noise(rng), 0.0f, 255.0f));
    }
  return image;
}

struct Fixture {
  std::string dir;
  std::vector<Sample> samples;
  Fixture() {
    dir = (fs::temp_directory_path() / ("alz_bench_loader_" + std::to_string(::getpid()))).string();
    fs::create_directories(dir);
    for (int i = 0; i < kImages; ++i) {
      std::string path = dir + "/slice" + std::to_string(i) + ".jpg";
      write_jpeg(path, phantom_slice(i), 92);
      samples.push_back({path, i % 4, ""});
    }
  }
  ~Fixture() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

void BM_Loader(benchmark::State& state) {
  LoaderOptions o;
  o.batch_size = 32;
  o.height = o.width = 224;
  o.workers = static_cast<int>(state.range(0));
  o.augment = state.range(1) != 0;
  o.prefetch_batches = 2 * o.workers + 2;
  o.seed = 1;
  Loader loader(fixture().samples, o);
  int64_t images = 0;
  for (auto _ : state) {
    while (std::optional<Batch> batch = loader.next()) {
      benchmark::DoNotOptimize(batch->images.raw_data());
      images += static_cast<int64_t>(batch->samples.size());
    }
  }
  state.SetItemsProcessed(images);
  state.SetBytesProcessed(images * 224 * 224 * 3 * 4);
  state.counters["workers"] = o.workers;
  state.counters["capacity_img_s"] = loader.stats().capacity_images_per_second(o.workers);
}

void worker_counts(benchmark::internal::Benchmark* b) {
  int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<int> counts = {1, 2};
  if (cores > 2) counts.push_back(cores);
  for (int augment : {1, 0})
    for (int workers : counts) b->Args({workers, augment});
  b->ArgNames({"workers", "augment"});
}

BENCHMARK(BM_Loader)->Apply(worker_counts)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);

// The pieces of one sample, single-threaded, for the breakdown.
void BM_DecodeJpeg176x208(benchmark::State& state) {
  const std::string& path = fixture().samples[0].path;
  for (auto _ : state) benchmark::DoNotOptimize(decode_image_file(path).pixels.data());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodeJpeg176x208);

void BM_Resize176x208To224(benchmark::State& state) {
  Image image = decode_image_file(fixture().samples[0].path);
  for (auto _ : state) benchmark::DoNotOptimize(resize_bilinear(image, 224, 224).pixels.data());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Resize176x208To224);

void BM_Augment224(benchmark::State& state) {
  Image image = resize_bilinear(decode_image_file(fixture().samples[0].path), 224, 224);
  AugmentOptions o;
  int64_t i = 0;
  for (auto _ : state) {
    AugmentParams p = draw_augment_params(o, 1, 0, i++, 224, 224);
    benchmark::DoNotOptimize(augment_image(image, p).pixels.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Augment224);

}  // namespace

BENCHMARK_MAIN();
