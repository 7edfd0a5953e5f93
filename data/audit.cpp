// Dataset audit: scan, hash every image (bytes and pHash), group exact duplicates, find
// near-duplicate pairs, and render the findings as text or JSON. See data/audit.h;
// tests in tests/test_audit.cpp.
#include "data/audit.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "core/error.h"
#include "data/phash.h"

namespace alz::data {

namespace {

namespace fs = std::filesystem;

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  ALZ_CHECK(in, path << ": cannot open for reading");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ALZ_CHECK(!in.bad(), path << ": read error");
  return bytes;
}

std::string size_key(const AuditFile& file) {
  return std::to_string(file.height) + "x" + std::to_string(file.width) + ", " + std::to_string(file.channels) +
         (file.channels == 1 ? " channel" : " channels");
}

// Reads, probes, decodes and hashes every file in parallel; failures become `reason`s.
void hash_files(std::vector<AuditFile>& files, std::vector<std::string>& reasons) {
  const int64_t n = int64_t(files.size());
  reasons.assign(files.size(), "");
#pragma omp parallel for schedule(dynamic, 8)
  for (int64_t i = 0; i < n; ++i) {
    AuditFile& file = files[size_t(i)];
    try {
      std::vector<uint8_t> bytes = read_bytes(file.path);
      file.bytes = int64_t(bytes.size());
      file.byte_hash = fnv1a64(bytes.data(), bytes.size());
      ImageInfo info = probe_image_memory(bytes.data(), bytes.size(), file.path);
      file.height = info.height;
      file.width = info.width;
      file.channels = info.channels_in_file;
      PerceptualHashes hashes = perceptual_hashes(decode_image_memory(bytes.data(), bytes.size(), file.path));
      file.phash = hashes.phash;
      file.detail = hashes.detail;
      file.readable = true;
    } catch (const std::exception& error) {
      reasons[size_t(i)] = error.what();
    }
  }
}

}  // namespace

