// A small ResNetV2's forward and backward on the GPU equal the CPU's (TF32 off), and one
// optimizer step on each device lands on the same weights. Labelled `gpu`.
// Run: ctest --test-dir build -R ResNetV2Gpu
#include <gtest/gtest.h>

#include "kernels/conv2d.h"
#include "kernels/gemm.h"
#include "models/resnet_v2.h"
#include "support/compare.h"
#include "tensor/autograd.h"

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

}  // namespace
}  // namespace alz
