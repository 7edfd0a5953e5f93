// `alz synth`: writes phantom axial brain-MRI slices (data/phantom.h) in the Kaggle V2 layout,
// DIR/{train,val}/<class>/*.jpg plus DIR/manifest.csv (path,label,group), and optionally a
// contact sheet PNG (one row per class, NonDemented first, severity growing downwards).
//   alz synth --out DIR [--counts a,b,c,d | --per-class N] [--size 208x176] [--seed S]
//             [--val-fraction F] [--slices-per-subject K] [--quality Q] [--preview FILE.png]
// --counts are per class, train + val together, in class order MildDemented,
// ModerateDemented, NonDemented, VeryMildDemented (default 210,15,750,525: the real 896 / 64 /
// 3200 / 2240 scaled to 1,500 images). Tested in tests/test_cli_data.cpp.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <sstream>

#include "cli/cli.h"
#include "core/error.h"
#include "data/phantom.h"

namespace alz::cli {

namespace {

// "a,b,c,d" -> four non-negative counts.
std::array<int64_t, data::kPhantomClassCount> parse_counts(const std::string& text) {
  std::array<int64_t, data::kPhantomClassCount> counts{};
  std::stringstream stream(text);
  std::string item;
  size_t n = 0;
  while (std::getline(stream, item, ',')) {
    long long value = -1;
    char extra = 0;
    if (n >= counts.size() || std::sscanf(item.c_str(), "%lld%c", &value, &extra) != 1 || value < 0)
      throw CLI::ValidationError("--counts", "expected 4 non-negative integers a,b,c,d, got '" + text + "'");
    counts[n++] = value;
  }
  if (n != counts.size())
    throw CLI::ValidationError("--counts", "expected 4 non-negative integers a,b,c,d, got '" + text + "'");
  return counts;
}

void parse_size(const std::string& text, int& height, int& width) {
  char extra = 0;
  if (std::sscanf(text.c_str(), "%dx%d%c", &height, &width, &extra) != 2 || height < 16 || width < 16 ||
      height > 4096 || width > 4096)
    throw CLI::ValidationError("--size", "expected HxW with sides in 16..4096, got '" + text + "'");
}

}  // namespace

int synth(int argc, char** argv) {
  CLI::App app{"Write synthetic brain-MRI phantom slices in the Kaggle V2 layout", "alz synth"};
  data::PhantomSpec spec;
  std::string counts, size = "208x176", preview;
  int64_t per_class = 0;
  app.add_option("--out", spec.out_dir, "output folder (created; existing files are overwritten)")->required();
  auto* counts_option =
      app.add_option("--counts", counts,
                     "images per class (train + val), order MildDemented,ModerateDemented,NonDemented,"
                     "VeryMildDemented; default 210,15,750,525");
  app.add_option("--per-class", per_class, "the same number of images for every class")
      ->check(CLI::Range(int64_t{1}, int64_t{1000000}))
      ->excludes(counts_option);
  app.add_option("--size", size, "image size HxW")->capture_default_str();
  app.add_option("--seed", spec.seed, "random seed: the same seed gives the same bytes")->capture_default_str();
  app.add_option("--val-fraction", spec.val_fraction, "share of each class written to val/ (whole subjects)")
      ->check(CLI::Range(0.0, 0.95))
      ->capture_default_str();
  app.add_option("--slices-per-subject", spec.slices_per_subject, "slices of each phantom subject")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--quality", spec.jpeg_quality, "JPEG quality")->check(CLI::Range(1, 100))->capture_default_str();
  app.add_option("--preview", preview, "also write a contact sheet PNG: 6 slices per class, one row per class");
  try {
    app.parse(argc, argv);
    if (!counts.empty()) spec.counts = parse_counts(counts);
    if (per_class > 0) spec.counts.fill(per_class);
    parse_size(size, spec.height, spec.width);
  } catch (const CLI::ParseError& error) {
    int code = app.exit(error);
    return code == 0 ? 0 : 2;
  }

  auto start = std::chrono::steady_clock::now();
  std::vector<data::PhantomSample> plan = data::write_phantom_dataset(spec);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::array<std::array<int64_t, data::kPhantomClassCount>, 2> table{};  // [val?][class]
  for (const data::PhantomSample& sample : plan) ++table[sample.split == "val" ? 1 : 0][size_t(sample.label)];
  std::printf("wrote %zu phantom slices (%dx%d, seed %llu) to %s in %.2f s\n", plan.size(), spec.height, spec.width,
              static_cast<unsigned long long>(spec.seed), spec.out_dir.c_str(), seconds);
  std::printf("  %-18s %8s %8s\n", "class", "train", "val");
  for (int c = 0; c < data::kPhantomClassCount; ++c)
    std::printf("  %-18s %8lld %8lld\n", data::kPhantomClassNames[size_t(c)],
                static_cast<long long>(table[0][size_t(c)]), static_cast<long long>(table[1][size_t(c)]));
  std::printf("  manifest: %s/manifest.csv (path,label,group)\n", spec.out_dir.c_str());
  for (int c = 0; c < data::kPhantomClassCount; ++c)
    if (spec.counts[size_t(c)] > 0 && spec.val_fraction > 0 && (table[0][size_t(c)] == 0 || table[1][size_t(c)] == 0))
      std::printf("  note: %s has a single image, so one split lacks it; dataset scans refuse such a folder\n",
                  data::kPhantomClassNames[size_t(c)]);
  if (!preview.empty()) {
    data::write_png(preview, data::phantom_contact_sheet(spec.seed, 6, spec.height, spec.width));
    std::printf("  preview: %s (rows NonDemented, VeryMildDemented, MildDemented, ModerateDemented)\n",
                preview.c_str());
  }
  return 0;
}

}  // namespace alz::cli