AuditReport audit_dataset(const std::string& root, const AuditOptions& options) {
  ALZ_CHECK(options.near_threshold >= 0 && options.near_threshold <= kMaxNearThreshold,
            "audit: near-duplicate threshold " << options.near_threshold << " is outside 0.." << kMaxNearThreshold);
  ALZ_CHECK(options.detail_threshold >= 0 && options.detail_threshold <= 256,
            "audit: detail-hash threshold " << options.detail_threshold << " is outside 0..256");
  ALZ_CHECK(options.max_examples >= 0, "audit: max_examples must be >= 0");
  DatasetIndex index = scan_dataset(root);
  AuditReport report;
  report.root = index.root;
  report.layout = layout_name(index.layout);
  report.class_names = index.class_names;
  report.known_leaky = index.known_leaky;
  report.near_threshold = options.near_threshold;
  report.detail_threshold = options.detail_threshold;
  report.max_examples = options.max_examples;
  report.unreadable = index.skipped;

  // Subject groups: from the samples (a manifest was scanned) or from a manifest.csv beside the
  // split folders (what `alz synth` writes), matched by normalised path.
  std::map<std::string, std::string> manifest_group;
  const fs::path beside = fs::path(root) / "manifest.csv";
  std::error_code error;
  if (index.layout != LayoutKind::Manifest && fs::is_regular_file(beside, error)) {
    try {
      for (const Split& split : parse_manifest(beside.string()).splits)
        for (const Sample& sample : split.samples)
          manifest_group[fs::path(sample.path).lexically_normal().string()] = sample.group;
    } catch (const std::exception& e) {
      report.warnings.push_back(std::string("manifest.csv beside the splits was not used: ") + e.what());
    }
  }
  std::vector<int> split_of;  // per file: index into report.splits
  std::map<std::string, std::set<std::string>> group_splits;
  for (const Split& split : index.splits) {
    AuditSplit counts{split.name, index.class_counts(split), int64_t(split.samples.size()), 0};
    for (const Sample& sample : split.samples) {
      AuditFile file;
      file.path = sample.path;
      file.split = split.name;
      file.label = sample.label;
      report.files.push_back(file);
      split_of.push_back(int(report.splits.size()));
      std::string group = sample.group;
      if (group.empty()) {
        auto found = manifest_group.find(fs::path(sample.path).lexically_normal().string());
        if (found != manifest_group.end()) group = found->second;
      }
      if (!group.empty()) group_splits[group].insert(split.name);
    }
    report.splits.push_back(std::move(counts));
  }
  for (const auto& [group, splits] : group_splits)
    if (splits.size() > 1) report.shared_groups.push_back(group);

  std::vector<std::string> reasons;
  hash_files(report.files, reasons);
  for (size_t i = 0; i < report.files.size(); ++i) {
    if (report.files[i].readable)
      ++report.sizes[size_key(report.files[i])];
    else
      report.unreadable.push_back(SkippedFile{report.files[i].path, reasons[i]});
  }

  // Exact duplicates: sort readable-or-not files by (byte hash, length); runs are groups.
  std::vector<int64_t> order;
  for (size_t i = 0; i < report.files.size(); ++i)
    if (report.files[i].bytes > 0) order.push_back(int64_t(i));
  auto same_bytes = [&](int64_t a, int64_t b) {
    return report.files[size_t(a)].byte_hash == report.files[size_t(b)].byte_hash &&
           report.files[size_t(a)].bytes == report.files[size_t(b)].bytes;
  };
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    const AuditFile &x = report.files[size_t(a)], &y = report.files[size_t(b)];
    return x.byte_hash != y.byte_hash ? x.byte_hash < y.byte_hash : x.bytes < y.bytes;
  });
  std::vector<bool> has_copy_elsewhere(report.files.size(), false);
  for (size_t begin = 0; begin < order.size();) {
    size_t end = begin + 1;
    while (end < order.size() && same_bytes(order[begin], order[end])) ++end;
    if (end - begin > 1) {
      AuditDuplicateGroup group;
      group.files.assign(order.begin() + std::ptrdiff_t(begin), order.begin() + std::ptrdiff_t(end));
      std::sort(group.files.begin(), group.files.end());
      std::set<int> splits;
      for (int64_t f : group.files) splits.insert(split_of[size_t(f)]);
      group.cross_split = splits.size() > 1;
      if (group.cross_split)
        for (int64_t f : group.files) has_copy_elsewhere[size_t(f)] = true;
      report.exact_redundant_files += int64_t(group.files.size()) - 1;
      report.exact_cross_split_groups += group.cross_split ? 1 : 0;
      report.exact_groups.push_back(std::move(group));
    }
    begin = end;
  }
  std::sort(report.exact_groups.begin(), report.exact_groups.end(),
            [](const AuditDuplicateGroup& a, const AuditDuplicateGroup& b) { return a.files[0] < b.files[0]; });

  // Near duplicates among readable files, identical files left out.
  std::vector<int64_t> readable;
  std::vector<uint64_t> hashes;
  for (size_t i = 0; i < report.files.size(); ++i)
    if (report.files[i].readable) {
      readable.push_back(int64_t(i));
      hashes.push_back(report.files[i].phash);
    }
  for (const NearPair& pair : find_near_pairs(hashes, options.near_threshold)) {
    int64_t a = readable[size_t(pair.a)], b = readable[size_t(pair.b)];
    if (same_bytes(a, b)) continue;
    int detail = hamming_distance(report.files[size_t(a)].detail, report.files[size_t(b)].detail);
    if (detail > options.detail_threshold) continue;
    int sa = split_of[size_t(a)], sb = split_of[size_t(b)];
    AuditNearPair near{a, b, pair.distance, detail, sa != sb};
    std::string key =
        sa == sb ? report.splits[size_t(sa)].name
                 : report.splits[size_t(std::min(sa, sb))].name + "/" + report.splits[size_t(std::max(sa, sb))].name;
    ++report.near_pair_counts[key];
    if (near.cross_split) {
      ++report.near_cross_split_pairs;
      has_copy_elsewhere[size_t(a)] = has_copy_elsewhere[size_t(b)] = true;
    }
    report.near_pairs.push_back(near);
  }
  for (size_t i = 0; i < report.files.size(); ++i)
    if (has_copy_elsewhere[i]) ++report.splits[size_t(split_of[i])].with_copy_elsewhere;

  // Warnings.
  if (index.known_leaky && !index.leak_warning.empty()) {
    // The layout is known by its folder names; say so when the images themselves showed no copy.
    std::string warning = index.leak_warning;
    if (report.exact_cross_split_groups == 0 && report.near_cross_split_pairs == 0)
      warning +=
          " (This audit found no exact or near copy across the splits here, so the folder may only share "
          "Kaggle's folder names; its hashes miss rotated or zoomed copies, so if these are Kaggle's "
          "images the leak stands.)";
    report.warnings.push_back(warning);
  }
  if (report.exact_cross_split_groups > 0)
    report.warnings.push_back(std::to_string(report.exact_cross_split_groups) +
                              " group(s) of byte-identical files span more than one split");
  if (report.near_cross_split_pairs > 0)
    report.warnings.push_back(std::to_string(report.near_cross_split_pairs) +
                              " near-duplicate pair(s) (pHash distance <= " + std::to_string(options.near_threshold) +
                              ") span two splits: validation scores on this split will be inflated");
  if (!report.shared_groups.empty())
    report.warnings.push_back(std::to_string(report.shared_groups.size()) +
                              " subject group(s) have images in more than one split");
  if (!report.unreadable.empty())
    report.warnings.push_back(std::to_string(report.unreadable.size()) + " file(s) cannot be used (see the list)");
  return report;
}

