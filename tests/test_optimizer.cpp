// Optimizers on the CPU (optim/optimizer.h, kernels/optimizer.h): SGD (plain, momentum,
// Nesterov) and Adam, with Keras's decoupled weight decay and with coupled L2, against values
// computed by hand for a few steps on a 3-element tensor and against numbers Keras 3 itself
// produced (tools/keras_optimizer_reference.py), f32 against f64, global-norm clipping, frozen
// and gradient-less parameters, state save/load resuming bit-exactly, a real backward, and the
// errors a user can cause.
// Every hand test uses p0 = (1, -2, 0.5), the same gradient g = (0.1, 0.2, -0.3) at each step
// and lr = 0.1. Tolerances:
//   kF64  {1e-14, 1e-13}  the same double formula; at most a few roundings ordered differently
//   kF32  {3e-6, 3e-6}    f32 arithmetic (2^-24 relative per operation) over <= 3 steps, |p| <= 2.3
//   kMix  {2e-5, 2e-5}    f32 vs f64 after 10 random steps (accumulated f32 rounding)
//   kKeras64, kKeras32    see KerasReference below
// Run: ctest --test-dir build -R Optimizer
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <vector>

#include "core/error.h"
#include "optim/optimizer.h"
#include "support/compare.h"
#include "tensor/autograd.h"
#include "tensor/ops.h"

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

// Decoupled weight decay (Keras), wd 0.1: p -= lr * wd * p = 0.01 p before each update.
// Plain: p1 = 0.99 p0 - 0.1 g = (0.98, -2.0, 0.525); p2 = 0.99 p1 - 0.1 g = (0.9602, -2.0, 0.54975).
TEST_P(HandSteps, SgdWeightDecay) {
  expect_steps([](std::vector<ParamRef> p) { return SGD(p, {.learning_rate = 0.1, .weight_decay = 0.1}); },
               {{0.98, -2.0, 0.525}, {0.9602, -2.0, 0.54975}}, GetParam(), tol());
}

// With momentum 0.9 the velocities are those of SgdMomentum (the decay is not in them):
// vel1 = (-0.01, -0.02, 0.03), p1 = 0.99 p0 + vel1 = (0.98, -2.0, 0.525);
// vel2 = (-0.019, -0.038, 0.057), p2 = 0.99 p1 + vel2 = (0.9512, -2.018, 0.57675).
TEST_P(HandSteps, SgdMomentumWeightDecay) {
  expect_steps(
      [](std::vector<ParamRef> p) { return SGD(p, {.learning_rate = 0.1, .momentum = 0.9, .weight_decay = 0.1}); },
      {{0.98, -2.0, 0.525}, {0.9512, -2.018, 0.57675}}, GetParam(), tol());
}

// Nesterov: p += 0.9 vel - lr g after the decay. p1 = (0.99 - 0.009 - 0.01, -1.98 - 0.018 - 0.02,
// 0.495 + 0.027 + 0.03) = (0.971, -2.018, 0.552); p2 = 0.99 p1 + 0.9 vel2 - 0.1 g
// = (0.96129 - 0.0171 - 0.01, -1.99782 - 0.0342 - 0.02, 0.54648 + 0.0513 + 0.03).
TEST_P(HandSteps, SgdNesterovWeightDecay) {
  expect_steps(
      [](std::vector<ParamRef> p) {
        return SGD(p, {.learning_rate = 0.1, .momentum = 0.9, .nesterov = true, .weight_decay = 0.1});
      },
      {{0.971, -2.018, 0.552}, {0.93419, -2.05202, 0.62778}}, GetParam(), tol());
}

// Coupled L2, l2 0.01: g' = g + 0.01 p. Step 1: g' = (0.11, 0.18, -0.295), p1 = p0 - 0.1 g'.
// Step 2: g' = (0.1 + 0.00989, 0.2 - 0.02018, -0.3 + 0.005295).
TEST_P(HandSteps, SgdL2) {
  expect_steps([](std::vector<ParamRef> p) { return SGD(p, {.learning_rate = 0.1, .l2 = 0.01}); },
               {{0.989, -2.018, 0.5295}, {0.978011, -2.035982, 0.5589705}}, GetParam(), tol());
  // With momentum 0.9: vel2 = 0.9 (-0.011, 0.018, -0.0295)... p2 = p1 + vel2.
  expect_steps([](std::vector<ParamRef> p) { return SGD(p, {.learning_rate = 0.1, .momentum = 0.9, .l2 = 0.01}); },
               {{0.989, -2.018, 0.5295}, {0.968111, -2.052182, 0.5855205}}, GetParam(), tol());
}

