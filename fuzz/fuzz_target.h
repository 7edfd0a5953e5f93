// What every fuzz target of alz shares. A target is one file fuzz/<name>_fuzz.cpp defining
//   extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
// that hands the bytes to one of the project's readers through its own entry point. An
// alz::Error is the expected answer to bad input and is swallowed; any other exception, a
// crash, a sanitizer report or a runaway allocation is a bug the fuzzer reports.
//
// Two builds of every target (fuzz/CMakeLists.txt):
//   fuzz_<name>         libFuzzer + ASan + UBSan (clang, -DALZ_FUZZ=ON): tools/fuzz.sh runs
//                       each for a fixed time and keeps the findings
//   fuzz_<name>_replay  any compiler: replays the seed corpus and the kept regressions, then a
//                       few thousand deterministic mutations of the seeds (replay_main.cpp);
//                       ctest runs it in seconds: ctest --test-dir build -R Fuzz
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace alz::fuzz {

// The readers take paths: the input is written to one temp file per process (on /dev/shm when
// it exists), overwritten by each call. `suffix` is the file name's end (".csv", ...).
const std::string& write_input_file(const uint8_t* data, size_t size, const char* suffix);

// Runs `body`; an alz::Error (bad input, rejected cleanly) is the expected outcome.
template <typename Body> int run_expecting_clean_errors(Body&& body) {
  try {
    body();
  } catch (const ::alz::Error&) {
  }
  return 0;
}

}  // namespace alz::fuzz
