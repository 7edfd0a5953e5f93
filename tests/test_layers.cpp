// The layers of layers/ (Conv2D, BatchNormReLU, Dense) and their base, Module (layers/module.h),
// on the CPU: Keras weight names in creation order and Keras's parameter counts, Keras's
// initialisation, what each forward computes, freezing (no gradient; a frozen BatchNorm runs on
// its moving statistics even in training mode; trainable_parameters leaves it out), device
// moves (requires_grad stays trainable), casts to f64 and back, and zero_grad. Pooling and
// padding hold no weights: they are plain ops, checked by the op table (tests/test_ops.cpp).
// The GPU side of device moves: tests/gpu/test_layers_gpu.cpp.
// Run: ctest --test-dir build -R Layers
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "layers/layers.h"
#include "support/compare.h"
#include "support/tiny_net.h"
#include "tensor/autograd.h"
#include "tensor/ops.h"

namespace alz {
namespace {

using test::TinyNet;  // conv 3x3 -> BatchNorm+ReLU -> global average pool -> Dense

Tensor image(uint64_t seed, DType dtype = DType::F32) {
  Generator gen(seed);
  return Tensor::uniform({2, 6, 5, 3}, gen, -1.0, 1.0, dtype);  // (N, H, W, C)
}

std::vector<std::string> names(Module& m) {
  std::vector<std::string> out;
  for (const ParamRef& p : m.parameters()) out.push_back(p.name);
  return out;
}

// ---------------------------------------------------------------- names, counts, initialisation

TEST(Layers, KerasNamesKindsAndCountsPerLayer) {
  Generator gen(1);
  Conv2D stem("conv1_conv", 3, 64, 7, 2, /*use_bias=*/true, gen);
  std::vector<ParamRef> p = stem.parameters();
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].name, "conv1_conv/kernel");
  EXPECT_EQ(p[0].tensor, &stem.kernel_);
  EXPECT_EQ(p[0].tensor->shape(), (Shape{64, 7, 7, 3}));  // KRSC here, HWIO in Keras files
  EXPECT_EQ(p[0].kind, ParamKind::Weight);
  EXPECT_EQ(p[0].layout, KerasLayout::ConvKRSC);
  EXPECT_TRUE(p[0].trainable);
  EXPECT_EQ(p[1].name, "conv1_conv/bias");
  EXPECT_EQ(p[1].tensor->shape(), (Shape{64}));
  EXPECT_EQ(p[1].layout, KerasLayout::Same);
  EXPECT_EQ(stem.count_parameters(), 9472);  // Keras: conv1_conv, 7*7*3*64 + 64

  Conv2D no_bias("conv2_block1_1_conv", 64, 64, 1, 1, /*use_bias=*/false, gen);
  EXPECT_EQ(names(no_bias), (std::vector<std::string>{"conv2_block1_1_conv/kernel"}));
  EXPECT_EQ(no_bias.count_parameters(), 4096);
  EXPECT_FALSE(no_bias.bias_.defined());

  BatchNormReLU bn("post_bn", 2048);
  EXPECT_EQ(names(bn), (std::vector<std::string>{"post_bn/gamma", "post_bn/beta", "post_bn/moving_mean",
                                                 "post_bn/moving_variance"}));
  p = bn.parameters();
  EXPECT_EQ(p[0].kind, ParamKind::Weight);
  EXPECT_EQ(p[1].kind, ParamKind::Weight);
  EXPECT_EQ(p[2].kind, ParamKind::Buffer);
  EXPECT_EQ(p[3].kind, ParamKind::Buffer);
  EXPECT_FALSE(p[2].trainable);  // buffers never train
  EXPECT_FALSE(p[3].trainable);
  EXPECT_EQ(bn.count_parameters(), 8192);                         // Keras: post_bn, 4 * 2048
  EXPECT_EQ(bn.count_parameters(/*trainable_only=*/true), 4096);  // of which 4096 non-trainable

  Dense head("predictions", 2048, 4, gen);
  EXPECT_EQ(names(head), (std::vector<std::string>{"predictions/kernel", "predictions/bias"}));
  EXPECT_EQ(head.kernel_.shape(), (Shape{2048, 4}));  // (in, out), as Keras
  EXPECT_EQ(head.count_parameters(), 8196);           // Keras: predictions, 2048 * 4 + 4
}

