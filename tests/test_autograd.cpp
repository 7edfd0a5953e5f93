// The autograd tape: fan-out sums, leaf gradients accumulate, no-grad records nothing, the
// tape is released after backward, and the errors a user can cause. AutogradRule.*: the
// gradient rule of tensor/autograd.h through conv2d, BatchNorm, pooling and linear (parameters
// used twice accumulate; activation gradients never pick up stale buffer contents).
// Run: ctest --test-dir build -R Autograd
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/generator.h"
#include "support/compare.h"
#include "tensor/autograd.h"
#include "tensor/host_allocator.h"
#include "tensor/ops.h"
#include "tensor/profiler.h"

namespace alz {
namespace {

Tensor vec(std::vector<double> values) { return Tensor::from_vector(values, {static_cast<int64_t>(values.size())}); }

TEST(Autograd, ChainAndFanOutSum) {
  // L = sum(x*x + x) -> dL/dx = 2x + 1; x is used three times.
  Tensor x = vec({1.0, -2.0, 0.5}).set_requires_grad(true);
  Tensor loss = ops::sum(ops::add(ops::mul(x, x), x));
  backward(loss);
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{3.0, -3.0, 2.0}));
}

TEST(Autograd, LeafGradientsAccumulateAcrossBackwardCalls) {
  Tensor x = vec({1.0, 2.0}).set_requires_grad(true);
  backward(ops::sum(ops::scale(x, 3.0)));
  backward(ops::sum(ops::scale(x, 3.0)));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{6.0, 6.0}));
}

TEST(Autograd, SharedIntermediateReceivesBothGradients) {
  // h = 2x is consumed by two branches; each contribution must reach x exactly once.
  Tensor x = vec({1.0, 4.0}).set_requires_grad(true);
  Tensor h = ops::scale(x, 2.0);
  Tensor loss = ops::sum(ops::add(ops::mul(h, h), h));  // d/dx = (2h + 1) * 2
  backward(loss);
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{10.0, 34.0}));
}

TEST(Autograd, AddHandsOneBufferToBothInputsAndStaysCorrect) {
  // add returns its output gradient to both inputs without a copy; whichever slot is added
  // into later must not change the other.
  Tensor x = vec({1.0, -2.0, 3.0}).set_requires_grad(true);
  Tensor a = ops::scale(x, 2.0);
  backward(ops::sum(ops::add(a, a)));  // both inputs are a: 2 + 2 per element, times 2
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{4.0, 4.0, 4.0}));

  // A residual block: out = h + f(h) with f(h) = 3h; h's slot holds the buffer add gave both,
  // and f's contribution arrives while f's own input slot may still share it.
  Tensor y = vec({0.5, 1.0, -1.0}).set_requires_grad(true);
  Tensor h = ops::scale(y, 1.5);
  Tensor out = ops::add(h, ops::scale(ops::relu(h), 3.0));
  backward(ops::sum(out));  // d/dy = 1.5 * (1 + 3 * [h > 0])
  EXPECT_EQ(y.grad().to_vector(), (std::vector<double>{6.0, 6.0, 1.5}));

  // The shared buffer pending in two slots (a's and b's) when a second contribution reaches
  // a's: adding it in place would change b's gradient too. out = a + b + 5a = 20 w.
  Tensor w = vec({1.0, 2.0}).set_requires_grad(true);
  Tensor b = ops::scale(w, 2.0);  // recorded first: its backward runs last
  Tensor a2 = ops::scale(w, 3.0);
  Tensor n = ops::scale(a2, 5.0);  // runs after add(a2, b), before b's node
  backward(ops::sum(ops::add(ops::add(a2, b), n)));
  EXPECT_EQ(w.grad().to_vector(), (std::vector<double>{20.0, 20.0}));

  // A leaf given the shared buffer, then a second contribution from the other branch.
  Tensor z = vec({2.0, -1.0}).set_requires_grad(true);
  backward(ops::sum(ops::add(z, ops::mul(z, z))));  // 1 + 2z
  EXPECT_EQ(z.grad().to_vector(), (std::vector<double>{5.0, -1.0}));
}

