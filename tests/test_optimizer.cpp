// Optimizers on the CPU (optim/optimizer.h, kernels/optimizer.h): SGD (plain, momentum,
// Nesterov, weight decay) and Adam/AdamW against values computed by hand for a few steps on a
// 3-element tensor, f32 against f64, global-norm clipping, frozen and gradient-less parameters,
// state save/load resuming bit-exactly, a real backward, and the errors a user can cause.
// Every hand test uses p0 = (1, -2, 0.5), the same gradient g = (0.1, 0.2, -0.3) at each step
// and lr = 0.1. Tolerances:
//   kF64  {1e-14, 1e-13}  the same double formula; at most a few roundings ordered differently
//   kF32  {3e-6, 3e-6}    f32 arithmetic (2^-24 relative per operation) over <= 3 steps, |p| <= 2.3
//   kMix  {2e-5, 2e-5}    f32 vs f64 after 10 random steps (accumulated f32 rounding)
// Run: ctest --test-dir build -R Optimizer
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "support/compare.h"
#include "tensor/autograd.h"
#include "core/error.h"
#include "tensor/ops.h"
#include "optim/optimizer.h"

namespace alz {
namespace {

using test::Tolerance;
using Rows = std::vector<std::vector<double>>;

constexpr Tolerance kF64{1e-14, 1e-13};
constexpr Tolerance kF32{3e-6, 3e-6};
constexpr Tolerance kMix{2e-5, 2e-5};

const std::vector<double> kP0{1.0, -2.0, 0.5};
const std::vector<double> kG{0.1, 0.2, -0.3};

Tensor make(const std::vector<double>& values, DType dtype) {
  Tensor t = Tensor::from_vector(values, {static_cast<int64_t>(values.size())});
  return dtype == DType::F64 ? t : t.to(dtype);
}

ParamRef ref(const std::string& name, Tensor& t, bool trainable = true) {
  return ParamRef{name, &t, ParamKind::Weight, KerasLayout::Same, trainable};
}

void set_grad(Tensor& p, const Tensor& g) {
  if (!p.autograd_meta()) p.set_requires_grad(true);
  p.autograd_meta()->grad = g;
}

// Runs rows.size() steps of `make_optimizer` on p0 with the constant gradient g and compares
// the parameter after each step with the hand-computed row.
template <typename MakeOptimizer>
void expect_steps(MakeOptimizer make_optimizer, const Rows& rows, DType dtype, Tolerance tol) {
  Tensor p = make(kP0, dtype).set_requires_grad(true);
  auto optimizer = make_optimizer(std::vector<ParamRef>{ref("w", p)});
  for (size_t step = 0; step < rows.size(); ++step) {
    set_grad(p, make(kG, dtype));
    optimizer.step();
    EXPECT_EQ(optimizer.step_count(), static_cast<int64_t>(step + 1));
    EXPECT_TRUE(test::all_close(p, make(rows[step], DType::F64), tol,
                                std::string(dtype_name(dtype)) + " after step " + std::to_string(step + 1)));
  }
}

class HandSteps : public ::testing::TestWithParam<DType> {
 protected:
  Tolerance tol() const { return GetParam() == DType::F64 ? kF64 : kF32; }
};

// Plain: p -= lr * g = p - (0.01, 0.02, -0.03) per step.
TEST_P(HandSteps, SgdPlain) {
  expect_steps([](std::vector<ParamRef> p) { return SGD(p, {.learning_rate = 0.1}); },
               {{0.99, -2.02, 0.53}, {0.98, -2.04, 0.56}}, GetParam(), tol());
}

// Momentum 0.9 (Keras form): vel1 = -lr g = (-0.01, -0.02, 0.03), p1 = p0 + vel1;
// vel2 = 0.9 vel1 - lr g = (-0.019, -0.038, 0.057); vel3 = (-0.0271, -0.0542, 0.0813).
TEST_P(HandSteps, SgdMomentum) {
  expect_steps([](std::vector<ParamRef> p) { return SGD(p, {.learning_rate = 0.1, .momentum = 0.9}); },
               {{0.99, -2.02, 0.53}, {0.971, -2.058, 0.587}, {0.9439, -2.1122, 0.6683}}, GetParam(), tol());
}

// Nesterov: p += 0.9 vel - lr g with the same velocities:
// p1 = 1 + 0.9 (-0.01) - 0.01 = 0.981; p2 = 0.981 + 0.9 (-0.019) - 0.01 = 0.9539; p3 = 0.91951.
TEST_P(HandSteps, SgdNesterov) {
  expect_steps(
      [](std::vector<ParamRef> p) { return SGD(p, {.learning_rate = 0.1, .momentum = 0.9, .nesterov = true}); },
      {{0.981, -2.038, 0.557}, {0.9539, -2.0922, 0.6383}, {0.91951, -2.16098, 0.74147}}, GetParam(), tol());
}

// Coupled L2, wd 0.01: g' = g + 0.01 p. Step 1: g' = (0.11, 0.18, -0.295), p1 = p0 - 0.1 g'.
// Step 2: g' = (0.1 + 0.00989, 0.2 - 0.02018, -0.3 + 0.005295).
TEST_P(HandSteps, SgdWeightDecay) {
  expect_steps([](std::vector<ParamRef> p) { return SGD(p, {.learning_rate = 0.1, .weight_decay = 0.01}); },
               {{0.989, -2.018, 0.5295}, {0.978011, -2.035982, 0.5589705}}, GetParam(), tol());
  // With momentum 0.9: vel2 = 0.9 (-0.011, 0.018, -0.0295)... p2 = p1 + vel2.
  expect_steps(
      [](std::vector<ParamRef> p) { return SGD(p, {.learning_rate = 0.1, .momentum = 0.9, .weight_decay = 0.01}); },
      {{0.989, -2.018, 0.5295}, {0.968111, -2.052182, 0.5855205}}, GetParam(), tol());
}

// Adam, lr 0.1, Keras defaults. Step 1: m = 0.1 g, v = 0.001 g^2,
// lr_1 = 0.1 sqrt(1 - 0.999) / (1 - 0.9) = sqrt(0.001) = 0.0316227766016838,
// p -= lr_1 * 0.1 g / (sqrt(0.001) |g| + 1e-7) = 0.1 sign(g) * (1 - 1e-7 / (0.0316227766 |g|)):
// e.g. 1 - 0.1 (1 - 3.16227766e-5) = 0.900003162177663. With a constant gradient each later
// step moves p by about 0.1 sign(g) again (lr_2 = 0.0235316725327453, lr_3 = 0.0202010597438968).
TEST_P(HandSteps, Adam) {
  expect_steps([](std::vector<ParamRef> p) { return Adam(p, {.learning_rate = 0.1}); },
               {{0.90000316217766341, -2.0999984188861696, 0.59999894591855762},
                {0.80000539875484444, -2.199997300585073, 0.69999820038171379},
                {0.70000722537658822, -2.2999963872658595, 0.79999759150038452}},
               GetParam(), tol());
}

// AdamW, wd 0.1: p -= lr * wd * p = 0.01 p first, then the Adam step of the raw gradient:
// p1 = 0.99 - (1 - 0.900003162) = 0.890003162177663.
TEST_P(HandSteps, AdamW) {
  expect_steps(
      [](std::vector<ParamRef> p) { return Adam(p, {.learning_rate = 0.1, .weight_decay = 0.1, .decoupled = true}); },
      {{0.8900031621776634, -2.0799984188861695, 0.59499894591855762},
       {0.78110536713306777, -2.1591973163962113, 0.68904821092252821}},
      GetParam(), tol());
}

// Adam with coupled L2, wd 0.1: g' = g + 0.1 p = (0.2, 0, -0.25) at step 1; the middle element's
// gradient is exactly 0 at every step, so it never moves.
TEST_P(HandSteps, AdamCoupledL2) {
  expect_steps([](std::vector<ParamRef> p) { return Adam(p, {.learning_rate = 0.1, .weight_decay = 0.1}); },
               {{0.90000158111383055, -2.0, 0.59999873510493573}, {0.80016920819703052, -2.0, 0.69987063747828715}},
               GetParam(), tol());
}

INSTANTIATE_TEST_SUITE_P(Optimizer, HandSteps, ::testing::Values(DType::F64, DType::F32),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

// ---------------------------------------------------------------- f32 vs f64
template <typename MakeOptimizer> std::vector<Tensor> run_random(MakeOptimizer make_optimizer, DType dtype) {
  Generator gen(7);
  std::vector<Tensor> params;
  for (int64_t n : {1, 3, 257}) params.push_back(Tensor::normal({n}, gen, 0.0, 1.0, DType::F64).to(dtype));
  std::vector<ParamRef> refs;
  for (size_t i = 0; i < params.size(); ++i) refs.push_back(ref("p" + std::to_string(i), params[i]));
  auto optimizer = make_optimizer(refs);
  for (int step = 0; step < 10; ++step) {
    for (Tensor& p : params) set_grad(p, Tensor::normal(p.shape(), gen, 0.0, 1.0, DType::F64).to(dtype));
    optimizer.step();
  }
  return params;
}

TEST(Optimizer, F32AgreesWithF64) {
  auto adam = [](std::vector<ParamRef> p) {
    return Adam(p, {.learning_rate = 0.01, .weight_decay = 0.01, .decoupled = true, .clip_global_norm = 5.0});
  };
  auto sgd = [](std::vector<ParamRef> p) {
    return SGD(p, {.learning_rate = 0.05, .momentum = 0.9, .nesterov = true, .weight_decay = 1e-3,
                   .clip_global_norm = 5.0});
  };
  std::vector<Tensor> a32 = run_random(adam, DType::F32), a64 = run_random(adam, DType::F64);
  std::vector<Tensor> s32 = run_random(sgd, DType::F32), s64 = run_random(sgd, DType::F64);
  for (size_t i = 0; i < a32.size(); ++i) {
    EXPECT_TRUE(test::all_close(a32[i], a64[i], kMix, "adam p" + std::to_string(i)));
    EXPECT_TRUE(test::all_close(s32[i], s64[i], kMix, "sgd p" + std::to_string(i)));
  }
}

// ---------------------------------------------------------------- clipping
// Two tensors, gradients (1, 2, 2) and (4): global norm sqrt(9 + 16) = 5.
TEST(Optimizer, ClipsTheGlobalNorm) {
  Tensor a = make({1.0, 1.0, 1.0}, DType::F64).set_requires_grad(true);
  Tensor b = make({1.0}, DType::F64).set_requires_grad(true);
  SGD sgd({ref("a", a), ref("b", b)}, {.learning_rate = 1.0, .clip_global_norm = 1.0});
  EXPECT_EQ(sgd.last_grad_norm(), -1.0);
  set_grad(a, make({1.0, 2.0, 2.0}, DType::F64));
  set_grad(b, make({4.0}, DType::F64));
  sgd.step();
  EXPECT_DOUBLE_EQ(sgd.last_grad_norm(), 5.0);
  const double s = 1.0 / (5.0 + 1e-6);  // min(1, max_norm / (norm + 1e-6))
  ALZ_EXPECT_CLOSE(a, make({1.0 - s, 1.0 - 2.0 * s, 1.0 - 2.0 * s}, DType::F64), kF64);
  ALZ_EXPECT_CLOSE(b, make({1.0 - 4.0 * s}, DType::F64), kF64);
}

TEST(Optimizer, ClippingIsANoOpBelowTheThreshold) {
  Tensor a = make({1.0, 1.0, 1.0}, DType::F32).set_requires_grad(true);
  Tensor b = a.clone().set_requires_grad(true);
  Adam clipped({ref("a", a)}, {.learning_rate = 0.1, .clip_global_norm = 10.0});
  Adam plain({ref("b", b)}, {.learning_rate = 0.1});
  for (int step = 0; step < 3; ++step) {
    set_grad(a, make({1.0, 2.0, 2.0}, DType::F32));  // norm 3 < 10
    set_grad(b, make({1.0, 2.0, 2.0}, DType::F32));
    clipped.step();
    plain.step();
  }
  EXPECT_DOUBLE_EQ(clipped.last_grad_norm(), 3.0);
  EXPECT_TRUE(test::bitwise_equal(a, b));
}

// Adam with clipping equals Adam without it on gradients scaled beforehand by the same factor.
TEST(Optimizer, AdamAppliesTheClipFactorToTheGradient) {
  Generator gen(3);
  Tensor a = Tensor::normal({5}, gen).set_requires_grad(true);
  Tensor b = a.clone().set_requires_grad(true);
  Adam clipped({ref("a", a)}, {.learning_rate = 0.1, .epsilon = 0.5, .clip_global_norm = 0.25});
  Adam plain({ref("b", b)}, {.learning_rate = 0.1, .epsilon = 0.5});  // a large epsilon makes scale visible
  for (int step = 0; step < 3; ++step) {
    Tensor g = Tensor::normal({5}, gen);
    double norm = 0.0;
    for (double x : g.to_vector()) norm += x * x;
    norm = std::sqrt(norm);
    const float factor = static_cast<float>(std::min(1.0, 0.25 / (norm + 1e-6)));
    Tensor scaled = g.clone();
    float* data = scaled.data<float>();
    for (int64_t i = 0; i < scaled.numel(); ++i) data[i] = data[i] * factor;
    set_grad(a, g);
    set_grad(b, scaled);
    clipped.step();
    plain.step();
    EXPECT_NEAR(clipped.last_grad_norm(), norm, 1e-6 * norm);
  }
  EXPECT_TRUE(test::bitwise_equal(a, b));
}

// ---------------------------------------------------------------- what is skipped
TEST(Optimizer, FrozenAndGradientlessParametersAreUntouched) {
  Tensor moving = make({1.0, 2.0, 3.0}, DType::F32).set_requires_grad(true);
  Tensor frozen = make({4.0, 5.0}, DType::F32).set_requires_grad(true);
  Tensor no_grad = make({6.0}, DType::F32).set_requires_grad(true);
  const Tensor frozen0 = frozen.clone(), no_grad0 = no_grad.clone(), moving0 = moving.clone();
  Adam adam({ref("moving", moving), ref("frozen", frozen, false), ref("no_grad", no_grad)}, {.learning_rate = 0.1});
  EXPECT_EQ(adam.num_parameters(), 2u);
  for (int step = 0; step < 2; ++step) {
    set_grad(moving, make({0.5, -0.5, 0.25}, DType::F32));
    set_grad(frozen, make({1.0, 1.0}, DType::F32));  // a gradient, but the parameter is frozen
    adam.step();
  }
  EXPECT_TRUE(test::bitwise_equal(frozen, frozen0));
  EXPECT_TRUE(test::bitwise_equal(no_grad, no_grad0));
  EXPECT_FALSE(test::all_close(moving, moving0, {0.0, 0.0}));
  for (const NamedTensor& nt : adam.state()) {
    EXPECT_EQ(nt.name.find("frozen"), std::string::npos) << nt.name;  // frozen: no state at all
    if (nt.name == "adam/m/no_grad" || nt.name == "adam/v/no_grad") {
      EXPECT_EQ(nt.tensor.to_vector()[0], 0.0);
    }
  }
  // Once it has a gradient it moves (with t = 3's bias correction: t is the optimizer's).
  set_grad(no_grad, make({1.0}, DType::F32));
  adam.step();
  EXPECT_NE(no_grad.to_vector()[0], 6.0);
}

TEST(Optimizer, ZeroGradDropsTheGradients) {
  Tensor p = make({1.0, 2.0}, DType::F32).set_requires_grad(true);
  SGD sgd({ref("p", p)});
  set_grad(p, make({1.0, 1.0}, DType::F32));
  sgd.zero_grad();
  EXPECT_FALSE(p.grad().defined());
  sgd.step();  // nothing to do
  ALZ_EXPECT_CLOSE(p, make({1.0, 2.0}, DType::F32), Tolerance({0.0, 0.0}));
}

// A real backward: loss = sum(w * w), dloss/dw = 2 w, so one SGD step gives w (1 - 2 lr).
TEST(Optimizer, StepsOnGradientsFromBackward) {
  Tensor w = make({0.5, -1.5, 2.0}, DType::F64).set_requires_grad(true);
  SGD sgd({ref("w", w)}, {.learning_rate = 0.25});
  for (int step = 0; step < 2; ++step) {
    sgd.zero_grad();
    backward(ops::sum(ops::mul(w, w)));
    sgd.step();
  }
  ALZ_EXPECT_CLOSE(w, make({0.5 * 0.25, -1.5 * 0.25, 2.0 * 0.25}, DType::F64), kF64);  // (1 - 0.5)^2
}

TEST(Optimizer, SetLearningRateTakesEffectAtTheNextStep) {
  Tensor p = make({1.0}, DType::F64).set_requires_grad(true);
  SGD sgd({ref("p", p)}, {.learning_rate = 0.1});
  set_grad(p, make({1.0}, DType::F64));
  sgd.step();
  sgd.set_learning_rate(0.25);
  EXPECT_EQ(sgd.learning_rate(), 0.25);
  sgd.step();
  EXPECT_DOUBLE_EQ(p.to_vector()[0], 1.0 - 0.1 - 0.25);
  EXPECT_THROW(sgd.set_learning_rate(-1.0), Error);
}

// ---------------------------------------------------------------- save / load
template <typename MakeOptimizer> void expect_bit_exact_resume(MakeOptimizer make_optimizer, const std::string& tag) {
  const std::string dir = test::fresh_temp_dir("optimizer_resume_" + tag);
  Generator gen(11);
  std::vector<Tensor> params;
  for (int64_t n : {1, 7, 33}) params.push_back(Tensor::normal({n}, gen).set_requires_grad(true));
  std::vector<std::vector<Tensor>> grads(6);
  for (auto& step : grads)
    for (Tensor& p : params) step.push_back(Tensor::normal(p.shape(), gen));
  auto refs = [](std::vector<Tensor>& ps) {
    std::vector<ParamRef> out;
    for (size_t i = 0; i < ps.size(); ++i) out.push_back(ref("layer" + std::to_string(i) + "/kernel", ps[i]));
    return out;
  };
  auto run = [&](auto& optimizer, std::vector<Tensor>& ps, int from, int to) {
    for (int s = from; s < to; ++s) {
      for (size_t i = 0; i < ps.size(); ++i) set_grad(ps[i], grads[s][i].clone());
      optimizer.step();
    }
  };
  auto first = make_optimizer(refs(params));
  run(first, params, 0, 3);
  first.set_learning_rate(first.learning_rate() * 0.5);
  std::vector<NamedTensor> saved = first.state();
  std::vector<Tensor> resumed;
  for (Tensor& p : params) resumed.push_back(p.clone().set_requires_grad(true));
  save_safetensors(dir + "/optimizer.safetensors", saved);
  run(first, params, 3, 6);  // uninterrupted

  auto second = make_optimizer(refs(resumed));
  second.load_state(load_safetensors(dir + "/optimizer.safetensors").tensors);
  EXPECT_EQ(second.step_count(), 3);
  EXPECT_EQ(second.learning_rate(), first.learning_rate());
  run(second, resumed, 3, 6);
  for (size_t i = 0; i < params.size(); ++i) EXPECT_TRUE(test::bitwise_equal(resumed[i], params[i])) << tag << " " << i;
}

TEST(Optimizer, SaveLoadResumesBitExactly) {
  expect_bit_exact_resume(
      [](std::vector<ParamRef> p) {
        return Adam(p, {.learning_rate = 0.01, .weight_decay = 0.01, .decoupled = true, .clip_global_norm = 2.0});
      },
      "adamw");
  expect_bit_exact_resume(
      [](std::vector<ParamRef> p) { return SGD(p, {.learning_rate = 0.1, .momentum = 0.9, .nesterov = true}); }, "sgd");
}

TEST(Optimizer, StateNamesAndShapes) {
  Tensor p = make({1.0, 2.0, 3.0}, DType::F32).set_requires_grad(true);
  Adam adam({ref("dense/kernel", p)});
  std::vector<std::string> names;
  for (const NamedTensor& nt : adam.state()) names.push_back(nt.name);
  EXPECT_EQ(names, (std::vector<std::string>{"adam/step", "adam/learning_rate", "adam/m/dense/kernel",
                                             "adam/v/dense/kernel"}));
  SGD plain({ref("dense/kernel", p)});
  EXPECT_EQ(plain.state().size(), 2u);  // no momentum: scalars only
}

TEST(Optimizer, LoadRejectsMismatchedState) {
  Tensor p = make({1.0, 2.0, 3.0}, DType::F32).set_requires_grad(true);
  Adam adam({ref("w", p)});
  std::vector<NamedTensor> state = adam.state();
  auto expect_message = [&](const std::vector<NamedTensor>& bad, const std::string& part) {
    try {
      adam.load_state(bad);
      ADD_FAILURE() << "no error for " << part;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  expect_message({state[0], state[1], state[2]}, "missing 'adam/v/w'");
  std::vector<NamedTensor> wrong_shape = state;
  wrong_shape[3].tensor = Tensor::zeros({4});
  expect_message(wrong_shape, "'adam/v/w' is Tensor(4,)");
  std::vector<NamedTensor> extra = state;
  extra.push_back({"adam/m/other", Tensor::zeros({1})});
  expect_message(extra, "unexpected 'adam/m/other'");
  std::vector<NamedTensor> bad_step = state;
  bad_step[0].tensor = Tensor::full({}, 2.5, DType::F64);
  expect_message(bad_step, "whole number");
  state.push_back({"sgd/step", Tensor::zeros({1})});  // another optimizer's entries are ignored
  EXPECT_NO_THROW(adam.load_state(state));
}

TEST(Optimizer, RejectsBadParametersAndOptions) {
  Tensor p = make({1.0}, DType::F32).set_requires_grad(true);
  Tensor q = make({1.0}, DType::F32).set_requires_grad(true);
  Tensor labels = Tensor::from_vector(std::vector<int32_t>{1}, {1});
  EXPECT_THROW(Adam({ref("a", labels)}), Error);               // i32 parameter
  EXPECT_THROW(Adam({ref("a", p), ref("a", q)}), Error);        // duplicate name
  EXPECT_THROW(Adam({ref("a", p), ref("b", p)}), Error);        // same tensor twice
  EXPECT_THROW(Adam({ref("a", p)}, {.beta1 = 1.0}), Error);
  EXPECT_THROW(Adam({ref("a", p)}, {.epsilon = 0.0}), Error);
  EXPECT_THROW(SGD({ref("a", p)}, {.momentum = -0.5}), Error);
  EXPECT_THROW(SGD({ref("a", p)}, {.nesterov = true}), Error);  // Nesterov without momentum
  EXPECT_THROW(SGD({ref("a", p)}, {.clip_global_norm = -1.0}), Error);
  set_grad(p, make({1.0, 2.0}, DType::F32));  // wrong gradient size
  SGD sgd({ref("a", p)});
  EXPECT_THROW(sgd.step(), Error);
}

}  // namespace
}  // namespace alz
