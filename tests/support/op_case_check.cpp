// The op table's test parameter and the check of a run against a reference run
// (tests/support/op_case_check.h).
#include "support/op_case_check.h"

#include <sstream>

#include "support/compare.h"
#include "tensor/autograd.h"

namespace alz::test {

std::vector<OpCaseParam> op_case_params(Device device, const std::vector<DType>& dtypes) {
  std::vector<OpCaseParam> params;
  for (DType dtype : dtypes)
    for (const OpCase& c : op_cases())
      if (c.supports(device, dtype)) params.push_back({&c, dtype});
  return params;
}

std::string op_case_param_name(const ::testing::TestParamInfo<OpCaseParam>& info) {
  return info.param.op->name + "_" + dtype_name(info.param.dtype);
}

void PrintTo(const OpCaseParam& param, std::ostream* os) { *os << param.op->name << " " << dtype_name(param.dtype); }

::testing::AssertionResult matches_reference(const OpCase& c, DType dtype, Device device, DType reference_dtype,
                                             const ReasonedTolerance& tol) {
  std::vector<Tensor> tested = make_inputs(c, OpSize::Test, dtype, device), reference;
  for (Tensor& input : tested) {
    if (input.dtype() == DType::I32) {  // labels: the same values, no gradient
      reference.push_back(input.to(Device::cpu()).clone());
      continue;
    }
    // Inputs of the tested dtype become the reference dtype; the others (BatchNorm's f32
    // parameters and statistics in a bf16 case) keep theirs, as the op requires.
    const DType input_reference_dtype = input.dtype() == dtype ? reference_dtype : input.dtype();
    reference.push_back(input.to(Device::cpu()).to(input_reference_dtype).clone());
    reference.back().set_requires_grad(true);
    input.set_requires_grad(true);
  }
  Tensor y = c.run(tested), y_reference = c.run(reference);
  Generator gen(77);
  Tensor dy = Tensor::uniform(y.shape(), gen, -1.0, 1.0, DType::F64).to(y.dtype()).to(device);
  backward(y, dy);
  backward(y_reference, dy.to(Device::cpu()).to(y_reference.dtype()));

  std::ostringstream failures;
  auto check = [&](const Tensor& actual, const Tensor& expected, const std::string& what) {
    if (!actual.defined() || !expected.defined()) {
      failures << "\n  " << what << ": " << (actual.defined() ? "the reference" : "the tested run") << " has none";
      return;
    }
    ::testing::AssertionResult result = all_close(actual, expected, tol.tol, what);
    if (!result) failures << "\n  " << result.message();
  };
  check(y, y_reference, "output " + shape_str(y.shape()));
  for (size_t i = 0; i < tested.size(); ++i)
    if (tested[i].dtype() != DType::I32)
      check(tested[i].grad(), reference[i].grad(),
            "gradient of input " + std::to_string(i) + " " + shape_str(tested[i].shape()));
  if (failures.str().empty()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << c.name << " " << device_dtype_name(device, dtype) << " against cpu_"
                                       << dtype_name(reference_dtype) << ":" << failures.str()
                                       << "\n  tolerance: " << tol.reason;
}

}  // namespace alz::test