TEST(Autograd, InputsWithoutGradientGetNone) {
  Tensor x = vec({1.0, 2.0}).set_requires_grad(true);
  Tensor c = vec({5.0, 7.0});
  backward(ops::sum(ops::mul(x, c)));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{5.0, 7.0}));
  EXPECT_FALSE(c.grad().defined());
}

TEST(Autograd, NoGradRecordsNothing) {
  Tensor x = vec({1.0, 2.0}).set_requires_grad(true);
  size_t before = tape_size();
  {
    NoGradGuard no_grad;
    EXPECT_FALSE(grad_enabled());
    Tensor y = ops::mul(x, x);
    EXPECT_FALSE(y.requires_grad());
    EXPECT_EQ(tape_size(), before);
  }
  EXPECT_TRUE(grad_enabled());
}

TEST(Autograd, TapeReleasedAfterBackward) {
  Tensor x = vec({1.0, 2.0, 3.0}).set_requires_grad(true);
  Tensor loss = ops::sum(ops::relu(ops::mul(x, x)));
  EXPECT_GE(tape_size(), 3u);
  backward(loss);
  EXPECT_EQ(tape_size(), 0u);
  // The graph node of the loss has dropped what it saved: a second backward is an error.
  try {
    backward(loss);
    FAIL() << "expected an error for backward twice";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("second time"), std::string::npos) << error.what();
  }
}

TEST(Autograd, UnreachableGraphsFreeThemselves) {
  Tensor x = vec({1.0, 2.0}).set_requires_grad(true);
  size_t before = tape_size();
  { Tensor y = ops::mul(x, x); }  // dropped without backward
  EXPECT_EQ(tape_size(), before);
}

TEST(Autograd, ErrorsAUserCanCause) {
  Tensor plain = vec({1.0, 2.0});
  EXPECT_THROW(backward(ops::sum(plain)), Error);  // needs no gradient
  Tensor x = vec({1.0, 2.0}).set_requires_grad(true);
  EXPECT_THROW(backward(ops::mul(x, x)), Error);  // not a scalar without a gradient argument
  Tensor y = ops::mul(x, x);
  EXPECT_THROW(backward(y, vec({1.0})), Error);    // gradient of the wrong shape
  EXPECT_THROW(y.set_requires_grad(true), Error);  // only leaves
  backward(y, vec({1.0, 1.0}));                    // any tensor with an explicit gradient
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{2.0, 4.0}));
}

TEST(Autograd, CallerGradientIsNotModified) {
  Tensor x = vec({1.0, 2.0}).set_requires_grad(true);
  Tensor g = vec({1.0, 1.0});
  backward(ops::scale(x, 1.0), g);
  backward(ops::scale(x, 1.0), g);
  EXPECT_EQ(g.to_vector(), (std::vector<double>{1.0, 1.0}));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{2.0, 2.0}));
}

}  // namespace
}  // namespace alz

namespace alz {
namespace {

TEST(AutogradRelease, IndependentGraphsSurviveEachOthersBackward) {
  // Two forwards first, then two backwards (as when comparing two devices or two models).
  Tensor a = Tensor::from_vector(std::vector<double>{1.0, 2.0}, {2}).set_requires_grad(true);
  Tensor b = Tensor::from_vector(std::vector<double>{3.0, 4.0}, {2}).set_requires_grad(true);
  Tensor loss_a = ops::sum(ops::mul(a, a));
  Tensor loss_b = ops::sum(ops::scale(ops::relu(b), 2.0));
  backward(loss_a);
  EXPECT_EQ(a.grad().to_vector(), (std::vector<double>{2.0, 4.0}));
  EXPECT_GE(tape_size(), 3u);  // b's graph is still there
  backward(loss_b);
  EXPECT_EQ(b.grad().to_vector(), (std::vector<double>{2.0, 2.0}));
  EXPECT_EQ(tape_size(), 0u);
}

TEST(AutogradRelease, ConsumersAreReleasedBeforeTheirProducersRun) {
  // Saved state must go as soon as a node has run: when the producer's backward runs, the
  // consumer (which ran just before) has already dropped its saved tensors.
  Tensor x = Tensor::from_vector(std::vector<double>{1.0, -1.0}, {2}).set_requires_grad(true);
  Tensor h = ops::scale(x, 3.0);
  std::shared_ptr<Node> consumer_node;
  bool consumer_released_first = false;
  Tensor y = ops::relu(h);
  consumer_node = y.autograd_meta()->grad_fn;
  // Wrap h's producer check in a recorded identity whose backward inspects the consumer.
  Tensor z = ops::scale(y, 1.0);
  std::shared_ptr<Node> h_node = h.autograd_meta()->grad_fn;
  auto original = h_node->backward;
  h_node->backward = [&, original](const Tensor& g) {
    consumer_released_first = consumer_node->released && !consumer_node->backward;
    return original(g);
  };
  backward(ops::sum(z));
  EXPECT_TRUE(consumer_released_first);
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{3.0, 0.0}));
}

