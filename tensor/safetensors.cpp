// Safetensors reading (validated, bounded memory), atomic writing, and checking against a model.
// Format and rules: tensor/safetensors.h.
//
// Reading never trusts the file: the header length is checked against the file length and a
// 100 MB cap before the header is read, every entry's size is checked against the data section
// before any tensor is allocated, and the data is read with bounded pread() calls.
//
// Tested in tests/test_safetensors.cpp:
//   cmake --build build --target test_safetensors && ./build/tests/test_safetensors
#include "tensor/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"

namespace alz {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the format's own cap on the JSON header
constexpr size_t kIoChunk = size_t{1} << 24;       // bytes per read()/write() call

void require_little_endian(const std::string& path) {
  if constexpr (std::endian::native != std::endian::little)
    ALZ_FAIL("safetensors file '" << path << "': this host is big-endian; safetensors data is little-endian");
}

// Closes a POSIX file descriptor on scope exit.
struct FileDescriptor {
  int fd = -1;
  explicit FileDescriptor(int value) : fd(value) {}
  ~FileDescriptor() {
    if (fd >= 0) ::close(fd);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
};

// Reads exactly `count` bytes at `offset`; a short file is an error, never a partial buffer.
void read_exact(int fd, void* buffer, uint64_t count, uint64_t offset, const std::string& path,
                const std::string& what) {
  auto* out = static_cast<unsigned char*>(buffer);
  uint64_t done = 0;
  while (done < count) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(count - done, kIoChunk));
    ssize_t got = ::pread(fd, out + done, want, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    ALZ_CHECK(got >= 0, "safetensors file '" << path << "': cannot read " << what << ": " << errno_text(errno));
    ALZ_CHECK(got > 0, "safetensors file '" << path << "': unexpected end of file while reading " << what
                                            << " (the file shrank while being read?)");
    done += static_cast<uint64_t>(got);
  }
}

bool parse_supported_dtype(const std::string& text, DType* dtype) {
  if (text == "F32")
    *dtype = DType::F32;
  else if (text == "F64")
    *dtype = DType::F64;
  else if (text == "BF16")
    *dtype = DType::BF16;
  else if (text == "I32")
    *dtype = DType::I32;
  else
    return false;
  return true;
}

bool is_other_safetensors_dtype(const std::string& text) {
  static const std::set<std::string> kOthers = {"BOOL", "U8",  "I8",      "I16",     "U16",     "F16",
                                                "U32",  "I64", "U64",     "F8_E5M2", "F8_E4M3", "F8_E8M0",
                                                "F4",   "C64", "F6_E2M3", "F6_E3M2"};
  return kOthers.count(text) > 0;
}

// One tensor entry of the header, validated against the data section's size.
struct Entry {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  uint64_t begin = 0, end = 0;
};

// A JSON value that is a non-negative integer (2.0, -1, "3" and true are not).
bool as_unsigned(const nlohmann::ordered_json& value, uint64_t* out) {
  if (!value.is_number_unsigned()) return false;
  *out = value.get<uint64_t>();
  return true;
}

Entry parse_entry(const std::string& name, const nlohmann::ordered_json& value, uint64_t data_size,
                  const std::string& where) {
  const std::string at = where + "tensor '" + name + "': ";
  ALZ_CHECK(value.is_object(), at << "entry is a JSON " << value.type_name() << ", expected an object with "
                                  << "\"dtype\", \"shape\" and \"data_offsets\"");
  for (const char* key : {"dtype", "shape", "data_offsets"})
    ALZ_CHECK(value.contains(key), at << "entry has no \"" << key << "\"");
  Entry entry;
  entry.name = name;

  const nlohmann::ordered_json& dtype = value["dtype"];
  ALZ_CHECK(dtype.is_string(), at << "\"dtype\" is a JSON " << dtype.type_name() << ", expected a string");
  const std::string dtype_text = dtype.get<std::string>();
  if (!parse_supported_dtype(dtype_text, &entry.dtype)) {
    ALZ_CHECK(!is_other_safetensors_dtype(dtype_text),
              at << "dtype \"" << dtype_text << "\" is not supported by alz (supported: F32, F64, BF16, I32)");
    ALZ_FAIL(at << "unknown dtype \"" << dtype_text << "\" (supported: F32, F64, BF16, I32)");
  }

  const nlohmann::ordered_json& shape = value["shape"];
  ALZ_CHECK(shape.is_array(), at << "\"shape\" is a JSON " << shape.type_name() << ", expected an array");
  uint64_t numel = 1;
  bool overflow = false;
  for (const nlohmann::ordered_json& extent_json : shape) {
    uint64_t extent = 0;
    ALZ_CHECK(
        as_unsigned(extent_json, &extent),
        at << "shape " << shape.dump() << " has an entry that is not a non-negative integer: " << extent_json.dump());
    ALZ_CHECK(extent <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
              at << "shape " << shape.dump() << " has an absurd dimension");
    overflow = overflow || __builtin_mul_overflow(numel, extent, &numel);
    entry.shape.push_back(static_cast<int64_t>(extent));
  }
  uint64_t bytes = 0;
  overflow = overflow || __builtin_mul_overflow(numel, static_cast<uint64_t>(dtype_size(entry.dtype)), &bytes);
  ALZ_CHECK(!overflow, at << "shape " << shape.dump() << " has more elements than any file can hold");

  const nlohmann::ordered_json& offsets = value["data_offsets"];
  ALZ_CHECK(offsets.is_array() && offsets.size() == 2,
            at << "\"data_offsets\" is " << offsets.dump() << ", expected [begin, end]");
  ALZ_CHECK(as_unsigned(offsets[0], &entry.begin) && as_unsigned(offsets[1], &entry.end),
            at << "\"data_offsets\" " << offsets.dump() << " are not non-negative integers");
  ALZ_CHECK(entry.end >= entry.begin, at << "\"data_offsets\" " << offsets.dump() << " end before they begin");
  ALZ_CHECK(entry.end - entry.begin == bytes, at << "\"data_offsets\" " << offsets.dump() << " span "
                                                 << entry.end - entry.begin << " bytes, but shape " << shape.dump()
                                                 << " of " << dtype_text << " needs " << bytes << " bytes");
  ALZ_CHECK(entry.end <= data_size, at << "data offsets " << offsets.dump()
                                       << " run past the end of the data section, which has only " << data_size
                                       << " bytes (truncated file or bad offsets)");
  return entry;
}

// Parses and validates the header; fills `metadata` and returns the entries in data order.
std::vector<Entry> parse_header(const std::string& text, uint64_t data_size, const std::string& path,
                                std::map<std::string, std::string>* metadata) {
  const std::string where = "safetensors file '" + path + "': ";
  std::vector<std::string> duplicates;
  std::set<std::string> seen;
  nlohmann::ordered_json header;  // keeps the header's order, which breaks ties between empty tensors
  try {
    // The callback sees every top-level key, so duplicate names (which JSON parsers otherwise
    // resolve silently) can be reported.
    header = nlohmann::ordered_json::parse(
        text, [&](int depth, nlohmann::ordered_json::parse_event_t event, nlohmann::ordered_json& parsed) {
          if (depth == 1 && event == nlohmann::ordered_json::parse_event_t::key && parsed.is_string()) {
            if (!seen.insert(parsed.get<std::string>()).second) duplicates.push_back(parsed.get<std::string>());
          }
          return true;
        });
  } catch (const nlohmann::json::exception& e) {
    ALZ_FAIL(where << "header is not valid JSON: " << e.what());
  }
  ALZ_CHECK(header.is_object(), where << "header is a JSON " << header.type_name() << ", expected an object");
  ALZ_CHECK(duplicates.empty(), where << "the header names '" << duplicates.front() << "' more than once");

  std::vector<Entry> entries;
  try {
    for (const auto& [key, value] : header.items()) {
      if (key == "__metadata__") {
        ALZ_CHECK(value.is_object(),
                  where << "\"__metadata__\" is a JSON " << value.type_name() << ", expected an object");
        for (const auto& [meta_key, meta_value] : value.items()) {
          ALZ_CHECK(meta_value.is_string(), where << "\"__metadata__\" value of '" << meta_key << "' is a JSON "
                                                  << meta_value.type_name() << ", expected a string");
          (*metadata)[meta_key] = meta_value.get<std::string>();
        }
        continue;
      }
      entries.push_back(parse_entry(key, value, data_size, where));
    }
  } catch (const nlohmann::json::exception& e) {
    ALZ_FAIL(where << "malformed header: " << e.what());
  }

  // The tensors must tile the data section: sorted by offset, each begins where the last ended.
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t covered = 0;
  const Entry* previous = nullptr;
  for (const Entry& entry : entries) {
    ALZ_CHECK(entry.begin >= covered, where << "tensors '" << (previous ? previous->name : "") << "' and '"
                                            << entry.name << "' overlap (bytes " << entry.begin << " to "
                                            << std::min(covered, entry.end) << " of the data section)");
    ALZ_CHECK(entry.begin == covered, where << "bytes [" << covered << ", " << entry.begin
                                            << ") of the data section belong to no tensor (a gap before '" << entry.name
                                            << "')");
    covered = entry.end;
    previous = &entry;
  }
  ALZ_CHECK(covered == data_size, where << "the data section has " << data_size << " bytes but the tensors cover only "
                                        << covered << " (" << data_size - covered
                                        << " trailing bytes belong to no tensor)");
  return entries;
}

}  // namespace

