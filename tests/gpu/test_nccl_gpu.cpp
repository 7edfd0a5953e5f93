// NCCL's gradient synchronisation (dist/nccl/) on one GPU and one rank: training steps of the
// tiny model with the NCCL all-reduce between backward and the optimizer (overlapped with
// backward) give the same weights, bit for bit, as the plain single-process steps (a one-rank
// sum is the value itself, the scale 1 exact). Labelled `gpu`; skips without a GPU or without
// NCCL in the build. Run: ctest --test-dir build -R NcclGpu
#include <gtest/gtest.h>

#include "dist/communicator.h"
#include "dist/gradient_sync.h"
#include "models/resnet_v2.h"
#include "optim/optimizer.h"
#include "support/compare.h"
#include "tensor/autograd.h"
#include "tensor/ops.h"

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

}  // namespace
}  // namespace alz
