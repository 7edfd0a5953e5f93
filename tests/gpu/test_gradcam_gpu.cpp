// Grad-CAM and Grad-CAM++ (train/gradcam.h) on the GPU equal the CPU's (TF32 off): the class
// chosen, the logit, the channel weights and both maps, for a small ResNetV2 with a batch of
// three; the overlay for the report renders from a GPU model. Labelled `gpu`.
// Run: ctest --test-dir build -R GradCamGpu
#include <gtest/gtest.h>

#include "kernels/conv2d.h"
#include "kernels/gemm.h"
#include "models/resnet_v2.h"
#include "support/compare.h"
#include "train/gradcam.h"

namespace alz {
namespace {

std::vector<double> as_doubles(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

TEST(GradCamGpu, MapsMatchTheCpu) {
  ALZ_REQUIRE_GPU();
  set_conv_allow_tf32(false);
  kernels::set_gemm_allow_tf32(false);
  ResNetV2 cpu_model(resnet_v2_config("resnetv2:stem8:1x4,1x8", 4, 40, 36), 3);
  ResNetV2 gpu_model(resnet_v2_config("resnetv2:stem8:1x4,1x8", 4, 40, 36), 3);
  cpu_model.set_training(false);
  gpu_model.set_training(false);
  gpu_model.to(Device::cuda());
  Generator gen(4);
  Tensor x = Tensor::uniform({3, 40, 36, 3}, gen, -1.0, 1.0);
  std::vector<train::GradCamResult> cpu = train::compute_gradcam(cpu_model, x, {-1, 2, 0});
  std::vector<train::GradCamResult> gpu = train::compute_gradcam(gpu_model, x.to(Device::cuda()), {-1, 2, 0});
  ASSERT_EQ(gpu.size(), cpu.size());
  // f32 on both sides, different summation orders through the network.
  const test::Tolerance tol{1e-4, 1e-3};
  for (size_t i = 0; i < cpu.size(); ++i) {
    EXPECT_EQ(gpu[i].class_index, cpu[i].class_index) << i;
    EXPECT_NEAR(gpu[i].score, cpu[i].score, 1e-4 + 1e-4 * std::abs(cpu[i].score)) << i;
    ALZ_EXPECT_CLOSE(gpu[i].gradcam.weights, cpu[i].gradcam.weights, tol);
    ALZ_EXPECT_CLOSE(gpu[i].gradcam_pp.weights, cpu[i].gradcam_pp.weights, tol);
    ALZ_EXPECT_CLOSE(as_doubles(gpu[i].gradcam.coarse), as_doubles(cpu[i].gradcam.coarse), tol);
    ALZ_EXPECT_CLOSE(as_doubles(gpu[i].gradcam_pp.coarse), as_doubles(cpu[i].gradcam_pp.coarse), tol);
    ALZ_EXPECT_CLOSE(as_doubles(gpu[i].gradcam.full), as_doubles(cpu[i].gradcam.full), tol);
  }
  // The report's entry point with a host slice and a GPU model.
  data::Image overlay = train::render_gradcam_overlay(gpu_model, x.slice(0, 1), 64, 80);
  EXPECT_EQ(overlay.height, 64);
  EXPECT_EQ(overlay.width, 80);
  EXPECT_FALSE(gpu_model.head().kernel_.grad().defined());
}

}  // namespace
}  // namespace alz
