// NCCL's gradient synchronisation (dist/nccl/) on one GPU and one rank: training steps of the
// tiny model with the NCCL all-reduce between backward and the optimizer (overlapped with
// backward) give the same weights, bit for bit, as the plain single-process steps (a one-rank
// sum is the value itself, the scale 1 exact); the same step captured and replayed as one CUDA
// graph, NCCL included, equals the eager one. Labelled `gpu`; skips without a GPU or without
// NCCL in the build. Run: ctest --test-dir build -R NcclGpu
#include <gtest/gtest.h>

#include "dist/communicator.h"
#include "dist/gradient_sync.h"
#include "kernels/conv2d.h"
#include "kernels/gemm.h"
#include "models/resnet_v2.h"
#include "optim/optimizer.h"
#include "support/compare.h"
#include "tensor/autograd.h"
#include "tensor/ops.h"
#include "train/step_graph.h"

namespace alz {
namespace {

TEST(NcclGpu, OneRankNcclStepsEqualThePlainSteps) {
  ALZ_REQUIRE_GPU();
  ResNetV2 plain(resnet_v2_config("resnetv2-tiny", 4, 32, 32), 2),
      synced(resnet_v2_config("resnetv2-tiny", 4, 32, 32), 2);
  plain.to(Device::cuda());
  synced.to(Device::cuda());
  dist::SingleProcess one;
  std::unique_ptr<dist::GradientSync> sync =
      dist::make_gradient_sync(one, synced.trainable_parameters(), dist::trained_buffers(synced.parameters()),
                               Device::cuda(), 4096, /*force=*/true);
  ASSERT_NE(sync, nullptr);
  if (std::string(sync->name()) != "nccl") GTEST_SKIP() << "this build has no NCCL (the host path was chosen)";
  Adam plain_opt(plain.trainable_parameters(), {}), synced_opt(synced.trainable_parameters(), {});
  Generator gen(4);
  for (int step = 0; step < 3; ++step) {
    Tensor x = Tensor::uniform({3, 32, 32, 3}, gen, -1.0, 1.0).to(Device::cuda());
    Tensor labels = Tensor::from_vector(std::vector<int32_t>{0, 1, 3}, {3}, Device::cuda());
    backward(ops::softmax_cross_entropy(plain.forward(x), labels));
    plain_opt.step();
    plain_opt.zero_grad();
    sync->begin_step(1.0);
    {
      dist::BackwardOverlap overlap(sync.get());
      backward(ops::softmax_cross_entropy(synced.forward(x), labels));
    }
    sync->finish_step();
    synced_opt.step();
    synced_opt.zero_grad();
  }
  std::vector<ParamRef> a = plain.parameters(), b = synced.parameters();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(test::bitwise_equal(*a[i].tensor, *b[i].tensor)) << a[i].name;
}

// The data-parallel step of `alz train` on GPUs (train/trainer.cpp): NCCL's bucketed all-reduce
// inside the training step captured as one CUDA graph (train/step_graph.h), events and the
// communication stream included. Five steps, two eager warm-up steps, then the capture and
// replays, against five eager NCCL steps on a twin model: the same losses and weights
// (deterministic convolutions, strict f32; a replay runs the eager step's kernels).
TEST(NcclGpu, OneRankNcclStepReplayedAsACudaGraphEqualsTheEagerSteps) {
  ALZ_REQUIRE_GPU();
  set_conv_allow_tf32(false);
  kernels::set_gemm_allow_tf32(false);
  set_conv_algo_mode(ConvAlgoMode::Deterministic);
  ResNetV2 eager_model(resnet_v2_config("resnetv2-tiny", 4, 32, 32), 5),
      graph_model(resnet_v2_config("resnetv2-tiny", 4, 32, 32), 5);
  eager_model.to(Device::cuda());
  graph_model.to(Device::cuda());
  dist::SingleProcess one;
  auto make_sync = [&](ResNetV2& model) {
    return dist::make_gradient_sync(one, model.trainable_parameters(), dist::trained_buffers(model.parameters()),
                                    Device::cuda(), 4096, /*force=*/true);
  };
  std::unique_ptr<dist::GradientSync> eager_sync = make_sync(eager_model), graph_sync = make_sync(graph_model);
  ASSERT_NE(graph_sync, nullptr);
  if (std::string(graph_sync->name()) != "nccl") GTEST_SKIP() << "this build has no NCCL (the host path was chosen)";
  Adam eager_opt(eager_model.trainable_parameters(), {}), graph_opt(graph_model.trainable_parameters(), {});
  auto step_of = [](ResNetV2& model, dist::GradientSync& sync, Optimizer& opt) {
    return [&model, &sync, &opt](const Tensor& images, const Tensor& labels) {
      sync.begin_step(1.0);
      train::StepGraph::Outputs out;
      out.logits = model.forward(images);
      out.loss = ops::softmax_cross_entropy(out.logits, labels);
      {
        dist::BackwardOverlap overlap(&sync);
        backward(out.loss);
      }
      sync.finish_step();
      opt.step();
      opt.zero_grad();
      return out;
    };
  };
  train::StepGraph graph("on", Device::cuda(), 3, graph_opt, /*quiet=*/true);
  graph.require_every_rank([](bool captured) { return captured; });  // one rank: its own capture
  Generator gen(6);
  for (int step = 0; step < 5; ++step) {
    Tensor x = Tensor::uniform({3, 32, 32, 3}, gen, -1.0, 1.0).to(Device::cuda());
    Tensor labels = Tensor::from_vector(std::vector<int32_t>{0, 2, 3}, {3}, Device::cuda());
    const double eager_loss = step_of(eager_model, *eager_sync, eager_opt)(x, labels).loss.at({});
    const double graph_loss = graph.run(x, labels, step_of(graph_model, *graph_sync, graph_opt)).loss.at({});
    EXPECT_NEAR(graph_loss, eager_loss, 1e-6) << "step " << step;
  }
  EXPECT_TRUE(graph.replaying()) << graph.status();
  EXPECT_EQ(graph.replays(), 3);
  std::vector<ParamRef> a = eager_model.parameters(), b = graph_model.parameters();
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_TRUE(test::all_close(*b[i].tensor, *a[i].tensor, test::Tolerance{1e-6, 1e-6}, a[i].name));
}

}  // namespace
}  // namespace alz
