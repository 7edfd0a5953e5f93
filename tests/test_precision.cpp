// Mixed precision (train/precision.h, layers/module.h): a bf16 ResNetV2 on the CPU keeps f32
// master weights, computes in bf16 (through f32, rounded where the GPU rounds), returns f32
// logits close to the f32 model's, and sends f32 gradients to every weight; inference stores
// Conv2D and Dense weights in bf16 and leaves BatchNorm in f32; `alz train`, `eval` and
// `predict` take --precision bf16 on the CPU and write f32 checkpoints.
// Run: ctest --test-dir build -R Precision
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "data/phantom.h"
#include "models/resnet_v2.h"
#include "support/compare.h"
#include "support/run_cli.h"
#include "tensor/autograd.h"
#include "tensor/safetensors.h"
#include "train/precision.h"

namespace alz {
namespace {

TEST(Precision, NamesAreChecked) {
  EXPECT_NO_THROW(train::check_precision("bf16"));
  EXPECT_NO_THROW(train::check_precision("tf32"));
  EXPECT_NO_THROW(train::check_precision("fp32"));
  try {
    train::check_precision("fp16");
    FAIL() << "fp16 was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("fp32, tf32 or bf16"), std::string::npos) << e.what();
  }
}

// The same weights and batch in f32 and in bf16: logits within bf16's precision through 30
// layers, every weight's gradient f32 and of the same direction.
TEST(Precision, Bf16ModelOnTheCpuFollowsTheF32Model) {
  ResNetV2 reference(resnet_v2_config("resnetv2-tiny", 4, 64, 64), 3);
  ResNetV2 mixed(resnet_v2_config("resnetv2-tiny", 4, 64, 64), 3);
  train::apply_precision("bf16", Device::cpu(), mixed);
  ASSERT_EQ(mixed.compute_dtype(), DType::BF16);
  Generator gen(9);
  Tensor x = Tensor::uniform({16, 64, 64, 3}, gen, -1.0, 1.0);
  std::vector<int32_t> label_values;
  for (int i = 0; i < 16; ++i) label_values.push_back((i * 7 + 3) % 4);
  Tensor labels = Tensor::from_vector(label_values, {16});
  Tensor logits_reference = reference.forward(x), logits_mixed = mixed.forward(x);
  EXPECT_EQ(logits_mixed.dtype(), DType::F32) << "the logits leave the model in f32";
  // bf16 keeps 8 significant bits (relative 2^-9 per rounding); ~60 roundings in sequence
  // through BatchNorm, which renormalises: a few percent of the logits' scale.
  EXPECT_TRUE(test::all_close(logits_mixed, logits_reference, {0.05, 0.05}, "logits"));
  EXPECT_FALSE(test::all_close(logits_mixed, logits_reference, {1e-6, 1e-6}, "logits"))
      << "the bf16 model computed in f32: no rounding happened";
  backward(ops::softmax_cross_entropy(logits_reference, labels));
  backward(ops::softmax_cross_entropy(logits_mixed, labels));
  std::vector<ParamRef> pr = reference.trainable_parameters(), pm = mixed.trainable_parameters();
  ASSERT_EQ(pr.size(), pm.size());
  // Cosine similarity of the two gradients. This tiny random network is chaotic (4-8 channels:
  // ReLU masks flip): rounding only its input to bf16 already gives per-weight cosines of
  // 0.95-0.99, and the ~60 roundings of bf16 compute 0.72-0.97 for the kernels. BatchNorm's
  // gamma and beta gradients are sums over ~1,000 rows that cancel, so bf16's rounding of dy
  // leaves some of them uncorrelated (as low as 0.02): they count only in the whole-model cosine.
  double dot_all = 0, na_all = 0, nb_all = 0;
  int kernels = 0;
  for (size_t i = 0; i < pr.size(); ++i) {
    SCOPED_TRACE(pr[i].name);
    EXPECT_EQ(pm[i].tensor->dtype(), DType::F32) << "master weights stay f32";
    ASSERT_TRUE(pm[i].tensor->grad().defined());
    EXPECT_EQ(pm[i].tensor->grad().dtype(), DType::F32);
    std::vector<double> a = pr[i].tensor->grad().to_vector(), b = pm[i].tensor->grad().to_vector();
    double dot = 0, na = 0, nb = 0;
    for (size_t k = 0; k < a.size(); ++k) dot += a[k] * b[k], na += a[k] * a[k], nb += b[k] * b[k];
    dot_all += dot, na_all += na, nb_all += nb;
    if (pr[i].name.find("/kernel") == std::string::npos) continue;
    EXPECT_GT(dot / std::sqrt(na * nb), 0.6);
    ++kernels;
  }
  EXPECT_EQ(kernels, 21);  // 20 convolutions and the head
  EXPECT_GT(dot_all / std::sqrt(na_all * nb_all), 0.9) << "the whole gradient's direction";
}

TEST(Precision, InferenceStoresConvAndDenseWeightsInBf16AndKeepsBatchNormF32) {
  ResNetV2 model(resnet_v2_config("resnetv2-tiny", 4, 32, 32), 5);
  ResNetV2 reference(resnet_v2_config("resnetv2-tiny", 4, 32, 32), 5);
  model.set_training(false);
  reference.set_training(false);
  train::apply_precision("bf16", Device::cpu(), model, /*inference_only=*/true);
  for (const ParamRef& p : model.parameters()) {
    const bool batch_norm = p.name.find("_bn/") != std::string::npos;
    EXPECT_EQ(p.tensor->dtype(), batch_norm ? DType::F32 : DType::BF16) << p.name;
  }
  Generator gen(6);
  Tensor x = Tensor::uniform({2, 32, 32, 3}, gen, -1.0, 1.0);
  NoGradGuard no_grad;
  Tensor logits = model.forward(x);
  EXPECT_EQ(logits.dtype(), DType::F32);
  EXPECT_TRUE(test::all_close(logits, reference.forward(x), {0.05, 0.05}, "eval-mode logits"));
}

// The command line: a bf16 run on the CPU trains, writes f32 checkpoints, and eval/predict run
// the checkpoint in bf16.
TEST(Precision, TrainEvalAndPredictTakeBf16) {
  const std::string root = test::fresh_temp_dir("precision_cli");
  data::PhantomSpec spec;
  spec.out_dir = root + "/phantom";
  spec.counts = {6, 6, 6, 6};
  spec.height = 40;
  spec.width = 36;
  spec.seed = 5;
  spec.val_fraction = 0.25;
  data::write_phantom_dataset(spec);
  test::CliResult r = test::run_cli({"train",
                                     "--data",
                                     root + "/phantom/manifest.csv",
                                     "--model",
                                     "resnetv2-tiny",
                                     "--device",
                                     "cpu",
                                     "--precision",
                                     "bf16",
                                     "--epochs",
                                     "1",
                                     "--batch",
                                     "6",
                                     "--input-size",
                                     "32",
                                     "--workers",
                                     "1",
                                     "--run-dir",
                                     root + "/run",
                                     "--quiet"});
  ASSERT_EQ(r.code, 0) << r.err;
  SafetensorsFile best = load_safetensors(root + "/run/best.safetensors");
  for (const NamedTensor& t : best.tensors) EXPECT_EQ(t.tensor.dtype(), DType::F32) << t.name;
  std::ifstream config_file(root + "/run/config.json");
  nlohmann::json config = nlohmann::json::parse(config_file);
  EXPECT_EQ(config["precision"], "bf16");
  r = test::run_cli({"eval", "--weights", root + "/run/best.safetensors", "--data", root + "/phantom/manifest.csv",
                     "--device", "cpu", "--precision", "bf16", "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["precision"], "bf16");
  r = test::run_cli({"predict", "--weights", root + "/run/best.safetensors", root + "/phantom/val", "--device", "cpu",
                     "--precision", "bf16", "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(nlohmann::json::parse(r.out)["predictions"].empty());
  r = test::run_cli({"predict", "--weights", root + "/run/best.safetensors", root + "/phantom/val", "--device", "cpu",
                     "--precision", "fp16"});
  EXPECT_EQ(r.code, 2) << "an unknown precision is a usage error";
}

}  // namespace
}  // namespace alz