TEST(Layers, ChildrenComeInCreationOrder) {
  Generator gen(2);
  TinyNet net(gen);
  EXPECT_EQ(names(net), (std::vector<std::string>{"tiny_conv/kernel", "tiny_conv/bias", "tiny_bn/gamma", "tiny_bn/beta",
                                                  "tiny_bn/moving_mean", "tiny_bn/moving_variance", "tiny_dense/kernel",
                                                  "tiny_dense/bias"}));
  // 3*3*3*5 + 5, 4*5, 5*3 + 3
  EXPECT_EQ(net.count_parameters(), 140 + 20 + 18);
  EXPECT_EQ(net.count_parameters(/*trainable_only=*/true), 140 + 10 + 18);
  std::vector<std::string> trainable;
  for (const ParamRef& p : net.trainable_parameters()) trainable.push_back(p.name);
  EXPECT_EQ(trainable, (std::vector<std::string>{"tiny_conv/kernel", "tiny_conv/bias", "tiny_bn/gamma", "tiny_bn/beta",
                                                 "tiny_dense/kernel", "tiny_dense/bias"}));
}

TEST(Layers, KerasInitialisation) {
  Generator gen(3);
  Conv2D conv("c", 16, 24, 3, 1, true, gen);
  Dense dense("d", 40, 30, gen);
  BatchNormReLU bn("b", 7);
  // glorot_uniform: U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)), fan = receptive * channels.
  for (auto [kernel, limit] : {std::pair{&conv.kernel_, std::sqrt(6.0 / (9 * 16 + 9 * 24))},
                               std::pair{&dense.kernel_, std::sqrt(6.0 / (40 + 30))}}) {
    double sum_sq = 0.0;
    std::vector<double> v = kernel->to_vector();
    for (double x : v) {
      ASSERT_LE(std::fabs(x), limit);
      sum_sq += x * x;
    }
    // The standard deviation of U(-a, a) is a / sqrt(3); over >= 1200 draws within 10%.
    EXPECT_NEAR(std::sqrt(sum_sq / static_cast<double>(v.size())), limit / std::sqrt(3.0),
                0.1 * limit / std::sqrt(3.0));
  }
  EXPECT_EQ(conv.bias_.to_vector(), std::vector<double>(24, 0.0));
  EXPECT_EQ(dense.bias_.to_vector(), std::vector<double>(30, 0.0));
  EXPECT_EQ(bn.gamma_.to_vector(), std::vector<double>(7, 1.0));
  EXPECT_EQ(bn.beta_.to_vector(), std::vector<double>(7, 0.0));
  EXPECT_EQ(bn.moving_mean_.to_vector(), std::vector<double>(7, 0.0));
  EXPECT_EQ(bn.moving_variance_.to_vector(), std::vector<double>(7, 1.0));
  // Seeded: the same generator state gives the same weights; the generator moves on.
  Generator a(9), b(9);
  Conv2D first("c", 5, 7, 3, 1, false, a), same("c", 5, 7, 3, 1, false, b), next("c", 5, 7, 3, 1, false, a);
  EXPECT_TRUE(test::bitwise_equal(first.kernel_, same.kernel_));
  EXPECT_FALSE(test::bitwise_equal(first.kernel_, next.kernel_));
}

// ---------------------------------------------------------------- what the forwards compute

TEST(Layers, ForwardsAreTheirOps) {
  Generator gen(4);
  Conv2D conv("c", 3, 4, 3, 2, true, gen);
  conv.cast(DType::F64);
  conv.bias_.fill(0.25);
  const Tensor x = image(5, DType::F64);
  const ops::Padding2d pad{1, 1, 1, 1};
  // Keras's ZeroPadding2D then Conv2D, as one op: the convolution reads zeros outside x.
  const test::Tolerance f64{1e-12, 1e-12};  // f64, the same sums over other columns
  ALZ_EXPECT_CLOSE(conv.forward(x, pad), conv.forward(ops::zero_pad2d(x, pad)), f64);
  ALZ_EXPECT_CLOSE(conv.forward(x), ops::conv2d(x, conv.kernel_, conv.bias_, {2, 2, {}}), f64);
  EXPECT_EQ(conv.forward(x, pad).shape(), (Shape{2, 3, 3, 4}));  // stride 2 on 6x5 padded to 8x7

  Dense dense("d", 7, 3, gen);
  dense.cast(DType::F64);
  dense.bias_.fill(-0.5);
  Generator g2(6);
  const Tensor rows = Tensor::uniform({4, 7}, g2, -1.0, 1.0, DType::F64);
  ALZ_EXPECT_CLOSE(dense.forward(rows), ops::add_channel(ops::matmul(rows, dense.kernel_), dense.bias_), f64);
}

