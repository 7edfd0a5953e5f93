// Images that eval and predict could not read (cli/unreadable.h).
#include "cli/unreadable.h"

#include <cstdio>

namespace alz::cli {

data::SkippedFile unreadable(const std::string& path, const std::string& message) {
  const std::string prefix = path + ": ";
  return {path, message.rfind(prefix, 0) == 0 ? message.substr(prefix.size()) : message};
}

nlohmann::json unreadable_json(const std::vector<data::SkippedFile>& skipped) {
  nlohmann::json out = nlohmann::json::array();
  for (const data::SkippedFile& file : skipped) out.push_back({{"path", file.path}, {"reason", file.reason}});
  return out;
}

int report_unreadable(const char* command, const std::vector<data::SkippedFile>& skipped, size_t total, bool strict) {
  if (skipped.empty()) return 0;
  std::fflush(stdout);
  std::fprintf(stderr, "alz %s: skipped %zu of %zu images that could not be read%s:\n", command, skipped.size(), total,
               strict ? " (--strict: exit status 1)" : "");
  for (const data::SkippedFile& file : skipped)
    std::fprintf(stderr, "  %s: %s\n", file.path.c_str(), file.reason.c_str());
  return skipped.size() == total || strict ? 1 : 0;
}

}  // namespace alz::cli
