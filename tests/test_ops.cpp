// Every op on the tape, on the CPU, driven by the op table (tests/support/op_cases.h): each
// case's every input gradient against central finite differences in f64
// (OpTable/FiniteDifferences.*), its f32 forward and gradients against f64 on the same
// inputs (OpTable/CpuF32MatchesF64.*), and, where the op has bf16, its bf16 run (through f32,
// rounded where the GPU's bf16 kernels round) against f32 on the bf16-rounded inputs
// (OpTable/CpuBf16MatchesF32.*); one ctest entry per case. Besides the table: forward values
// against hand computations, the argument errors, and ops::cast.
// Run: ctest --test-dir build -R "Ops|OpTable"
#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <set>

#include "core/error.h"
#include "support/compare.h"
#include "support/op_case_check.h"
#include "support/tape_gradcheck.h"
#include "tensor/ops.h"

namespace alz {
namespace {

using test::OpCase;
using test::OpCaseParam;

Tensor random(const Shape& shape, uint64_t seed, double low = -1.0, double high = 1.0) {
  Generator gen(seed);
  return Tensor::uniform(shape, gen, low, high, DType::F64);
}

// ---------------------------------------------------------------- the op table

class FiniteDifferences : public ::testing::TestWithParam<OpCaseParam> {};

TEST_P(FiniteDifferences, EveryInputGradient) {
  const OpCase& c = *GetParam().op;
  SCOPED_TRACE(std::string("tolerance: ") + c.finite_difference.reason);
  EXPECT_TRUE(test::check_tape_gradients(c.run, test::make_inputs(c, test::OpSize::Test, DType::F64, Device::cpu()),
                                         1e-6, c.finite_difference.tol));
}

INSTANTIATE_TEST_SUITE_P(OpTable, FiniteDifferences,
                         ::testing::ValuesIn(test::op_case_params(Device::cpu(), {DType::F64})),
                         test::op_case_param_name);

class CpuF32MatchesF64 : public ::testing::TestWithParam<OpCaseParam> {};

TEST_P(CpuF32MatchesF64, ForwardAndEveryInputGradient) {
  const OpCase& c = *GetParam().op;
  EXPECT_TRUE(test::matches_reference(c, DType::F32, Device::cpu(), DType::F64, c.cpu_f32));
}

INSTANTIATE_TEST_SUITE_P(OpTable, CpuF32MatchesF64,
                         ::testing::ValuesIn(test::op_case_params(Device::cpu(), {DType::F32})),
                         test::op_case_param_name);

class CpuBf16MatchesF32 : public ::testing::TestWithParam<OpCaseParam> {};

TEST_P(CpuBf16MatchesF32, ForwardAndEveryInputGradient) {
  const OpCase& c = *GetParam().op;
  EXPECT_TRUE(test::matches_reference(c, DType::BF16, Device::cpu(), DType::F32, *c.bf16));
}

INSTANTIATE_TEST_SUITE_P(OpTable, CpuBf16MatchesF32,
                         ::testing::ValuesIn(test::op_case_params(Device::cpu(), {DType::BF16})),
                         test::op_case_param_name);

// The harness of the GPU's bf16-against-CPU-bf16 test (tests/gpu/test_autograd_ops_gpu.cpp),
// run here with the CPU on both sides: every bf16 case must go through it, BatchNorm's f32
// parameters staying f32 on the reference side.
TEST(OpTable, Bf16AgainstBf16ReferenceRunsEveryCase) {
  for (const OpCaseParam& param : test::op_case_params(Device::cpu(), {DType::BF16})) {
    SCOPED_TRACE(param.op->name);
    EXPECT_TRUE(test::matches_reference(*param.op, DType::BF16, Device::cpu(), DType::BF16, *param.op->bf16));
  }
}

TEST(OpTable, CasesAreWellFormed) {
  std::set<std::string> names;
  for (const OpCase& c : test::op_cases()) {
    SCOPED_TRACE(c.name);
    EXPECT_TRUE(names.insert(c.name).second) << "a second case of this name";
    for (char ch : c.name) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_') << ch;
    ASSERT_FALSE(c.inputs.empty());
    for (const test::InputSpec& spec : c.inputs) {
      EXPECT_EQ(spec.shape.size(), spec.bench_shape.size()) << "the bench shape has another rank";
      EXPECT_LT(spec.low, spec.high);
      if (spec.classes > 0) {
        EXPECT_EQ(spec.shape.size(), 1u) << "labels are (N)";
      }
      if (spec.away_from_zero) {
        EXPECT_GT(spec.low, 0.0) << "away from zero needs a positive lower bound";
      }
    }
    for (const char* reason : {c.finite_difference.reason, c.cpu_f32.reason, c.cuda_f32.reason})
      EXPECT_TRUE(reason && *reason) << "a tolerance without its reason";
    if (c.bf16) {
      EXPECT_TRUE(c.bf16->reason && *c.bf16->reason);
    }
    // The same inputs on every call: finite differences and the device comparison rely on it.
    std::vector<Tensor> a = test::make_inputs(c, test::OpSize::Test, DType::F64, Device::cpu());
    std::vector<Tensor> b = test::make_inputs(c, test::OpSize::Test, DType::F64, Device::cpu());
    for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(test::bitwise_equal(a[i], b[i])) << "input " << i;
  }
  EXPECT_GE(names.size(), 44u);  // every op of tensor/ops.h in each configuration listed in op_cases.cpp
}

// ---------------------------------------------------------------- forward values by hand

TEST(Ops, ElementwiseForwardValues) {
  Tensor a = Tensor::from_vector(std::vector<double>{1, -2, 3}, {3});
  Tensor b = Tensor::from_vector(std::vector<double>{4, 5, -6}, {3});
  EXPECT_EQ(ops::add(a, b).to_vector(), (std::vector<double>{5, 3, -3}));
  EXPECT_EQ(ops::mul(a, b).to_vector(), (std::vector<double>{4, -10, -18}));
  EXPECT_EQ(ops::relu(a).to_vector(), (std::vector<double>{1, 0, 3}));
  EXPECT_THROW(ops::add(a, Tensor::zeros({4}, DType::F64)), Error);
  EXPECT_THROW(ops::add(a, Tensor::zeros({3}, DType::F32)), Error);
}

// ops::cast rounds to nearest even into bf16, and its gradient comes back in the input's dtype
// (rounded when it goes f32 -> bf16). A CPU bf16 op's result is bf16 and equals the f32 op on
// the same values rounded once.
TEST(Ops, CastRoundsAndItsGradientReturnsInTheInputDtype) {
  // 1 + 2^-8 is halfway between the bf16 neighbours 1 and 1 + 2^-7: ties go to the even one, 1.
  Tensor x = Tensor::from_vector(std::vector<float>{1.0f + 1.0f / 256, 3.0f, -2.5f}, {3}).set_requires_grad(true);
  Tensor y = ops::cast(x, DType::BF16);
  ASSERT_EQ(y.dtype(), DType::BF16);
  EXPECT_EQ(y.to(DType::F32).to_vector(), (std::vector<double>{1.0, 3.0, -2.5}));
  backward(ops::cast(ops::mul(y, y), DType::F32), Tensor::from_vector(std::vector<float>{1, 1, 1}, {3}));
  ASSERT_TRUE(x.grad().defined());
  EXPECT_EQ(x.grad().dtype(), DType::F32);
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{2.0, 6.0, -5.0}));  // 2 y, exact in bf16
  EXPECT_TRUE(ops::cast(x, DType::F32).shares_storage_with(x)) << "a cast to the same dtype is the tensor itself";
}

