// Runs the `alz` command table in this process (cli::run), as `alz ARGS...` would, capturing
// what it prints: the command-line tests that need no separate process use it.
//
//   test::CliResult r = test::run_cli({"eval", "--weights", "w.safetensors", "--data", "d"});
//   EXPECT_EQ(r.code, 0) << r.err;
#pragma once
#include <string>
#include <vector>

namespace alz::test {

struct CliResult {
  int code = -1;    // the command's exit code
  std::string out;  // what it printed on stdout
  std::string err;  // what it printed on stderr
};

// `args` without the program name.
CliResult run_cli(std::vector<std::string> args);

}  // namespace alz::test