std::string format_audit_text(const AuditReport& r) {
  std::ostringstream out;
  const size_t examples = size_t(r.max_examples);
  out << "dataset: " << r.root << "\nlayout:  " << r.layout << "\nclasses: ";
  for (size_t c = 0; c < r.class_names.size(); ++c) out << (c ? ", " : "") << r.class_names[c];
  out << "\n\n  " << std::string(8, ' ');
  for (const std::string& name : r.class_names) out << "  " << name;
  out << "  total\n";
  for (const AuditSplit& split : r.splits) {
    std::string name = split.name;
    name.resize(std::max<size_t>(name.size(), 8), ' ');
    out << "  " << name;
    for (size_t c = 0; c < r.class_names.size(); ++c) {
      std::string count = std::to_string(split.per_class[c]);
      out << "  " << std::string(r.class_names[c].size() - std::min(count.size(), r.class_names[c].size()), ' ')
          << count;
    }
    out << "  " << split.total << "\n";
  }
  out << "\nimage sizes (readable files):\n";
  for (const auto& [key, count] : r.sizes) out << "  " << key << ": " << count << "\n";
  out << "\nunreadable or unusable files: " << r.unreadable.size() << "\n";
  for (size_t i = 0; i < std::min(examples, r.unreadable.size()); ++i)
    out << "  " << r.unreadable[i].path << ": " << r.unreadable[i].reason << "\n";
  out << "\nexact duplicates (identical bytes): " << r.exact_groups.size() << " groups, " << r.exact_redundant_files
      << " redundant files, " << r.exact_cross_split_groups << " group(s) span splits\n";
  for (size_t g = 0; g < std::min(examples, r.exact_groups.size()); ++g) {
    out << "  ";
    for (size_t k = 0; k < r.exact_groups[g].files.size(); ++k) {
      const AuditFile& file = r.files[size_t(r.exact_groups[g].files[k])];
      out << (k ? " == " : "") << file.path << " [" << file.split << "]";
    }
    out << "\n";
  }
  out << "\nnear-duplicates (pHash distance <= " << r.near_threshold
      << " and detail-hash distance <= " << r.detail_threshold << ", identical files excluded): " << r.near_pairs.size()
      << " pairs, " << r.near_cross_split_pairs << " across splits\n";
  for (const auto& [key, count] : r.near_pair_counts)
    out << "  " << (key.find('/') == std::string::npos ? "within " : "across ") << key << ": " << count << "\n";
  // Cross-split examples first: they are the ones that matter.
  std::vector<const AuditNearPair*> listed;
  for (int pass = 0; pass < 2; ++pass)
    for (const AuditNearPair& pair : r.near_pairs)
      if (pair.cross_split == (pass == 0) && listed.size() < examples) listed.push_back(&pair);
  for (const AuditNearPair* pair : listed)
    out << "  " << r.files[size_t(pair->a)].path << " [" << r.files[size_t(pair->a)].split << "] ~ "
        << r.files[size_t(pair->b)].path << " [" << r.files[size_t(pair->b)].split << "] (distance " << pair->distance
        << ", detail " << pair->detail_distance << ")\n";
  if (r.splits.size() > 1) {
    out << "\nimages with an exact or near copy in another split:";
    for (const AuditSplit& split : r.splits)
      out << "  " << split.name << " " << split.with_copy_elsewhere << "/" << split.total;
    out << "\n";
  }
  if (!r.shared_groups.empty()) {
    out << "\nsubject groups in more than one split: " << r.shared_groups.size() << "\n";
    for (size_t i = 0; i < std::min(examples, r.shared_groups.size()); ++i) out << "  " << r.shared_groups[i] << "\n";
  }
  out << "\n";
  if (r.warnings.empty()) out << "no warnings\n";
  for (const std::string& warning : r.warnings) out << "WARNING: " << warning << "\n";
  return out.str();
}

