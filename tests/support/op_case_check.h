// The test side of the op table (support/op_cases.h): a test parameter (one case in one dtype)
// with a readable name, and the check of one run of a case against a reference run.
//
//   class GpuMatchesCpu : public ::testing::TestWithParam<OpCaseParam> {};
//   TEST_P(GpuMatchesCpu, ForwardAndEveryInputGradient) {
//     const OpCase& c = *GetParam().op;
//     EXPECT_TRUE(matches_reference(c, GetParam().dtype, Device::cuda(), DType::F32, c.cuda_f32));
//   }
//   INSTANTIATE_TEST_SUITE_P(OpTable, GpuMatchesCpu,
//                            ::testing::ValuesIn(op_case_params(Device::cuda(), {DType::F32})), op_case_param_name);
//
// Used by tests/test_ops.cpp and tests/gpu/test_autograd_ops_gpu.cpp.
#pragma once
#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

#include "support/op_cases.h"

namespace alz::test {

struct OpCaseParam {
  const OpCase* op;
  DType dtype;
};

// Every case that runs on `device` in one of `dtypes`, dtype by dtype, in table order.
std::vector<OpCaseParam> op_case_params(Device device, const std::vector<DType>& dtypes);

// "conv2d_3x3_same_bias_f32": the case's name and the dtype (the test's ctest name ends in it).
std::string op_case_param_name(const ::testing::TestParamInfo<OpCaseParam>& info);
void PrintTo(const OpCaseParam& param, std::ostream* os);

// Runs case `c` at its test shape in `dtype` on `device`, and on the CPU in `reference_dtype`
// on the same values (each input read back and converted), backward from the same random
// output gradient (rounded to the output's dtype) on both, and compares the output and every
// input gradient (labels, I32, take none). A failure names each mismatch, the tolerance and
// its reason.
::testing::AssertionResult matches_reference(const OpCase& c, DType dtype, Device device, DType reference_dtype,
                                             const ReasonedTolerance& tol);

}  // namespace alz::test
