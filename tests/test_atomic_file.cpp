// core/atomic_file.h: a file written through AtomicFile is either the old one or the new one,
// never a mix; failures name the file and leave no temp file behind; temp names never clash
// between threads. Run: ctest --test-dir build -R AtomicFile
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"
#include "support/compare.h"

namespace alz {
namespace {

namespace fs = std::filesystem;

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::vector<std::string> entries_of(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(AtomicFile, ReplacesTheTargetAndLeavesNoTempFile) {
  const std::string dir = test::fresh_temp_dir("atomic_replace");
  const std::string path = dir + "/a.txt";
  write_file_atomic(path, "first");
  write_file_atomic(path, "second, longer");
  EXPECT_EQ(read_text(path), "second, longer");
  write_file_atomic(path, "");
  EXPECT_EQ(read_text(path), "");
  EXPECT_EQ(entries_of(dir), std::vector<std::string>{"a.txt"});
}

TEST(AtomicFile, StreamsInPiecesAndCommitsOnce) {
  const std::string dir = test::fresh_temp_dir("atomic_stream");
  const std::string path = dir + "/b.bin";
  {
    AtomicFile out(path);
    out.write("abc");
    EXPECT_FALSE(fs::exists(path)) << "the target appears only at commit";
    EXPECT_TRUE(fs::exists(out.temp_path()));
    EXPECT_EQ(fs::path(out.temp_path()).parent_path(), fs::path(path).parent_path()) << "same folder: rename is atomic";
    const std::string big(3 << 20, 'x');
    out.write(big.data(), big.size());
    out.commit();
    EXPECT_THROW(out.write("late"), Error);
  }
  EXPECT_EQ(fs::file_size(path), 3u + (3u << 20));
  EXPECT_EQ(entries_of(dir), std::vector<std::string>{"b.bin"});
}

TEST(AtomicFile, AnAbandonedWriteKeepsTheOldFile) {
  const std::string dir = test::fresh_temp_dir("atomic_abandon");
  const std::string path = dir + "/c.txt";
  write_file_atomic(path, "old");
  try {
    AtomicFile out(path);
    out.write("half of the new cont");
    throw std::runtime_error("the writer failed half way");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(read_text(path), "old");
  EXPECT_EQ(entries_of(dir), std::vector<std::string>{"c.txt"});
}

TEST(AtomicFile, FailuresNameTheFileAndCleanUp) {
  const std::string dir = test::fresh_temp_dir("atomic_fail");
  const std::string missing = dir + "/no/such/folder/d.txt";
  const std::string message = test::error_message([&] { write_file_atomic(missing, "x"); });
  EXPECT_NE(message.find(missing), std::string::npos) << message;
  EXPECT_NE(message.find("cannot create"), std::string::npos) << message;
  fs::create_directories(dir + "/e.txt/occupied");  // a non-empty folder where the file should go: rename fails
  const std::string rename_message = test::error_message([&] { write_file_atomic(dir + "/e.txt", "x"); });
  EXPECT_NE(rename_message.find("e.txt"), std::string::npos) << rename_message;
  EXPECT_NE(rename_message.find("rename"), std::string::npos) << rename_message;
  EXPECT_EQ(entries_of(dir), std::vector<std::string>{"e.txt"});
}

TEST(AtomicFile, ThreadsWritingBesideEachOtherNeverShareATempFile) {
  const std::string dir = test::fresh_temp_dir("atomic_threads");
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) write_file_atomic(dir + "/shared.txt", "thread " + std::to_string(t));
    });
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(read_text(dir + "/shared.txt").rfind("thread ", 0), 0u);
  EXPECT_EQ(entries_of(dir), std::vector<std::string>{"shared.txt"});
}

TEST(AtomicFile, AppendLineDurableAddsWholeLines) {
  const std::string dir = test::fresh_temp_dir("atomic_append");
  const std::string path = dir + "/log.jsonl";
  append_line_durable(path, "{\"a\":1}");
  append_line_durable(path, "{\"b\":2}\n");
  EXPECT_EQ(read_text(path), "{\"a\":1}\n{\"b\":2}\n");
  EXPECT_NE(test::error_message([&] { append_line_durable(dir + "/no/log", "x"); }).find(dir + "/no/log"),
            std::string::npos);
}

}  // namespace
}  // namespace alz
