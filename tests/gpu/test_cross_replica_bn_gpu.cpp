// Cross-replica BatchNorm (--sync-bn, tensor/cross_replica_bn.h) on the GPU: two replicas
// simulated in one process (support/simulated_replicas.h) against the GPU's own BatchNorm of
// the whole batch, in f32 and bf16, with and without the ReLU, on the vector path (C a multiple
// of 8) and the scalar one (odd C). The composition (moments and sums through the host, the
// fused kernels on each replica, the affine correction of dx) is the CPU's, tested in
// tests/test_cross_replica_bn.cpp. Labelled `gpu`; skips without a device.
//   ctest --test-dir build -L gpu -R CrossReplicaBnGpu
#include <gtest/gtest.h>

#include "support/compare.h"
#include "support/simulated_replicas.h"

namespace alz {
namespace {

TEST(CrossReplicaBnGpu, TwoReplicasGiveTheWholeBatchF32) {
  ALZ_REQUIRE_GPU();
  for (bool relu : {true, false}) {
    SCOPED_TRACE(relu ? "relu" : "no relu");
    // f32 moments on each replica and on the whole batch, combined in double: ~1e-6 relative.
    const test::Tolerance f32{3e-5, 3e-5};
    EXPECT_TRUE(test::two_replicas_equal_the_whole_batch(37, 20, 13, DType::F32, Device::cuda(), relu, f32, 31));
    EXPECT_TRUE(test::two_replicas_equal_the_whole_batch(200, 77, 64, DType::F32, Device::cuda(), relu, f32, 32));
  }
}

TEST(CrossReplicaBnGpu, TwoReplicasGiveTheWholeBatchBf16) {
  ALZ_REQUIRE_GPU();
  // bf16 outputs and gradients (8 significant bits), rounded at other points than the whole
  // batch's kernels round; moving statistics in f32.
  const test::Tolerance bf16{2e-2, 2e-2};
  EXPECT_TRUE(test::two_replicas_equal_the_whole_batch(64, 23, 32, DType::BF16, Device::cuda(), true, bf16, 33));
}

}  // namespace
}  // namespace alz
