// `alz version` (also `alz --version`): what this program is and what it runs on: the version
// (CMake's project version), the git commit and build type it was built from, the CUDA, cuDNN
// and cuBLAS versions it was compiled against, the versions the libraries report at run time
// (when a GPU is found), and the GPUs found (or why none). The build facts come from
// alz_build_info.h, which cmake/build_info.cmake writes at every build.
//   alz --version
// Tested in tests/test_cli_usage.cpp.
#include <cstdio>
#include <string>

#include "alz_build_info.h"
#include "cli/cli.h"
#include "cli/usage.h"
#include "tensor/cuda_runtime.h"

namespace alz::cli {

std::string version_text() {
  std::string text = std::string("alz ") + ALZ_BUILD_VERSION + "\n";
  text += std::string("commit ") + ALZ_BUILD_COMMIT + "\n";
  text += std::string("build type ") + (ALZ_BUILD_TYPE[0] ? ALZ_BUILD_TYPE : "none") + "\n";
  const std::string built_with = ALZ_BUILT_WITH;
  text += "built with " + (built_with.empty() ? std::string("no CUDA (CPU only)") : built_with) + "\n";
  std::vector<cuda::DeviceProperties> devices = cuda::devices();
  if (devices.empty()) {
    text += "GPU: none (" + cuda::unavailable_reason() + ")\n";
    return text;
  }
  text += "running with " + cuda::library_versions() + "\n";
  for (const cuda::DeviceProperties& d : devices) {
    char line[256];
    std::snprintf(line, sizeof line, "GPU: cuda:%d %s, compute capability %d.%d, %.1f GiB\n", d.index, d.name.c_str(),
                  d.compute_major, d.compute_minor, static_cast<double>(d.total_memory) / (1 << 30));
    text += line;
  }
  return text;
}

int version(int argc, char** argv) {
  CLI::App app{"Print the version, the commit and build type, the CUDA libraries and the GPUs found", "alz version"};
  use_conventions(app);
  if (std::optional<int> code = parse_command_line(app, argc, argv)) return *code;
  std::fputs(version_text().c_str(), stdout);
  return 0;
}

}  // namespace alz::cli
