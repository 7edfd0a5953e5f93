// Cross-replica BatchNorm (tensor/cross_replica_bn.h) in one process: with a
// ReplicaSum that adds nothing it equals the training batch_norm (forward, moving statistics,
// backward) and its backward matches central finite differences (f64); two simulated replicas,
// whose sums are added by hand (support/simulated_replicas.h), give each half of a batch the
// output, input gradient and moving statistics of the whole batch (f64 and f32).
// Run: ctest --test-dir build -R CrossReplicaBn
#include <gtest/gtest.h>

#include <vector>

#include "core/generator.h"
#include "support/compare.h"
#include "support/simulated_replicas.h"
#include "tensor/autograd.h"
#include "tensor/cross_replica_bn.h"
#include "tensor/ops.h"

namespace alz {
namespace {

struct BnInputs {
  Tensor x, gamma, beta, mean, var;
};

BnInputs random_inputs(int64_t rows, int64_t channels, DType dtype, uint64_t seed) {
  Generator gen(seed);
  BnInputs in;
  in.x = Tensor::normal({rows, channels}, gen, 0.3, 1.2, dtype).set_requires_grad(true);
  in.gamma = Tensor::uniform({channels}, gen, 0.5, 1.5, dtype).set_requires_grad(true);
  in.beta = Tensor::uniform({channels}, gen, -0.3, 0.3, dtype).set_requires_grad(true);
  in.mean = Tensor::uniform({channels}, gen, -0.1, 0.1, dtype);
  in.var = Tensor::uniform({channels}, gen, 0.8, 1.2, dtype);
  return in;
}

// f64 on both sides; the moments and sums are grouped differently than in the one-batch kernels.
constexpr test::Tolerance kF64{1e-12, 1e-12};

const ops::ReplicaSum kAlone = [](double*, int64_t) {};

TEST(CrossReplicaBn, OneReplicaEqualsTrainingBatchNorm) {
  for (bool relu : {true, false}) {
    BnInputs a = random_inputs(13, 5, DType::F64, 3), b = random_inputs(13, 5, DType::F64, 3);
    ops::BatchNormOptions o;
    o.relu = relu;
    Tensor ya = ops::batch_norm(a.x, a.gamma, a.beta, a.mean, a.var, o);
    Tensor yb = ops::cross_replica_batch_norm(b.x, b.gamma, b.beta, b.mean, b.var, o, kAlone);
    ALZ_EXPECT_CLOSE(yb, ya, kF64);
    ALZ_EXPECT_CLOSE(b.mean, a.mean, kF64);
    ALZ_EXPECT_CLOSE(b.var, a.var, kF64);
    Generator gen(9);
    Tensor w = Tensor::normal(ya.shape(), gen, 0.0, 1.0, DType::F64);
    backward(ops::sum(ops::mul(ya, w)));
    backward(ops::sum(ops::mul(yb, w)));
    ALZ_EXPECT_CLOSE(b.x.grad(), a.x.grad(), kF64);
    ALZ_EXPECT_CLOSE(b.gamma.grad(), a.gamma.grad(), kF64);
    ALZ_EXPECT_CLOSE(b.beta.grad(), a.beta.grad(), kF64);
  }
}

TEST(CrossReplicaBn, BackwardMatchesFiniteDifferences) {
  BnInputs in = random_inputs(7, 3, DType::F64, 21);
  Generator gen(4);
  Tensor w = Tensor::normal({7, 3}, gen, 0.0, 1.0, DType::F64);
  ops::BatchNormOptions o;
  auto loss = [&](const Tensor& x) {
    Tensor m = in.mean.clone(), v = in.var.clone();
    return ops::sum(ops::mul(ops::cross_replica_batch_norm(x, in.gamma, in.beta, m, v, o, kAlone), w));
  };
  backward(loss(in.x));
  Tensor analytic = in.x.grad();
  const double h = 1e-6;
  for (int64_t i = 0; i < 7; ++i)
    for (int64_t c = 0; c < 3; ++c) {
      NoGradGuard no_grad;
      Tensor plus = in.x.clone(), minus = in.x.clone();
      plus.set({i, c}, plus.at({i, c}) + h);
      minus.set({i, c}, minus.at({i, c}) - h);
      double numeric = (loss(plus).at({}) - loss(minus).at({})) / (2 * h);
      // central differences in f64 with h = 1e-6: about 1e-8 of error
      EXPECT_NEAR(analytic.at({i, c}), numeric, 1e-6) << "x[" << i << ", " << c << "]";
    }
}

// Two replicas holding rows [0, 6) and [6, 11) of one batch (support/simulated_replicas.h): each
// half gets the output, input gradient and moving statistics of the whole batch. f64: only the
// grouping of the sums differs; f32: the moments and sums in f32 on each replica.
TEST(CrossReplicaBn, TwoReplicasGiveTheWholeBatch) {
  for (bool relu : {true, false}) {
    SCOPED_TRACE(relu ? "relu" : "no relu");
    EXPECT_TRUE(test::two_replicas_equal_the_whole_batch(11, 6, 4, DType::F64, Device::cpu(), relu, kF64, 8));
    EXPECT_TRUE(test::two_replicas_equal_the_whole_batch(37, 20, 13, DType::F32, Device::cpu(), relu,
                                                         test::Tolerance{2e-5, 2e-5}, 9));
  }
}

}  // namespace
}  // namespace alz
