// Images that `alz eval` and `alz predict` could not read: skipped the way `alz train` skips
// them (data/dataset.h), listed at the end of the output (text: on stderr; JSON: "skipped"),
// and the exit code: 0 when some images were read, 1 when none could be or, with --strict, when
// any was skipped. Tested in tests/test_cli_train.cpp (CliTrain.*Unreadable*).
#pragma once
#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace alz::cli {

// The reason of an alz::Error about `path`: its message without a leading "<path>: ".
data::SkippedFile unreadable(const std::string& path, const std::string& message);

// [{"path": ..., "reason": ...}, ...]
nlohmann::json unreadable_json(const std::vector<data::SkippedFile>& skipped);

// Prints "alz <command>: skipped N of M images that could not be read:" and one line per file
// (on stderr; nothing when none was skipped) and returns the exit code described above.
int report_unreadable(const char* command, const std::vector<data::SkippedFile>& skipped, size_t total, bool strict);

}  // namespace alz::cli
