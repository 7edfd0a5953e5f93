// The reliability table (docs/RELIABILITY.md) names real tests: every row's last column lists
// GoogleTest names (`Suite.Name`) that exist in tests/, or `Fuzz.<target>` replays of a target in
// fuzz/; the table has at least 40 rows.
// Run: ctest --test-dir build -R Docs
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

namespace alz {
namespace {

namespace fs = std::filesystem;

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// "Suite.Name" for every TEST(Suite, Name) and TEST_F(Suite, Name) in tests/ and tests/gpu/.
std::set<std::string> test_names() {
  std::set<std::string> names;
  static const std::regex test(R"(TEST(?:_F|_P)?\(\s*(\w+),\s*(\w+)\))");
  for (const char* folder : {".", "gpu", "dist"}) {
    for (const auto& entry : fs::directory_iterator(folder)) {
      const std::string file = entry.path().filename().string();
      if (file.rfind("test_", 0) != 0) continue;
      const std::string text = read_text(entry.path());
      for (std::sregex_iterator it(text.begin(), text.end(), test), end; it != end; ++it)
        names.insert((*it)[1].str() + "." + (*it)[2].str());
    }
  }
  // Tests that CMake registers itself (a script under mpirun, say): add_test(NAME Suite.Name ...).
  static const std::regex cmake_test(R"(add_test\(NAME (\w+)\.(\w+))");
  const std::string cmake = read_text("CMakeLists.txt");
  for (std::sregex_iterator it(cmake.begin(), cmake.end(), cmake_test), end; it != end; ++it)
    names.insert((*it)[1].str() + "." + (*it)[2].str());
  return names;
}

TEST(Docs, ReliabilityRowsNameTestsThatExist) {
  const std::string doc = read_text("../docs/RELIABILITY.md");
  ASSERT_FALSE(doc.empty()) << "docs/RELIABILITY.md not found (tests run from the source tree's tests/)";
  const std::set<std::string> names = test_names();
  ASSERT_GT(names.size(), 100u);
  static const std::regex row(R"(^\| *[0-9]+ *\|.*\|([^|]*)\| *$)");
  static const std::regex named("`([A-Za-z]\\w*)\\.(\\w+)`");
  int rows = 0;
  std::stringstream lines(doc);
  for (std::string line; std::getline(lines, line);) {
    std::smatch match;
    if (!std::regex_match(line, match, row)) continue;
    ++rows;
    const std::string tests = match[1].str();
    int found = 0;
    for (std::sregex_iterator it(tests.begin(), tests.end(), named), end; it != end; ++it, ++found) {
      const std::string suite = (*it)[1].str(), name = (*it)[2].str();
      if (suite == "Fuzz")
        EXPECT_TRUE(fs::exists("../fuzz/" + name + "_fuzz.cpp")) << "no fuzz target for Fuzz." << name;
      else
        EXPECT_TRUE(names.count(suite + "." + name)) << "no test " << suite << "." << name << " for: " << line;
    }
    EXPECT_GT(found, 0) << "a row without a test: " << line;
  }
  EXPECT_GE(rows, 40);
}

}  // namespace
}  // namespace alz
