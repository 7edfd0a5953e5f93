// The one comparison helper of the test suite, and the GPU skip macro.
//
// expect_close(actual, expected, tol) passes when every |a - e| <= atol + rtol * |e| and no
// element is NaN (unless both are NaN). On failure it reports the worst element: its index,
// both values, the error and the bound, and how many elements failed.
// Tolerances are chosen per test with a one-line reason, e.g.
//   Tolerance{1e-5, 1e-4}   // f32, sums of ~1e3 terms
//
// ALZ_REQUIRE_GPU() skips the current test with a one-line reason when no CUDA device is
// usable (and is a no-op on a machine with one).
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "support/tolerance.h"
#include "tensor/cuda_runtime.h"
#include "tensor/tensor.h"

namespace alz::test {

// Fills a result, so tests can also assert on the text.
::testing::AssertionResult all_close(const double* actual, const double* expected, int64_t count, Tolerance tol,
                                     const std::string& what = "");
::testing::AssertionResult all_close(const std::vector<double>& actual, const std::vector<double>& expected,
                                     Tolerance tol, const std::string& what = "");
::testing::AssertionResult all_close(const std::vector<float>& actual, const std::vector<float>& expected,
                                     Tolerance tol, const std::string& what = "");
// Any devices and dtypes: both are read back as double. Shapes must match.
::testing::AssertionResult all_close(const Tensor& actual, const Tensor& expected, Tolerance tol,
                                     const std::string& what = "");

// Bit-exact equality of two buffers (determinism tests); reports the first differing byte.
::testing::AssertionResult bitwise_equal(const Tensor& a, const Tensor& b);

// A folder for the test's files under ALZ_TEST_TMP (or the system temp folder), made empty;
// its name ends in the process id, so parallel test processes never share one.
std::string fresh_temp_dir(const std::string& name);

// Runs `body`, which must throw alz::Error, and returns its message (a test failure and "" when
// it throws nothing), so tests can check what the message names.
std::string error_message(const std::function<void()>& body);

}  // namespace alz::test

#define ALZ_EXPECT_CLOSE(actual, expected, tol) EXPECT_TRUE(::alz::test::all_close(actual, expected, tol, #actual))
#define ALZ_ASSERT_CLOSE(actual, expected, tol) ASSERT_TRUE(::alz::test::all_close(actual, expected, tol, #actual))

#define ALZ_REQUIRE_GPU()                                                                                          \
  do {                                                                                                             \
    if (!::alz::cuda::available()) GTEST_SKIP() << "no usable CUDA device: " << ::alz::cuda::unavailable_reason(); \
  } while (0)
