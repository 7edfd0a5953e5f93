// ResNetV2 as keras.applications builds it: Keras's parameter counts, output shapes at
// 224x224 and 208x176, layer names, freezing, and a small model's gradients by finite
// differences. Run: ctest --test-dir build -R ResNetV2
#include <gtest/gtest.h>

#include <set>

#include "core/error.h"
#include "models/resnet_v2.h"
#include "support/compare.h"
#include "support/tape_gradcheck.h"
#include "tensor/autograd.h"

namespace alz {
namespace {

struct Counts {
  int64_t total, trainable;
};

Counts counts(ResNetV2& model) {
  int64_t total = 0;
  for (const LayerSummary& row : model.summary()) total += row.params;
  return {total, model.count_parameters(/*trainable_only=*/true)};
}

TEST(ResNetV2, KerasParameterCounts) {
  {
    ResNetV2 model(resnet_v2_config("resnet152v2", 4), 0);
    Counts c = counts(model);
    EXPECT_EQ(c.total, 58339844);
    EXPECT_EQ(c.trainable, 58196100);
    EXPECT_EQ(model.count_parameters(), 58339844);  // the tensors agree with the summary
  }
  {
    ResNetV2 model(resnet_v2_config("resnet152v2", 1000), 0);
    Counts c = counts(model);
    EXPECT_EQ(c.total, 60380648);
    EXPECT_EQ(c.trainable, 60236904);
  }
  {
    ResNetV2 model(resnet_v2_config("resnet50v2", 1000), 0);
    Counts c = counts(model);
    EXPECT_EQ(c.total, 25613800);
    EXPECT_EQ(c.trainable, 25568360);
  }
}

TEST(ResNetV2, SummaryTextEndsWithKerasTotals) {
  ResNetV2 model(resnet_v2_config("resnet152v2", 4), 0);
  std::string text = model.summary_text();
  EXPECT_NE(text.find("Total params: 58,339,844\nTrainable params: 58,196,100\nNon-trainable params: 143,744"),
            std::string::npos);
  EXPECT_NE(text.find("conv4_block36_out (Add)"), std::string::npos);
  EXPECT_NE(text.find("(None, 7, 7, 2048)"), std::string::npos);
}

TEST(ResNetV2, KerasWeightNames) {
  ResNetV2 model(resnet_v2_config("resnet152v2", 4), 0);
  std::set<std::string> names;
  int trainable = 0;
  for (const ParamRef& p : model.parameters()) {
    names.insert(p.name);
    trainable += p.trainable;
  }
  EXPECT_EQ(names.size(), 816u);  // Keras: 816 weight tensors
  EXPECT_EQ(trainable, 514);      // of which 514 trainable
  for (const char* name :
       {"conv1_conv/kernel", "conv1_conv/bias", "conv2_block1_preact_bn/gamma", "conv2_block1_0_conv/kernel",
        "conv2_block1_0_conv/bias", "conv2_block1_1_conv/kernel", "conv2_block3_2_conv/kernel",
        "conv4_block36_3_conv/bias", "post_bn/moving_variance", "predictions/kernel", "predictions/bias"})
    EXPECT_TRUE(names.count(name)) << name;
  EXPECT_FALSE(names.count("conv2_block1_1_conv/bias"));    // _1_conv and _2_conv have no bias
  EXPECT_FALSE(names.count("conv2_block2_0_conv/kernel"));  // only block 1 has a conv shortcut
}

TEST(ResNetV2, OutputShapesFromTheSummary) {
  // The summary's shapes come from the same arithmetic the forward uses; checked against a
  // real forward below on a small model.
  ResNetV2 at224(resnet_v2_config("resnet152v2", 4, 224, 224), 0);
  ResNetV2 at208(resnet_v2_config("resnet152v2", 4, 208, 176), 0);
  auto find = [](ResNetV2& m, const std::string& name) {
    for (const LayerSummary& row : m.summary())
      if (row.name == name) return row.output_shape;
    return Shape{};
  };
  EXPECT_EQ(find(at224, "conv1_conv"), (Shape{112, 112, 64}));
  EXPECT_EQ(find(at224, "pool1_pool"), (Shape{56, 56, 64}));
  EXPECT_EQ(find(at224, "conv2_block3_out"), (Shape{28, 28, 256}));
  EXPECT_EQ(find(at224, "conv4_block36_out"), (Shape{7, 7, 1024}));
  EXPECT_EQ(find(at224, "post_relu"), (Shape{7, 7, 2048}));
  EXPECT_EQ(find(at208, "pool1_pool"), (Shape{52, 44, 64}));
  EXPECT_EQ(find(at208, "post_relu"), (Shape{7, 6, 2048}));
  EXPECT_EQ(find(at208, "predictions"), (Shape{4}));
}

TEST(ResNetV2, ForwardShapesMatchTheSummary) {
  for (auto [h, w] : {std::pair{224, 224}, std::pair{208, 176}, std::pair{33, 47}}) {
    ResNetV2 model(resnet_v2_config("resnetv2-tiny", 4, h, w), 1);
    Generator gen(2);
    NoGradGuard no_grad;
    Tensor x = Tensor::uniform({2, h, w, 3}, gen, -1.0, 1.0);
    Tensor logits = model.forward(x);
    EXPECT_EQ(logits.shape(), (Shape{2, 4}));
  }
  EXPECT_THROW(resnet_v2_config("resnet152v2", 4, 31, 224), Error);
  EXPECT_THROW(resnet_v2_config("resnet34", 4), Error);
}

TEST(ResNetV2, SmallModelGradientsByFiniteDifferences) {
  ResNetV2 model(resnet_v2_config("resnetv2-tiny", 3, 32, 32), 3);
  model.cast(DType::F64);
  Generator gen(4);
  Tensor x = Tensor::uniform({2, 32, 32, 3}, gen, -1.0, 1.0, DType::F64);
  Tensor labels = Tensor::from_vector(std::vector<int32_t>{0, 2}, {2});
  // Check the input gradient and two weights deep in the network (few elements each, to
  // keep the test fast); the loss is the training loss of one step.
  std::vector<ParamRef> params = model.parameters();
  Tensor* head = nullptr;
  Tensor* first_bn_gamma = nullptr;
  for (ParamRef& p : params) {
    if (p.name == "predictions/bias") head = p.tensor;
    if (p.name == "conv2_block1_preact_bn/gamma") first_bn_gamma = p.tensor;
  }
  ASSERT_TRUE(head && first_bn_gamma);
  Tensor loss = ops::softmax_cross_entropy(model.forward(x), labels);
  backward(loss);
  for (Tensor* t : {head, first_bn_gamma}) {
    std::vector<double> analytic = t->grad().to_vector(), numeric;
    double* data = t->data<double>();
    NoGradGuard no_grad;
    for (int64_t i = 0; i < t->numel(); ++i) {
      double saved = data[i];
      data[i] = saved + 1e-5;
      double plus = ops::softmax_cross_entropy(model.forward(x), labels).at({});
      data[i] = saved - 1e-5;
      double minus = ops::softmax_cross_entropy(model.forward(x), labels).at({});
      data[i] = saved;
      numeric.push_back((plus - minus) / 2e-5);
    }
    // Training-mode BatchNorm updates the moving statistics on every forward, but the loss
    // depends only on batch statistics, so the differences stay exact up to rounding.
    EXPECT_TRUE(test::all_close(analytic, numeric, {1e-6, 1e-4}));
  }
}

TEST(ResNetV2, FreezingTheBackbone) {
  ResNetV2 model(resnet_v2_config("resnetv2-tiny", 4, 32, 32), 5);
  model.freeze_backbone(true);
  int64_t head_params = model.head().count_parameters();
  EXPECT_EQ(model.count_parameters(true), head_params);
  // A frozen BatchNorm runs in inference mode even in training: moving statistics unchanged.
  Tensor* moving_mean = nullptr;
  for (ParamRef& p : model.parameters())
    if (p.name == "conv2_block1_preact_bn/moving_mean") moving_mean = p.tensor;
  ASSERT_NE(moving_mean, nullptr);
  Tensor before = moving_mean->clone();
  Generator gen(6);
  Tensor x = Tensor::uniform({2, 32, 32, 3}, gen, -1.0, 1.0);
  Tensor loss = ops::softmax_cross_entropy(model.forward(x), Tensor::from_vector(std::vector<int32_t>{1, 3}, {2}));
  backward(loss);
  EXPECT_TRUE(test::bitwise_equal(*moving_mean, before));
  for (ParamRef& p : model.parameters()) {
    bool is_head = p.name.rfind("predictions/", 0) == 0;
    EXPECT_EQ(p.tensor->grad().defined(), is_head) << p.name;
  }
  model.freeze_backbone(false);
  int64_t buffers = 0;
  for (ParamRef& p : model.parameters()) buffers += p.kind == ParamKind::Buffer ? p.tensor->numel() : 0;
  EXPECT_EQ(model.count_parameters(true), model.count_parameters() - buffers);
}

}  // namespace
}  // namespace alz
