// The in-process command runner of the tests (support/run_cli.h).
#include "support/run_cli.h"

#include <gtest/gtest.h>

#include "cli/cli.h"

namespace alz::test {

CliResult run_cli(std::vector<std::string> args) {
  args.insert(args.begin(), "alz");
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  testing::internal::CaptureStdout();
  testing::internal::CaptureStderr();
  CliResult r;
  r.code = cli::run(static_cast<int>(argv.size()), argv.data());
  r.out = testing::internal::GetCapturedStdout();
  r.err = testing::internal::GetCapturedStderr();
  return r;
}

}  // namespace alz::test
