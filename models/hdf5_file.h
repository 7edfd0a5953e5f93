// A small reading and writing layer over HDF5's C API, for Keras's weight files (models/keras_h5.h).
// Internal to models/: no other layer sees an HDF5 type.
//
// Every failure is an alz::Error naming the file and, where there is one, the object inside it
// ("w.h5: dataset 'conv1_conv/conv1_conv/kernel': ..."); HDF5's own printing of its error stack
// is switched off once (H5Eset_auto2) and its innermost message is put into the error instead.
// Sizes are checked before anything is allocated: a dataset may hold at most kMaxTensorBytes,
// an attribute kMaxAttributeBytes.
//
//   H5File file = H5File::open("resnet152v2_notop.h5");
//   std::vector<std::string> names = file.string_attribute("/", "layer_names");
//   Tensor kernel = file.read_f32("conv1_conv/conv1_conv/kernel");    // (7, 7, 3, 64)
//
//   H5File out = H5File::create_in_memory("out.h5");                    // written with AtomicFile
//   out.create_group("conv1_conv");
//   out.write_f32("conv1_conv/conv1_conv/kernel", hwio);
//   std::string bytes = out.image();
//
// Tested through tests/test_keras_files.cpp and tests/test_keras_bad_input.cpp.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace alz {

constexpr int64_t kMaxTensorBytes = int64_t{4} << 30;      // 4 GiB: far above any ResNetV2 tensor
constexpr int64_t kMaxAttributeBytes = int64_t{64} << 20;  // 64 MiB: model_config of any model

class H5File {
 public:
  static H5File open(const std::string& path);  // read-only, from disk
  // Read-only, from the bytes of a file (a member of a .keras archive); `name` is for messages.
  static H5File open_image(const std::string& name, const std::string& bytes);
  static H5File create_in_memory(const std::string& name);  // nothing touches the disk

  H5File(H5File&& other) noexcept;
  H5File& operator=(H5File&&) = delete;
  H5File(const H5File&) = delete;
  ~H5File();

  const std::string& name() const { return name_; }

  // ---- reading ----
  bool has_group(const std::string& path) const;  // every component exists and is a group
  bool has_dataset(const std::string& path) const;
  std::vector<std::string> children(const std::string& group) const;  // link names, sorted
  bool has_attribute(const std::string& object, const std::string& attribute) const;
  // A string attribute: scalar (one element) or 1-d; fixed-length or variable-length strings
  // (trailing NULs dropped). Keras splits long lists into `name0`, `name1`, ...: read together.
  std::vector<std::string> string_attribute(const std::string& object, const std::string& attribute) const;
  Shape dataset_shape(const std::string& path) const;
  Tensor read_f32(const std::string& path) const;  // any float dataset, converted to f32 (CPU)

  // ---- writing (a file made by create_in_memory) ----
  void create_group(const std::string& path);
  // Fixed-length strings, as Keras's legacy writer stores `layer_names` / `weight_names`;
  // split into `name0`, `name1`, ... past HDF5's 64 KiB object-header limit, as Keras does.
  void write_string_list(const std::string& object, const std::string& attribute,
                         const std::vector<std::string>& values);
  void write_string(const std::string& object, const std::string& attribute, const std::string& value);  // UTF-8 scalar
  void write_f32(const std::string& path, const Tensor& tensor);  // any f32/f64 tensor, stored f32
  std::string image();                                            // the whole file's bytes

 private:
  H5File(std::string name, int64_t id) : name_(std::move(name)), id_(id) {}
  std::string name_;
  int64_t id_ = -1;  // hid_t
};

}  // namespace alz
