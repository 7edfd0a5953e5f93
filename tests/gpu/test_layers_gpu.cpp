// The layers of layers/ moved to a GPU (Module::to, layers/module.h): every tensor arrives with
// its values, weights keep requires_grad = trainable (a frozen layer stays frozen, buffers never
// need one), a training step there matches the same network on the CPU (output, every
// gradient, the moving statistics), the way back to the CPU keeps all of it, and a BatchNorm
// frozen on the device runs on its moving statistics. f32 with TF32 off. Labelled `gpu`; skips
// without a device. The CPU side: tests/test_layers.cpp.
// Run: ctest --test-dir build -L gpu -R LayersGpu
#include <gtest/gtest.h>

#include <vector>

#include "kernels/conv2d.h"
#include "kernels/gemm.h"
#include "support/compare.h"
#include "support/tiny_net.h"
#include "tensor/autograd.h"

namespace alz {
namespace {

using test::TinyNet;

// Strict fp32 on the GPU while it lives, so the comparison can use f32 tolerances.
struct StrictFp32 {
  bool conv = conv_allow_tf32(), gemm = kernels::gemm_allow_tf32();
  StrictFp32() {
    set_conv_allow_tf32(false);
    kernels::set_gemm_allow_tf32(false);
  }
  ~StrictFp32() {
    set_conv_allow_tf32(conv);
    kernels::set_gemm_allow_tf32(gemm);
  }
};

void expect_placed(Module& m, Device device) {
  for (const ParamRef& p : m.parameters()) {
    EXPECT_EQ(p.tensor->device(), device) << p.name;
    EXPECT_EQ(p.tensor->requires_grad(), p.trainable) << p.name;
  }
}

TEST(LayersGpu, MoveTrainThereAndComeBack) {
  ALZ_REQUIRE_GPU();
  StrictFp32 strict;
  Generator gen_cpu(30), gen_gpu(30);
  TinyNet cpu(gen_cpu), gpu(gen_gpu);
  cpu.dense.set_trainable(false);  // a frozen layer must arrive frozen
  gpu.dense.set_trainable(false);
  gpu.to(Device::cuda());
  expect_placed(gpu, Device::cuda());
  std::vector<ParamRef> on_cpu = cpu.parameters(), on_gpu = gpu.parameters();
  ASSERT_EQ(on_cpu.size(), on_gpu.size());
  for (size_t i = 0; i < on_cpu.size(); ++i)
    EXPECT_TRUE(test::bitwise_equal(*on_gpu[i].tensor, *on_cpu[i].tensor)) << on_gpu[i].name << ": a copy";

  Generator gen_x(31);
  const Tensor x = Tensor::uniform({2, 6, 5, 3}, gen_x, -1.0, 1.0);
  const Tensor y_cpu = cpu.forward(x), y_gpu = gpu.forward(x.to(Device::cuda()));
  backward(ops::sum(y_cpu));
  backward(ops::sum(y_gpu));
  const test::Tolerance f32{1e-4, 1e-4};  // strict f32 on both devices, sums in another order
  ALZ_EXPECT_CLOSE(y_gpu, y_cpu, f32);
  for (size_t i = 0; i < on_cpu.size(); ++i) {
    SCOPED_TRACE(on_gpu[i].name);
    EXPECT_EQ(on_gpu[i].tensor->grad().defined(), on_cpu[i].tensor->grad().defined());
    EXPECT_EQ(on_gpu[i].tensor->grad().defined(), on_gpu[i].trainable);
    if (on_gpu[i].tensor->grad().defined()) {
      EXPECT_TRUE(test::all_close(on_gpu[i].tensor->grad(), on_cpu[i].tensor->grad(), f32, "gradient"));
    }
    if (on_gpu[i].kind == ParamKind::Buffer) {  // the moving statistics of the training step
      EXPECT_TRUE(test::all_close(*on_gpu[i].tensor, *on_cpu[i].tensor, {1e-6, 1e-5}, "moving statistic"));
    }
  }

  std::vector<Tensor> trained;
  for (const ParamRef& p : gpu.parameters()) trained.push_back(p.tensor->clone());
  gpu.to(Device::cpu());
  expect_placed(gpu, Device::cpu());
  on_gpu = gpu.parameters();
  for (size_t i = 0; i < on_gpu.size(); ++i)
    EXPECT_TRUE(test::bitwise_equal(*on_gpu[i].tensor, trained[i])) << on_gpu[i].name << ": back unchanged";
}

TEST(LayersGpu, AFrozenBatchNormOnTheGpuRunsOnItsMovingStatistics) {
  ALZ_REQUIRE_GPU();
  Generator gen(32);
  TinyNet net(gen);
  net.to(Device::cuda());
  net.bn.set_trainable(false);  // frozen on the device
  expect_placed(net, Device::cuda());
  EXPECT_EQ(net.count_parameters(true), 140 + 18);
  const Tensor mean = net.bn.moving_mean_.clone(), variance = net.bn.moving_variance_.clone();
  Generator gen_x(33);
  backward(ops::sum(net.forward(Tensor::uniform({2, 6, 5, 3}, gen_x, -1.0, 1.0, DType::F32, Device::cuda()))));
  EXPECT_TRUE(test::bitwise_equal(net.bn.moving_mean_, mean)) << "a frozen BatchNorm must not update";
  EXPECT_TRUE(test::bitwise_equal(net.bn.moving_variance_, variance));
  EXPECT_FALSE(net.bn.gamma_.grad().defined());
  EXPECT_TRUE(net.conv.kernel_.grad().defined()) << "the gradient flows through the frozen BatchNorm";
}

}  // namespace
}  // namespace alz
