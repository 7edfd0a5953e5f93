// The tolerance of the test suite's one comparison (support/compare.h): an element passes when
// |actual - expected| <= atol + rtol * |expected|. Kept apart from compare.h, which needs
// GoogleTest, so that the op table (support/op_cases.h) and the benchmark that shares it
// (bench/bench_ops.cpp) can name tolerances too.
#pragma once

namespace alz::test {

struct Tolerance {
  double atol;
  double rtol;
};

// A tolerance with its one-line reason; tests print the reason when a check with it fails.
struct ReasonedTolerance {
  Tolerance tol;
  const char* reason;
};

}  // namespace alz::test
