// The run folder guards the work in it (train/trainer.h, train/run_state.h), checked on the real
// `alz` program: a new run never replaces a folder's run (state.json or a checkpoint, also in a
// committed .saving/) without --overwrite, and changes nothing when it refuses; --overwrite clears
// only the run's own files; a folder left before the first saved epoch is reused; resuming a
// complete run says so and how to extend it, and a larger --epochs extends it.
// Run: cmake --build build -j2 --target test_cli_run_folder alz_cli && ctest --test-dir build -R CliRunFolder
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "data/phantom.h"
#include "support/compare.h"
#include "support/run_program.h"

namespace alz {
namespace {

namespace fs = std::filesystem;

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

size_t line_count(const std::string& text) { return std::count(text.begin(), text.end(), '\n'); }

class CliRunFolder : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = test::fresh_temp_dir("cli_run_folder");
    data::PhantomSpec spec;
    spec.out_dir = root_ + "/phantom";
    spec.counts = {8, 6, 10, 8};
    spec.height = 40;
    spec.width = 40;
    spec.seed = 5;
    spec.val_fraction = 0.25;
    data::write_phantom_dataset(spec);
    test::ProgramResult r = train(root_ + "/run", {});
    setup_code_ = r.code;
    setup_error_ = r.err;
  }
  void SetUp() override { ASSERT_EQ(setup_code_, 0) << "alz train in the suite set-up: " << setup_error_; }

  // `alz train` of a tiny model for one epoch into `run_dir`, with `extra` flags.
  static test::ProgramResult train(const std::string& run_dir, std::vector<std::string> extra) {
    std::vector<std::string> args = {"train",
                                     "--data",
                                     root_ + "/phantom/manifest.csv",
                                     "--model",
                                     "resnetv2-tiny",
                                     "--device",
                                     "cpu",
                                     "--epochs",
                                     "1",
                                     "--batch",
                                     "8",
                                     "--input-size",
                                     "32",
                                     "--workers",
                                     "2",
                                     "--run-dir",
                                     run_dir,
                                     "--quiet"};
    args.insert(args.end(), extra.begin(), extra.end());
    return test::run_program(ALZ_CLI_BINARY, args);
  }

  // A copy of the suite's finished run, to change.
  static std::string copy_of_run(const std::string& name) {
    const std::string dir = root_ + "/" + name;
    fs::remove_all(dir);
    fs::copy(root_ + "/run", dir, fs::copy_options::recursive);
    return dir;
  }

  static std::string root_, setup_error_;
  static int setup_code_;
};
std::string CliRunFolder::root_, CliRunFolder::setup_error_;
int CliRunFolder::setup_code_ = -1;

TEST_F(CliRunFolder, ExistingRunIsNotOverwrittenWithoutOverwrite) {
  const std::string dir = copy_of_run("kept");
  std::map<std::string, std::string> before;
  for (const auto& entry : fs::directory_iterator(dir))
    before[entry.path().filename().string()] = read_text(entry.path());
  test::ProgramResult r = train(dir, {"--seed", "9"});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_EQ(line_count(r.err), 1u) << r.err;
  EXPECT_TRUE(has(r.err, dir + " already holds a training run")) << r.err;
  EXPECT_TRUE(has(r.err, "--resume " + dir)) << r.err;
  EXPECT_TRUE(has(r.err, "--overwrite")) << r.err;
  EXPECT_TRUE(has(r.err, "nothing was changed")) << r.err;
  std::map<std::string, std::string> after;
  for (const auto& entry : fs::directory_iterator(dir))
    after[entry.path().filename().string()] = read_text(entry.path());
  EXPECT_EQ(after, before) << "a refused run changed the folder";
}