// Fields: root, layout, classes, splits[{name, total, per_class{class: n}, with_copy_elsewhere}],
// image_sizes{"HxW, C channels": n}, unreadable{count, examples[{path, reason}]},
// exact_duplicates{groups, redundant_files, cross_split_groups, examples[{files[{path, split}],
// cross_split}]}, near_duplicates{threshold, detail_threshold, pairs, cross_split_pairs,
// counts{key: n}, examples[{a{path, split}, b{path, split}, distance, detail_distance, cross_split}]},
// shared_groups{count, examples}, known_leaky, warnings[].
std::string format_audit_json(const AuditReport& r, int indent) {
  using nlohmann::json;
  const size_t examples = size_t(r.max_examples);
  auto file_json = [&](int64_t i) {
    return json{{"path", r.files[size_t(i)].path}, {"split", r.files[size_t(i)].split}};
  };
  json out;
  out["root"] = r.root;
  out["layout"] = r.layout;
  out["classes"] = r.class_names;
  out["splits"] = json::array();
  for (const AuditSplit& split : r.splits) {
    json per_class = json::object();
    for (size_t c = 0; c < r.class_names.size(); ++c) per_class[r.class_names[c]] = split.per_class[c];
    out["splits"].push_back({{"name", split.name},
                             {"total", split.total},
                             {"per_class", per_class},
                             {"with_copy_elsewhere", split.with_copy_elsewhere}});
  }
  out["image_sizes"] = r.sizes;
  json unreadable = json::array();
  for (size_t i = 0; i < std::min(examples, r.unreadable.size()); ++i)
    unreadable.push_back({{"path", r.unreadable[i].path}, {"reason", r.unreadable[i].reason}});
  out["unreadable"] = {{"count", r.unreadable.size()}, {"examples", unreadable}};
  json groups = json::array();
  for (size_t g = 0; g < std::min(examples, r.exact_groups.size()); ++g) {
    json files = json::array();
    for (int64_t f : r.exact_groups[g].files) files.push_back(file_json(f));
    groups.push_back({{"files", files}, {"cross_split", r.exact_groups[g].cross_split}});
  }
  out["exact_duplicates"] = {{"groups", r.exact_groups.size()},
                             {"redundant_files", r.exact_redundant_files},
                             {"cross_split_groups", r.exact_cross_split_groups},
                             {"examples", groups}};
  json pairs = json::array();
  for (int pass = 0; pass < 2; ++pass)
    for (const AuditNearPair& pair : r.near_pairs)
      if (pair.cross_split == (pass == 0) && pairs.size() < examples)
        pairs.push_back({{"a", file_json(pair.a)},
                         {"b", file_json(pair.b)},
                         {"distance", pair.distance},
                         {"detail_distance", pair.detail_distance},
                         {"cross_split", pair.cross_split}});
  out["near_duplicates"] = {{"threshold", r.near_threshold}, {"detail_threshold", r.detail_threshold},
                            {"pairs", r.near_pairs.size()},  {"cross_split_pairs", r.near_cross_split_pairs},
                            {"counts", r.near_pair_counts},  {"examples", pairs}};
  std::vector<std::string> shared(r.shared_groups.begin(),
                                  r.shared_groups.begin() + std::ptrdiff_t(std::min(examples, r.shared_groups.size())));
  out["shared_groups"] = {{"count", r.shared_groups.size()}, {"examples", shared}};
  out["known_leaky"] = r.known_leaky;
  out["warnings"] = r.warnings;
  return out.dump(indent);
}

}  // namespace alz::data