TEST(Layers, BatchNormReluAndPlainBatchNorm) {
  const Tensor x = image(7);
  BatchNormReLU with_relu("a", 3), plain("b", 3, /*relu=*/false);
  const Tensor y = with_relu.forward(x), z = plain.forward(x);
  EXPECT_EQ(y.shape(), x.shape());
  double negatives = 0;
  for (double v : z.to_vector()) negatives += v < 0;
  EXPECT_GT(negatives, 0) << "a plain BatchNorm keeps negative values";
  ALZ_EXPECT_CLOSE(y, ops::relu(z), (test::Tolerance{0.0, 0.0}));  // the same normalisation, then max(0, .)
  // The unfused reference (process-wide switch) computes the same.
  BatchNormReLU::set_fused(false);
  BatchNormReLU reference("c", 3);
  const Tensor r = reference.forward(x);
  BatchNormReLU::set_fused(true);
  ALZ_EXPECT_CLOSE(r, y, (test::Tolerance{1e-5, 1e-5}));  // f32, fast kernels against the unfused ones
}

TEST(Layers, TrainingUpdatesTheMovingStatisticsAsKeras) {
  const Tensor x = image(8);
  BatchNormReLU bn("bn", 3);
  bn.forward(x);
  // moving = 0.99 * moving + 0.01 * batch; moving mean starts at 0.
  const Tensor expected = ops::scale(ops::channel_mean(x), 0.01);
  ALZ_EXPECT_CLOSE(bn.moving_mean_, expected, (test::Tolerance{1e-7, 1e-5}));  // f32 sums over 60 rows
  EXPECT_NE(bn.moving_variance_.to_vector(), std::vector<double>(3, 1.0));
  // Eval mode: the moving statistics normalise, and stay as they are.
  bn.set_training(false);
  const Tensor mean = bn.moving_mean_.clone(), variance = bn.moving_variance_.clone();
  const Tensor y = bn.forward(x);
  EXPECT_TRUE(test::bitwise_equal(bn.moving_mean_, mean));
  EXPECT_TRUE(test::bitwise_equal(bn.moving_variance_, variance));
  for (int64_t i = 0; i < x.numel(); i += 7) {  // gamma 1, beta 0: relu((x - mean) / sqrt(variance + eps))
    const int64_t c = i % 3;
    const double v = (x.to_vector()[i] - mean.to_vector()[c]) / std::sqrt(variance.to_vector()[c] + 1.001e-5);
    EXPECT_NEAR(y.to_vector()[i], std::max(v, 0.0), 1e-5) << i;
  }
}

// ---------------------------------------------------------------- freezing

TEST(Layers, AFrozenLayerGetsNoGradientButPassesOneThrough) {
  Generator gen(10);
  TinyNet net(gen);
  net.conv.set_trainable(false);
  EXPECT_FALSE(net.conv.trainable());
  EXPECT_FALSE(net.conv.kernel_.requires_grad());
  EXPECT_FALSE(net.conv.bias_.requires_grad());
  for (const ParamRef& p : net.parameters())
    EXPECT_EQ(p.trainable, p.kind == ParamKind::Weight && p.name.rfind("tiny_conv/", 0) != 0) << p.name;
  for (const ParamRef& p : net.trainable_parameters()) EXPECT_EQ(p.name.rfind("tiny_conv/", 0), std::string::npos);
  EXPECT_EQ(net.count_parameters(true), 10 + 18);

  Tensor x = image(11);
  x.set_requires_grad(true);
  backward(ops::sum(net.forward(x)));
  EXPECT_FALSE(net.conv.kernel_.grad().defined());
  EXPECT_FALSE(net.conv.bias_.grad().defined());
  EXPECT_TRUE(net.bn.gamma_.grad().defined());
  EXPECT_TRUE(net.dense.kernel_.grad().defined());
  EXPECT_TRUE(x.grad().defined()) << "the input's gradient flows through the frozen convolution";

  net.conv.set_trainable(true);
  EXPECT_TRUE(net.conv.kernel_.requires_grad());
  EXPECT_EQ(net.count_parameters(true), 140 + 10 + 18);
}

TEST(Layers, AFrozenBatchNormRunsOnItsMovingStatisticsInTraining) {
  const Tensor x = image(12);
  BatchNormReLU frozen("bn", 3), eval("bn", 3);
  frozen.moving_mean_.fill(0.2);
  frozen.moving_variance_.fill(1.7);
  eval.moving_mean_.fill(0.2);
  eval.moving_variance_.fill(1.7);
  frozen.set_trainable(false);
  frozen.set_training(true);
  eval.set_training(false);
  const Tensor mean = frozen.moving_mean_.clone(), variance = frozen.moving_variance_.clone();
  const Tensor y = frozen.forward(x);
  EXPECT_TRUE(test::bitwise_equal(frozen.moving_mean_, mean)) << "a frozen BatchNorm must not update";
  EXPECT_TRUE(test::bitwise_equal(frozen.moving_variance_, variance));
  NoGradGuard no_grad;  // so the eval layer, whose weights want gradients, takes the same kernel
  EXPECT_TRUE(test::bitwise_equal(y, eval.forward(x))) << "frozen in training = inference mode";
  EXPECT_TRUE(frozen.trainable_parameters().empty());
  EXPECT_EQ(frozen.count_parameters(true), 0);
  EXPECT_EQ(frozen.count_parameters(), 12);
}

