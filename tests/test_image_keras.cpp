// alz's input pipeline against the real thing, on fixtures that tools/make_image_fixtures.py
// made with PIL, TensorFlow and Keras 3 (committed in tests/fixtures/images/; no Python here):
//   - decoding: every JPEG (4:2:0, 4:2:2, 4:4:4, grey, progressive, odd sizes) gives exactly
//     PIL's pixels (keras.utils.load_img's), 0 grey levels apart; a CMYK JPEG is refused;
//   - resize: the keras method gives Keras's float pixels (keras.ops.image.resize, bilinear,
//     antialias=False, TensorFlow backend = tf.image.resize) to 1e-4, for a down-scale
//     (320x288 -> 224x224, 208x176 -> 80x80), an up-scale and a mixed one;
//   - the loader without augmentation gives exactly Keras's x / 127.5 - 1 of those floats.
// The fixtures store, per resize, the first two, middle and last two rows and columns: every
// horizontal and every vertical weight of the separable resize is used there; whole-image
// sums check the rest.
//   cmake --build build --target test_image_keras && build/tests/test_image_keras
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/image.h"
#include "data/loader.h"
#include "data/resize.h"
#include "support/compare.h"

namespace alz::data {
namespace {

using json = nlohmann::json;

// Tests run in the source tree's tests/ folder (tests/CMakeLists.txt).
const std::string kDir = "fixtures/images/";

json manifest() {
  std::ifstream in(kDir + "manifest.json");
  if (!in) throw Error(kDir + "manifest.json: missing (made by tools/make_image_fixtures.py)");
  return json::parse(in);
}

std::vector<float> read_floats(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": missing");
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), {});
  static_assert(sizeof(float) == 4, "the fixtures are float32");
  std::vector<float> out(bytes.size() / 4);
  std::memcpy(out.data(), bytes.data(), out.size() * 4);  // little-endian, as this machine
  return out;
}

// The stored rows (every column) then the stored columns (every row) of an (H, W, C) image.
std::vector<double> stored_lines(const FloatImage& image, const std::vector<int>& rows, const std::vector<int>& cols) {
  std::vector<double> out;
  for (int y : rows)
    for (int x = 0; x < image.width; ++x)
      for (int c = 0; c < image.channels; ++c) out.push_back(image.at(y, x, c));
  for (int x : cols)
    for (int y = 0; y < image.height; ++y)
      for (int c = 0; c < image.channels; ++c) out.push_back(image.at(y, x, c));
  return out;
}

double weighted_sum(const FloatImage& image) {  // the manifest's weights
  double sum = 0;
  for (int y = 0; y < image.height; ++y)
    for (int x = 0; x < image.width; ++x)
      for (int c = 0; c < image.channels; ++c) sum += double(image.at(y, x, c)) * ((y * 31 + x * 17) % 101 + 1);
  return sum;
}

double plain_sum(const FloatImage& image) {
  double sum = 0;
  for (float v : image.pixels) sum += v;
  return sum;
}

TEST(KerasInputs, JpegDecodingEqualsPilExactly) {
  json m = manifest();
  ASSERT_GE(m["decode"].size(), 6u);
  for (const json& entry : m["decode"]) {
    const std::string jpeg = kDir + entry["jpeg"].get<std::string>();
    Image ours = decode_image_file(jpeg);
    Image pil = decode_image_file(kDir + entry["pixels_png"].get<std::string>());  // lossless
    ASSERT_EQ(ours.width, entry["width"].get<int>()) << jpeg;
    ASSERT_EQ(ours.height, entry["height"].get<int>()) << jpeg;
    ASSERT_EQ(ours.channels, 3);
    ASSERT_EQ(pil.pixels.size(), ours.pixels.size()) << jpeg;
    int worst = 0;
    size_t differing = 0;
    for (size_t i = 0; i < ours.pixels.size(); ++i) {
      int d = std::abs(int(ours.pixels[i]) - int(pil.pixels[i]));
      worst = std::max(worst, d);
      differing += d != 0;
    }
    EXPECT_EQ(worst, 0) << jpeg << ": " << differing << " of " << ours.pixels.size() << " values differ from PIL";
    EXPECT_EQ(probe_image_file(jpeg).channels_in_file, entry["grey"].get<bool>() ? 1 : 3) << jpeg;
  }
}