// conv2d_add is add(residual, conv2d(...)) in one op: the same values bit for bit (f32: the
// same two additions; bf16: the convolution's output rounded before the residual comes in, as
// on the GPU) and the same gradients, the residual's being the output's.
TEST(Ops, Conv2dAddEqualsConvolutionThenAdd) {
  for (DType dtype : {DType::F32, DType::BF16}) {
    SCOPED_TRACE(dtype_name(dtype));
    Generator gen(91);
    const Tensor x0 = Tensor::uniform({2, 5, 4, 6}, gen, -1.0, 1.0).to(dtype);
    const Tensor w0 = Tensor::uniform({8, 3, 3, 6}, gen, -0.5, 0.5).to(dtype);
    const Tensor b0 = Tensor::uniform({8}, gen, -0.5, 0.5).to(dtype);
    const Tensor r0 = Tensor::uniform({2, 3, 2, 8}, gen, -1.0, 1.0).to(dtype);
    const Tensor dy = Tensor::uniform({2, 3, 2, 8}, gen, -1.0, 1.0).to(dtype);
    const ops::Conv2dOptions stride2{2, 2, {1, 1, 1, 1}};
    auto leaves = [&] {
      return std::vector<Tensor>{x0.clone().set_requires_grad(true), w0.clone().set_requires_grad(true),
                                 b0.clone().set_requires_grad(true), r0.clone().set_requires_grad(true)};
    };
    std::vector<Tensor> fused = leaves(), apart = leaves();
    Tensor y_fused = ops::conv2d_add(fused[0], fused[1], fused[2], fused[3], stride2);
    Tensor y_apart = ops::add(apart[3], ops::conv2d(apart[0], apart[1], apart[2], stride2));
    EXPECT_TRUE(test::bitwise_equal(y_fused, y_apart));
    backward(y_fused, dy);
    backward(y_apart, dy);
    for (size_t i = 0; i < fused.size(); ++i) EXPECT_TRUE(test::bitwise_equal(fused[i].grad(), apart[i].grad())) << i;
  }
  Tensor x = Tensor::zeros({1, 4, 4, 2}), w = Tensor::zeros({3, 1, 1, 2});
  EXPECT_THROW(ops::conv2d_add(x, w, Tensor(), Tensor::zeros({1, 4, 4, 2})), Error) << "the residual's shape";
  EXPECT_THROW(ops::conv2d_add(x, w, Tensor(), Tensor()), Error) << "no residual";
}

