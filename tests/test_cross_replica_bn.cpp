// Cross-replica BatchNorm (tensor/cross_replica_bn.h, kernels/cross_replica_bn.h) in one process: with a
// ReplicaSum that adds nothing it equals the training batch_norm (forward, moving statistics,
// backward) and its backward matches central finite differences (f64); two simulated replicas,
// whose sums are added by hand, give each half of a batch the output and input gradient of the
// whole batch. Run: ctest --test-dir build -R CrossReplicaBn
#include <gtest/gtest.h>

#include <vector>

#include "core/generator.h"
#include "support/compare.h"
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

// Rows [begin, end) of an (N, C) f64 tensor as a new leaf tensor (no tape).
Tensor rows_of(const Tensor& t, int64_t begin, int64_t end) {
  std::vector<double> all = t.to_vector();
  const int64_t c = t.dim(1);
  std::vector<double> part(all.begin() + begin * c, all.begin() + end * c);
  return Tensor::from_vector(part, {end - begin, c});
}
Tensor copy_of(const Tensor& t) { return Tensor::from_vector(t.to_vector(), t.shape()); }

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

// Two replicas holding rows [0, 6) and [6, 11) of one batch, run one after the other in this
// process: each replica's sum adds the other's local sums of the same call, as recorded in the
// previous pass; the local sums of each call depend only on earlier calls, so after a few passes
// both replicas see the exchange of a real all-reduce.
TEST(CrossReplicaBn, TwoReplicasGiveTheWholeBatch) {
  BnInputs whole = random_inputs(11, 4, DType::F64, 8);
  ops::BatchNormOptions o;
  Tensor mean_whole = whole.mean.clone(), var_whole = whole.var.clone();
  Tensor y_whole = ops::batch_norm(whole.x, whole.gamma, whole.beta, mean_whole, var_whole, o);
  Generator gen(2);
  Tensor w = Tensor::normal({11, 4}, gen, 0.0, 1.0, DType::F64);
  backward(ops::sum(ops::mul(y_whole, w)));

  // Each replica's sums, in call order, recorded in a first pass with no exchange...
  std::vector<std::vector<std::vector<double>>> calls(2);
  auto run = [&](int replica, const ops::ReplicaSum& sum, Tensor& y, Tensor& dx) {
    int64_t begin = replica == 0 ? 0 : 6, end = replica == 0 ? 6 : 11;
    Tensor x = rows_of(whole.x, begin, end).set_requires_grad(true);
    Tensor gamma = copy_of(whole.gamma).set_requires_grad(true);
    Tensor beta = copy_of(whole.beta).set_requires_grad(true);
    Tensor m = copy_of(whole.mean), v = copy_of(whole.var);
    y = ops::cross_replica_batch_norm(x, gamma, beta, m, v, o, sum);
    backward(ops::sum(ops::mul(y, rows_of(w, begin, end))));
    dx = x.grad();
  };
  Tensor y0, y1, dx0, dx1;
  // 3 calls (forward 2, backward 1): 4 passes let every call see the other's final sums.
  for (int pass = 0; pass < 4; ++pass) {
    for (int r = 0; r < 2; ++r) {
      size_t call = 0;
      std::vector<std::vector<double>> mine;
      ops::ReplicaSum sum = [&](double* values, int64_t count) {
        mine.emplace_back(values, values + count);
        const auto& other = calls[1 - r];
        if (call < other.size() && other[call].size() == static_cast<size_t>(count))
          for (int64_t k = 0; k < count; ++k) values[k] += other[call][static_cast<size_t>(k)];
        ++call;
      };
      run(r, sum, r == 0 ? y0 : y1, r == 0 ? dx0 : dx1);
      calls[static_cast<size_t>(r)] = mine;
    }
  }
  ALZ_EXPECT_CLOSE(y0, rows_of(y_whole, 0, 6), kF64);
  ALZ_EXPECT_CLOSE(y1, rows_of(y_whole, 6, 11), kF64);
  ALZ_EXPECT_CLOSE(dx0, rows_of(whole.x.grad(), 0, 6), kF64);
  ALZ_EXPECT_CLOSE(dx1, rows_of(whole.x.grad(), 6, 11), kF64);
}

}  // namespace
}  // namespace alz
