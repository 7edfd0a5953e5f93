// Checkpoints of models: save -> load round trip bit-exact with identical outputs, HWIO
// layout on disk, strict loading reporting every mismatch, transfer learning from a file
// with another head, and a bare Keras-named file without metadata.
// Run: ctest --test-dir build -R Checkpoint
#include <gtest/gtest.h>

#include "core/error.h"
#include "models/checkpoint.h"
#include "support/compare.h"
#include "tensor/autograd.h"

namespace alz {
namespace {

Tensor forward_eval(ResNetV2& model, const Tensor& x) {
  NoGradGuard no_grad;
  model.set_training(false);
  return model.forward(x);
}

TEST(Checkpoint, RoundTripIsBitExact) {
  std::string dir = test::fresh_temp_dir("checkpoint_round_trip");
  ResNetV2 a(resnet_v2_config("resnetv2-tiny", 4, 40, 36), 1);
  // Move the BatchNorm statistics away from their initial values first.
  Generator gen(2);
  Tensor x = Tensor::uniform({2, 40, 36, 3}, gen, -1.0, 1.0);
  {
    NoGradGuard no_grad;
    a.forward(x);
  }
  save_checkpoint(dir + "/a.safetensors", a, {{"class_names", R"(["A","B","C","D"])"}});

  SafetensorsFile file = load_safetensors(dir + "/a.safetensors");
  EXPECT_EQ(file.metadata.at("model"), "resnetv2-tiny");
  EXPECT_EQ(file.metadata.at("input_size"), "40x36");
  EXPECT_EQ(file.metadata.at("preprocessing"), "x/127.5-1");
  ASSERT_NE(file.find("conv1_conv/kernel"), nullptr);
  EXPECT_EQ(file.find("conv1_conv/kernel")->shape(), (Shape{7, 7, 3, 8}));  // HWIO on disk
  ResNetV2Config config = config_from_metadata(file);
  EXPECT_EQ(config.input_width, 36);

  ResNetV2 b(config, /*different seed*/ 99);
  LoadReport report = load_checkpoint(file, b, LoadMode::Strict);
  EXPECT_TRUE(report.exact()) << report.describe();
  std::vector<ParamRef> pa = a.parameters(), pb = b.parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(test::bitwise_equal(*pa[i].tensor, *pb[i].tensor)) << pa[i].name;
  EXPECT_TRUE(test::bitwise_equal(forward_eval(a, x), forward_eval(b, x)));
}

TEST(Checkpoint, HwioTransposeIsItsOwnInverse) {
  Generator gen(3);
  Tensor krsc = Tensor::normal({5, 3, 2, 7}, gen);
  Tensor hwio = krsc_to_hwio(krsc);
  EXPECT_EQ(hwio.shape(), (Shape{3, 2, 7, 5}));
  EXPECT_EQ(hwio.at({2, 1, 6, 4}), krsc.at({4, 2, 1, 6}));
  EXPECT_TRUE(test::bitwise_equal(hwio_to_krsc(hwio), krsc));
}

TEST(Checkpoint, StrictLoadReportsEveryMismatchTogether) {
  std::string dir = test::fresh_temp_dir("checkpoint_strict");
  ResNetV2 four(resnet_v2_config("resnetv2-tiny", 4, 32, 32), 1);
  save_checkpoint(dir + "/four.safetensors", four);
  ResNetV2 three(resnet_v2_config("resnetv2-tiny", 3, 32, 32), 1);
  try {
    load_checkpoint(dir + "/four.safetensors", three, LoadMode::Strict);
    FAIL() << "expected a mismatch";
  } catch (const Error& error) {
    std::string message = error.what();
    EXPECT_NE(message.find("four.safetensors"), std::string::npos) << message;
    EXPECT_NE(message.find("predictions/kernel"), std::string::npos) << message;
    EXPECT_NE(message.find("predictions/bias"), std::string::npos) << message;
  }
}

TEST(Checkpoint, TransferLearningSkipsTheOtherHead) {
  std::string dir = test::fresh_temp_dir("checkpoint_transfer");
  ResNetV2 source(resnet_v2_config("resnetv2-tiny", 10, 32, 32), 1);  // a "1000-class" stand-in
  save_checkpoint(dir + "/source.safetensors", source);
  ResNetV2 target(resnet_v2_config("resnetv2-tiny", 4, 32, 32), 2);
  Tensor head_before = target.head().kernel_.clone();
  LoadReport report = load_checkpoint(dir + "/source.safetensors", target, LoadMode::Partial);
  EXPECT_EQ(report.skipped_shape_mismatch, (std::vector<std::string>{"predictions/kernel", "predictions/bias"}));
  EXPECT_EQ(report.loaded.size(), target.parameters().size() - 2);
  EXPECT_TRUE(test::bitwise_equal(target.head().kernel_, head_before));  // untouched
  EXPECT_TRUE(test::bitwise_equal(target.parameters()[0].tensor->clone(), source.parameters()[0].tensor->clone()));
  // Then the usual recipe: freeze the backbone, train the head.
  target.freeze_backbone(true);
  EXPECT_EQ(target.count_parameters(true), target.head().count_parameters());
}

TEST(Checkpoint, BareKerasNamedFileLoadsWhenTheModelIsGiven) {
  std::string dir = test::fresh_temp_dir("checkpoint_bare");
  ResNetV2 model(resnet_v2_config("resnetv2-tiny", 4, 32, 32), 1);
  save_safetensors(dir + "/bare.safetensors", keras_weights(model));  // no metadata
  SafetensorsFile file = load_safetensors(dir + "/bare.safetensors");
  EXPECT_THROW(config_from_metadata(file), Error);
  ResNetV2 other(resnet_v2_config("resnetv2-tiny", 4, 32, 32), 7);
  EXPECT_TRUE(load_checkpoint(file, other, LoadMode::Strict).exact());
  Generator gen(8);
  Tensor x = Tensor::uniform({1, 32, 32, 3}, gen, -1.0, 1.0);
  EXPECT_TRUE(test::bitwise_equal(forward_eval(model, x), forward_eval(other, x)));
}

}  // namespace
}  // namespace alz
