// The autograd tape: fan-out sums, leaf gradients accumulate, no-grad records nothing, the
// tape is released after backward, and the errors a user can cause.
// Run: ctest --test-dir build -R Autograd
#include <gtest/gtest.h>

#include "support/compare.h"
#include "tensor/autograd.h"
#include "core/error.h"
#include "tensor/ops.h"

namespace alz {
namespace {

Tensor vec(std::vector<double> values) {
  return Tensor::from_vector(values, {static_cast<int64_t>(values.size())});
}

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
  Tensor b = ops::scale(w, 2.0);             // recorded first: its backward runs last
  Tensor a2 = ops::scale(w, 3.0);
  Tensor n = ops::scale(a2, 5.0);            // runs after add(a2, b), before b's node
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
  EXPECT_THROW(backward(ops::mul(x, x)), Error);   // not a scalar without a gradient argument
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
