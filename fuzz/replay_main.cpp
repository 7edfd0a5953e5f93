// The driver of fuzz/<name>_replay programs (fuzz/fuzz_target.h): feeds a target every file of
// the given files and folders (its seed corpus and kept regressions), then deterministic
// mutants of them: bit flips, "interesting" bytes and integers (0, -1, 2^31-1, 2^63, ...),
// truncations, insertions, deletions, repeated chunks and JSON/CSV tokens, 1 to 4 per mutant.
// No coverage feedback (that is libFuzzer's job in the clang build); what it gives any build is
// a seconds-long sweep of every reader over broken inputs, so ctest catches a crash, an escaped
// non-alz exception or an assertion without a fuzzing toolchain.
//
//   build/fuzz/fuzz_safetensors_replay [--mutants N] [--seed S] [--max-seconds T] [--keep-last FILE] PATH...
//
// --keep-last writes each input to FILE before running it, so after a crash FILE holds the
// input that crashed (keep it under fuzz/regressions/<target>/ once fixed).
// Exit code 0 when every input was handled (an alz::Error is handled); a crash aborts.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz/fuzz_target.h"

namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

struct SplitMix64 {  // a small seeded generator: the same seed gives the same mutants everywhere
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  size_t below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(next() % n); }
};

Bytes read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<fs::path> collect(const std::vector<std::string>& roots) {
  std::vector<fs::path> files;
  for (const std::string& root : roots) {
    if (fs::is_regular_file(root)) {
      files.emplace_back(root);
    } else if (fs::is_directory(root)) {
      for (const auto& entry : fs::recursive_directory_iterator(root))
        if (entry.is_regular_file()) files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

void mutate_once(Bytes& b, SplitMix64& rng) {
  static const uint64_t kIntegers[] = {0,
                                       1,
                                       0x7F,
                                       0x80,
                                       0xFF,
                                       0x7FFF,
                                       0xFFFF,
                                       0x7FFFFFFF,
                                       0x80000000,
                                       0xFFFFFFFF,
                                       0x100000000ull,
                                       0x7FFFFFFFFFFFFFFFull,
                                       0x8000000000000000ull,
                                       ~0ull};
  static const char* kTokens[] = {"\"",
                                  ",",
                                  "\n",
                                  "[",
                                  "]",
                                  "{",
                                  "}",
                                  ":",
                                  "-1",
                                  "0",
                                  "1e308",
                                  "NaN",
                                  "99999999999999999999",
                                  "\"shape\":[4294967296]",
                                  "\\u0000",
                                  "\xEF\xBB\xBF"};
  switch (rng.below(8)) {
    case 0:  // flip a bit
      if (!b.empty()) b[rng.below(b.size())] ^= static_cast<uint8_t>(1u << rng.below(8));
      break;
    case 1:  // an interesting byte
      if (!b.empty()) b[rng.below(b.size())] = static_cast<uint8_t>(kIntegers[rng.below(5)]);
      break;
    case 2: {  // an interesting little-endian integer of 2, 4 or 8 bytes
      const size_t width = size_t{2} << rng.below(3);
      if (b.size() < width) break;
      const size_t at = rng.below(b.size() - width + 1);
      const uint64_t value = kIntegers[rng.below(std::size(kIntegers))];
      for (size_t i = 0; i < width; ++i) b[at + i] = static_cast<uint8_t>(value >> (8 * i));
      break;
    }
    case 3:  // truncate
      b.resize(rng.below(b.size() + 1));
      break;
    case 4: {  // insert random bytes
      const size_t at = rng.below(b.size() + 1), count = 1 + rng.below(16);
      Bytes noise(count);
      for (uint8_t& v : noise) v = static_cast<uint8_t>(rng.next());
      b.insert(b.begin() + static_cast<std::ptrdiff_t>(at), noise.begin(), noise.end());
      break;
    }
    case 5: {  // delete a range
      if (b.empty()) break;
      const size_t at = rng.below(b.size()), count = 1 + rng.below(std::min<size_t>(64, b.size() - at));
      b.erase(b.begin() + static_cast<std::ptrdiff_t>(at), b.begin() + static_cast<std::ptrdiff_t>(at + count));
      break;
    }
    case 6: {  // repeat a chunk
      if (b.empty() || b.size() > (1u << 20)) break;
      const size_t at = rng.below(b.size()), count = 1 + rng.below(std::min<size_t>(256, b.size() - at));
      Bytes chunk(b.begin() + static_cast<std::ptrdiff_t>(at), b.begin() + static_cast<std::ptrdiff_t>(at + count));
      b.insert(b.begin() + static_cast<std::ptrdiff_t>(rng.below(b.size() + 1)), chunk.begin(), chunk.end());
      break;
    }
    default: {  // a token of the text formats (JSON headers, CSV)
      const std::string token = kTokens[rng.below(std::size(kTokens))];
      b.insert(b.begin() + static_cast<std::ptrdiff_t>(rng.below(b.size() + 1)), token.begin(), token.end());
      break;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  long mutants = 200;
  uint64_t seed = 1;
  double max_seconds = 20.0;
  std::string keep_last;
  std::vector<std::string> roots;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--mutants" && i + 1 < argc)
      mutants = std::atol(argv[++i]);
    else if (arg == "--seed" && i + 1 < argc)
      seed = std::strtoull(argv[++i], nullptr, 10);
    else if (arg == "--max-seconds" && i + 1 < argc)
      max_seconds = std::atof(argv[++i]);
    else if (arg == "--keep-last" && i + 1 < argc)
      keep_last = argv[++i];
    else
      roots.push_back(arg);
  }
  const std::vector<fs::path> files = collect(roots);
  if (files.empty()) {
    std::fprintf(stderr, "%s: no input files under the given paths\n", argv[0]);
    return 2;
  }
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  auto run = [&](const Bytes& input) {
    if (!keep_last.empty())
      std::ofstream(keep_last, std::ios::binary)
          .write(reinterpret_cast<const char*>(input.data()), static_cast<std::streamsize>(input.size()));
    LLVMFuzzerTestOneInput(input.data(), input.size());
  };
  std::vector<Bytes> inputs;
  for (const fs::path& file : files) {
    inputs.push_back(read_file(file));
    run(inputs.back());
  }
  SplitMix64 rng{seed};
  long done = 0;
  for (; done < mutants * static_cast<long>(inputs.size()) && elapsed() < max_seconds; ++done) {
    Bytes mutant = inputs[static_cast<size_t>(done) % inputs.size()];
    for (size_t m = 0, count = 1 + rng.below(4); m < count; ++m) mutate_once(mutant, rng);
    run(mutant);
  }
  std::printf("%s: %zu inputs replayed, %ld mutants run in %.1f s, no crash\n", argv[0], files.size(), done, elapsed());
  return 0;
}
