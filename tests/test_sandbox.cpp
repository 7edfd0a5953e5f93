// Reading untrusted files in a child process (models/sandbox.h): a reader that crashes, loops,
// throws or succeeds, and the kept fuzz finding (a corrupt Keras .h5 on which HDF5's C library
// reads a wild address) through the real Keras entry point. Each failure is one alz::Error that
// names the file; the calling process survives.
// Run: ctest --test-dir build -R Sandbox
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>

#include "core/error.h"
#include "models/sandbox.h"
#include "models/weights_file.h"
#include "support/compare.h"

namespace alz {
namespace {

#define EXPECT_HAS(text, part) EXPECT_NE((text).find(part), std::string::npos) << (text)

const std::string kPath = "some/file.h5";  // only named in messages: the readers below ignore it

SafetensorsFile small_file() {
  SafetensorsFile file;
  file.tensors.push_back(
      {"layer/kernel", Tensor::from_vector(std::vector<float>{-1.0f, 0.25f, 3.5f, -7.0f, 1e-3f, 2e5f}, {2, 3})});
  file.metadata["format"] = "test";
  return file;
}

TEST(Sandbox, AResultComesBackWhole) {
  const SafetensorsFile file = read_in_child_process(kPath, "test", [](const std::string&) { return small_file(); });
  ASSERT_EQ(file.tensors.size(), 1u);
  EXPECT_EQ(file.tensors[0].name, "layer/kernel");
  EXPECT_TRUE(test::bitwise_equal(file.tensors[0].tensor, small_file().tensors[0].tensor));
  EXPECT_EQ(file.metadata.at("format"), "test");
  EXPECT_EQ(file.path, kPath);
}

TEST(Sandbox, AnErrorInTheChildIsRethrownUnchanged) {
  const std::string message = test::error_message([] {
    read_in_child_process(kPath, "test", [](const std::string& path) -> SafetensorsFile {
      ALZ_FAIL(path << ": dataset 'conv1/kernel' has 5 dimensions");
    });
  });
  EXPECT_EQ(message, kPath + ": dataset 'conv1/kernel' has 5 dimensions");
}

TEST(Sandbox, ACrashingLibraryBecomesAnErrorNamingTheFile) {
  const std::string message = test::error_message([] {
    read_in_child_process(kPath, "HDF5", [](const std::string&) -> SafetensorsFile {
      ::raise(SIGSEGV);
      return {};
    });
  });
  EXPECT_HAS(message, kPath + ": corrupt file: the HDF5 library crashed reading it (signal 11)");
}

TEST(Sandbox, ALoopingLibraryIsStoppedAtTheTimeLimit) {
  const std::string message = test::error_message([] {
    read_in_child_process(
        kPath, "HDF5",
        [](const std::string&) -> SafetensorsFile {
          for (;;) ::pause();
        },
        /*time_limit_seconds=*/1);
  });
  EXPECT_HAS(message, kPath + ": cannot read: the HDF5 library took more than 1 s on it");
}

TEST(Sandbox, TheTimeLimitComesFromTheEnvironment) {
  ::setenv("ALZ_READ_TIME_LIMIT", "7", 1);
  EXPECT_EQ(read_time_limit_seconds(), 7);
  ::setenv("ALZ_READ_TIME_LIMIT", "7s", 1);
  EXPECT_HAS(test::error_message([] { read_time_limit_seconds(); }), "ALZ_READ_TIME_LIMIT=7s: expected whole seconds");
  ::setenv("ALZ_READ_TIME_LIMIT", "0", 1);
  EXPECT_HAS(test::error_message([] { read_time_limit_seconds(); }), "ALZ_READ_TIME_LIMIT=0");
  ::unsetenv("ALZ_READ_TIME_LIMIT");
  EXPECT_EQ(read_time_limit_seconds(), 120);
}

// Found by fuzz/weights_file_fuzz.cpp: a legacy Keras .h5 with a damaged global heap, on which
// HDF5 1.10's H5Aread (reading the variable-length `layer_names` attribute) copies from a wild
// address and the process dies with SIGSEGV unless the read runs in a child.
TEST(Sandbox, TheKeptHdf5CrashInputIsAnError) {
  const std::string path = "../fuzz/regressions/weights_file/hdf5-global-heap-segv.h5";
  const std::string message = test::error_message([&] { read_weights_file(path); });
  EXPECT_HAS(message, path + ": ");
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

}  // namespace
}  // namespace alz
