// Keras files through the `alz` commands, as a user runs them: `alz predict` on a full Keras
// .h5 model matches Keras's probabilities (PNG files of the fixture's pixels, at the model's
// input size), `alz convert` to a checkpoint, `alz train --init-from <notop .h5>
// --freeze-backbone` for a few steps, `alz eval` on a .keras, `alz export` in every format, and
// the errors (nothing written on failure).
// Run: ctest --test-dir build -R KerasCli
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "data/phantom.h"
#include "models/weights_file.h"
#include "support/compare.h"
#include "support/keras_fixtures.h"
#include "support/run_cli.h"

namespace alz {
namespace {

namespace fs = std::filesystem;

using Result = test::CliResult;
Result alz(std::vector<std::string> args) { return test::run_cli(std::move(args)); }

#define EXPECT_HAS(text, part) EXPECT_NE((text).find(part), std::string::npos) << (text)

// Keras's probabilities against `alz predict --format json` on the fixture PNGs; the PNGs hold
// the very pixels Keras was given, at the model's input size.
void expect_keras_probabilities(const test::KerasFixtures& k, const std::string& weights, bool give_size = false) {
  std::vector<std::string> args = {"predict", "--weights", weights, "--format", "json", "--device", "cpu"};
  if (give_size) args.insert(args.end(), {"--input-size", std::to_string(k.height) + "x" + std::to_string(k.width)});
  for (const std::string& image : k.image_files) args.push_back(k.path(image));
  Result r = alz(args);
  ASSERT_EQ(r.code, 0) << r.err;
  nlohmann::json out = nlohmann::json::parse(r.out);
  std::vector<double> got;
  for (const auto& prediction : out["predictions"])
    for (int c = 0; c < k.classes; ++c) got.push_back(prediction["probabilities"]["class" + std::to_string(c)]);
  // f32 forward against Keras's f32 forward, through the PNG decoder: see test_keras_files.cpp.
  EXPECT_TRUE(test::all_close(got, k.expected, {1e-4, 0}, weights));
}

TEST(KerasCli, PredictOnAFullKerasModelMatchesKeras) {
  test::KerasFixtures k;
  expect_keras_probabilities(k, k.path("mini_model.h5"));
  expect_keras_probabilities(k, k.path("mini.keras"));
}

TEST(KerasCli, ConvertThenPredict) {
  test::KerasFixtures k;
  std::string dir = test::fresh_temp_dir("keras_cli_convert");
  Result r = alz({"convert", k.path("mini.keras"), dir + "/mini.safetensors"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_HAS(r.out, "4 classes, input 40x36");
  expect_keras_probabilities(k, dir + "/mini.safetensors");
  Result notop = alz({"convert", k.path("mini_notop_legacy.h5"), dir + "/notop.safetensors"});
  ASSERT_EQ(notop.code, 0) << notop.err;
  EXPECT_HAS(notop.out, "backbone (no top)");
  EXPECT_EQ(load_safetensors(dir + "/notop.safetensors").metadata.at("include_top"), "false");
  Result bad = alz({"convert", k.path("resnet_v1_mini.h5"), dir + "/v1.safetensors"});
  EXPECT_EQ(bad.code, 1);
  EXPECT_HAS(bad.err, "ResNet v1");
  EXPECT_FALSE(fs::exists(dir + "/v1.safetensors"));
}

TEST(KerasCli, FineTunesFromTheNotopFileWithAFrozenBackbone) {
  test::KerasFixtures k;
  std::string dir = test::fresh_temp_dir("keras_cli_train");
  data::PhantomSpec spec;
  spec.out_dir = dir + "/phantom";
  spec.counts = {8, 6, 10, 8};
  spec.height = 48;
  spec.width = 40;
  spec.seed = 4;
  spec.val_fraction = 0.25;
  data::write_phantom_dataset(spec);
  Result r = alz({"train", "--data", dir + "/phantom/manifest.csv", "--init-from", k.path("mini_notop_legacy.h5"),
                  "--freeze-backbone", "--device", "cpu", "--epochs", "1", "--batch", "8", "--input-size", "40x36",
                  "--workers", "1", "--run-dir", dir + "/run"});
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  EXPECT_HAS(r.out, "initialised from " + k.path("mini_notop_legacy.h5"));
  EXPECT_HAS(r.out, "2 left at their fresh initialisation (predictions/kernel, predictions/bias)");
  EXPECT_HAS(r.out, "model " + k.model);  // the architecture came from the file
  // The checkpoint names its shape, so it loads by itself; the backbone stayed the file's.
  SafetensorsFile best = load_safetensors(dir + "/run/best.safetensors");
  EXPECT_EQ(best.metadata.at("model"), k.model);
  SafetensorsFile notop = read_weights_file(k.path("mini_notop_legacy.h5"));
  EXPECT_TRUE(test::bitwise_equal(*best.find("conv2_block1_1_conv/kernel"), *notop.find("conv2_block1_1_conv/kernel")));
  Result eval = alz(
      {"eval", "--weights", dir + "/run/best.safetensors", "--data", dir + "/phantom/manifest.csv", "--device", "cpu"});
  EXPECT_EQ(eval.code, 0) << eval.err;
  Result keras_eval =
      alz({"eval", "--weights", k.path("mini.keras"), "--data", dir + "/phantom/manifest.csv", "--device", "cpu"});
  EXPECT_EQ(keras_eval.code, 0) << keras_eval.err;
  EXPECT_HAS(keras_eval.out, "macro avg");
}

TEST(KerasCli, ExportInEveryFormat) {
  test::KerasFixtures k;
  std::string dir = test::fresh_temp_dir("keras_cli_export");
  for (auto [format, name] :
       {std::pair{"keras-h5", "m.h5"}, std::pair{"keras-weights", "m.weights.h5"}, std::pair{"keras", "m.keras"}}) {
    Result r = alz({"export", "--weights", k.path("mini_model.h5"), "--format", format, dir + "/" + name});
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_HAS(r.out, std::string("(") + format + ")");
    // Weights-only files do not say the input size; the .keras says it in its config.
    expect_keras_probabilities(k, dir + "/" + name, std::string(format) != "keras");
  }
  Result by_ending = alz({"export", "--weights", k.path("mini_model.h5"), dir + "/auto.weights.h5"});
  EXPECT_EQ(by_ending.code, 0) << by_ending.err;
  EXPECT_HAS(by_ending.out, "(keras-weights)");
  Result wrong_ending =
      alz({"export", "--weights", k.path("mini_model.h5"), "--format", "keras-h5", dir + "/x.weights.h5"});
  EXPECT_EQ(wrong_ending.code, 1);
  EXPECT_HAS(wrong_ending.err, "not .weights.h5");
  Result bad_weights = alz({"export", "--weights", k.path("huge_shape.h5"), "--format", "keras", dir + "/bad.keras"});
  EXPECT_EQ(bad_weights.code, 1);
  EXPECT_FALSE(fs::exists(dir + "/bad.keras"));
  Result unknown = alz({"export", "--weights", k.path("mini_model.h5"), "--format", "onnx2", dir + "/m.onnx"});
  EXPECT_NE(unknown.code, 0);
}

TEST(KerasCli, ClearErrors) {
  test::KerasFixtures k;
  Result notop =
      alz({"predict", "--weights", k.path("mini_notop_legacy.h5"), k.path("image_0.png"), "--device", "cpu"});
  EXPECT_EQ(notop.code, 1);
  EXPECT_HAS(notop.err, "--classes");
  Result three = alz({"predict", "--weights", k.path("mini.keras"), "--classes", "3", k.path("image_0.png"), "--device",
                      "cpu", "--class-names", "a,b,c"});
  EXPECT_EQ(three.code, 1);
  EXPECT_HAS(three.err, "mini.keras: trained as ");  // what the file is, then what was asked
  EXPECT_HAS(three.err, "not the model asked for, resnetv2:stem64:2x4,2x8,2x8 with 3 classes");
  EXPECT_EQ(std::count(three.err.begin(), three.err.end(), '\n'), 1) << three.err;  // one line
}

}  // namespace
}  // namespace alz
