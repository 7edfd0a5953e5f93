// Every op on the tape, on the GPU against the CPU, driven by the op table
// (tests/support/op_cases.h): forward values and every input gradient, f32 with TF32 off, and
// bf16 where the op has it (against the CPU in f32 on the same bf16-rounded inputs); one ctest
// entry per case and dtype, e.g. OpTable/GpuMatchesCpu.ForwardAndEveryInputGradient/add_bf16.
// Labelled `gpu`; skips without a device. Run: ctest --test-dir build -L gpu -R "OpTable|AutogradOpsGpu"
#include <gtest/gtest.h>

#include "kernels/conv2d.h"
#include "kernels/gemm.h"
#include "support/compare.h"
#include "support/op_case_check.h"
#include "tensor/ops.h"

namespace alz {
namespace {

using test::OpCase;
using test::OpCaseParam;

// Strict fp32 on the GPU for the duration of a test, so it can be held to f32 tolerances.
class GpuMatchesCpu : public ::testing::TestWithParam<OpCaseParam> {
 protected:
  void SetUp() override {
    conv_tf32_ = conv_allow_tf32();
    gemm_tf32_ = kernels::gemm_allow_tf32();
    set_conv_allow_tf32(false);
    kernels::set_gemm_allow_tf32(false);
  }
  void TearDown() override {
    set_conv_allow_tf32(conv_tf32_);
    kernels::set_gemm_allow_tf32(gemm_tf32_);
  }

 private:
  bool conv_tf32_ = true, gemm_tf32_ = true;
};

TEST_P(GpuMatchesCpu, ForwardAndEveryInputGradient) {
  ALZ_REQUIRE_GPU();
  const OpCase& c = *GetParam().op;
  const DType dtype = GetParam().dtype;
  const test::ReasonedTolerance& tol = dtype == DType::BF16 ? *c.bf16 : c.cuda_f32;
  EXPECT_TRUE(test::matches_reference(c, dtype, Device::cuda(), DType::F32, tol));
}

INSTANTIATE_TEST_SUITE_P(OpTable, GpuMatchesCpu,
                         ::testing::ValuesIn(test::op_case_params(Device::cuda(), {DType::F32, DType::BF16})),
                         test::op_case_param_name);

// The GPU's bf16 against the CPU's bf16 (tensor/ops.h: the CPU runs bf16 through f32 and
// rounds at the same points), on the same bf16 inputs, with the case's bf16 tolerance: the two
// differ only where an f32 result lands on the other side of a bf16 rounding boundary.
class GpuBf16MatchesCpuBf16 : public GpuMatchesCpu {};

TEST_P(GpuBf16MatchesCpuBf16, ForwardAndEveryInputGradient) {
  ALZ_REQUIRE_GPU();
  const OpCase& c = *GetParam().op;
  EXPECT_TRUE(test::matches_reference(c, DType::BF16, Device::cuda(), DType::BF16, *c.bf16));
}

INSTANTIATE_TEST_SUITE_P(OpTable, GpuBf16MatchesCpuBf16,
                         ::testing::ValuesIn(test::op_case_params(Device::cuda(), {DType::BF16})),
                         test::op_case_param_name);

// Besides the table: a bf16 convolution followed by a ReLU, with C a multiple of 8 (the
// vectorised bf16 paths), against the f32 CPU on the same values.
TEST(AutogradOpsGpu, Bf16ConvThenReluMatchesTheCpu) {
  ALZ_REQUIRE_GPU();
  Generator gen_x(20), gen_w(21);
  Tensor x = Tensor::uniform({2, 8, 8, 16}, gen_x, -1.0, 1.0).to(DType::BF16).to(Device::cuda());
  Tensor w = Tensor::uniform({16, 3, 3, 16}, gen_w, -1.0, 1.0).to(DType::BF16).to(Device::cuda());
  Tensor y = ops::relu(ops::conv2d(x, w, Tensor(), {1, 1, {1, 1, 1, 1}}));
  Tensor ref = ops::relu(ops::conv2d(x.to(DType::F32).to(Device::cpu()), w.to(DType::F32).to(Device::cpu()), Tensor(),
                                     {1, 1, {1, 1, 1, 1}}));
  // bf16 storage of the output: 8 significant bits, sums of 144 products accumulated in f32.
  ALZ_EXPECT_CLOSE(y, ref, (test::Tolerance{3e-2, 1e-2}));
}

}  // namespace
}  // namespace alz
