// A small ResNetV2's forward and backward on the GPU equal the CPU's (TF32 off), also in bf16
// mixed precision (the GPU's bf16 kernels against the CPU's bf16-through-f32 ops), and in
// inference with bf16 weights. Labelled `gpu`.
// Run: ctest --test-dir build -R ResNetV2Gpu
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/conv2d.h"
#include "kernels/gemm.h"
#include "models/resnet_v2.h"
#include "support/compare.h"
#include "tensor/autograd.h"
#include "train/precision.h"

namespace alz {
namespace {

TEST(ResNetV2Gpu, ForwardAndBackwardMatchTheCpu) {
  ALZ_REQUIRE_GPU();
  set_conv_allow_tf32(false);
  kernels::set_gemm_allow_tf32(false);
  ResNetV2 cpu_model(resnet_v2_config("resnetv2-tiny", 4, 48, 40), 3);
  ResNetV2 gpu_model(resnet_v2_config("resnetv2-tiny", 4, 48, 40), 3);
  gpu_model.to(Device::cuda());
  Generator gen(4);
  Tensor x = Tensor::uniform({3, 48, 40, 3}, gen, -1.0, 1.0);
  Tensor labels = Tensor::from_vector(std::vector<int32_t>{0, 3, 2}, {3});
  Tensor loss_cpu = ops::softmax_cross_entropy(cpu_model.forward(x), labels);
  Tensor loss_gpu = ops::softmax_cross_entropy(gpu_model.forward(x.to(Device::cuda())), labels.to(Device::cuda()));
  // f32 on both sides, different summation orders through 30 layers.
  ALZ_EXPECT_CLOSE(loss_gpu, loss_cpu, (test::Tolerance{1e-4, 1e-4}));
  backward(loss_cpu);
  backward(loss_gpu);
  std::vector<ParamRef> pc = cpu_model.parameters(), pg = gpu_model.parameters();
  ASSERT_EQ(pc.size(), pg.size());
  for (size_t i = 0; i < pc.size(); ++i) {
    // Moving statistics were updated by the forward on both devices; gradients by backward.
    if (pc[i].kind == ParamKind::Buffer) {
      EXPECT_TRUE(test::all_close(*pg[i].tensor, *pc[i].tensor, {1e-5, 1e-4}, pc[i].name));
    } else {
      ASSERT_TRUE(pg[i].tensor->grad().defined()) << pc[i].name;
      EXPECT_TRUE(test::all_close(pg[i].tensor->grad(), pc[i].tensor->grad(), {2e-4, 2e-3}, pc[i].name));
    }
  }
  set_conv_allow_tf32(true);
  kernels::set_gemm_allow_tf32(true);
}

TEST(ResNetV2Gpu, EvalModeForwardMatchesTheCpu) {
  ALZ_REQUIRE_GPU();
  ResNetV2 cpu_model(resnet_v2_config("resnetv2-tiny", 4, 32, 32), 5);
  ResNetV2 gpu_model(resnet_v2_config("resnetv2-tiny", 4, 32, 32), 5);
  gpu_model.to(Device::cuda());
  cpu_model.set_training(false);
  gpu_model.set_training(false);
  set_conv_allow_tf32(false);
  kernels::set_gemm_allow_tf32(false);
  Generator gen(6);
  Tensor x = Tensor::uniform({2, 32, 32, 3}, gen, -1.0, 1.0);
  NoGradGuard no_grad;
  ALZ_EXPECT_CLOSE(gpu_model.forward(x.to(Device::cuda())), cpu_model.forward(x), (test::Tolerance{1e-4, 1e-4}));
  set_conv_allow_tf32(true);
  kernels::set_gemm_allow_tf32(true);
}

// bf16 mixed precision on both devices, same weights and batch: the logits and loss agree to
// bf16's precision, and the whole gradient points the same way (cosine; per-weight cosines of
// this tiny network scatter, see tests/test_precision.cpp).
TEST(ResNetV2Gpu, Bf16TrainingStepMatchesTheCpuBf16) {
  ALZ_REQUIRE_GPU();
  ResNetV2 cpu_model(resnet_v2_config("resnetv2-tiny", 4, 64, 64), 3);
  ResNetV2 gpu_model(resnet_v2_config("resnetv2-tiny", 4, 64, 64), 3);
  gpu_model.to(Device::cuda());
  train::apply_precision("bf16", Device::cpu(), cpu_model);
  train::apply_precision("bf16", Device::cuda(), gpu_model);
  Generator gen(9);
  Tensor x = Tensor::uniform({16, 64, 64, 3}, gen, -1.0, 1.0);
  std::vector<int32_t> label_values;
  for (int i = 0; i < 16; ++i) label_values.push_back((i * 7 + 3) % 4);
  Tensor labels = Tensor::from_vector(label_values, {16});
  Tensor logits_cpu = cpu_model.forward(x), logits_gpu = gpu_model.forward(x.to(Device::cuda()));
  ASSERT_EQ(logits_gpu.dtype(), DType::F32);
  // Same rounding points; where an f32 result lies near a bf16 boundary the two round apart.
  EXPECT_TRUE(test::all_close(logits_gpu, logits_cpu, {0.05, 0.05}, "bf16 logits"));
  Tensor loss_cpu = ops::softmax_cross_entropy(logits_cpu, labels);
  Tensor loss_gpu = ops::softmax_cross_entropy(logits_gpu, labels.to(Device::cuda()));
  ALZ_EXPECT_CLOSE(loss_gpu, loss_cpu, (test::Tolerance{0.02, 0.02}));
  backward(loss_cpu);
  backward(loss_gpu);
  std::vector<ParamRef> pc = cpu_model.trainable_parameters(), pg = gpu_model.trainable_parameters();
  ASSERT_EQ(pc.size(), pg.size());
  double dot = 0, nc = 0, ng = 0;
  for (size_t i = 0; i < pc.size(); ++i) {
    ASSERT_TRUE(pg[i].tensor->grad().defined()) << pc[i].name;
    EXPECT_EQ(pg[i].tensor->grad().dtype(), DType::F32) << pc[i].name;
    std::vector<double> a = pc[i].tensor->grad().to_vector(), b = pg[i].tensor->grad().to(Device::cpu()).to_vector();
    for (size_t k = 0; k < a.size(); ++k) dot += a[k] * b[k], nc += a[k] * a[k], ng += b[k] * b[k];
  }
  EXPECT_GT(dot / std::sqrt(nc * ng), 0.9) << "the whole gradient's direction";
}

// Inference with bf16 weights (alz predict --precision bf16) against the CPU's bf16.
TEST(ResNetV2Gpu, Bf16InferenceMatchesTheCpuBf16) {
  ALZ_REQUIRE_GPU();
  ResNetV2 cpu_model(resnet_v2_config("resnetv2-tiny", 4, 32, 32), 5);
  ResNetV2 gpu_model(resnet_v2_config("resnetv2-tiny", 4, 32, 32), 5);
  gpu_model.to(Device::cuda());
  cpu_model.set_training(false);
  gpu_model.set_training(false);
  train::apply_precision("bf16", Device::cpu(), cpu_model, /*inference_only=*/true);
  train::apply_precision("bf16", Device::cuda(), gpu_model, /*inference_only=*/true);
  Generator gen(6);
  Tensor x = Tensor::uniform({5, 32, 32, 3}, gen, -1.0, 1.0);
  NoGradGuard no_grad;
  EXPECT_TRUE(test::all_close(gpu_model.forward(x.to(Device::cuda())), cpu_model.forward(x), {0.03, 0.03},
                              "bf16 eval-mode logits"));
  train::apply_precision("tf32", Device::cuda(), gpu_model);  // the process-wide default again
}

}  // namespace
}  // namespace alz