TEST_F(CliRunFolder, OverwriteStartsANewRunAndKeepsOtherFiles) {
  const std::string dir = copy_of_run("overwritten");
  write_text(dir + "/notes.txt", "my notes\n");
  test::ProgramResult r = train(dir, {"--seed", "9", "--overwrite"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(read_text(dir + "/notes.txt"), "my notes\n");
  nlohmann::json config = nlohmann::json::parse(read_text(dir + "/config.json"));
  EXPECT_EQ(config["seed"], 9);
  nlohmann::json state = nlohmann::json::parse(read_text(dir + "/state.json"));
  EXPECT_EQ(state["history"].size(), 1u) << "the old run's history was kept";
  EXPECT_EQ(line_count(read_text(dir + "/metrics.jsonl")), 1u);
}

TEST_F(CliRunFolder, FolderWithACheckpointAloneIsProtected) {
  const std::string dir = root_ + "/checkpoint_only";
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::copy_file(root_ + "/run/best.safetensors", dir + "/best.safetensors");
  const std::string bytes = read_text(dir + "/best.safetensors");
  test::ProgramResult r = train(dir, {});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_TRUE(has(r.err, "cannot be resumed")) << r.err;
  EXPECT_TRUE(has(r.err, "--overwrite")) << r.err;
  EXPECT_EQ(read_text(dir + "/best.safetensors"), bytes);
  EXPECT_FALSE(fs::exists(dir + "/config.json"));
}

TEST_F(CliRunFolder, CommittedSaveInStagingCountsAsARun) {
  const std::string dir = root_ + "/staged";
  fs::remove_all(dir);
  fs::create_directories(dir + "/.saving");
  for (const char* name : {"state.json", "last.safetensors", "optimizer.safetensors"})
    fs::copy_file(root_ + "/run/" + name, dir + "/.saving/" + name);
  write_text(dir + "/.saving/complete", "");
  test::ProgramResult r = train(dir, {});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_TRUE(has(r.err, "already holds a training run")) << r.err;
  EXPECT_TRUE(has(r.err, ".saving/state.json")) << r.err;
}

TEST_F(CliRunFolder, FolderLeftBeforeTheFirstSavedEpochIsReused) {
  const std::string dir = root_ + "/killed_early";
  fs::remove_all(dir);
  write_text(dir + "/config.json", "{}\n");
  test::ProgramResult r = train(dir, {});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir + "/state.json"));
}

TEST_F(CliRunFolder, ResumeOfACompleteRunSaysSoAndHowToExtendIt) {
  const std::string dir = copy_of_run("complete");
  const std::string state = read_text(dir + "/state.json");
  test::ProgramResult r = test::run_program(ALZ_CLI_BINARY, {"train", "--resume", dir, "--workers", "2"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, dir + " is complete: 1 of 1 epochs done")) << r.out;
  EXPECT_TRUE(has(r.out, "alz train --resume " + dir + " --epochs N")) << r.out;
  EXPECT_EQ(read_text(dir + "/state.json"), state);
}

TEST_F(CliRunFolder, LargerEpochsExtendsACompleteRun) {
  const std::string dir = copy_of_run("extended");
  test::ProgramResult r =
      test::run_program(ALZ_CLI_BINARY, {"train", "--resume", dir, "--epochs", "2", "--workers", "2"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "extending " + dir + " from 1 to 2 epochs")) << r.out;
  nlohmann::json state = nlohmann::json::parse(read_text(dir + "/state.json"));
  EXPECT_EQ(state["epoch"], 2);
  EXPECT_EQ(state["history"].size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(read_text(dir + "/config.json"))["epochs"], 2);
}

TEST_F(CliRunFolder, RunDirThatIsAFileIsAnError) {
  const std::string file = root_ + "/a_file";
  write_text(file, "not a folder\n");
  test::ProgramResult r = train(file, {});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_TRUE(has(r.err, "exists and is not a folder")) << r.err;
  EXPECT_EQ(read_text(file), "not a folder\n");
}

TEST_F(CliRunFolder, ResumeOfAFolderWithoutARunSaysWhy) {
  test::ProgramResult r = test::run_program(ALZ_CLI_BINARY, {"train", "--resume", root_ + "/nowhere"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(line_count(r.err), 1u) << r.err;
  EXPECT_TRUE(has(r.err, "there is no folder " + root_ + "/nowhere")) << r.err;
  const std::string dir = root_ + "/never_saved";
  fs::remove_all(dir);
  write_text(dir + "/config.json", "{}\n");
  r = test::run_program(ALZ_CLI_BINARY, {"train", "--resume", dir});
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(has(r.err, "its run stopped before the end of its first epoch")) << r.err;
}

}  // namespace
}  // namespace alz
