// CSV manifests: `path,label[,group]` with a header line naming the columns (in any order;
// `group` optional). Paths are relative to the CSV's folder unless absolute. Fields may be
// double-quoted ("a, b.jpg"; "" is a quote). Blank lines are ignored; \r\n line ends are fine.
// Labels are class names; classes are sorted alphabetically, label = index.
//
// Tested in tests/test_dataset.cpp:
//   cmake --build build --target test_dataset && build/tests/test_dataset
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "core/error.h"
#include "data/dataset.h"

namespace alz::data {
namespace {

namespace fs = std::filesystem;

std::string trim(const std::string& text) {
  size_t begin = text.find_first_not_of(" \t\r");
  if (begin == std::string::npos) return "";
  size_t end = text.find_last_not_of(" \t\r");
  return text.substr(begin, end - begin + 1);
}

// Splits one CSV line; throws on an unterminated quote.
std::vector<std::string> split_csv_line(const std::string& line, const std::string& where) {
  std::vector<std::string> fields;
  std::string field;
  bool quoted = false, was_quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"') {
      quoted = was_quoted = true;
    } else if (c == ',') {
      fields.push_back(was_quoted ? field : trim(field));
      field.clear();
      was_quoted = false;
    } else {
      field += c;
    }
  }
  ALZ_CHECK(!quoted, where << ": unterminated quote");
  fields.push_back(was_quoted ? field : trim(field));
  return fields;
}

}  // namespace

DatasetIndex parse_manifest(const std::string& csv_path) {
  std::ifstream in(csv_path);
  ALZ_CHECK(in, csv_path << ": cannot open manifest");
  fs::path base = fs::path(csv_path).parent_path();

  std::string line;
  int line_number = 0;
  int path_col = -1, label_col = -1, group_col = -1;
  size_t columns = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (!trim(line).empty()) break;
  }
  ALZ_CHECK(!trim(line).empty(), csv_path << ": empty manifest (expected a header line path,label[,group])");
  if (line.size() >= 3 && static_cast<unsigned char>(line[0]) == 0xEF) line = line.substr(3);  // UTF-8 BOM
  std::vector<std::string> header = split_csv_line(line, csv_path + ":" + std::to_string(line_number));
  columns = header.size();
  for (size_t i = 0; i < header.size(); ++i) {
    std::string name = header[i];
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    if (name == "path")
      path_col = static_cast<int>(i);
    else if (name == "label")
      label_col = static_cast<int>(i);
    else if (name == "group")
      group_col = static_cast<int>(i);
  }
  ALZ_CHECK(path_col >= 0 && label_col >= 0, csv_path << ":" << line_number
                                                      << ": header must name the columns path,label[,group], got '"
                                                      << line << "'");

  struct Row {
    std::string path, label, group;
  };
  std::vector<Row> rows;
  while (std::getline(in, line)) {
    ++line_number;
    if (trim(line).empty()) continue;
    std::string where = csv_path + ":" + std::to_string(line_number);
    std::vector<std::string> fields = split_csv_line(line, where);
    ALZ_CHECK(fields.size() == columns, where << ": expected " << columns << " fields, got " << fields.size());
    Row row{fields[path_col], fields[label_col], group_col >= 0 ? fields[group_col] : ""};
    ALZ_CHECK(!row.path.empty(), where << ": empty path");
    ALZ_CHECK(!row.label.empty(), where << ": empty label");
    fs::path p(row.path);
    row.path = (p.is_absolute() ? p : base / p).lexically_normal().string();
    rows.push_back(std::move(row));
  }
  ALZ_CHECK(!rows.empty(), csv_path << ": manifest lists no images");

  DatasetIndex index;
  index.layout = LayoutKind::Manifest;
  index.root = csv_path;
  std::set<std::string> labels;
  for (const Row& row : rows) labels.insert(row.label);
  index.class_names.assign(labels.begin(), labels.end());
  std::map<std::string, int> label_of;
  for (size_t i = 0; i < index.class_names.size(); ++i) label_of[index.class_names[i]] = static_cast<int>(i);
  Split all{"all", {}};
  for (Row& row : rows) all.samples.push_back({std::move(row.path), label_of.at(row.label), std::move(row.group)});
  index.splits.push_back(std::move(all));
  return index;
}

}  // namespace alz::data