TEST(Ops, CpuBf16OpEqualsF32OpRoundedOnce) {
  Tensor a = random({3, 5}, 11).to(DType::F32).to(DType::BF16), b = random({5, 4}, 12).to(DType::F32).to(DType::BF16);
  Tensor y = ops::matmul(a, b);
  ASSERT_EQ(y.dtype(), DType::BF16);
  Tensor expected = ops::matmul(a.to(DType::F32), b.to(DType::F32)).to(DType::BF16);
  EXPECT_TRUE(test::bitwise_equal(y, expected));
  EXPECT_THROW(ops::matmul(a, b.to(DType::F32)), Error);  // mixed dtypes are still refused
  EXPECT_THROW(ops::sum(a), Error);                       // an op without a bf16 path says so
}

TEST(Ops, MeanValue) {
  EXPECT_NEAR(ops::mean(Tensor::from_vector(std::vector<double>{1, 2, 3, 6}, {4})).at({}), 3.0, 1e-15);
}

TEST(Ops, LinearForwardMatchesTheDefinition) {
  Tensor a = random({3, 5}, 7), b = random({5, 2}, 8), bias = random({2}, 9);
  Tensor y = ops::linear(a, b, bias);
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 2; ++j) {
      double expected = bias.at({j});
      for (int64_t k = 0; k < 5; ++k) expected += a.at({i, k}) * b.at({k, j});
      EXPECT_NEAR(y.at({i, j}), expected, 1e-12);
    }
}

TEST(Ops, ConvRejectsFiltersOfAnotherDepth) {
  EXPECT_THROW(ops::conv2d(random({1, 4, 4, 3}, 1), random({2, 3, 3, 4}, 2), Tensor()), Error);
}

