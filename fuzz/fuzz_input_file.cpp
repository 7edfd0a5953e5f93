// The per-process temp file a fuzz target's input is written to (fuzz/fuzz_target.h).
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>

#include "fuzz/fuzz_target.h"

namespace alz::fuzz {

const std::string& write_input_file(const uint8_t* data, size_t size, const char* suffix) {
  static std::map<std::string, std::string> paths;  // one file per suffix
  std::string& path = paths[suffix];
  if (path.empty()) {
    const std::filesystem::path folder =
        std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
    path = (folder / ("alz_fuzz_" + std::to_string(::getpid()) + suffix)).string();
  }
  FILE* file = std::fopen(path.c_str(), "wb");
  if (!file) ALZ_FAIL("fuzz: cannot write the input file " << path);
  if (size > 0 && std::fwrite(data, 1, size, file) != size) ALZ_FAIL("fuzz: cannot write the input file " << path);
  std::fclose(file);
  return path;
}

}  // namespace alz::fuzz
