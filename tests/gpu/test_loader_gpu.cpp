// GPU test of data/loader.h: batches copied to the device (copy stream + event, ring of device
// buffers) equal the host batches of an identical CPU loader, for f32 and bf16, full and
// partial batches, across epochs, and a batch stays valid while the ring has not come round.
//   cmake --build build --target test_loader_gpu && build/tests/test_loader_gpu
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "data/loader.h"
#include "support/compare.h"

namespace alz::data {
namespace {

namespace fs = std::filesystem;

std::vector<Sample> make_samples(const std::string& dir, int count) {
  std::vector<Sample> samples;
  std::mt19937 rng(5);
  for (int i = 0; i < count; ++i) {
    Image image(11 + i % 5, 13 + i % 3, 3);
    for (auto& v : image.pixels) v = static_cast<uint8_t>(rng() & 0xFF);
    std::string name = "g";
    name += std::to_string(i);
    name += ".png";
    std::string path = (fs::path(dir) / name).string();
    write_png(path, image);
    samples.push_back({path, i % 4, ""});
  }
  return samples;
}

TEST(LoaderGpu, DeviceBatchesEqualHostBatches) {
  ALZ_REQUIRE_GPU();
  std::vector<Sample> samples = make_samples(test::fresh_temp_dir("loader_gpu"), 29);
  for (DType dtype : {DType::F32, DType::BF16}) {
    LoaderOptions o;
    o.batch_size = 8;  // 29 = 3 * 8 + 5: a partial batch each epoch
    o.height = 17;
    o.width = 19;
    o.workers = 3;
    o.seed = 77;
    o.augment = true;
    o.dtype = dtype;
    Loader host(samples, o);
    o.device = Device::cuda(0);
    Loader device(samples, o);
    for (int epoch = 0; epoch < 2; ++epoch) {
      std::optional<Batch> previous;
      std::vector<double> previous_expected;
      while (std::optional<Batch> d = device.next()) {
        std::optional<Batch> h = host.next();
        ASSERT_TRUE(h.has_value());
        ASSERT_EQ(d->samples, h->samples);
        ASSERT_TRUE(d->images.device().is_cuda());
        ASSERT_TRUE(d->host_images.is_pinned());
        ASSERT_EQ(d->labels.dtype(), DType::I32);
        ASSERT_TRUE(d->labels.device().is_cuda());
        cuda::synchronize(0);  // the copy runs on the copy stream; tests read back synchronously
        EXPECT_TRUE(test::bitwise_equal(d->images, h->images)) << "epoch " << epoch << " batch " << d->index;
        EXPECT_TRUE(test::bitwise_equal(d->labels, h->labels));
        EXPECT_EQ(d->labels_int, h->labels_int);
        // With two device buffers the previous batch is still intact.
        if (previous) {
          EXPECT_EQ(previous->images.to_vector(), previous_expected) << "ring reused too early";
        }
        previous = d;
        previous_expected = h->images.to_vector();
      }
      EXPECT_FALSE(host.next().has_value());
    }
  }
}

TEST(LoaderGpu, ResumeOnDevice) {
  ALZ_REQUIRE_GPU();
  std::vector<Sample> samples = make_samples(test::fresh_temp_dir("loader_gpu_resume"), 12);
  LoaderOptions o;
  o.batch_size = 5;
  o.height = o.width = 8;
  o.workers = 2;
  o.device = Device::cuda(0);
  Loader a(samples, o), b(samples, o);
  a.set_position(2, 1);
  b.set_position(2, 0);
  b.next();
  std::optional<Batch> x = a.next(), y = b.next();
  cuda::synchronize(0);
  EXPECT_EQ(x->samples, y->samples);
  EXPECT_TRUE(test::bitwise_equal(x->images, y->images));
}

}  // namespace
}  // namespace alz::data
