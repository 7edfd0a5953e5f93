// Keras's own files, made by Keras 3 (tools/make_keras_fixtures.py), read by alz: every format
// (legacy weights with Keras 3 and Keras 2 names, full-model .h5, .weights.h5, .keras stored and
// deflated) gives Keras's probabilities on the same pixels to 1e-4; the architecture is
// inferred from the weights; the notop file loads as a backbone; the model's Keras layer table
// is Keras's model.layers; what alz writes reads back bit-exact and names its Keras 3 groups as
// Keras does.
// Run: ctest --test-dir build -R KerasFiles
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "core/error.h"
#include "models/checkpoint.h"
#include "models/hdf5_file.h"
#include "models/keras_config.h"
#include "models/weights_file.h"
#include "support/compare.h"
#include "support/keras_fixtures.h"

namespace alz {
namespace {

namespace fs = std::filesystem;

// Keras computed in f32 (XLA on the CPU) and alz in f32 with another summation order; the
// probabilities of a 20-layer network agree far below this.
constexpr test::Tolerance kKerasProbabilities{1e-4, 0};

struct FormatCase {
  const char* file;
  const char* format;  // metadata "format"
  bool has_config;     // input size and classes come from the file
};

const FormatCase kFormats[] = {
    {"mini_legacy.h5", "keras-h5", false},
    {"mini_legacy_k2.h5", "keras-h5", false},
    {"mini_model.h5", "keras-h5-model", true},
    {"mini.weights.h5", "keras-weights-h5", false},
    {"mini.keras", "keras", true},
    {"mini_deflated.keras", "keras", true},
};

TEST(KerasFiles, EveryFormatGivesKerasProbabilities) {
  test::KerasFixtures k;
  for (const FormatCase& c : kFormats) {
    SCOPED_TRACE(c.file);
    SafetensorsFile file = read_weights_file(k.path(c.file));
    EXPECT_EQ(file.metadata.at("format"), c.format);
    ResNetV2Config config = infer_resnet_v2(file);
    EXPECT_EQ(config.name, k.model);
    EXPECT_EQ(config.classes, k.classes);
    if (c.has_config) {
      EXPECT_EQ(config.input_height, k.height);
      EXPECT_EQ(config.input_width, k.width);
      EXPECT_EQ(file.metadata.at("keras_name"), k.keras_name);
    } else {
      EXPECT_EQ(config.input_height, 224);  // weights alone do not fix an input size
      config.input_height = k.height;
      config.input_width = k.width;
    }
    ResNetV2 model(config, /*seed=*/5);
    LoadReport report = load_weights_file(file, model, LoadMode::Strict);
    EXPECT_TRUE(report.exact()) << report.describe();
    Tensor expected = Tensor::from_vector(k.expected, {static_cast<int64_t>(k.image_files.size()), k.classes});
    ALZ_EXPECT_CLOSE(k.probabilities(model), expected, kKerasProbabilities);
  }
}

TEST(KerasFiles, TheProbabilitiesDifferBetweenImages) {
  // Guards the fixture itself: a head that ignored its input would make the comparison weak.
  test::KerasFixtures k;
  double largest_gap = 0;
  for (int c = 0; c < k.classes; ++c)
    largest_gap = std::max(largest_gap, std::abs(k.expected[c] - k.expected[k.classes + c]));
  EXPECT_GT(largest_gap, 0.05);
}

TEST(KerasFiles, FormatIsToldByContentNotName) {
  test::KerasFixtures k;
  std::string dir = test::fresh_temp_dir("keras_magic");
  fs::copy_file(k.path("mini.keras"), dir + "/weights.bin");
  fs::copy_file(k.path("mini_legacy.h5"), dir + "/weights.safetensors");
  EXPECT_EQ(detect_weights_format(dir + "/weights.bin"), WeightsFormat::Zip);
  EXPECT_EQ(detect_weights_format(dir + "/weights.safetensors"), WeightsFormat::Hdf5);
  EXPECT_EQ(read_weights_file(dir + "/weights.bin").metadata.at("format"), "keras");
  EXPECT_EQ(read_weights_file(dir + "/weights.safetensors").metadata.at("format"), "keras-h5");
}

TEST(KerasFiles, NotopFileLoadsAsABackboneWithAFreshHead) {
  test::KerasFixtures k;
  SafetensorsFile notop = read_weights_file(k.path("mini_notop_legacy.h5"));
  ResNetV2Config config = infer_resnet_v2(notop);
  EXPECT_EQ(config.name, k.model);
  EXPECT_EQ(config.classes, 0);  // no top
  config.classes = 3;            // the dataset's classes
  ResNetV2 model(config, 1);
  Tensor head_before = model.head().kernel_.clone();
  LoadReport report = load_weights_file(notop, model, LoadMode::Partial);
  EXPECT_EQ(report.missing, (std::vector<std::string>{"predictions/kernel", "predictions/bias"}));
  EXPECT_TRUE(report.skipped_unexpected.empty() && report.skipped_shape_mismatch.empty());
  EXPECT_EQ(report.loaded.size(), model.parameters().size() - 2);
  EXPECT_TRUE(test::bitwise_equal(model.head().kernel_, head_before));  // left at its initialisation
  // The backbone is the full model's, tensor for tensor.
  SafetensorsFile full = read_weights_file(k.path("mini_legacy.h5"));
  for (const NamedTensor& t : notop.tensors) EXPECT_TRUE(test::bitwise_equal(t.tensor, *full.find(t.name))) << t.name;
  std::string line = describe_transfer(report);
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  EXPECT_NE(line.find("2 left at their fresh initialisation (predictions/kernel, predictions/bias)"), std::string::npos)
      << line;
}

TEST(KerasFiles, LayerTableIsKerasModelLayers) {
  test::KerasFixtures k;
  ResNetV2 model(resnet_v2_config(k.model, k.classes, k.height, k.width), 0);
  std::vector<std::string> names;
  for (const KerasLayer& layer : model.keras_layers()) names.push_back(layer.name);
  EXPECT_EQ(names, k.layers);
  // Keras 3's full-model config: the same classes per layer.
  SafetensorsFile file = read_weights_file(k.path("mini.keras"));
  EXPECT_EQ(file.metadata.at("input_size"), std::to_string(k.height) + "x" + std::to_string(k.width));
}

TEST(KerasFiles, SpecNamesRoundTrip) {
  ResNetV2Config c = resnet_v2_config("resnetv2:stem64:2x4,2x8,2x8", 4, 40, 36);
  EXPECT_EQ(c.blocks, (std::vector<int>{2, 2, 2}));
  EXPECT_EQ(c.filters, (std::vector<int>{4, 8, 8}));
  EXPECT_EQ(c.stem_filters, 64);
  EXPECT_EQ(resnet_v2_spec_name(c), "resnetv2:stem64:2x4,2x8,2x8");
  EXPECT_EQ(resnet_v2_name_for(resnet_v2_config("resnet50v2", 4)), "resnet50v2");
  EXPECT_NE(test::error_message([] { resnet_v2_config("resnetv2:stem64:2x", 4); }).find("unknown model"),
            std::string::npos);
}

TEST(KerasFiles, ExportsReadBackBitExact) {
  test::KerasFixtures k;
  std::string dir = test::fresh_temp_dir("keras_export");
  SafetensorsFile source = read_weights_file(k.path("mini_model.h5"));
  ResNetV2 model(infer_resnet_v2(source), 0);
  load_weights_file(source, model, LoadMode::Strict);
  write_keras_h5(model, dir + "/out.h5");
  write_keras_weights_h5(model, dir + "/out.weights.h5");
  write_keras_archive(model, dir + "/out.keras");
  for (const char* name : {"out.h5", "out.weights.h5", "out.keras"}) {
    SCOPED_TRACE(name);
    SafetensorsFile back = read_weights_file(dir + "/" + name);
    ASSERT_EQ(back.tensors.size(), source.tensors.size());
    for (const NamedTensor& t : source.tensors) {
      const Tensor* other = back.find(t.name);
      ASSERT_NE(other, nullptr) << t.name;
      EXPECT_TRUE(test::bitwise_equal(*other, t.tensor)) << t.name;
    }
    EXPECT_EQ(infer_resnet_v2(back).name, k.model);
  }
  EXPECT_EQ(read_weights_file(dir + "/out.keras").metadata.at("input_size"), "40x36");  // from the written config
  // Legacy: layer_names is Keras's model.layers, weightless layers included.
  H5File legacy = H5File::open(dir + "/out.h5");
  EXPECT_EQ(legacy.string_attribute("/", "layer_names"), k.layers);
  EXPECT_EQ(legacy.string_attribute("conv1_pad", "weight_names"), std::vector<std::string>{});
  // Keras 3: the same group names as Keras's own file, each naming the same layer.
  H5File ours = H5File::open(dir + "/out.weights.h5");
  H5File keras = H5File::open(k.path("mini.weights.h5"));
  ASSERT_EQ(ours.children("layers"), keras.children("layers"));
  for (const std::string& group : keras.children("layers"))
    EXPECT_EQ(ours.string_attribute("layers/" + group + "/vars", "name"),
              keras.string_attribute("layers/" + group + "/vars", "name"))
        << group;
}

TEST(KerasFiles, ParsesKeras2AndKeras3Configs) {
  KerasModelConfig k2 = parse_keras_config(
      R"({"class_name": "Model", "config": {"name": "resnet152v2", "layers": [
          {"class_name": "InputLayer", "name": "input_1", "config": {"batch_input_shape": [null, 224, 208, 3]}},
          {"class_name": "Dense", "name": "predictions", "config": {"units": 1000}}]}})",
      "k2");
  EXPECT_EQ(k2.name, "resnet152v2");
  EXPECT_EQ(k2.input_height, 224);
  EXPECT_EQ(k2.input_width, 208);
  EXPECT_EQ(k2.classes, 1000);
  EXPECT_EQ(k2.layer_class.at("predictions"), "Dense");
  KerasModelConfig open_size = parse_keras_config(
      R"({"config": {"layers": [{"class_name": "InputLayer", "config": {"batch_shape": [null, null, null, 3]}}]}})",
      "k3");
  EXPECT_EQ(open_size.input_height, 0);
  EXPECT_NE(
      test::error_message([] { parse_keras_config("[1, 2]", "x.keras: config.json"); }).find("x.keras: config.json"),
      std::string::npos);
}

}  // namespace
}  // namespace alz
