// Safetensors checkpoints: reading, writing, and checking them against what a model expects.
//
// The file format (little-endian):
//   bytes [0, 8)          N, an unsigned 64-bit header length
//   bytes [8, 8 + N)      a UTF-8 JSON object (may end in spaces, padding N to a multiple of 8):
//                           "<name>": {"dtype": "F32"|"F64"|"BF16"|"I32", "shape": [d0, d1, ...],
//                                      "data_offsets": [begin, end]}
//                           "__metadata__": {"key": "value", ...}          (optional, strings only)
//   bytes [8 + N, end)    the data section; [begin, end) is relative to its start, row-major,
//                         little-endian, end - begin == numel * dtype size.
// The tensors must cover the data section exactly: no overlap, no gap, nothing after the last
// tensor. A 0-d tensor has shape [] and one element; a tensor with a zero dimension has
// begin == end. Other safetensors dtypes (F16, I64, U8, ...) are valid files that alz refuses
// with a message naming the dtype. Unknown keys inside a tensor entry are ignored.
//
// Checkpoints of this project use Keras weight names (`conv1_conv/kernel`, ...) with conv
// kernels in HWIO (kh, kw, cin, cout) and Dense kernels (in, out); see docs/resnet152v2.md.
//
//   save_safetensors("w.safetensors", {{"dense/kernel", w}, {"dense/bias", b}}, {{"model", "x"}});
//   SafetensorsFile file = load_safetensors("w.safetensors");      // throws alz::Error if bad
//   LoadReport report = load_into(file, model_weights, LoadMode::Partial);  // transfer learning
//   std::cout << report.describe();
//
// Tested in tests/test_safetensors.cpp:
//   cmake --build build --target test_safetensors && ./build/tests/test_safetensors
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace alz {

// A tensor and its checkpoint name. Tensor is a handle: a NamedTensor list built from a
// model's weights shares their storage, so load_into() writes into the model.
struct NamedTensor {
  std::string name;
  Tensor tensor;
};

struct SafetensorsFile {
  std::string path;                             // where it was read from (for messages)
  std::vector<NamedTensor> tensors;             // CPU tensors, in data-section order
  std::map<std::string, std::string> metadata;  // the "__metadata__" object, or empty

  const Tensor* find(const std::string& name) const;  // nullptr if absent
  std::vector<std::string> names() const;
};

// Writes the tensors (any device; copied to the host) and metadata to `path` atomically: the
// bytes go to `path + ".tmp.<pid>"`, which is flushed to disk and renamed over `path`. On any
// failure the temp file is removed, a previous file at `path` is left as it was, and
// alz::Error names the path and the reason. Names must be unique, non-empty and not
// "__metadata__"; tensors must be defined.
void save_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Reads and validates a whole file. Every problem (missing file, not safetensors, bad JSON,
// bad entry, offsets out of range, overlap, gap, truncation, duplicate names, unsupported
// dtype) throws alz::Error naming the file and the reason. Sizes are checked against the file
// length before anything is allocated; nothing is read out of bounds.
SafetensorsFile load_safetensors(const std::string& path);

// The dtype's name in a safetensors header: F32 -> "F32", F64 -> "F64", BF16 -> "BF16", I32 -> "I32".
const char* safetensors_dtype_name(DType dtype);

// ---- checking a file against what a model expects ----

struct ExpectedTensor {
  std::string name;
  Shape shape;
  DType dtype = DType::F32;
};
std::vector<ExpectedTensor> expected_from(const std::vector<NamedTensor>& tensors);

// How each name fared. `loaded` holds the names whose name and shape match (dtype too, or it
// was converted in Partial mode: those are also listed in `converted_dtype`). `problems` holds
// one readable line per name that did not match, with both shapes/dtypes.
struct LoadReport {
  std::string source;                               // the file path, for messages
  std::vector<std::string> loaded;                  // name and shape match
  std::vector<std::string> converted_dtype;         // of `loaded`: dtype differs (Partial only)
  std::vector<std::string> skipped_unexpected;      // in the file, not expected by the model
  std::vector<std::string> skipped_shape_mismatch;  // in both, shapes differ
  std::vector<std::string> missing;                 // expected, not in the file
  std::vector<std::string> problems;                // one line per mismatch, in the above order

  bool exact() const;            // everything matches: names, shapes and dtypes
  std::string describe() const;  // a summary line, then one line per problem
};

// Compares names, shapes and dtypes; never throws for mismatches. Names whose shape matches but
// whose dtype differs go to `loaded` + `converted_dtype`.
LoadReport compare_tensors(const SafetensorsFile& file, const std::vector<ExpectedTensor>& expected);

// Throws one alz::Error naming the file and listing EVERY mismatch unless report.exact().
void require_exact(const LoadReport& report);

enum class LoadMode {
  Strict,   // every name, shape and dtype must match in both directions, else one alz::Error
            // listing all mismatches (and nothing is copied)
  Partial,  // copy each tensor whose name and shape match (dtype converted); list the rest
};

// Copies the file's tensors into `targets` (any device: values are copied into the targets'
// existing storage) according to `mode`, and returns what happened.
LoadReport load_into(const SafetensorsFile& file, const std::vector<NamedTensor>& targets, LoadMode mode);

}  // namespace alz
