// `alz audit`: what a dataset folder holds and how it could mislead an evaluation: layout,
// counts per split and class, image sizes, unreadable files, exact and near-duplicates within
// and across splits, augmented copies across splits with the transform that matched, small or
// imbalanced classes, and leak warnings (data/audit.h).
//   alz audit --data DIR [--format text|json] [--near-threshold T] [--detail-threshold D]
//             [--copy-detail C] [--no-copies] [--min-class-images N] [--min-val-images N]
//             [--max-imbalance R] [--examples N] [--strict]
// Exit status: 0 (also with warnings, unless --strict), 1 for a missing or unusable folder or
// when --strict and any warning was raised, 2 for bad flags. Tested in tests/test_cli_data.cpp.
#include "data/audit.h"

#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/cli.h"
#include "cli/usage.h"

namespace alz::cli {

int audit(int argc, char** argv) {
  CLI::App app{"Audit a dataset: layout, counts, image sizes, unreadable files, duplicates, leakage", "alz audit"};
  use_conventions(app);
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
  bool no_copies = false;
  app.add_option("--copy-detail", options.copies.min_detail,
                 "high-pass correlation after registration that an augmented copy must reach")
      ->check(CLI::Range(-1.0, 1.0))
      ->capture_default_str();
  app.add_flag("--no-copies", no_copies, "skip the augmented-copy search across splits");
  app.add_option("--min-class-images", options.balance.min_images, "warn on a class with fewer images in all")
      ->check(CLI::Range(int64_t(0), int64_t(1) << 40))
      ->capture_default_str();
  app.add_option("--min-val-images", options.balance.min_validation_images,
                 "warn on a class with fewer images in an evaluation split")
      ->check(CLI::Range(int64_t(0), int64_t(1) << 40))
      ->capture_default_str();
  app.add_option("--max-imbalance", options.balance.max_imbalance,
                 "warn when the largest training class has this many times the images of the smallest")
      ->check(CLI::Range(1.0, 1e12))
      ->capture_default_str();
  app.add_option("--examples", options.max_examples, "examples listed per finding")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  app.add_flag("--strict", strict, "exit with status 1 when any warning is raised");
  if (std::optional<int> code = parse_command_line(app, argc, argv)) return *code;
  options.find_copies = !no_copies;
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
