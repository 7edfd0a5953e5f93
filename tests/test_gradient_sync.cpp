// The overlapped gradient synchronisation's bookkeeping (dist/gradient_sync.h), in one process:
// the bucket plan (backward order, launches strictly in order as buckets complete, a parameter
// reported twice is an error), the autograd hook that reports each leaf's gradient
// (LeafGradientHookScope), and a host synchronisation of a world of one driven through backward
// that leaves the gradients exactly as they were. The multi-rank sums: tests/dist/ under mpirun.
// Run: ctest --test-dir build -R GradientSync
#include <gtest/gtest.h>

#include <map>

#include "core/error.h"
#include "dist/communicator.h"
#include "dist/gradient_sync.h"
#include "models/resnet_v2.h"
#include "support/compare.h"
#include "tensor/autograd.h"
#include "tensor/ops.h"

namespace alz {
namespace {

TEST(GradientSync, BucketsFollowBackwardOrderAndLaunchInOrder) {
  // Four parameters of 10, 20, 30 and 40 floats; buckets of 200 bytes (50 floats), filled from
  // the last parameter backwards: {3}, {2, 1}, {0}.
  std::vector<Tensor> tensors;
  for (int64_t n : {10, 20, 30, 40}) tensors.push_back(Tensor::zeros({n}).set_requires_grad(true));
  std::vector<ParamRef> params;
  for (size_t i = 0; i < tensors.size(); ++i)
    params.push_back({"p" + std::to_string(i), &tensors[i], ParamKind::Weight, KerasLayout::Same, true});
  dist::BucketPlan plan(params, 200);
  ASSERT_EQ(plan.buckets().size(), 3u);
  EXPECT_EQ(plan.buckets()[0].params, (std::vector<size_t>{3}));
  EXPECT_EQ(plan.buckets()[1].params, (std::vector<size_t>{2, 1}));
  EXPECT_EQ(plan.buckets()[2].params, (std::vector<size_t>{0}));
  auto ready = [&](size_t i) { return plan.mark_ready(*tensors[i].autograd_meta()); };
  EXPECT_EQ(ready(1), std::vector<size_t>{}) << "bucket 1 is not complete, and bucket 0 must go first";
  EXPECT_EQ(ready(0), std::vector<size_t>{}) << "bucket 2 is complete but waits for buckets 0 and 1";
  EXPECT_EQ(ready(3), (std::vector<size_t>{0}));
  EXPECT_EQ(ready(2), (std::vector<size_t>{1, 2}));
  EXPECT_EQ(plan.launch_rest(), std::vector<size_t>{});
  EXPECT_THROW(ready(2), Error) << "a second gradient for a parameter in one step";
  plan.reset();
  EXPECT_EQ(ready(3), (std::vector<size_t>{0}));
  EXPECT_EQ(plan.launch_rest(), (std::vector<size_t>{1, 2})) << "what backward did not complete goes at the end";
}

TEST(GradientSync, BackwardReportsEveryParameterOnceThroughTheHook) {
  ResNetV2 model(resnet_v2_config("resnetv2-tiny", 4, 32, 32), 2);
  std::vector<ParamRef> params = model.trainable_parameters();
  std::map<const AutogradMeta*, int> reports;
  Generator gen(4);
  Tensor x = Tensor::uniform({3, 32, 32, 3}, gen, -1.0, 1.0);
  Tensor labels = Tensor::from_vector(std::vector<int32_t>{0, 1, 3}, {3});
  {
    LeafGradientHookScope hook([&](const AutogradMeta& leaf) { ++reports[&leaf]; });
    backward(ops::softmax_cross_entropy(model.forward(x), labels));
  }
  ASSERT_EQ(reports.size(), params.size());
  for (const ParamRef& p : params) EXPECT_EQ(reports[p.tensor->autograd_meta().get()], 1) << p.name;
  backward(ops::softmax_cross_entropy(model.forward(x), labels));  // the hook is gone with its scope
  EXPECT_EQ(reports.size(), params.size());
}

// A world of one, forced: every bucket is reduced inside backward and the gradients come back
// unchanged (weight 1, one rank), in f32, the same bits as without synchronisation.
TEST(GradientSync, OverlappedHostSyncOfOneRankLeavesTheGradients) {
  ResNetV2 plain(resnet_v2_config("resnetv2-tiny", 4, 32, 32), 2),
      synced(resnet_v2_config("resnetv2-tiny", 4, 32, 32), 2);
  dist::SingleProcess one;
  std::unique_ptr<dist::GradientSync> sync =
      dist::make_gradient_sync(one, synced.trainable_parameters(), {}, Device::cpu(), 4096, /*force=*/true);
  ASSERT_NE(sync, nullptr);
  EXPECT_STREQ(sync->name(), "mpi");
  Generator gen(4);
  Tensor x = Tensor::uniform({3, 32, 32, 3}, gen, -1.0, 1.0);
  Tensor labels = Tensor::from_vector(std::vector<int32_t>{0, 1, 3}, {3});
  backward(ops::softmax_cross_entropy(plain.forward(x), labels));
  sync->begin_step(1.0);
  {
    dist::BackwardOverlap overlap(sync.get());
    backward(ops::softmax_cross_entropy(synced.forward(x), labels));
  }
  sync->finish_step();
  std::vector<ParamRef> a = plain.trainable_parameters(), b = synced.trainable_parameters();
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_TRUE(test::bitwise_equal(a[i].tensor->grad(), b[i].tensor->grad())) << a[i].name;
}

}  // namespace
}  // namespace alz
