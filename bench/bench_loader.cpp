// Loader throughput: decode (JPEG through libjpeg-turbo) -> resize (keras: bilinear as Keras,
// or area) to floats -> augment (flip, rotation, zoom, shift, brightness, contrast) ->
// x/127.5 - 1 into f32 NHWC batches of 32, with 1 and 2 workers, on the sizes of the real data:
// 176x208 grey JPEGs (the Kaggle originals) and 180x180 RGB JPEGs with 4:2:0 chroma (the
// augmented copies), to 224x224 (the GPU default) and 80x80 (the CPU default). The JPEGs
// (brain-like ellipses with texture and noise, so sizes and decode costs are realistic) are
// written to a temp folder first and removed at the end.
//   cmake --build build --target bench_loader && build/bench/bench_loader
// Output per row: images/s (items_per_second) and what the workers could sustain if never
// starved (capacity_img_s). Then the pieces of one sample, single-threaded: decode, resize,
// augment. Results: bench/RESULTS.md.
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

constexpr int kImages = 384;  // per set

// An axial-slice-like picture, (h, w, channels): dark background, a bright textured ellipse, a
// darker inner ellipse ("ventricles"), per-pixel noise; RGB ones are slightly tinted.
Image phantom_slice(int index, int h, int w, int channels) {
  std::mt19937 rng(static_cast<uint32_t>(index));
  std::normal_distribution<float> noise(0.0f, 6.0f);
  Image image(h, w, channels);
  const float cy = h / 2.0f, cx = w / 2.0f, ry = 0.41f * h + index % 7, rx = 0.39f * w + index % 5;
  const float vent = 0.18f + 0.02f * (index % 4);
  const float tint[3] = {1.0f, 0.93f, 0.86f};
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      float dy = (y - cy) / ry, dx = (x - cx) / rx, r = dy * dy + dx * dx;
      float v = r < 1.0f ? 150.0f + 40.0f * std::cos(9.0f * dx) * std::sin(7.0f * dy) : 5.0f;
      if (r < vent) v = 40.0f;
      v += noise(rng);
      for (int c = 0; c < channels; ++c)
        image.at(y, x, c) = static_cast<uint8_t>(std::clamp(v * (channels == 1 ? 1.0f : tint[c]), 0.0f, 255.0f));
    }
  return image;
}

// samples[0]: 176x208 grey JPEGs (quality 92); samples[1]: 180x180 RGB JPEGs (quality 85:
// stb_image_write then subsamples chroma 4:2:0).
struct Fixture {
  std::string dir;
  std::vector<Sample> samples[2];
  Fixture() {
    dir = (fs::temp_directory_path() / ("alz_bench_loader_" + std::to_string(::getpid()))).string();
    fs::create_directories(dir);
    for (int i = 0; i < kImages; ++i) {
      std::string grey = dir + "/grey" + std::to_string(i) + ".jpg";
      write_jpeg(grey, phantom_slice(i, 208, 176, 1), 92);
      samples[0].push_back({grey, i % 4, ""});
      std::string rgb = dir + "/rgb" + std::to_string(i) + ".jpg";
      write_jpeg(rgb, phantom_slice(i, 180, 180, 3), 85);
      samples[1].push_back({rgb, i % 4, ""});
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
  o.height = o.width = static_cast<int>(state.range(1));
  o.workers = static_cast<int>(state.range(2));
  o.augment = state.range(3) != 0;
  o.resize = state.range(4) != 0 ? ResizeMethod::Area : ResizeMethod::Keras;
  o.prefetch_batches = 2 * o.workers + 2;
  o.seed = 1;
  Loader loader(fixture().samples[state.range(0)], o);
  int64_t images = 0;
  for (auto _ : state) {
    while (std::optional<Batch> batch = loader.next()) {
      benchmark::DoNotOptimize(batch->images.raw_data());
      images += static_cast<int64_t>(batch->samples.size());
    }
  }
  state.SetItemsProcessed(images);
  state.counters["capacity_img_s"] = loader.stats().capacity_images_per_second(o.workers);
}

// rgb: which set; size: the output side; area: the resize method (0 keras, 1 area).
void loader_args(benchmark::internal::Benchmark* b) {
  for (int set : {0, 1})
    for (int size : {224, 80})
      for (int augment : {1, 0})
        for (int workers : {1, 2})
          for (int area : {0, 1}) b->Args({set, size, workers, augment, area});
  b->ArgNames({"rgb", "size", "workers", "augment", "area"});
}
BENCHMARK(BM_Loader)->Apply(loader_args)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);

void BM_Decode(benchmark::State& state) {
  const std::string& path = fixture().samples[state.range(0)][0].path;
  for (auto _ : state) benchmark::DoNotOptimize(decode_image_file(path).pixels.data());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Decode)->Arg(0)->Arg(1)->ArgName("rgb");

void BM_Resize(benchmark::State& state) {
  Image image = decode_image_file(fixture().samples[state.range(0)][0].path);
  const int size = static_cast<int>(state.range(1));
  const ResizeMethod method = state.range(2) != 0 ? ResizeMethod::Area : ResizeMethod::Keras;
  for (auto _ : state) benchmark::DoNotOptimize(resize_image(image, size, size, method).pixels.data());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Resize)
    ->Args({0, 224, 0})
    ->Args({0, 80, 0})
    ->Args({1, 224, 0})
    ->Args({0, 224, 1})
    ->Args({0, 80, 1})
    ->Args({1, 224, 1})
    ->ArgNames({"rgb", "size", "area"});

void BM_Augment224(benchmark::State& state) {
  FloatImage image = resize_image(decode_image_file(fixture().samples[0][0].path), 224, 224);
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
