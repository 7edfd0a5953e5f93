// The layer order of the code, enforced: every source and header of the library is read and
// each `#include "<folder>/..."` is checked against the table below; a few third-party headers
// are checked against the layers that own them; the public headers of optim/ must not show
// CUDA types or kernel structs. CMake builds one library per layer (CMakeLists.txt), so the
// table here and the link lines there say the same thing.
//
//   core <- kernels <- tensor <- nn (layers/ + models/) ; data ; optim ; dist ; train ; cli
//
// A failure names the file, the line and the include. Run: ctest --test-dir build -R Layering
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "support/compare.h"

namespace alz {
namespace {

namespace fs = std::filesystem;

// Folder of the source tree -> its layer.
const std::map<std::string, std::string> kLayerOfFolder = {
    {"core", "core"}, {"kernels", "kernels"}, {"tensor", "tensor"}, {"layers", "nn"},   {"models", "nn"},
    {"data", "data"}, {"optim", "optim"},     {"dist", "dist"},     {"train", "train"}, {"cli", "cli"},
};

// Layer -> the layers it may include (itself always).
const std::map<std::string, std::set<std::string>> kAllowed = {
    {"core", {}},
    {"kernels", {"core"}},
    {"tensor", {"core", "kernels"}},
    {"nn", {"core", "kernels", "tensor"}},
    {"data", {"core", "tensor"}},
    {"optim", {"core", "kernels", "tensor", "nn"}},
    {"dist", {"core", "kernels", "tensor", "nn"}},
    {"train", {"core", "kernels", "tensor", "nn", "data", "optim", "dist"}},
    {"cli", {"core", "kernels", "tensor", "nn", "data", "optim", "dist", "train"}},
};

// Third-party headers (a prefix of the <...> include) -> the only layers that may include them.
const std::vector<std::pair<std::string, std::set<std::string>>> kOwnedHeaders = {
    {"CLI/", {"cli"}},        // command-line parsing
    {"stb_", {"data"}},       // image decoding and encoding
    {"turbojpeg", {"data"}},  // JPEG decoding
    {"hdf5", {"nn"}},         // Keras files
    {"H5", {"nn"}},
    {"zip.h", {"nn"}},
    {"onnx/", {"nn"}},
    {"google/protobuf", {"nn"}},
    {"cblas", {"kernels"}},                    // CPU GEMM
    {"mpi.h", {"dist"}},                       // MPI: the data-parallel communicator
    {"nccl", {"dist"}},                        // NCCL: the GPU all-reduce
    {"cudnn", {"core", "kernels", "tensor"}},  // cuDNN: the kernels and the per-device context
};

struct Violation {
  std::string file;
  int line;
  std::string text;
  std::string reason;
};

std::string layer_of(const std::string& relative_path) {
  const std::string top = relative_path.substr(0, relative_path.find('/'));
  auto it = kLayerOfFolder.find(top);
  return it == kLayerOfFolder.end() ? "" : it->second;
}

bool is_source(const fs::path& path) {
  const std::string ext = path.extension().string();
  return ext == ".h" || ext == ".cpp" || ext == ".cu" || ext == ".cuh";
}

// optim/<name>.h; its sub-folders (cuda/, detail/) are internal.
bool is_public_optim_header(const std::string& relative) {
  return relative.rfind("optim/", 0) == 0 && relative.find('/', 6) == std::string::npos &&
         fs::path(relative).extension() == ".h";
}

// Every violation in the library folders under `root`.
std::vector<Violation> find_violations(const fs::path& root) {
  static const std::regex quoted(R"re(^\s*#\s*include\s*"([a-z_]+)/[^"]*")re");
  static const std::regex angled(R"re(^\s*#\s*include\s*<([^>]+)>)re");
  std::vector<Violation> found;
  for (const auto& [folder, layer] : kLayerOfFolder) {
    if (!fs::exists(root / folder)) continue;
    for (const auto& entry : fs::recursive_directory_iterator(root / folder)) {
      if (!entry.is_regular_file() || !is_source(entry.path())) continue;
      const std::string relative = fs::relative(entry.path(), root).generic_string();
      std::ifstream in(entry.path());
      std::string text;
      for (int line = 1; std::getline(in, text); ++line) {
        std::smatch match;
        if (std::regex_search(text, match, quoted)) {
          const std::string target = layer_of(match[1].str() + "/");
          if (target.empty() || target == layer) continue;
          if (!kAllowed.at(layer).count(target))
            found.push_back({relative, line, text, layer + " may not include " + target});
        } else if (std::regex_search(text, match, angled)) {
          const std::string header = match[1].str();
          for (const auto& [prefix, owners] : kOwnedHeaders)
            if (header.rfind(prefix, 0) == 0 && !owners.count(layer))
              found.push_back({relative, line, text, "<" + prefix + "...> belongs to another layer"});
        }
        if (is_public_optim_header(relative)) {
          const bool kernel_include = std::regex_search(text, match, quoted) && match[1].str() == "kernels";
          if (kernel_include || text.find("cudaStream_t") != std::string::npos ||
              text.find("kernels::") != std::string::npos)
            found.push_back({relative, line, text, "optim's public headers hide CUDA and kernel structs"});
        }
      }
    }
  }
  return found;
}

std::string describe(const std::vector<Violation>& violations) {
  std::string out;
  for (const Violation& v : violations)
    out += v.file + ":" + std::to_string(v.line) + ": " + v.reason + ": " + v.text + "\n";
  return out;
}

TEST(Layering, EveryIncludeFollowsTheLayerTable) {
  const fs::path root = "..";  // tests run in the source tree's tests/ folder
  ASSERT_TRUE(fs::exists(root / "core" / "error.h")) << "not run from the source tree's tests/ folder";
  const std::vector<Violation> violations = find_violations(root);
  EXPECT_TRUE(violations.empty()) << violations.size() << " include(s) break the layer order:\n"
                                  << describe(violations);
}

// The checker itself catches an upward include, a third-party header in the wrong layer and a
// CUDA type in optim's public interface, and lets a lawful tree pass.
TEST(Layering, TheCheckerCatchesUpwardIncludes) {
  const fs::path root = test::fresh_temp_dir("layering");
  auto write = [&](const std::string& relative, const std::string& text) {
    fs::create_directories((root / relative).parent_path());
    std::ofstream(root / relative) << text;
  };
  write("core/error.h", "#pragma once\n#include <string>\n");
  write("kernels/relu.h", "#pragma once\n#include \"core/error.h\"\n");
  write("tensor/tensor.h", "#pragma once\n#include \"kernels/relu.h\"\n#include \"tensor/other.h\"\n");
  write("optim/optimizer.h", "#pragma once\n#include \"tensor/tensor.h\"\n");
  EXPECT_TRUE(find_violations(root).empty()) << describe(find_violations(root));

  write("kernels/relu.cpp", "#include \"kernels/relu.h\"\n#include \"tensor/tensor.h\"  // upward\n");
  write("data/image.cpp", "#include <CLI/CLI.hpp>\n");
  write("optim/optimizer.h", "#pragma once\n#include \"kernels/optimizer.h\"\nvoid f(cudaStream_t s);\n");
  const std::vector<Violation> violations = find_violations(root);
  ASSERT_EQ(violations.size(), 4u) << describe(violations);
  const std::string text = describe(violations);
  EXPECT_NE(text.find("kernels/relu.cpp:2: kernels may not include tensor"), std::string::npos) << text;
  EXPECT_NE(text.find("data/image.cpp:1: <CLI/...> belongs to another layer"), std::string::npos) << text;
  EXPECT_NE(text.find("optim/optimizer.h:2: optim's public headers hide CUDA"), std::string::npos) << text;
  EXPECT_NE(text.find("optim/optimizer.h:3: optim's public headers hide CUDA"), std::string::npos) << text;
}

}  // namespace
}  // namespace alz
