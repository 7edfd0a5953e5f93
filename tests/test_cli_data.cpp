// The data subcommands `alz synth` and `alz audit` (cli/synth.cpp, cli/audit.cpp),
// called as cli/main.cpp calls them: flags, exit codes, files written, output formats.
//   cmake --build build --target test_cli_data && build/tests/test_cli_data
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/cli.h"
#include "data/image.h"
#include "support/compare.h"

namespace alz::cli {
namespace {

namespace fs = std::filesystem;

struct Result {
  int code = -1;
  std::string out;    // stdout
  std::string error;  // the message main.cpp would print for an exception
};

// Runs a subcommand like cli/main.cpp: argv[0] is "alz <name>", an exception means exit 1.
Result run(int (*command)(int, char**), const std::string& name, std::vector<std::string> args) {
  args.insert(args.begin(), "alz " + name);
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  Result result;
  testing::internal::CaptureStdout();
  try {
    result.code = command(int(args.size()), argv.data());
  } catch (const std::exception& e) {
    result.code = 1;
    result.error = e.what();
  }
  result.out = testing::internal::GetCapturedStdout();
  return result;
}

int64_t count_files(const std::string& dir, const std::string& extension) {
  int64_t n = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) n += entry.path().extension() == extension ? 1 : 0;
  return n;
}

TEST(CliSynth, WritesTheAskedCountsSizeAndPreview) {
  std::string dir = test::fresh_temp_dir("cli_synth");
  Result r = run(synth, "synth",
                 {"--out", dir + "/set", "--per-class", "5", "--size", "64x48", "--seed", "2", "--val-fraction", "0.4",
                  "--preview", dir + "/preview.png"});
  ASSERT_EQ(r.code, 0) << r.error;
  EXPECT_EQ(count_files(dir + "/set", ".jpg"), 20);
  EXPECT_EQ(count_files(dir + "/set/val", ".jpg"), 8);  // round(5 * 0.4) = 2 per class
  EXPECT_TRUE(fs::exists(dir + "/set/manifest.csv"));
  EXPECT_NE(r.out.find("wrote 20 phantom slices"), std::string::npos) << r.out;
  data::Image image = data::decode_image_file(dir + "/set/val/NonDemented/subj2000000_00.jpg");
  EXPECT_EQ(image.height, 64);
  EXPECT_EQ(image.width, 48);
  data::Image preview = data::decode_image_file(dir + "/preview.png");
  EXPECT_EQ(preview.height, 4 * (64 + 4) + 4);
  EXPECT_EQ(preview.width, 6 * (48 + 4) + 4);

  r = run(synth, "synth", {"--out", dir + "/counts", "--counts", "1,0,2,3", "--size", "40x40"});
  ASSERT_EQ(r.code, 0) << r.error;
  EXPECT_EQ(count_files(dir + "/counts", ".jpg"), 6);
  EXPECT_FALSE(fs::exists(dir + "/counts/train/ModerateDemented"));  // count 0: no folder
  EXPECT_EQ(count_files(dir + "/counts/val", ".jpg"), 2);            // 1 each for the classes with >= 2 images
}

TEST(CliSynth, BadFlagsAreUsageErrors) {
  std::string dir = test::fresh_temp_dir("cli_synth_bad");
  EXPECT_EQ(run(synth, "synth", {"--per-class", "3"}).code, 2);  // no --out
  EXPECT_EQ(run(synth, "synth", {"--out", dir, "--counts", "1,2,3"}).code, 2);
  EXPECT_EQ(run(synth, "synth", {"--out", dir, "--counts", "1,2,x,3"}).code, 2);
  EXPECT_EQ(run(synth, "synth", {"--out", dir, "--counts", "1,2,3,4", "--per-class", "2"}).code, 2);
  EXPECT_EQ(run(synth, "synth", {"--out", dir, "--size", "10x10"}).code, 2);
  EXPECT_EQ(run(synth, "synth", {"--out", dir, "--size", "64"}).code, 2);
  EXPECT_EQ(run(synth, "synth", {"--out", dir, "--val-fraction", "1.5"}).code, 2);
  EXPECT_EQ(count_files(dir, ".jpg"), 0);
  EXPECT_EQ(run(synth, "synth", {"--help"}).code, 0);
}

TEST(CliAudit, TextJsonStrictAndErrors) {
  std::string dir = test::fresh_temp_dir("cli_audit");
  ASSERT_EQ(run(synth, "synth", {"--out", dir + "/set", "--counts", "4,2,6,4", "--seed", "4"}).code, 0);

  Result text = run(audit, "audit", {"--data", dir + "/set"});
  ASSERT_EQ(text.code, 0) << text.error;
  EXPECT_NE(text.out.find("Kaggle V2"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("near-duplicates"), std::string::npos);

  Result json = run(audit, "audit", {"--data", dir + "/set", "--format", "json", "--near-threshold", "3"});
  ASSERT_EQ(json.code, 0) << json.error;
  nlohmann::json parsed = nlohmann::json::parse(json.out);
  EXPECT_EQ(parsed["near_duplicates"]["threshold"], 3);
  EXPECT_EQ(parsed["splits"].size(), 2u);
  EXPECT_EQ(parsed["exact_duplicates"]["groups"], 0);

  // --strict: the V2 layout carries a leak warning; a plain class-folder copy of train none.
  EXPECT_EQ(run(audit, "audit", {"--data", dir + "/set", "--strict"}).code, 1);
  EXPECT_EQ(run(audit, "audit", {"--data", dir + "/set/train", "--strict"}).code, 0);

  Result missing = run(audit, "audit", {"--data", dir + "/nope"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.error.find("does not exist"), std::string::npos) << missing.error;
  EXPECT_EQ(run(audit, "audit", {}).code, 2);
  EXPECT_EQ(run(audit, "audit", {"--data", dir + "/set", "--format", "xml"}).code, 2);
  EXPECT_EQ(run(audit, "audit", {"--data", dir + "/set", "--near-threshold", "16"}).code, 2);
}

}  // namespace
}  // namespace alz::cli