TEST(AutogradRelease, ReachingAReleasedGraphIsAnError) {
  Tensor x = Tensor::from_vector(std::vector<double>{1.0, 2.0}, {2}).set_requires_grad(true);
  Tensor h = ops::mul(x, x);
  backward(ops::sum(h));
  EXPECT_THROW(backward(ops::sum(ops::scale(h, 2.0))), Error);  // h's node is gone
}

}  // namespace
}  // namespace alz

// ---------------------------------------------------------------- the gradient rule
// tensor/autograd.h: parameter gradients accumulate (over uses and backward calls), activation
// gradients are written fresh. The graph covers the ops whose backward writes gradients of
// parameters: conv2d, BatchNorm+ReLU (C = 32, and C = 8192 so that dgamma is a cached block),
// max pooling, linear, mul, add, sum.

namespace alz {
namespace {

struct RuleGraph {
  Generator gen{2024};
  Tensor x = Tensor::normal({2, 12, 12, 32}, gen, 0.0, 1.0, DType::F64);
  Tensor x_other = Tensor::normal({2, 12, 12, 32}, gen, 0.0, 1.0, DType::F64);
  Tensor conv_w = Tensor::normal({32, 3, 3, 32}, gen, 0.0, 0.1, DType::F64).set_requires_grad(true);
  Tensor gamma = Tensor::uniform({32}, gen, 0.5, 1.5, DType::F64).set_requires_grad(true);
  Tensor beta = Tensor::normal({32}, gen, 0.0, 0.5, DType::F64).set_requires_grad(true);
  Tensor mm = Tensor::zeros({32}, DType::F64), mv = Tensor::ones({32}, DType::F64);
  Tensor pool_r = Tensor::normal({2, 6, 6, 32}, gen, 0.0, 1.0, DType::F64);
  Tensor z = Tensor::normal({3, 8192}, gen, 1.0, 2.0, DType::F64);
  Tensor big_gamma = Tensor::uniform({8192}, gen, 0.5, 1.5, DType::F64).set_requires_grad(true);
  Tensor big_beta = Tensor::normal({8192}, gen, 0.0, 0.5, DType::F64).set_requires_grad(true);
  Tensor big_mm = Tensor::zeros({8192}, DType::F64), big_mv = Tensor::ones({8192}, DType::F64);
  Tensor z_r = Tensor::normal({3, 8192}, gen, 0.0, 1.0, DType::F64);
  Tensor lin_x = Tensor::normal({4, 64}, gen, 0.0, 1.0, DType::F64);
  Tensor lin_w = Tensor::normal({64, 128}, gen, 0.0, 0.2, DType::F64).set_requires_grad(true);
  Tensor lin_b = Tensor::normal({128}, gen, 0.0, 0.2, DType::F64).set_requires_grad(true);
  Tensor lin_r = Tensor::normal({4, 128}, gen, 0.0, 1.0, DType::F64);

  std::vector<Tensor*> parameters() { return {&conv_w, &gamma, &beta, &big_gamma, &big_beta, &lin_w, &lin_b}; }