TEST(Layers, FreezingReachesEveryChild) {
  Generator gen(13);
  TinyNet net(gen);
  net.set_trainable(false);
  EXPECT_TRUE(net.trainable_parameters().empty());
  EXPECT_EQ(net.count_parameters(true), 0);
  for (const ParamRef& p : net.parameters()) EXPECT_FALSE(p.tensor->requires_grad()) << p.name;
  net.dense.set_trainable(true);  // a trainable head on a frozen backbone, as freeze_backbone does
  EXPECT_EQ(net.count_parameters(true), 18);
}

// ---------------------------------------------------------------- devices, casts, zero_grad

TEST(Layers, MovingToTheCpuKeepsTensorsAndRequiresGrad) {
  Generator gen(14);
  TinyNet net(gen);
  net.bn.set_trainable(false);
  std::vector<Tensor> before;
  for (const ParamRef& p : net.parameters()) before.push_back(*p.tensor);
  net.to(Device::cpu());
  std::vector<ParamRef> after = net.parameters();
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_TRUE(after[i].tensor->shares_storage_with(before[i])) << after[i].name << ": a move to where it is";
    EXPECT_EQ(after[i].tensor->requires_grad(), after[i].trainable) << after[i].name;
  }
}

TEST(Layers, MovingToAGpuWithoutOneThrowsAndLeavesTheLayerUsable) {
  if (cuda::available()) GTEST_SKIP() << "this machine has a GPU: tests/gpu/test_layers_gpu.cpp moves there";
  Generator gen(15);
  TinyNet net(gen);
  EXPECT_THROW(net.to(Device::cuda()), Error);
  for (const ParamRef& p : net.parameters()) EXPECT_TRUE(p.tensor->device().is_cpu()) << p.name;
  EXPECT_EQ(net.forward(image(16)).shape(), (Shape{2, 3}));
}

TEST(Layers, CastToF64AndBack) {
  Generator gen(17);
  TinyNet net(gen);
  net.conv.set_trainable(false);
  const Tensor x = image(18);
  const Tensor y32 = net.forward(x);
  std::vector<Tensor> original;
  for (const ParamRef& p : net.parameters()) original.push_back(p.tensor->clone());

  net.cast(DType::F64);
  std::vector<ParamRef> params = net.parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    EXPECT_EQ(params[i].tensor->dtype(), DType::F64) << params[i].name;
    EXPECT_EQ(params[i].tensor->to_vector(), original[i].to_vector()) << params[i].name << ": f32 -> f64 is exact";
    EXPECT_EQ(params[i].tensor->requires_grad(), params[i].trainable) << params[i].name;
  }
  // The moving statistics moved on in the f32 forward; put them back for a like-for-like run.
  net.bn.moving_mean_.fill(0.0);
  net.bn.moving_variance_.fill(1.0);
  const Tensor y64 = net.forward(x.to(DType::F64));
  ALZ_EXPECT_CLOSE(y64, y32, (test::Tolerance{1e-5, 1e-5}));  // f32 arithmetic against f64 on the same values

  net.cast(DType::F32);
  params = net.parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    if (params[i].kind == ParamKind::Buffer) continue;  // changed by the forwards
    EXPECT_TRUE(test::bitwise_equal(*params[i].tensor, original[i])) << params[i].name << ": f64 -> f32 round trip";
    EXPECT_EQ(params[i].tensor->requires_grad(), params[i].trainable) << params[i].name;
  }
}

TEST(Layers, ZeroGradDropsEveryAccumulatedGradient) {
  Generator gen(19);
  TinyNet net(gen);
  const Tensor x = image(20);
  auto step = [&] { backward(ops::sum(net.forward(x))); };
  step();
  std::vector<Tensor> first;
  for (const ParamRef& p : net.trainable_parameters()) {
    ASSERT_TRUE(p.tensor->grad().defined()) << p.name;
    first.push_back(p.tensor->grad().clone());
  }
  step();  // gradients accumulate
  std::vector<ParamRef> params = net.trainable_parameters();
  for (size_t i = 0; i < params.size(); ++i)
    ALZ_EXPECT_CLOSE(params[i].tensor->grad(), ops::scale(first[i], 2.0), (test::Tolerance{1e-6, 1e-6}));
  net.zero_grad();
  for (const ParamRef& p : net.parameters()) EXPECT_FALSE(p.tensor->grad().defined()) << p.name;
  step();
  for (size_t i = 0; i < params.size(); ++i)
    EXPECT_TRUE(test::bitwise_equal(params[i].tensor->grad(), first[i])) << params[i].name << ": a fresh gradient";
}

}  // namespace
}  // namespace alz
