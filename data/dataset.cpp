// Dataset scanning: layout detection, recursive image listing with symlink-loop detection,
// file checks (header / full decode), skipped-file bookkeeping and the printed summary.
// See data/dataset.h for the layouts. Manifests are parsed in data/manifest.cpp, splits made
// in data/split.cpp.
//
// Tested in tests/test_dataset.cpp:
//   cmake --build build --target test_dataset && build/tests/test_dataset
#include "data/dataset.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "core/error.h"

namespace alz::data {
namespace {

namespace fs = std::filesystem;

// "<path>: <reason>" -> "<reason>" (decode errors name the file; SkippedFile keeps it apart).
std::string reason_of(const std::string& message, const std::string& path) {
  std::string prefix = path + ": ";
  return message.rfind(prefix, 0) == 0 ? message.substr(prefix.size()) : message;
}

bool is_dir(const fs::path& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

// Sub-folders of `dir`, sorted by name (hidden ones left out). Unreadable -> empty + skipped.
std::vector<fs::path> sub_folders(const fs::path& dir, std::vector<SkippedFile>& skipped) {
  std::vector<fs::path> out;
  std::error_code ec;
  fs::directory_iterator it(dir, ec), end;
  if (ec) {
    skipped.push_back({dir.string(), "cannot read folder (" + ec.message() + ")"});
    return out;
  }
  for (; it != end; it.increment(ec)) {
    if (ec) break;
    std::error_code type_ec;
    if (it->path().filename().string().rfind('.', 0) == 0) continue;
    if (it->is_directory(type_ec)) out.push_back(it->path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Lists image files under `dir` recursively, following symlinks but never into a folder that
// is one of its own ancestors (a loop) or that was already listed.
class ImageLister {
 public:
  explicit ImageLister(std::vector<SkippedFile>& skipped) : skipped_(skipped) {}

  std::vector<std::string> list(const fs::path& dir) {
    std::vector<std::string> files;
    std::vector<std::pair<dev_t, ino_t>> ancestors;
    walk(dir, ancestors, files);
    std::sort(files.begin(), files.end());
    return files;
  }

 private:
  void walk(const fs::path& dir, std::vector<std::pair<dev_t, ino_t>>& ancestors, std::vector<std::string>& files) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) {
      skipped_.push_back({dir.string(), "cannot open folder (" + std::string(std::strerror(errno)) + ")"});
      return;
    }
    auto id = std::make_pair(st.st_dev, st.st_ino);
    if (std::find(ancestors.begin(), ancestors.end(), id) != ancestors.end()) {
      skipped_.push_back({dir.string(), "symbolic link loop (the folder contains itself)"});
      return;
    }
    if (!visited_.insert(id).second) {
      skipped_.push_back({dir.string(), "folder already scanned through another path (symbolic link)"});
      return;
    }
    std::error_code ec;
    fs::directory_iterator it(dir, ec), end;
    if (ec) {
      skipped_.push_back({dir.string(), "cannot read folder (" + ec.message() + ")"});
      return;
    }
    std::vector<fs::directory_entry> entries;
    for (; it != end; it.increment(ec)) {
      if (ec) {
        skipped_.push_back({dir.string(), "error while listing folder (" + ec.message() + ")"});
        break;
      }
      entries.push_back(*it);
    }
    std::sort(entries.begin(), entries.end(),
              [](const fs::directory_entry& a, const fs::directory_entry& b) { return a.path() < b.path(); });
    ancestors.push_back(id);
    for (const auto& entry : entries) {
      const fs::path& path = entry.path();
      if (path.filename().string().rfind('.', 0) == 0) continue;  // hidden: .DS_Store, ._x.jpg
      std::error_code sec;
      fs::file_status status = entry.status(sec);  // follows symlinks
      if (sec || status.type() == fs::file_type::not_found) {
        skipped_.push_back({path.string(), entry.is_symlink(sec) ? "broken symbolic link" : "cannot stat file"});
      } else if (fs::is_directory(status)) {
        walk(path, ancestors, files);
      } else if (!fs::is_regular_file(status)) {
        skipped_.push_back({path.string(), "not a regular file"});
      } else if (has_image_extension(path.string())) {
        files.push_back(path.string());
      } else {
        std::string ext = lowercase_extension(path.string());
        skipped_.push_back({path.string(), ext.empty() ? "not an image file (no extension)"
                                                       : "not a supported image file (extension " + ext +
                                                             "; use .jpg .jpeg .png .bmp)"});
      }
    }
    ancestors.pop_back();
  }

  std::vector<SkippedFile>& skipped_;
  std::set<std::pair<dev_t, ino_t>> visited_;
};

// One split made of class folders under `dir`.
struct RawSplit {
  std::string name;
  fs::path dir;
};

struct Candidate {
  std::string split;
  std::string class_name;
  std::string path;
};

std::vector<Candidate> list_class_folders(const RawSplit& split, std::vector<SkippedFile>& skipped) {
  std::vector<Candidate> out;
  ImageLister lister(skipped);
  // Files directly in the split folder belong to no class.
  std::error_code ec;
  for (fs::directory_iterator it(split.dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code tec;
    if (it->is_regular_file(tec) && it->path().filename().string().rfind('.', 0) != 0)
      skipped.push_back({it->path().string(), "file outside any class folder"});
  }
  for (const fs::path& class_dir : sub_folders(split.dir, skipped))
    for (std::string& path : lister.list(class_dir))
      out.push_back({split.name, class_dir.filename().string(), std::move(path)});
  return out;
}

const char* kV2Warning =
    "Kaggle V2: the train images are augmented copies of the val images (and of each other), so "
    "validation on this layout leaks and its accuracy is inflated. For an honest estimate split the "
    "originals (val) by subject with a manifest (path,label,group), and run `alz audit`.";
const char* kV1Warning =
    "Kaggle V1: AugmentedAlzheimerDataset holds augmented copies of OriginalDataset, so validation "
    "across the two (or a random split of either) leaks. For an honest estimate split OriginalDataset "
    "by subject with a manifest (path,label,group), and run `alz audit`.";

// Decides the layout and its split folders.
LayoutKind detect_layout(const fs::path& root, std::vector<RawSplit>& splits, bool& leaky, std::string& warning) {
  auto both = [](const fs::path& base, const char* a, const char* b) { return is_dir(base / a) && is_dir(base / b); };
  fs::path aug = root / "AugmentedAlzheimerDataset", orig = root / "OriginalDataset";
  if (is_dir(aug) || is_dir(orig)) {
    if (is_dir(aug)) splits.push_back({"train", aug});
    if (is_dir(orig)) splits.push_back({is_dir(aug) ? "val" : "all", orig});
    leaky = is_dir(aug);
    warning = leaky ? kV1Warning : "";
    return LayoutKind::KaggleV1;
  }
  for (const fs::path& base : {root / "data", root}) {
    if (both(base, "train", "val")) {
      splits.push_back({"train", base / "train"});
      splits.push_back({"val", base / "val"});
      if (is_dir(base / "test")) splits.push_back({"test", base / "test"});
      leaky = true;
      warning = kV2Warning;
      return LayoutKind::KaggleV2;
    }
  }
  for (const fs::path& base : {root, root / "Alzheimer_s Dataset"}) {
    if (both(base, "train", "test")) {
      splits.push_back({"train", base / "train"});
      splits.push_back({"test", base / "test"});
      return LayoutKind::OriginalFourClass;
    }
  }
  splits.push_back({"all", root});
  return LayoutKind::ClassFolders;
}

// The checks every layout ends with: strict mode, empty classes, at least two classes.
void finish(DatasetIndex& index, const ScanOptions& options) {
  if (options.strict && !index.skipped.empty()) {
    std::ostringstream s;
    s << index.root << ": strict mode: " << index.skipped.size()
      << " file(s) cannot be used, first: " << index.skipped.front().path << ": " << index.skipped.front().reason;
    throw Error(s.str());
  }
  ALZ_CHECK(index.class_names.size() >= 2, index.root
                                               << ": found " << index.class_names.size() << " class(es)"
                                               << (index.class_names.empty() ? "" : " ('" + index.class_names[0] + "')")
                                               << "; a classifier needs at least 2 (expected <root>/<class>/<images>)");
  for (const Split& split : index.splits) {
    std::vector<int64_t> counts = index.class_counts(split);
    for (size_t c = 0; c < counts.size(); ++c) {
      if (counts[c] > 0) continue;
      std::ostringstream s;
      s << index.root << ": class '" << index.class_names[c] << "' has no usable images in split '" << split.name
        << "'";
      if (!index.skipped.empty())
        s << " (" << index.skipped.size() << " file(s) skipped, first: " << index.skipped.front().path << ": "
          << index.skipped.front().reason << ")";
      throw Error(s.str());
    }
  }
}

}  // namespace

const char* layout_name(LayoutKind kind) {
  switch (kind) {
    case LayoutKind::ClassFolders: return "class folders";
    case LayoutKind::KaggleV2: return "Kaggle V2 (train/val)";
    case LayoutKind::KaggleV1: return "Kaggle V1 (AugmentedAlzheimerDataset/OriginalDataset)";
    case LayoutKind::OriginalFourClass: return "original four-class set (train/test)";
    case LayoutKind::Manifest: return "CSV manifest";
  }
  return "unknown";
}

const Split* DatasetIndex::find_split(const std::string& name) const {
  for (const Split& split : splits)
    if (split.name == name) return &split;
  return nullptr;
}

std::vector<int64_t> DatasetIndex::class_counts(const Split& split) const {
  std::vector<int64_t> counts(class_names.size(), 0);
  for (const Sample& s : split.samples)
    if (s.label >= 0 && size_t(s.label) < counts.size()) ++counts[s.label];
  return counts;
}

std::string DatasetIndex::describe(int max_skipped_listed) const {
  std::ostringstream s;
  s << "dataset " << root << "\n  layout: " << layout_name(layout) << "\n  classes (" << class_names.size() << "):";
  for (const std::string& name : class_names) s << " " << name;
  s << "\n";
  size_t width = 5;
  for (const std::string& name : class_names) width = std::max(width, name.size());
  s << "  " << std::left << std::setw(7) << "split";
  for (const std::string& name : class_names) s << "  " << std::right << std::setw(int(width)) << name;
  s << "  " << std::setw(8) << "total"
    << "\n";
  for (const Split& split : splits) {
    s << "  " << std::left << std::setw(7) << split.name;
    for (int64_t count : class_counts(split)) s << "  " << std::right << std::setw(int(width)) << count;
    s << "  " << std::setw(8) << split.samples.size() << "\n";
  }
  if (known_leaky) s << "  WARNING: " << leak_warning << "\n";
  if (!skipped.empty()) {
    s << "  skipped " << skipped.size() << " file(s):\n";
    for (size_t i = 0; i < skipped.size() && i < size_t(std::max(0, max_skipped_listed)); ++i)
      s << "    " << skipped[i].path << ": " << skipped[i].reason << "\n";
    if (skipped.size() > size_t(std::max(0, max_skipped_listed)))
      s << "    ... and " << skipped.size() - size_t(std::max(0, max_skipped_listed)) << " more\n";
  }
  return s.str();
}

std::vector<Sample> filter_usable(const std::vector<Sample>& candidates, const ScanOptions& options,
                                  std::vector<SkippedFile>& skipped) {
  if (!options.check_headers && !options.verify_images) return candidates;
  std::vector<std::string> reasons(candidates.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < candidates.size(); i = next++) {
      const std::string& path = candidates[i].path;
      try {
        ImageInfo info = probe_image_file(path, options.limits);
        if (std::min(info.width, info.height) < options.min_image_side) {
          reasons[i] = "image is " + std::to_string(info.width) + "x" + std::to_string(info.height) +
                       ", smaller than " + std::to_string(options.min_image_side) + " pixels on a side";
          continue;
        }
        if (options.verify_images) decode_image_file(path, options.limits);
      } catch (const std::exception& e) {
        reasons[i] = reason_of(e.what(), path);
        if (reasons[i].empty()) reasons[i] = "unknown error";
      }
    }
  };
  int threads = options.verify_threads > 0 ? options.verify_threads
                                           : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads = static_cast<int>(std::min<size_t>(threads, std::max<size_t>(1, candidates.size() / 64)));
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& thread : pool) thread.join();
  std::vector<Sample> usable;
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (reasons[i].empty())
      usable.push_back(candidates[i]);
    else
      skipped.push_back({candidates[i].path, reasons[i]});
  }
  return usable;
}

DatasetIndex scan_dataset(const std::string& path, const ScanOptions& options) {
  std::error_code ec;
  fs::file_status status = fs::status(path, ec);
  ALZ_CHECK(!path.empty(), "dataset path is empty");
  ALZ_CHECK(!ec && fs::exists(status), path << ": dataset folder or manifest does not exist");
  if (fs::is_regular_file(status)) {
    ALZ_CHECK(lowercase_extension(path) == ".csv",
              path << ": is a file but not a .csv manifest (give a dataset folder or a manifest.csv)");
    DatasetIndex index = parse_manifest(path);
    for (Split& split : index.splits) split.samples = filter_usable(split.samples, options, index.skipped);
    finish(index, options);
    return index;
  }
  ALZ_CHECK(fs::is_directory(status), path << ": is neither a folder nor a .csv manifest");

  DatasetIndex index;
  index.root = path;
  std::vector<RawSplit> raw;
  index.layout = detect_layout(fs::path(path), raw, index.known_leaky, index.leak_warning);

  std::vector<Candidate> candidates;
  std::set<std::string> classes;
  for (const RawSplit& split : raw) {
    std::vector<fs::path> class_dirs = sub_folders(split.dir, index.skipped);
    ALZ_CHECK(!class_dirs.empty(),
              split.dir.string() << ": no class folders (expected " << split.dir.string() << "/<class>/<images>)");
    for (const fs::path& dir : class_dirs) classes.insert(dir.filename().string());
    std::vector<Candidate> listed = list_class_folders(split, index.skipped);
    candidates.insert(candidates.end(), listed.begin(), listed.end());
  }
  index.class_names.assign(classes.begin(), classes.end());  // std::set: sorted
  std::map<std::string, int> label_of;
  for (size_t i = 0; i < index.class_names.size(); ++i) label_of[index.class_names[i]] = static_cast<int>(i);

  for (const RawSplit& split : raw) {
    std::vector<Sample> samples;
    for (const Candidate& c : candidates)
      if (c.split == split.name) samples.push_back({c.path, label_of.at(c.class_name), ""});
    index.splits.push_back({split.name, filter_usable(samples, options, index.skipped)});
  }
  finish(index, options);
  return index;
}

}  // namespace alz::data