  // A scalar loss through every op above, from the image batch `image`.
  Tensor loss(const Tensor& image) {
    ops::Conv2dOptions same;
    same.pad = {1, 1, 1, 1};
    Tensor h = ops::batch_norm(ops::conv2d(image, conv_w, Tensor(), same), gamma, beta, mm, mv);
    ops::MaxPoolOptions pool;
    pool.kernel_h = pool.kernel_w = pool.stride_h = pool.stride_w = 2;
    Tensor a = ops::sum(ops::mul(ops::max_pool2d(h, pool), pool_r));
    Tensor b = ops::sum(ops::mul(ops::batch_norm(z, big_gamma, big_beta, big_mm, big_mv), z_r));
    Tensor c = ops::sum(ops::mul(ops::linear(lin_x, lin_w, lin_b), lin_r));
    return ops::add(ops::add(a, b), c);
  }

  std::vector<std::vector<double>> gradients() {
    std::vector<std::vector<double>> out;
    for (Tensor* p : parameters()) out.push_back(p->grad().to_vector());
    return out;
  }
  void zero_grad() {
    for (Tensor* p : parameters()) p->autograd_meta()->grad = Tensor();
  }
};

TEST(AutogradRule, ParameterUsedTwiceAccumulates) {
  RuleGraph g;
  backward(g.loss(g.x));
  const auto first = g.gradients();
  g.zero_grad();
  backward(g.loss(g.x_other));
  const auto second = g.gradients();
  g.zero_grad();

  // Every parameter used twice in one graph: the sum of both contributions.
  backward(ops::add(g.loss(g.x), g.loss(g.x_other)));
  auto both = g.gradients();
  // Then a second backward adds the first contribution once more.
  backward(g.loss(g.x));
  auto three = g.gradients();
  const test::Tolerance sum_order{1e-12, 1e-12};  // f64 sums of the same terms in another order
  for (size_t i = 0; i < first.size(); ++i) {
    std::vector<double> expect_both(first[i].size()), expect_three(first[i].size());
    for (size_t k = 0; k < first[i].size(); ++k) {
      expect_both[k] = first[i][k] + second[i][k];
      expect_three[k] = expect_both[k] + first[i][k];
    }
    SCOPED_TRACE("parameter " + std::to_string(i));
    ALZ_EXPECT_CLOSE(both[i], expect_both, sum_order);
    ALZ_EXPECT_CLOSE(three[i], expect_three, sum_order);
  }
}

TEST(AutogradRule, ActivationGradientsAreOverwrittenNotSummedWithStaleData) {
  RuleGraph g;
  backward(g.loss(g.x));
  const auto clean = g.gradients();
  g.zero_grad();

  // Fill the host allocator's cache with NaN blocks of every size this graph allocates (at
  // least 64 KiB: conv, pooling and BatchNorm activations, the conv and Dense weights, the
  // C = 8192 BatchNorm parameters). A backward that added into a fresh buffer instead of
  // writing it, or a gradient summed with a buffer's old contents, turns NaN (or doubles).
  const Shape shapes[] = {{2, 12, 12, 32}, {32, 3, 3, 32}, {2, 6, 6, 32}, {3, 8192}, {8192}, {64, 128}, {4, 128}};
  {
    std::vector<Tensor> poison;
    for (const Shape& shape : shapes)
      for (int copy = 0; copy < 4; ++copy) poison.push_back(Tensor::full(shape, std::nan(""), DType::F64));
  }
  const HostAllocatorStats before = host_allocator_stats();
  backward(g.loss(g.x));
  const auto again = g.gradients();
  if (before.cache_limit_bytes > 0) {  // not under AddressSanitizer, which turns the cache off
    EXPECT_GT(host_allocator_stats().cache_hits, before.cache_hits) << "the stale blocks were not reused";
  }
  const test::Tolerance same{1e-12, 1e-12};  // the same arithmetic on the same inputs
  for (size_t i = 0; i < clean.size(); ++i) {
    SCOPED_TRACE("parameter " + std::to_string(i));
    ALZ_EXPECT_CLOSE(again[i], clean[i], same);
  }
}

// Rule 2's fused epilogue: in a residual block y = x + 2 * bn_relu(x) the shortcut's gradient
// reaches x first; batch_norm_relu's backward then adds its own into that buffer in place
// (pending_gradient_of_input) instead of returning it for autograd to sum. The gradient of x
// equals the unfused computation (the same block through the reference BatchNorm and ops::relu,
// summed by autograd), and no separate accumulation ran.
TEST(AutogradRule, BatchNormAddsIntoTheResidualGradientInPlace) {
  Generator gen(44);
  const Tensor x_values = Tensor::normal({3, 5, 5, 6}, gen, 0.0, 1.0, DType::F32);
  const Tensor gamma = Tensor::normal({6}, gen, 1.0, 0.3, DType::F32), beta = Tensor::normal({6}, gen, 0.0, 0.5, DType::F32);
  const Tensor dy = Tensor::normal({3, 5, 5, 6}, gen, 0.0, 1.0, DType::F32);
  auto x_gradient = [&](bool fused, int* accumulations) {
    Tensor x = x_values.clone().set_requires_grad(true);
    Tensor input = ops::scale(x, 1.0);  // an op's output, as a residual block's input is
    Tensor mean = Tensor::zeros({6}, DType::F32), variance = Tensor::ones({6}, DType::F32);
    ops::BatchNormOptions o;
    o.fused = fused;
    Tensor branch = ops::scale(ops::batch_norm(input, gamma, beta, mean, variance, o), 2.0);
    Tensor y = ops::add(input, branch);
    profiler::start();
    backward(y, dy);
    for (const profiler::OpTime& row : profiler::stop())
      if (row.name == "accumulate_grad") *accumulations = static_cast<int>(row.calls);
    return x.grad();
  };
  int fused_sums = 0, unfused_sums = 0;
  const Tensor fused = x_gradient(true, &fused_sums), unfused = x_gradient(false, &unfused_sums);
  EXPECT_EQ(fused_sums, 0) << "the BatchNorm's backward added into the shortcut's gradient";
  EXPECT_EQ(unfused_sums, 1) << "the reference path sums the two gradients in autograd";
  ALZ_EXPECT_CLOSE(fused, unfused, (test::Tolerance{1e-5, 1e-5}));
}

// The offer is refused whenever taking it could be wrong: a leaf (autograd owns .grad), no
// gradient yet, a buffer another tensor shares, another shape or dtype, outside a backward.
TEST(AutogradRule, PendingGradientIsOfferedOnlyWhenItIsSafeToAddInto) {
  EXPECT_FALSE(pending_gradient_of_input(0, {2}, DType::F32, Device::cpu()).defined()) << "outside a backward";
  Tensor leaf = Tensor::ones({2}, DType::F32).set_requires_grad(true);
  Tensor produced = ops::scale(leaf, 3.0);
  std::vector<std::string> seen;
  auto probe = [&](const Tensor& input) {
    Tensor out = Tensor::zeros(input.shape(), input.dtype());
    record("probe", out, {&input}, [&seen](const Tensor& g) {
      seen.push_back(pending_gradient_of_input(0, g.shape(), g.dtype(), g.device()).defined() ? "offered" : "refused");
      seen.push_back(pending_gradient_of_input(0, {3}, g.dtype(), g.device()).defined() ? "offered" : "refused");
      seen.push_back(pending_gradient_of_input(0, g.shape(), DType::F64, g.device()).defined() ? "offered" : "refused");
      seen.push_back(pending_gradient_of_input(1, g.shape(), g.dtype(), g.device()).defined() ? "offered" : "refused");
      return std::vector<Tensor>{g};
    });
    return out;
  };
  // produced is used twice: by scale (recorded later, so its backward runs first and leaves a
  // gradient of its own, unshared) and by the probe.
  Tensor a = probe(produced), b = ops::scale(produced, 5.0);
  backward(ops::add(ops::sum(a), ops::sum(b)));
  EXPECT_EQ(seen, (std::vector<std::string>{"offered", "refused", "refused", "refused"}));
  seen.clear();
  Tensor c = probe(leaf);  // a leaf's .grad is never offered
  backward(ops::sum(c));
  EXPECT_EQ(seen, (std::vector<std::string>{"refused", "refused", "refused", "refused"}));
}

}  // namespace
}  // namespace alz
