// Runs a program as a user would, in a child process, and returns how it ended with what it
// printed: the command-line tests start the real `alz` binary (its path comes from CMake as
// ALZ_CLI_BINARY) to check exit codes and output.
//
//   test::ProgramResult r = test::run_program(ALZ_CLI_BINARY, {"train", "--epoch", "1"});
//   EXPECT_EQ(r.code, 2);
#pragma once
#include <string>
#include <vector>

namespace alz::test {

struct ProgramResult {
  int code = -1;    // the exit status; -1 when the program did not exit normally
  int signal = 0;   // the signal that ended it, else 0
  std::string out;  // what it printed on stdout
  std::string err;  // what it printed on stderr
};

// Starts `program` with `args` (no shell), waits for it, and returns its exit status and output.
ProgramResult run_program(const std::string& program, const std::vector<std::string>& args);

}  // namespace alz::test