const char* safetensors_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32: return "F32";
    case DType::F64: return "F64";
    case DType::BF16: return "BF16";
    case DType::I32: return "I32";
  }
  return "?";
}

const Tensor* SafetensorsFile::find(const std::string& name) const {
  for (const NamedTensor& named : tensors)
    if (named.name == name) return &named.tensor;
  return nullptr;
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> result;
  for (const NamedTensor& named : tensors) result.push_back(named.name);
  return result;
}

// ---------------------------------------------------------------- writing

void save_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  require_little_endian(path);
  std::set<std::string> names;
  for (const NamedTensor& named : tensors) {
    ALZ_CHECK(!named.name.empty(), "cannot write safetensors file '" << path << "': a tensor has an empty name");
    ALZ_CHECK(named.name != "__metadata__",
              "cannot write safetensors file '" << path << "': '__metadata__' is reserved, not a tensor name");
    ALZ_CHECK(names.insert(named.name).second,
              "cannot write safetensors file '" << path << "': tensor name '" << named.name << "' appears twice");
    ALZ_CHECK(named.tensor.defined(),
              "cannot write safetensors file '" << path << "': tensor '" << named.name << "' is undefined");
  }

  // Header: metadata first, then the tensors in the order given, laid end to end.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [key, value] : metadata) meta[key] = value;
    header["__metadata__"] = meta;
  }
  std::vector<Tensor> host;
  uint64_t offset = 0;
  for (const NamedTensor& named : tensors) {
    host.push_back(named.tensor.to(Device::cpu()));
    uint64_t bytes = host.back().nbytes();
    header[named.name] = {{"dtype", safetensors_dtype_name(named.tensor.dtype())},
                          {"shape", named.tensor.shape()},
                          {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text;
  try {
    text = header.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::strict);
  } catch (const nlohmann::json::exception& e) {
    ALZ_FAIL("cannot write safetensors file '" << path << "': names and metadata must be valid UTF-8: " << e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // the data section starts 8-byte aligned
  unsigned char prefix[8];
  uint64_t header_length = text.size();
  std::memcpy(prefix, &header_length, 8);  // little-endian host (checked above)

  AtomicFile out(path);  // a temp file beside the target, fsync'ed, renamed over it
  out.write(prefix, sizeof prefix);
  out.write(text);
  for (const Tensor& tensor : host)
    if (tensor.nbytes() > 0) out.write(tensor.raw_data(), tensor.nbytes());
  out.commit();
}

// ---------------------------------------------------------------- reading

SafetensorsFile load_safetensors(const std::string& path) {
  require_little_endian(path);
  const std::string where = "safetensors file '" + path + "': ";
  FileDescriptor in(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  ALZ_CHECK(in.fd >= 0, where << "cannot open: " << errno_text(errno));
  struct stat info {};
  ALZ_CHECK(::fstat(in.fd, &info) == 0, where << "cannot stat: " << errno_text(errno));
  ALZ_CHECK(S_ISREG(info.st_mode), where << "not a regular file");
  const uint64_t file_size = static_cast<uint64_t>(info.st_size);
  ALZ_CHECK(file_size >= 8,
            where << "not a safetensors file: only " << file_size << " bytes, shorter than the 8-byte header length");

  uint64_t header_length = 0;
  read_exact(in.fd, &header_length, 8, 0, path, "the header length");
  ALZ_CHECK(header_length <= kMaxHeaderBytes,
            where << "not a safetensors file (or corrupt): the header length field says " << header_length
                  << " bytes, over the format's limit of " << kMaxHeaderBytes << " bytes");
  ALZ_CHECK(header_length <= file_size - 8,
            where << "truncated or not a safetensors file: the header length field says " << header_length
                  << " bytes, but only " << file_size - 8 << " bytes follow it");
  ALZ_CHECK(header_length >= 2, where << "not a safetensors file: header of " << header_length << " bytes");
  std::string text(header_length, '\0');
  read_exact(in.fd, text.data(), header_length, 8, path, "the header");

  SafetensorsFile file;
  file.path = path;
  const uint64_t data_start = 8 + header_length;
  std::vector<Entry> entries = parse_header(text, file_size - data_start, path, &file.metadata);
  // Every size is now known to lie inside the file: allocating and reading is bounded by it.
  for (const Entry& entry : entries) {
    Tensor tensor = Tensor::empty(entry.shape, entry.dtype);
    if (tensor.nbytes() > 0)
      read_exact(in.fd, tensor.raw_data(), tensor.nbytes(), data_start + entry.begin, path,
                 "tensor '" + entry.name + "'");
    file.tensors.push_back({entry.name, tensor});
  }
  return file;
}

// ---------------------------------------------------------------- checking against a model

std::vector<ExpectedTensor> expected_from(const std::vector<NamedTensor>& tensors) {
  std::vector<ExpectedTensor> expected;
  for (const NamedTensor& named : tensors) expected.push_back({named.name, named.tensor.shape(), named.tensor.dtype()});
  return expected;
}

bool LoadReport::exact() const {
  return converted_dtype.empty() && skipped_unexpected.empty() && skipped_shape_mismatch.empty() && missing.empty();
}

std::string LoadReport::describe() const {
  std::ostringstream out;
  out << "checkpoint '" << source << "': loaded " << loaded.size() << " tensors";
  if (!converted_dtype.empty()) out << " (" << converted_dtype.size() << " with dtype conversion)";
  out << "; skipped " << skipped_unexpected.size() << " not in the model and " << skipped_shape_mismatch.size()
      << " with a different shape; " << missing.size() << " missing from the file";
  for (const std::string& line : problems) out << "\n  " << line;
  return out.str();
}

LoadReport compare_tensors(const SafetensorsFile& file, const std::vector<ExpectedTensor>& expected) {
  LoadReport report;
  report.source = file.path;
  std::map<std::string, const Tensor*> in_file;
  for (const NamedTensor& named : file.tensors) in_file[named.name] = &named.tensor;
  std::set<std::string> wanted;
  std::vector<std::string> mismatch_lines, dtype_lines, missing_lines, unexpected_lines;
  for (const ExpectedTensor& want : expected) {
    ALZ_CHECK(wanted.insert(want.name).second,
              "checking checkpoint '" << file.path << "': the model names '" << want.name << "' twice");
    auto found = in_file.find(want.name);
    if (found == in_file.end()) {
      report.missing.push_back(want.name);
      missing_lines.push_back("missing: '" + want.name + "' " + shape_str(want.shape) + " " + dtype_name(want.dtype) +
                              " is not in the file");
      continue;
    }
    const Tensor& have = *found->second;
    if (have.shape() != want.shape) {
      report.skipped_shape_mismatch.push_back(want.name);
      mismatch_lines.push_back("shape mismatch: '" + want.name + "' is " + shape_str(have.shape()) +
                               " in the file, the model expects " + shape_str(want.shape));
      continue;
    }
    report.loaded.push_back(want.name);
    if (have.dtype() != want.dtype) {
      report.converted_dtype.push_back(want.name);
      dtype_lines.push_back("dtype mismatch: '" + want.name + "' is " + dtype_name(have.dtype()) +
                            " in the file, the model expects " + dtype_name(want.dtype));
    }
  }
  for (const NamedTensor& named : file.tensors) {
    if (wanted.count(named.name)) continue;
    report.skipped_unexpected.push_back(named.name);
    unexpected_lines.push_back("unexpected: '" + named.name + "' " + shape_str(named.tensor.shape()) +
                               " is in the file but not in the model");
  }
  for (auto* lines : {&dtype_lines, &unexpected_lines, &mismatch_lines, &missing_lines})
    report.problems.insert(report.problems.end(), lines->begin(), lines->end());
  return report;
}

void require_exact(const LoadReport& report) {
  if (report.exact()) return;
  std::ostringstream out;
  out << "checkpoint '" << report.source << "' does not match the model (" << report.problems.size()
      << (report.problems.size() == 1 ? " mismatch):" : " mismatches):");
  for (const std::string& line : report.problems) out << "\n  " << line;
  throw Error(out.str());
}

LoadReport load_into(const SafetensorsFile& file, const std::vector<NamedTensor>& targets, LoadMode mode) {
  LoadReport report = compare_tensors(file, expected_from(targets));
  if (mode == LoadMode::Strict) require_exact(report);  // nothing is copied unless all match
  std::set<std::string> loaded(report.loaded.begin(), report.loaded.end());
  for (const NamedTensor& target : targets) {
    if (!loaded.count(target.name)) continue;
    Tensor source = *file.find(target.name);
    if (source.dtype() != target.tensor.dtype()) source = source.to(target.tensor.dtype());
    Tensor destination = target.tensor;  // a handle on the model's storage
    destination.copy_from(source);
  }
  return report;
}

}  // namespace alz