TEST(KerasInputs, CmykJpegIsRefusedClearly) {
  const std::string path = kDir + manifest()["cmyk"].get<std::string>();
  for (auto call :
       {+[](const std::string& p) { decode_image_file(p); }, +[](const std::string& p) { probe_image_file(p); }}) {
    std::string message = test::error_message([&] { call(path); });
    EXPECT_NE(message.find(path + ": CMYK JPEG is not supported"), std::string::npos) << message;
  }
}

TEST(KerasInputs, KerasResizeEqualsKerasFloats) {
  json m = manifest();
  ASSERT_GE(m["resize"].size(), 4u);
  for (const json& entry : m["resize"]) {
    const std::string name = entry["name"];
    Image source = decode_image_file(kDir + entry["source_png"].get<std::string>());  // PIL's pixels
    const int h = entry["height"], w = entry["width"];
    FloatImage ours = resize_image(source, h, w, ResizeMethod::Keras);
    const auto rows = entry["rows"].get<std::vector<int>>(), cols = entry["cols"].get<std::vector<int>>();
    std::vector<float> stored = read_floats(kDir + entry["file"].get<std::string>());
    std::vector<double> keras(stored.begin(), stored.end()), got = stored_lines(ours, rows, cols);
    ASSERT_EQ(got.size(), keras.size()) << name;
    ALZ_EXPECT_CLOSE(got, keras, (test::Tolerance{1e-4, 0.0})) << name << ": float32 rounding only";
    // The whole image: per-value float noise of ~1e-5 with either sign sums to far below this.
    const double count = double(h) * w * 3;
    EXPECT_NEAR(plain_sum(ours), entry["sum"].get<double>(), 1e-6 * count * 255) << name;
    EXPECT_NEAR(weighted_sum(ours), entry["weighted_sum"].get<double>(), 1e-6 * count * 255 * 101) << name;
    // Keras on the JAX backend agrees with TensorFlow to float32 rounding of its weights.
    EXPECT_LT(entry["keras_on_jax_max_diff"].get<double>(), 2e-3) << name;
  }
}

TEST(KerasInputs, AreaResizeIsNotKeras) {
  // The area filter averages what the keras method skips when shrinking 320x288 -> 224: the
  // option changes pixels by whole grey levels (this is why it is not the default).
  Image source = decode_image_file(kDir + "rgb420_320x288.pil.png");
  FloatImage keras = resize_image(source, 224, 224, ResizeMethod::Keras);
  FloatImage area = resize_image(source, 224, 224, ResizeMethod::Area);
  double worst = 0;
  for (size_t i = 0; i < keras.pixels.size(); ++i)
    worst = std::max(worst, double(std::abs(keras.pixels[i] - area.pixels[i])));
  EXPECT_GT(worst, 5.0);
}

TEST(KerasInputs, LoaderWithoutAugmentationGivesKerasPreprocessedFloats) {
  json m = manifest();
  for (const json& entry : m["resize"]) {
    const std::string name = entry["name"];
    LoaderOptions o;
    o.batch_size = 1;
    o.height = entry["height"];
    o.width = entry["width"];
    o.shuffle = false;
    o.workers = 1;
    Loader loader({{kDir + entry["source_jpeg"].get<std::string>(), 0, ""}}, o);  // decodes the JPEG itself
    std::optional<Batch> batch = loader.next();
    ASSERT_TRUE(batch.has_value());
    FloatImage got(o.height, o.width, 3);
    std::vector<double> values = batch->images.to_vector();
    ASSERT_EQ(values.size(), got.pixels.size());
    for (size_t i = 0; i < values.size(); ++i) got.pixels[i] = static_cast<float>(values[i]);
    const auto rows = entry["rows"].get<std::vector<int>>(), cols = entry["cols"].get<std::vector<int>>();
    std::vector<float> stored = read_floats(kDir + entry["file"].get<std::string>());
    std::vector<double> keras;
    for (float v : stored) keras.push_back(v / 127.5f - 1.0f);  // keras.applications.resnet_v2.preprocess_input
    // The resize's 1e-4 grey levels become 1e-4 / 127.5 here.
    ALZ_EXPECT_CLOSE(stored_lines(got, rows, cols), keras, (test::Tolerance{1e-6, 0.0})) << name;
  }
}

}  // namespace
}  // namespace alz::data
