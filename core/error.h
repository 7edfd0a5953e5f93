// Errors a user can cause (bad shape, wrong device, bad file) throw alz::Error with a message
// that names the operands or the file and the reason. Programming bugs are asserts.
//
//   ALZ_CHECK(a.numel() == b.numel(), "add: " << a.summary() << " vs " << b.summary());
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace alz {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace alz

// Throws alz::Error built from a stream expression when `cond` is false.
#define ALZ_CHECK(cond, message)                   \
  do {                                             \
    if (!(cond)) {                                 \
      std::ostringstream alz_check_stream_;        \
      alz_check_stream_ << message;                \
      throw ::alz::Error(alz_check_stream_.str()); \
    }                                              \
  } while (0)

#define ALZ_FAIL(message)                        \
  do {                                           \
    std::ostringstream alz_check_stream_;        \
    alz_check_stream_ << message;                \
    throw ::alz::Error(alz_check_stream_.str()); \
  } while (0)
