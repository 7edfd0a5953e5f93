// Implementation of the shared comparison helper (tests/support/compare.h).
#include "support/compare.h"

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "core/error.h"

namespace alz::test {

::testing::AssertionResult all_close(const double* actual, const double* expected, int64_t count, Tolerance tol,
                                     const std::string& what) {
  int64_t failures = 0, worst_index = -1;
  double worst_excess = -1.0;
  for (int64_t i = 0; i < count; ++i) {
    double a = actual[i], e = expected[i];
    if (std::isnan(a) && std::isnan(e)) continue;
    double bound = tol.atol + tol.rtol * std::fabs(e);
    double error = std::fabs(a - e);
    bool bad = std::isnan(a) || std::isnan(e) || !(error <= bound);
    if (std::isinf(a) && std::isinf(e) && a == e) bad = false;
    if (!bad) continue;
    ++failures;
    double excess = std::isnan(error) ? INFINITY : error - bound;
    if (excess > worst_excess || worst_index < 0) {
      worst_excess = excess;
      worst_index = i;
    }
  }
  if (failures == 0) return ::testing::AssertionSuccess();
  double a = actual[worst_index], e = expected[worst_index];
  std::ostringstream message;
  message.precision(9);
  message << (what.empty() ? "values" : what) << ": " << failures << " of " << count << " elements outside atol "
          << tol.atol << " + rtol " << tol.rtol << " * |expected|; worst at index " << worst_index << ": actual " << a
          << ", expected " << e << ", error " << std::fabs(a - e) << ", bound " << tol.atol + tol.rtol * std::fabs(e);
  return ::testing::AssertionFailure() << message.str();
}

::testing::AssertionResult all_close(const std::vector<double>& actual, const std::vector<double>& expected,
                                     Tolerance tol, const std::string& what) {
  if (actual.size() != expected.size())
    return ::testing::AssertionFailure() << what << ": sizes differ: " << actual.size() << " vs " << expected.size();
  return all_close(actual.data(), expected.data(), static_cast<int64_t>(actual.size()), tol, what);
}

::testing::AssertionResult all_close(const std::vector<float>& actual, const std::vector<float>& expected,
                                     Tolerance tol, const std::string& what) {
  return all_close(std::vector<double>(actual.begin(), actual.end()),
                   std::vector<double>(expected.begin(), expected.end()), tol, what);
}

::testing::AssertionResult all_close(const Tensor& actual, const Tensor& expected, Tolerance tol,
                                     const std::string& what) {
  if (actual.shape() != expected.shape())
    return ::testing::AssertionFailure() << what << ": shapes differ: " << actual.summary() << " vs "
                                         << expected.summary();
  return all_close(actual.to_vector(), expected.to_vector(), tol, what);
}

::testing::AssertionResult bitwise_equal(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype())
    return ::testing::AssertionFailure() << "different tensors: " << a.summary() << " vs " << b.summary();
  Tensor ha = a.to(Device::cpu()), hb = b.to(Device::cpu());
  const auto* pa = static_cast<const unsigned char*>(ha.raw_data());
  const auto* pb = static_cast<const unsigned char*>(hb.raw_data());
  for (size_t i = 0; i < ha.nbytes(); ++i) {
    if (pa[i] != pb[i])
      return ::testing::AssertionFailure() << "first differing byte at " << i << " of " << ha.nbytes();
  }
  return ::testing::AssertionSuccess();
}

std::string fresh_temp_dir(const std::string& name) {
  const char* root = std::getenv("ALZ_TEST_TMP");
  std::filesystem::path base =
      root ? std::filesystem::path(root) : std::filesystem::temp_directory_path() / "alz_tests";
  // One folder per process: CTest runs the tests of one program in parallel processes.
  std::filesystem::path dir = base / (name + "-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

std::string error_message(const std::function<void()>& body) {
  try {
    body();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected alz::Error";
  return "";
}

}  // namespace alz::test
