// Two replicas of a data-parallel BatchNorm simulated in one process, for the cross-replica
// BatchNorm (tensor/cross_replica_bn.h) on the CPU (tests/test_cross_replica_bn.cpp) and on a
// GPU (tests/gpu/test_cross_replica_bn_gpu.cpp). Replica 0 holds rows [0, split) of one batch,
// replica 1 rows [split, rows). They run one after the other: each replica's ReplicaSum adds
// the other's values of the same call, as recorded in the previous pass; since a call's local
// values depend only on earlier calls, after (calls + 1) passes both replicas see what a real
// all-reduce gives. The result is compared with ops::batch_norm on the whole batch: output,
// input gradient, moving statistics.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>

#include "support/tolerance.h"
#include "tensor/tensor.h"

namespace alz::test {

// x (rows, channels) of `dtype` on `device` (BatchNorm's parameters: f32 for bf16, else dtype).
::testing::AssertionResult two_replicas_equal_the_whole_batch(int64_t rows, int64_t split, int64_t channels,
                                                              DType dtype, Device device, bool relu, Tolerance tol,
                                                              uint64_t seed);

}  // namespace alz::test
