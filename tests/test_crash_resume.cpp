// Crash safety of `alz train`, tested by killing the real program: a tiny model trains on a
// small phantom set while it is killed with SIGKILL, either after a random delay or at a random
// fault point inside a file write (ALZ_FAULT_KILL_AT, core/atomic_file.h: a write, just before
// or after a rename, around an appended line), then `alz train --resume` goes on, killed again,
// and so on until the run finishes. Every resume must succeed, or, when the run was killed
// before its first saved state, say that the folder holds no run state (then the run starts
// afresh); at the end the weights must equal an uninterrupted run's bit for bit, metrics.jsonl
// must hold each epoch once, and no temp file or staging folder may be left. A full disk (a
// small tmpfs) must give a clear error and keep the previous checkpoint whole.
//
//   ctest --test-dir build -R CrashResume                        (CI: 24 kills)
//   ALZ_CRASH_KILLS=100 build/tests/test_crash_resume            (the long run)
#include <fcntl.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "data/phantom.h"
#include "support/compare.h"
#include "tensor/safetensors.h"
#include "train/report.h"

extern char** environ;

namespace alz {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int kEpochs = 3;

struct Outcome {
  bool killed = false;  // ended by SIGKILL
  int code = -1;        // exit code otherwise
  std::string output;   // stdout and stderr
};

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Runs the alz program with `args`, extra environment entries, and a SIGKILL after
// `kill_after_ms` (< 0: never).
Outcome run_alz(const std::vector<std::string>& args, const std::vector<std::string>& extra_env, int kill_after_ms,
                const std::string& log) {
  std::vector<std::string> argv_text = {ALZ_CLI_BINARY};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_text) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_text;
  for (char** e = environ; *e; ++e) env_text.emplace_back(*e);
  env_text.insert(env_text.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> envp;
  for (std::string& e : env_text) envp.push_back(e.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = -1;
  const int spawned = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  Outcome outcome;
  if (spawned != 0) {
    outcome.output = std::string("cannot start ") + argv[0];
    return outcome;
  }
  const auto start = Clock::now();
  int status = 0;
  for (;;) {
    const pid_t done = waitpid(pid, &status, kill_after_ms < 0 ? 0 : WNOHANG);
    if (done == pid) break;
    if (kill_after_ms >= 0 && Clock::now() - start >= std::chrono::milliseconds(kill_after_ms)) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  outcome.killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  outcome.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  outcome.output = read_text(log);
  return outcome;
}

class CrashResume : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = test::fresh_temp_dir("crash_resume");
    data::PhantomSpec spec;
    spec.out_dir = root_ + "/phantom";
    spec.counts = {10, 6, 14, 10};
    spec.height = 40;
    spec.width = 36;
    spec.seed = 11;
    spec.val_fraction = 0.25;
    data::write_phantom_dataset(spec);
    const auto start = Clock::now();
    reference_ = run_alz(train_args(root_ + "/reference"), {"ALZ_FAULT_KILL_AT=count"}, -1, root_ + "/reference.log");
    reference_ms_ = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  }

  static std::vector<std::string> train_args(const std::string& run_dir) {
    return {"train",
            "--data",
            root_ + "/phantom/manifest.csv",
            "--model",
            "resnetv2-tiny",
            "--device",
            "cpu",
            "--epochs",
            std::to_string(kEpochs),
            "--batch",
            "8",
            "--input-size",
            "32",
            "--workers",
            "1",
            "--seed",
            "5",
            "--class-weights",
            "auto",
            "--run-dir",
            run_dir,
            "--quiet"};
  }

  void SetUp() override {
    ASSERT_EQ(reference_.code, 0) << reference_.output;
    std::smatch match;
    ASSERT_TRUE(std::regex_search(reference_.output, match, std::regex("alz fault points: ([0-9]+)")))
        << reference_.output;
    fault_points_ = std::stol(match[1]);
    ASSERT_GT(fault_points_, 20);
  }

  // The finished run in `run_dir` equals the uninterrupted reference.
  static void expect_same_as_reference(const std::string& run_dir) {
    SafetensorsFile got = load_safetensors(run_dir + "/last.safetensors");
    SafetensorsFile want = load_safetensors(root_ + "/reference/last.safetensors");
    ASSERT_EQ(got.names(), want.names());
    for (size_t i = 0; i < want.tensors.size(); ++i)
      ASSERT_TRUE(test::bitwise_equal(got.tensors[i].tensor, want.tensors[i].tensor)) << want.tensors[i].name;
    EXPECT_TRUE(test::bitwise_equal(load_safetensors(run_dir + "/best.safetensors").tensors.front().tensor,
                                    load_safetensors(root_ + "/reference/best.safetensors").tensors.front().tensor));
    const auto got_log = train::read_jsonl(run_dir + "/metrics.jsonl");
    const auto want_log = train::read_jsonl(root_ + "/reference/metrics.jsonl");
    ASSERT_EQ(got_log.size(), want_log.size()) << "each epoch logged once";
    for (size_t e = 0; e < want_log.size(); ++e)
      for (const char* key : {"epoch", "train_loss", "val_loss", "val_macro_f1"})
        EXPECT_EQ(got_log[e].at(key), want_log[e].at(key)) << "epoch " << e + 1 << " " << key;
    EXPECT_FALSE(fs::exists(run_dir + "/.saving"));
    for (const auto& entry : fs::directory_iterator(run_dir))
      EXPECT_EQ(entry.path().filename().string().find(".tmp."), std::string::npos) << entry.path();
  }

  // One run in `run_dir`, SIGKILLed at every attempt (half of the kills after a random delay
  // within the run's length, half at a random fault point) and resumed after each, until an
  // attempt outlives its kill and the run finishes. Returns the number of kills.
  static int train_through_kills(const std::string& run_dir, std::mt19937_64& rng) {
    const std::string log = run_dir + ".log";
    int killed = 0, attempts = 0;
    bool fresh = true;
    for (;;) {
      if (++attempts > 200) {
        ADD_FAILURE() << run_dir << ": the run does not finish";
        return killed;
      }
      std::vector<std::string> args =
          fresh ? train_args(run_dir) : std::vector<std::string>{"train", "--resume", run_dir, "--quiet"};
      std::vector<std::string> env;
      int delay = -1;
      if (rng() % 2 == 0)
        delay = static_cast<int>(rng() % static_cast<uint64_t>(reference_ms_ + 1));
      else
        env.push_back("ALZ_FAULT_KILL_AT=" + std::to_string(1 + rng() % fault_points_));
      Outcome outcome = run_alz(args, env, delay, log);
      if (outcome.killed) {
        ++killed;
        fresh = fresh && !fs::exists(run_dir + "/state.json") && !fs::exists(run_dir + "/.saving");
        continue;
      }
      if (outcome.code == 0) break;
      // The only acceptable failure: killed before the first state was saved. The message says
      // so, and the run starts afresh.
      EXPECT_FALSE(fresh) << "a fresh run failed: " << outcome.output;
      EXPECT_FALSE(fs::exists(run_dir + "/state.json")) << outcome.output;
      EXPECT_NE(outcome.output.find("state.json: cannot read the run state"), std::string::npos) << outcome.output;
      if (fresh) return killed;
      fresh = true;
    }
    expect_same_as_reference(run_dir);
    return killed;
  }

  static std::string root_;
  static Outcome reference_;
  static long reference_ms_;  // how long an uninterrupted run takes, start-up included
  static long fault_points_;
};
std::string CrashResume::root_;
Outcome CrashResume::reference_;
long CrashResume::reference_ms_ = 0;
long CrashResume::fault_points_ = 0;

TEST_F(CrashResume, KilledAtEveryKindOfMomentTheRunStillEndsAsAnUninterruptedOne) {
  const char* text = std::getenv("ALZ_CRASH_KILLS");
  const int wanted = text ? std::atoi(text) : 24;
  std::mt19937_64 rng(2024);
  int kills = 0, runs = 0;
  while (kills < wanted && !HasFailure())
    kills += train_through_kills(root_ + "/killed_" + std::to_string(runs++), rng);
  std::printf("%d SIGKILLs over %d runs (each resumed to the end and equal to the uninterrupted run)\n", kills, runs);
}

// Each rename point of a save (the commit of every file, the staging marker, the moves into
// place) is where a torn state would show: kill exactly there, at every point of the first
// save of the run.
TEST_F(CrashResume, KilledAroundEveryRenameOfTheFirstSave) {
  // Points of a fresh run before the end of epoch 1's save: count them with a 1-epoch run.
  const std::string counted = root_ + "/one_epoch";
  std::vector<std::string> args = train_args(counted);
  args[8] = "1";  // --epochs 1
  Outcome one = run_alz(args, {"ALZ_FAULT_KILL_AT=count"}, -1, counted + ".log");
  ASSERT_EQ(one.code, 0) << one.output;
  std::smatch match;
  ASSERT_TRUE(std::regex_search(one.output, match, std::regex("alz fault points: ([0-9]+)")));
  const long points = std::stol(match[1]);
  const long step = std::max<long>(1, points / 12);
  for (long at = points; at > 0; at -= step) {
    SCOPED_TRACE(testing::Message() << "killed at fault point " << at << " of " << points);
    const std::string run_dir = root_ + "/at_" + std::to_string(at);
    Outcome killed = run_alz(train_args(run_dir), {"ALZ_FAULT_KILL_AT=" + std::to_string(at)}, -1, run_dir + ".log");
    ASSERT_TRUE(killed.killed) << killed.output;
    Outcome resumed = run_alz({"train", "--resume", run_dir, "--quiet"}, {}, -1, run_dir + ".log");
    if (resumed.code != 0) {
      ASSERT_NE(resumed.output.find("state.json: cannot read the run state"), std::string::npos) << resumed.output;
      ASSERT_EQ(run_alz(train_args(run_dir), {}, -1, run_dir + ".log").code, 0);
    }
    expect_same_as_reference(run_dir);
  }
}

// A full disk: the run stops with a message naming the file and the reason, the last good
// state stays whole and resumable, and with room again the run finishes as if never stopped.
TEST_F(CrashResume, AFullDiskStopsCleanlyAndKeepsThePreviousCheckpoint) {
  const std::string mount_point = root_ + "/small_disk";
  fs::create_directories(mount_point);
  // Room for one saved state and its report, not for the next save beside it.
  uintmax_t one_state = 0;
  for (const auto& entry : fs::recursive_directory_iterator(root_ + "/reference"))
    if (entry.is_regular_file()) one_state += entry.file_size();
  const std::string options = "size=" + std::to_string(one_state + one_state / 3);
  if (mount("tmpfs", mount_point.c_str(), "tmpfs", 0, options.c_str()) != 0)
    GTEST_SKIP() << "cannot mount a small tmpfs here (" << std::strerror(errno) << "); needs root";
  struct Unmount {
    std::string path;
    ~Unmount() { umount(path.c_str()); }
  } unmount{mount_point};
  const std::string run_dir = mount_point + "/run";
  Outcome full = run_alz(train_args(run_dir), {}, -1, root_ + "/full_disk.log");
  ASSERT_EQ(full.code, 1) << full.output;
  EXPECT_NE(full.output.find("No space left on device"), std::string::npos) << full.output;
  EXPECT_NE(full.output.find(run_dir), std::string::npos) << full.output;
  ASSERT_TRUE(fs::exists(run_dir + "/state.json")) << "the first epoch's state fits";
  EXPECT_NO_THROW(load_safetensors(run_dir + "/last.safetensors"));
  // Room again: the run resumes and ends as the uninterrupted one.
  ASSERT_EQ(mount(nullptr, mount_point.c_str(), nullptr, MS_REMOUNT, "size=64m"), 0) << std::strerror(errno);
  Outcome resumed = run_alz({"train", "--resume", run_dir, "--quiet"}, {}, -1, root_ + "/full_disk.log");
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  expect_same_as_reference(run_dir);
}

}  // namespace
}  // namespace alz