TEST(Ops, MaxPoolKerasZeroPaddingShowsOnNegativeInput) {
  Tensor x = random({1, 4, 4, 2}, 31, -2.0, -0.1);
  Tensor y = ops::max_pool2d(x, {3, 3, 2, 2, {1, 1, 1, 1}});
  ASSERT_EQ(y.shape(), (Shape{1, 2, 2, 2}));
  // Every window touches the zero padding (top-left ones) or not (bottom-right ones).
  EXPECT_EQ(y.at({0, 0, 0, 0}), 0.0);
  EXPECT_EQ(y.at({0, 0, 1, 1}), 0.0);
  EXPECT_LT(y.at({0, 1, 1, 0}), 0.0);  // the window rows 1..3, cols 1..3 lies inside the image
}

TEST(Ops, CrossEntropyValue) {
  // Hand-computed: logits (1, 2, 3), label 2: loss = log(e + e^2 + e^3) - 3 = 0.40760596444.
  Tensor z = Tensor::from_vector(std::vector<double>{1, 2, 3}, {1, 3});
  Tensor label = Tensor::from_vector(std::vector<int32_t>{2}, {1});
  EXPECT_NEAR(ops::softmax_cross_entropy(z, label).at({}), 0.40760596444438, 1e-12);
  Tensor p = ops::softmax(z);
  EXPECT_NEAR(p.at({0, 2}), 0.665240955774822, 1e-12);  // e^3 / (e + e^2 + e^3)
  EXPECT_THROW(ops::softmax_cross_entropy(z, Tensor::from_vector(std::vector<int32_t>{0, 1}, {2})), Error);
}

// ops::batch_norm on the CPU runs the fast f32 kernels for f32 and the reference for f64: the two
// agree through the op, in training (forward, moving statistics, every gradient), in inference
// (fast) and in a frozen layer whose backward needs the reference's mask.
TEST(Ops, BatchNormF32FastPathMatchesF64Reference) {
  const Tensor x64 = random({3, 5, 4, 13}, 40, -2.0, 3.0), dy64 = random({3, 5, 4, 13}, 41);
  const Tensor gamma64 = random({13}, 42, 0.5, 1.5), beta64 = random({13}, 43, -0.5, 0.5);
  const test::Tolerance tol{5e-5, 5e-5};  // f32 arithmetic against double on the same inputs
  for (bool training : {true, false}) {
    for (bool with_grad : {true, false}) {
      SCOPED_TRACE(testing::Message() << "training " << training << ", gradients " << with_grad);
      std::vector<Tensor> outputs[2], grads[2], moving[2];
      for (int k = 0; k < 2; ++k) {
        const DType dtype = k == 0 ? DType::F64 : DType::F32;
        Tensor x = x64.to(dtype), gamma = gamma64.to(dtype), beta = beta64.to(dtype);
        Tensor mm = Tensor::full({13}, 0.1, dtype), mv = Tensor::full({13}, 1.3, dtype);
        if (with_grad) {
          x.set_requires_grad(true);
          gamma.set_requires_grad(true);
          beta.set_requires_grad(true);
        }
        ops::BatchNormOptions options;
        options.training = training;
        Tensor y = ops::batch_norm(x, gamma, beta, mm, mv, options);
        outputs[k] = {y.to(DType::F64)};
        moving[k] = {mm.to(DType::F64), mv.to(DType::F64)};
        if (with_grad) {
          backward(ops::sum(ops::mul(y, dy64.to(dtype))));
          grads[k] = {x.grad().to(DType::F64), gamma.grad().to(DType::F64), beta.grad().to(DType::F64)};
        }
      }
      ALZ_EXPECT_CLOSE(outputs[1][0], outputs[0][0], tol);
      ALZ_EXPECT_CLOSE(moving[1][0], moving[0][0], tol);
      ALZ_EXPECT_CLOSE(moving[1][1], moving[0][1], tol);
      for (size_t i = 0; i < grads[0].size(); ++i) ALZ_EXPECT_CLOSE(grads[1][i], grads[0][i], tol);
    }
  }
}

}  // namespace
}  // namespace alz
