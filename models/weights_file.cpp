// One entry point for every weights file (models/weights_file.h).
#include "models/weights_file.h"

#include <cstring>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "models/checkpoint.h"
#include "models/keras_archive.h"
#include "models/keras_h5.h"
#include "models/sandbox.h"

namespace alz {

WeightsFormat detect_weights_format(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  ALZ_CHECK(in, path << ": cannot open (" << errno_text(errno) << ")");
  unsigned char head[16] = {};
  in.read(reinterpret_cast<char*>(head), sizeof head);
  std::streamsize got = in.gcount();
  static const unsigned char kHdf5[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  if (got >= 8 && std::memcmp(head, kHdf5, 8) == 0) return WeightsFormat::Hdf5;
  if (got >= 4 && head[0] == 'P' && head[1] == 'K' &&
      ((head[2] == 3 && head[3] == 4) || (head[2] == 5 && head[3] == 6)))
    return WeightsFormat::Zip;
  if (got >= 9 && head[8] == '{') return WeightsFormat::Safetensors;  // 8-byte header length, then JSON
  std::ostringstream bytes;
  for (std::streamsize i = 0; i < std::min<std::streamsize>(got, 8); ++i)
    bytes << (i ? " " : "") << std::hex << static_cast<int>(head[i]);
  ALZ_FAIL(path << ": not a weights file alz reads (safetensors, Keras .h5 / .weights.h5, .keras); "
                << (got == 0 ? std::string("it is empty") : "it starts with bytes " + bytes.str()));
}

SafetensorsFile read_weights_file(const std::string& path) {
  switch (detect_weights_format(path)) {
    // Keras's files go through HDF5's C library, which a corrupt file can crash: read them in a
    // child process (models/sandbox.h), so that a bad file is an error, never a crash.
    case WeightsFormat::Hdf5: return read_in_child_process(path, "HDF5", read_keras_h5);
    case WeightsFormat::Zip: return read_in_child_process(path, "HDF5 or zip", read_keras_archive);
    case WeightsFormat::Safetensors: break;
  }
  return load_safetensors(path);
}

bool is_keras_file(const SafetensorsFile& file) {
  auto it = file.metadata.find("format");
  return it != file.metadata.end() && it->second.rfind("keras", 0) == 0;
}

namespace {

std::string shape_text(const Shape& shape) {
  std::string text = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    text += i ? ", " : "";
    text += std::to_string(shape[i]);
  }
  return text + (shape.size() == 1 ? ",)" : ")");
}

}  // namespace

ResNetV2Config infer_resnet_v2(const SafetensorsFile& file) {
  ALZ_CHECK(!file.tensors.empty(), file.path << ": holds no weights");
  auto not_resnet = [&](const std::string& why) {
    ALZ_FAIL(file.path << ": not a ResNetV2 as keras.applications builds it: " << why);
  };
  if (file.find("conv1_bn/gamma") || file.find("conv2_block1_0_bn/gamma"))
    not_resnet("it has conv1_bn / _0_bn layers, so it is a ResNet v1 (ResNet50, ...); alz builds ResNetV2");
  const Tensor* stem = file.find("conv1_conv/kernel");
  if (!stem) not_resnet("no conv1_conv/kernel (its first weight is '" + file.tensors.front().name + "')");
  if (stem->ndim() != 4 || stem->dim(0) != 7 || stem->dim(1) != 7 || stem->dim(2) != 3)
    not_resnet("conv1_conv/kernel is " + shape_text(stem->shape()) + ", not (7, 7, 3, filters)");
  // Blocks per stack from the names convN_blockM_..., stacks numbered from conv2.
  static const std::regex block_name(R"(^conv(\d+)_block(\d+)_)");
  std::map<int, int> blocks;  // stack number -> highest block
  for (const NamedTensor& t : file.tensors) {
    std::smatch match;
    if (!std::regex_search(t.name, match, block_name)) continue;
    int stack = std::stoi(match[1]), block = std::stoi(match[2]);
    blocks[stack] = std::max(blocks[stack], block);
  }
  if (blocks.empty()) not_resnet("no convN_blockM layers");
  ResNetV2Config c;
  c.stem_filters = static_cast<int>(stem->dim(3));
  c.blocks.clear();
  c.filters.clear();
  int expected_stack = 2;
  for (const auto& [stack, count] : blocks) {
    if (stack != expected_stack) not_resnet("stack conv" + std::to_string(expected_stack) + " is missing");
    ++expected_stack;
    std::string first = "conv" + std::to_string(stack) + "_block1_1_conv/kernel";
    const Tensor* kernel = file.find(first);
    if (!kernel || kernel->ndim() != 4) not_resnet("no 4-d " + first);
    c.blocks.push_back(count);
    c.filters.push_back(static_cast<int>(kernel->dim(3)));
  }
  c.classes = 0;
  if (const Tensor* head = file.find("predictions/kernel")) {
    if (head->ndim() != 2)
      not_resnet("predictions/kernel is " + shape_text(head->shape()) + ", not (features, classes)");
    c.classes = static_cast<int>(head->dim(1));
  }
  c.name = resnet_v2_name_for(c);
  c.bn_momentum = resnet_v2_config(c.name, 2, 32, 32).bn_momentum;
  c.input_height = c.input_width = 224;
  auto size = file.metadata.find("input_size");
  int h = 0, w = 0;
  if (size != file.metadata.end() && std::sscanf(size->second.c_str(), "%dx%d", &h, &w) == 2 && h >= 32 && w >= 32) {
    c.input_height = h;
    c.input_width = w;
  }
  return c;
}

LoadReport load_weights_file(const SafetensorsFile& file, Module& model, LoadMode mode) {
  if (!is_keras_file(file) || mode == LoadMode::Partial) return load_checkpoint(file, model, mode);
  // Keras files: one line naming the first mismatch (a whole other architecture would list
  // hundreds).
  std::vector<ExpectedTensor> expected;
  for (const ParamRef& p : model.parameters()) {
    Shape shape = p.tensor->shape();
    if (p.layout == KerasLayout::ConvKRSC) shape = {shape[1], shape[2], shape[3], shape[0]};
    expected.push_back({p.name, shape, p.tensor->dtype()});
  }
  LoadReport report = compare_tensors(file, expected);
  if (!report.exact())
    ALZ_FAIL(file.path << ": does not match the model " << model.name() << " (" << report.problems.size()
                       << (report.problems.size() == 1 ? " mismatch" : " mismatches")
                       << "); first: " << report.problems.front());
  return load_checkpoint(file, model, mode);
}

LoadReport load_weights_file(const std::string& path, Module& model, LoadMode mode) {
  return load_weights_file(read_weights_file(path), model, mode);
}

std::string describe_transfer(const LoadReport& r) {
  auto some = [](const std::vector<std::string>& names) {
    std::string text;
    for (size_t i = 0; i < names.size() && i < 3; ++i) {
      text += i ? ", " : "";
      text += names[i];
    }
    if (names.size() > 3) text += ", ... " + std::to_string(names.size() - 3) + " more";
    return names.empty() ? std::string() : " (" + text + ")";
  };
  std::ostringstream out;
  out << "initialised from " << r.source << ": loaded " << r.loaded.size() << " tensors; skipped "
      << r.skipped_unexpected.size() << " not in the model" << some(r.skipped_unexpected) << " and "
      << r.skipped_shape_mismatch.size() << " of another shape" << some(r.skipped_shape_mismatch) << "; "
      << r.missing.size() << " left at their fresh initialisation" << some(r.missing);
  return out.str();
}

void write_keras_h5(ResNetV2& model, const std::string& path) {
  write_file_atomic(path, keras_legacy_h5_bytes(model, path));
}

void write_keras_weights_h5(ResNetV2& model, const std::string& path) {
  write_file_atomic(path, keras3_weights_h5_bytes(model, path));
}

void write_keras_archive(ResNetV2& model, const std::string& path) {
  write_file_atomic(path, keras_archive_bytes(model, path));
}

}  // namespace alz
