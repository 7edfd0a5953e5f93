// The command-line conventions of `alz` (cli/usage.h, cli/cli.cpp, cli/version.cpp), checked on
// the real program in a child process: usage errors exit with 2 and print one line naming the
// closest flag, command or choice; `alz --version` names the version, commit and CUDA build;
// every `--help` shows defaults and flags without CLI11's "{false}" marks; ALZ_ALLOC_TRACE
// records a run's tensor allocations, and an unwritable trace file is said without failing the run.
// Run: cmake --build build -j2 --target test_cli_usage alz_cli && ctest --test-dir build -R CliUsage
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "support/compare.h"
#include "support/run_program.h"

namespace alz {
namespace {

const char* const kCommands[] = {"info", "synth", "audit", "train", "eval", "predict", "convert", "export", "version"};

test::ProgramResult alz(const std::vector<std::string>& args) { return test::run_program(ALZ_CLI_BINARY, args); }

size_t line_count(const std::string& text) { return std::count(text.begin(), text.end(), '\n'); }

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(CliUsage, MisspelledFlagSuggestsTheClosest) {
  test::ProgramResult r = alz({"train", "--epoch", "1"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "alz train: unknown option '--epoch' (did you mean '--epochs'?)\n");
  EXPECT_EQ(r.out, "");
  // A long name typed with one dash, and a swapped pair of letters.
  r = alz({"train", "-epochs", "1"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "did you mean '--epochs'?")) << r.err;
  r = alz({"predict", "--weights", "w.safetensors", "--modle", "resnet50v2", "x.png"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "unknown option '--modle' (did you mean '--model'?)")) << r.err;
  // A flag with nothing close names the help instead.
  r = alz({"eval", "--zzzzzzzz"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "unknown option '--zzzzzzzz'; see 'alz eval --help'")) << r.err;
}

TEST(CliUsage, MisspelledCommandSuggestsTheClosest) {
  test::ProgramResult r = alz({"trian"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "alz: unknown command 'trian' (did you mean 'alz train'?)\n");
  r = alz({"predcit"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "did you mean 'alz predict'?")) << r.err;
  r = alz({"frobnicate"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "unknown command 'frobnicate'; see 'alz --help'")) << r.err;
  r = alz({"--verison"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "did you mean '--version'?")) << r.err;
}

TEST(CliUsage, EveryCommandExitsTwoWithOneLineOnAnUnknownFlag) {
  for (const char* command : kCommands) {
    test::ProgramResult r = alz({command, "--no-such-flag"});
    EXPECT_EQ(r.code, 2) << command << ": " << r.err;
    EXPECT_EQ(line_count(r.err), 1u) << command << ": " << r.err;
    EXPECT_TRUE(has(r.err, std::string("alz ") + command + ": unknown option '--no-such-flag'")) << r.err;
  }
}

TEST(CliUsage, ValueNotAmongTheChoicesNamesThemAndTheClosest) {
  test::ProgramResult r = alz({"train", "--optimizer", "adamx"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(line_count(r.err), 1u) << r.err;
  EXPECT_TRUE(has(r.err, "--optimizer: 'adamx' is not one of adam, adamw, sgd (did you mean 'adam'?)")) << r.err;
  r = alz({"eval", "--weights", "w", "--data", "d", "--format", "jsno"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "did you mean 'json'?")) << r.err;
}

TEST(CliUsage, MissingValueAndMissingRequiredOptionExitTwo) {
  test::ProgramResult r = alz({"train", "--epochs"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "alz train: --epochs needs a value")) << r.err;
  r = alz({"eval", "--data", "somewhere"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(line_count(r.err), 1u) << r.err;
  EXPECT_TRUE(has(r.err, "--weights")) << r.err;
  r = alz({"train", "--epochs", "many"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(line_count(r.err), 1u) << r.err;
  r = alz({"train", "--input-size", "big"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "--input-size: expected N or HxW")) << r.err;
}

TEST(CliUsage, UnexpectedArgumentsAreNamed) {
  test::ProgramResult r = alz({"info", "extra"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "alz info: unexpected argument 'extra'")) << r.err;
}

TEST(CliUsage, ResumeWithOverwriteOrAnotherRunDirIsAUsageError) {
  test::ProgramResult r = alz({"train", "--resume", "runs/a", "--overwrite"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(line_count(r.err), 1u) << r.err;
  r = alz({"train", "--resume", "runs/a", "--run-dir", "runs/b"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(has(r.err, "--resume continues the run in its own folder")) << r.err;
}

TEST(CliUsage, VersionNamesVersionCommitBuildAndCuda) {
  test::ProgramResult r = alz({"--version"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("alz 0.", 0), 0u) << r.out;
  EXPECT_TRUE(has(r.out, "\ncommit ")) << r.out;
  EXPECT_FALSE(has(r.out, "commit unknown")) << "built from a git checkout: " << r.out;
  EXPECT_TRUE(has(r.out, "\nbuild type ")) << r.out;
  EXPECT_TRUE(has(r.out, "\nbuilt with ")) << r.out;
#ifdef ALZ_HAS_CUDA
  EXPECT_TRUE(has(r.out, "built with CUDA ")) << r.out;
  EXPECT_TRUE(has(r.out, "cuDNN ")) << r.out;
#endif
  EXPECT_TRUE(has(r.out, "\nGPU: ")) << r.out;
  EXPECT_EQ(alz({"version"}).out, r.out);
}

TEST(CliUsage, HelpShowsDefaultsAndFlagsByTheirNames) {
  for (const char* command : kCommands) {
    test::ProgramResult r = alz({command, "--help"});
    EXPECT_EQ(r.code, 0) << command << ": " << r.err;
    EXPECT_FALSE(has(r.out, "{false}")) << command << ":\n" << r.out;
    EXPECT_FALSE(has(r.out, "{true}")) << command << ":\n" << r.out;
  }
  test::ProgramResult r = alz({"train", "--help"});
  EXPECT_TRUE(has(r.out, "--schedule TEXT:{constant,step,cosine,plateau}=cosine")) << r.out;
  EXPECT_TRUE(has(r.out, "--seed UINT=1")) << r.out;
  EXPECT_TRUE(has(r.out, "--val-fraction FLOAT:FLOAT in [0.01 - 0.9]=0.2")) << r.out;
  EXPECT_TRUE(has(r.out, "--no-augment ")) << r.out;
  EXPECT_TRUE(has(r.out, "--overwrite")) << r.out;
  EXPECT_TRUE(has(r.out, "Exit status: 0 done, 1 error, 2 usage error")) << r.out;
  r = alz({"eval", "--help"});
  EXPECT_TRUE(has(r.out, "--batch INT:INT in [1 - 4096]=32")) << r.out;
  r = alz({"--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(has(r.out, "2 usage error")) << r.out;
  EXPECT_TRUE(has(r.out, "version")) << r.out;
}

TEST(CliUsage, NoArgumentsPrintsTheCommands) {
  test::ProgramResult r = alz({});
  EXPECT_NE(r.out + r.err, "");
  EXPECT_TRUE(has(r.out + r.err, "train")) << r.out << r.err;
}

// ALZ_ALLOC_TRACE is read when the program starts (tensor/allocation_trace.h).
TEST(CliUsage, AllocationTraceFromTheEnvironment) {
  const std::string trace = test::fresh_temp_dir("cli_alloc_trace") + "/info.trace";
  setenv("ALZ_ALLOC_TRACE", trace.c_str(), 1);
  test::ProgramResult r = alz({"info", "--model", "resnetv2-tiny"});
  setenv("ALZ_ALLOC_TRACE", "/nonexistent-folder/info.trace", 1);
  test::ProgramResult unwritable = alz({"info", "--model", "resnetv2-tiny"});
  unsetenv("ALZ_ALLOC_TRACE");
  EXPECT_EQ(r.code, 0) << r.err;
  std::ifstream in(trace);
  std::string first;
  std::getline(in, first);
  EXPECT_EQ(first.rfind("a 0x", 0), 0u) << "the model's first weight: " << first;
  EXPECT_NE(first.find(" cpu"), std::string::npos) << first;
  EXPECT_EQ(unwritable.code, 0) << "the run goes on without a trace";
  EXPECT_EQ(unwritable.err,
            "alz: ALZ_ALLOC_TRACE: cannot write /nonexistent-folder/info.trace: No such file or directory; no "
            "allocation trace\n");
}

}  // namespace
}  // namespace alz
