// `alz audit`: what a dataset folder holds and how it could mislead an evaluation: layout,
// counts per split and class, image sizes, unreadable files, exact and near-duplicates within
// and across splits, and leak warnings (data/audit.h).
//   alz audit --data DIR [--format text|json] [--near-threshold T] [--detail-threshold D]
//             [--examples N] [--strict]
// Exit status: 0 (also with warnings, unless --strict), 1 for a missing or unusable folder or
// when --strict and any warning was raised, 2 for bad flags. Tested in tests/test_cli_data.cpp.
#include "data/audit.h"

#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/cli.h"

namespace alz::cli {

int audit(int argc, char** argv) {
  CLI::App app{"Audit a dataset: layout, counts, image sizes, unreadable files, duplicates, leakage", "alz audit"};
  std::string root, format = "text";
  data::AuditOptions options;
  bool strict = false;
  app.add_option("--data", root, "dataset folder (any layout alz knows) or manifest CSV")->required();
  app.add_option("--format", format, "output format")->check(CLI::IsMember({"text", "json"}))->capture_default_str();
  app.add_option("--near-threshold", options.near_threshold, "pHash Hamming distance counted as a near-duplicate")
      ->check(CLI::Range(0, data::kMaxNearThreshold))
      ->capture_default_str();
  app.add_option("--detail-threshold", options.detail_threshold,
                 "256-bit detail-hash distance a near-duplicate must also be within")
      ->check(CLI::Range(0, 256))
      ->capture_default_str();
  app.add_option("--examples", options.max_examples, "examples listed per finding")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  app.add_flag("--strict", strict, "exit with status 1 when any warning is raised");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    int code = app.exit(error);
    return code == 0 ? 0 : 2;
  }
  data::AuditReport report = data::audit_dataset(root, options);
  std::string text = format == "json" ? data::format_audit_json(report) + "\n" : data::format_audit_text(report);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
  if (strict && !report.warnings.empty()) {
    std::fprintf(stderr, "alz audit: %zu warning(s) raised and --strict given\n", report.warnings.size());
    return 1;
  }
  return 0;
}

}  // namespace alz::cli
