// `alz explain` through the `alz` dispatcher (cli/cli.cpp), as a user runs it, on a checkpoint of
// a small ResNetV2 and a few slices: the overlays and gradcam.json it writes (shapes, ranges,
// the class asked for), the options, and the errors a user can cause (missing weights, a
// missing path, an unknown class, a bad overlay size; an unreadable image is skipped and
// reported, and the command fails only when nothing could be explained).
// Run: ctest --test-dir build -R CliExplain
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "core/generator.h"
#include "data/image.h"
#include "models/checkpoint.h"
#include "support/compare.h"
#include "support/run_cli.h"

namespace alz {
namespace {

namespace fs = std::filesystem;

using Result = test::CliResult;
Result alz(std::vector<std::string> args) { return test::run_cli(std::move(args)); }

data::Image random_image(int height, int width, uint64_t seed) {
  Generator gen(seed);
  Tensor values = Tensor::uniform({height * width * 3}, gen, 0.0, 255.0);
  data::Image image(height, width, 3);
  for (size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = static_cast<uint8_t>(values.data<float>()[i]);
  return image;
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

class CliExplain : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = test::fresh_temp_dir("cli_explain");
    // 40x36 input: a 5x5 last block of 32 channels.
    ResNetV2 model(resnet_v2_config("resnetv2:stem8:1x4,1x8", 4, 40, 36), 5);
    model.set_training(false);
    save_checkpoint(root_ + "/model.safetensors", model, {{"class_names", R"(["A","B","C","D"])"}});
    fs::create_directories(root_ + "/slices/sub");
    data::write_png(root_ + "/slices/one.png", random_image(48, 40, 1));
    data::write_jpeg(root_ + "/slices/sub/two.jpg", random_image(30, 50, 2));
    std::ofstream(root_ + "/broken.png") << "not an image";
  }
  static std::string root_;
};
std::string CliExplain::root_;

TEST_F(CliExplain, WritesOverlaysAndTheMapsOfThePredictedClass) {
  const std::string out = root_ + "/out_default";
  Result r =
      alz({"explain", "--weights", root_ + "/model.safetensors", root_ + "/slices", "--out", out, "--device", "cpu"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("2 explained, 0 skipped"), std::string::npos) << r.out;
  nlohmann::json json = read_json(out + "/gradcam.json");
  EXPECT_EQ(json["layer"], "post_relu");
  EXPECT_EQ(json["input_size"], nlohmann::json({40, 36}));
  EXPECT_EQ(json["map_size"], nlohmann::json({5, 5}));
  EXPECT_TRUE(json["skipped"].empty());
  ASSERT_EQ(json["images"].size(), 2u);
  const char* names[] = {"0000_one.png", "0001_two.png"};
  for (size_t i = 0; i < 2; ++i) {
    const nlohmann::json& entry = json["images"][i];
    EXPECT_EQ(entry["class"], entry["predicted"]);
    EXPECT_EQ(entry["overlay"], (fs::path(out) / names[i]).string());
    double total = 0;
    for (const auto& item : entry["probabilities"].items()) total += item.value().get<double>();
    EXPECT_NEAR(total, 1.0, 1e-6);
    for (const char* method : {"gradcam", "gradcam++"}) {
      const nlohmann::json& cam = entry[method];
      ASSERT_EQ(cam["map"].size(), 5u) << method;
      double top = 0;
      for (const nlohmann::json& row : cam["map"]) {
        ASSERT_EQ(row.size(), 5u);
        for (double v : row) {
          EXPECT_GE(v, 0.0);
          EXPECT_LE(v, 1.0);
          top = std::max(top, v);
        }
      }
      // Normalised by its maximum: the peak is 1 unless the map is flat zero.
      if (cam["raw_max"].get<double>() > 0)
        EXPECT_FLOAT_EQ(top, 1.0f) << method;
      else
        EXPECT_EQ(top, 0.0) << method;
      EXPECT_FALSE(cam.contains("weights"));
    }
    data::Image overlay = data::decode_image_file(entry["overlay"].get<std::string>());
    EXPECT_EQ(overlay.height, 256);
    EXPECT_EQ(overlay.width, 256);
  }
}

TEST_F(CliExplain, ClassByNameOrIndexMethodSizeAndFullMaps) {
  const std::string out = root_ + "/out_options";
  Result r = alz({"explain", "--weights", root_ + "/model.safetensors", root_ + "/slices/one.png", "--out", out,
                  "--class", "C", "--method", "gradcam++", "--overlay-size", "120x150", "--full", "--device", "cpu"});
  ASSERT_EQ(r.code, 0) << r.err;
  nlohmann::json json = read_json(out + "/gradcam.json");
  EXPECT_EQ(json["overlay_method"], "gradcam++");
  const nlohmann::json& entry = json["images"][0];
  EXPECT_EQ(entry["class"], "C");
  EXPECT_EQ(entry["class_index"], 2);
  EXPECT_EQ(entry["gradcam"]["weights"].size(), 32u);
  EXPECT_EQ(entry["gradcam++"]["weights"].size(), 32u);
  ASSERT_EQ(entry["gradcam"]["map_full"].size(), 40u);
  EXPECT_EQ(entry["gradcam"]["map_full"][0].size(), 36u);
  data::Image overlay = data::decode_image_file(entry["overlay"].get<std::string>());
  EXPECT_EQ(overlay.height, 120);
  EXPECT_EQ(overlay.width, 150);

  r = alz({"explain", "--weights", root_ + "/model.safetensors", root_ + "/slices/one.png", "--out", out, "--class",
           "3", "--device", "cpu"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(read_json(out + "/gradcam.json")["images"][0]["class"], "D");
}

TEST_F(CliExplain, UnreadableImagesAreSkippedAndReported) {
  const std::string out = root_ + "/out_skip";
  Result r = alz({"explain", "--weights", root_ + "/model.safetensors", root_ + "/broken.png",
                  root_ + "/slices/one.png", "--out", out, "--device", "cpu"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("skipped"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("broken.png"), std::string::npos) << r.err;
  nlohmann::json json = read_json(out + "/gradcam.json");
  ASSERT_EQ(json["skipped"].size(), 1u);
  EXPECT_EQ(json["skipped"][0]["image"], root_ + "/broken.png");
  ASSERT_EQ(json["images"].size(), 1u);
  EXPECT_EQ(json["images"][0]["overlay"], (fs::path(out) / "0001_one.png").string());
  EXPECT_FALSE(fs::exists(fs::path(out) / "0000_broken.png"));

  // Nothing readable: an error, and the JSON still says why.
  const std::string none = root_ + "/out_none";
  r = alz(
      {"explain", "--weights", root_ + "/model.safetensors", root_ + "/broken.png", "--out", none, "--device", "cpu"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("no image could be explained"), std::string::npos) << r.err;
  EXPECT_EQ(read_json(none + "/gradcam.json")["skipped"].size(), 1u);
}

TEST_F(CliExplain, UserErrorsNameTheProblem) {
  const std::string out = root_ + "/out_errors";
  Result r = alz({"explain", "--weights", root_ + "/none.safetensors", root_ + "/slices", "--out", out});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("none.safetensors"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out));  // nothing written

  r = alz({"explain", "--weights", root_ + "/model.safetensors", root_ + "/missing.png", "--out", out});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("missing.png: no such file or folder"), std::string::npos) << r.err;

  r = alz({"explain", "--weights", root_ + "/model.safetensors", root_ + "/slices", "--out", out, "--class", "E",
           "--device", "cpu"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("--class E"), std::string::npos) << r.err;
  r = alz({"explain", "--weights", root_ + "/model.safetensors", root_ + "/slices", "--out", out, "--class", "4",
           "--device", "cpu"});
  EXPECT_EQ(r.code, 1);

  r = alz(
      {"explain", "--weights", root_ + "/model.safetensors", root_ + "/slices", "--out", out, "--overlay-size", "8"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--overlay-size"), std::string::npos) << r.err;
  r = alz({"explain", "--weights", root_ + "/model.safetensors", root_ + "/slices"});  // no --out
  EXPECT_NE(r.code, 0);
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
}  // namespace alz