// Both: l2 sees p before the decay. g' = g + 0.01 p0 = (0.11, 0.18, -0.295);
// p1 = 0.99 p0 - 0.1 g' = (0.979, -1.998, 0.5245) (l2 on the decayed p would give 0.97901).
TEST_P(HandSteps, SgdL2AndWeightDecay) {
  expect_steps([](std::vector<ParamRef> p) { return SGD(p, {.learning_rate = 0.1, .weight_decay = 0.1, .l2 = 0.01}); },
               {{0.979, -1.998, 0.5245}}, GetParam(), tol());
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

// Adam with weight decay (AdamW, as Keras: decay decoupled), wd 0.1: p -= lr * wd * p = 0.01 p
// first, then the Adam step of the raw gradient: p1 = 0.99 - (1 - 0.900003162) = 0.890003162177663.
TEST_P(HandSteps, AdamWeightDecayIsAdamW) {
  expect_steps([](std::vector<ParamRef> p) { return Adam(p, {.learning_rate = 0.1, .weight_decay = 0.1}); },
               {{0.8900031621776634, -2.0799984188861695, 0.59499894591855762},
                {0.78110536713306777, -2.1591973163962113, 0.68904821092252821}},
               GetParam(), tol());
}

// Adam with coupled L2, l2 0.1: g' = g + 0.1 p = (0.2, 0, -0.25) at step 1; the middle element's
// gradient is exactly 0 at every step, so it never moves.
TEST_P(HandSteps, AdamCoupledL2) {
  expect_steps([](std::vector<ParamRef> p) { return Adam(p, {.learning_rate = 0.1, .l2 = 0.1}); },
               {{0.90000158111383055, -2.0, 0.59999873510493573}, {0.80016920819703052, -2.0, 0.69987063747828715}},
               GetParam(), tol());
}

INSTANTIATE_TEST_SUITE_P(Optimizer, HandSteps, ::testing::Values(DType::F64, DType::F32),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

// ---------------------------------------------------------------- against Keras
// Keras 3.15.1 (JAX backend) ran tools/keras_optimizer_reference.py: w0 = (1, -2, 0.5), three
// steps with gradients g1..g3 and learning rates 0.1, 0.05, 0.05, weight_decay 0.1 (AdamW: its
// default 0.004); the rows are w after each step, pasted from its output. Tolerances:
//   kKeras64 {1e-6, 0}  measured gap <= 2.5e-9: Keras keeps the learning rate in a float32
//                       variable even for float64 weights (0.1 -> 0.10000000149)
//   kKeras32 {2e-6, 0}  f32 on both sides: SGD agrees to the bit; Keras forms 1 - beta2^t in f32
//                       (relative error ~1e-5 after the cancellation; alz: in double), which moves
//                       each Adam step of ~0.1 by up to 7e-7: measured gap 1.43e-6 after 3 steps
constexpr Tolerance kKeras64{1e-6, 0.0};
constexpr Tolerance kKeras32{2e-6, 0.0};

struct KerasCase {
  std::string name;
  std::function<std::unique_ptr<Optimizer>(std::vector<ParamRef>)> make;
  Rows f64, f32;
};

TEST(Optimizer, KerasReference) {
  const Rows grads{{0.1, 0.2, -0.3}, {-0.05, 0.4, 0.25}, {0.3, -0.1, 0.02}};
  const std::vector<double> rates{0.1, 0.05, 0.05};
  auto sgd = [](SgdOptions o) { return [o](std::vector<ParamRef> p) { return std::make_unique<SGD>(p, o); }; };
  auto adam = [](AdamOptions o) { return [o](std::vector<ParamRef> p) { return std::make_unique<Adam>(p, o); }; };
  const std::vector<KerasCase> cases = {
      {"sgd_wd",
       sgd({.learning_rate = 0.1, .weight_decay = 0.1}),
       {{0.9799999997019768, -2.0, 0.525000000372529},
        {0.9775999996677042, -2.0100000001490117, 0.5098750001452863},
        {0.9577119993730113, -1.9949499999240041, 0.50632562509167}},
       {{0.9800000190734863, -2.0, 0.5249999761581421},
        {0.9776000380516052, -2.009999990463257, 0.5098749995231628},
        {0.9577120542526245, -1.9949499368667603, 0.5063256621360779}}},
      {"sgd_momentum_wd",
       sgd({.learning_rate = 0.1, .momentum = 0.9, .weight_decay = 0.1}),
       {{0.9799999997019768, -2.0, 0.525000000372529},
        {0.9685999995335937, -2.0280000004172325, 0.5368750005476176},
        {0.9429069991530702, -2.0470600006991626, 0.5462406256844382}},
       {{0.9800000190734863, -2.0, 0.5249999761581421},
        {0.9686000347137451, -2.0280001163482666, 0.5368750095367432},
        {0.9429070353507996, -2.047060251235962, 0.5462406277656555}}},
      {"sgd_nesterov_wd",
       sgd({.learning_rate = 0.1, .momentum = 0.9, .nesterov = true, .weight_decay = 0.1}),
       {{0.9709999995678663, -2.018000000268221, 0.5520000007748604},
        {0.9627949994477629, -2.06211000092417, 0.5497900007380545},
        {0.9242160238756526, -2.073079451083007, 0.5568860508401037}},
       {{0.9710000157356262, -2.0180001258850098, 0.5519999861717224},
        {0.9627950191497803, -2.06210994720459, 0.5497899651527405},
        {0.9242160320281982, -2.0730793476104736, 0.5568860173225403}}},
      {"adam_wd",
       adam({.learning_rate = 0.1, .weight_decay = 0.1}),
       {{0.8900031605385827, -2.079998420078239, 0.5949989473341523},
        {0.8722366692856739, -2.117857188557982, 0.5939300388238594},
        {0.8343507882859231, -2.1366980363290504, 0.5907968909622978}},
       {{0.8900038003921509, -2.0799977779388428, 0.594998300075531},
        {0.8722374439239502, -2.117856025695801, 0.5939294099807739},
        {0.834351658821106, -2.1366965770721436, 0.5907962918281555}}},
      {"adamw_default",
       adam({.learning_rate = 0.1, .weight_decay = 0.004}),
       {{0.8996031606816339, -2.0991984203643415, 0.5997989474056779},
        {0.886106764662911, -2.147037341409119, 0.601585073885118},
        {0.852404845719002, -2.1760380678060893, 0.6013012592453569}},
       {{0.8996038436889648, -2.0991976261138916, 0.5997982621192932},
        {0.8861075639724731, -2.147036075592041, 0.6015843749046326},
        {0.8524057865142822, -2.1760365962982178, 0.6013005375862122}}},
  };
  for (const KerasCase& c : cases) {
    for (DType dtype : {DType::F64, DType::F32}) {
      Tensor p = make(kP0, dtype).set_requires_grad(true);
      std::unique_ptr<Optimizer> optimizer = c.make({ref("w", p)});
      const Rows& rows = dtype == DType::F64 ? c.f64 : c.f32;
      for (size_t step = 0; step < rows.size(); ++step) {
        optimizer->set_learning_rate(rates[step]);
        set_grad(p, make(grads[step], dtype));
        optimizer->step();
        EXPECT_TRUE(test::all_close(p, make(rows[step], DType::F64), dtype == DType::F64 ? kKeras64 : kKeras32,
                                    c.name + " " + dtype_name(dtype) + " step " + std::to_string(step + 1)));
      }
    }
  }
}

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
    return Adam(p, {.learning_rate = 0.01, .weight_decay = 0.01, .l2 = 1e-3, .clip_global_norm = 5.0});
  };
  auto sgd = [](std::vector<ParamRef> p) {
    return SGD(p, {.learning_rate = 0.05,
                   .momentum = 0.9,
                   .nesterov = true,
                   .weight_decay = 0.1,
                   .l2 = 1e-3,
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
        return Adam(p, {.learning_rate = 0.01, .weight_decay = 0.01, .l2 = 1e-3, .clip_global_norm = 2.0});
      },
      "adamw");
  expect_bit_exact_resume(
      [](std::vector<ParamRef> p) {
        return SGD(p, {.learning_rate = 0.1, .momentum = 0.9, .weight_decay = 0.1, .l2 = 1e-3});
      },
      "sgd_decay");
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
  EXPECT_THROW(Adam({ref("a", labels)}), Error);          // i32 parameter
  EXPECT_THROW(Adam({ref("a", p), ref("a", q)}), Error);  // duplicate name
  EXPECT_THROW(Adam({ref("a", p), ref("b", p)}), Error);  // same tensor twice
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
