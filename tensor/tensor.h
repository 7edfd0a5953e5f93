// Tensor: a shape, a dtype, a device and a view into shared, contiguous row-major Storage.
//
// Images are NHWC: (N, H, W, C), C fastest. Views (reshape, slice along the first dimension)
// share storage with an element offset; every Tensor is contiguous, so `data()` plus
// `numel()` is always the whole tensor. Copies between devices are synchronous, or
// asynchronous on a stream when the host side is pinned memory. Shape, dtype or device
// mismatches throw alz::Error naming both operands.
//
//   Generator gen(42);
//   Tensor x = Tensor::normal({2, 8, 8, 3}, gen);              // CPU f32
//   Tensor y = x.to(Device::cuda()).to(DType::BF16);          // GPU bf16
//   float v = x.at({0, 1, 2, 0});
//
// Tested in tests/test_tensor.cpp (CPU) and tests/gpu/test_tensor_gpu.cpp.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/generator.h"

namespace alz {

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& shape);  // "(2, 8, 8, 3)"
int64_t shape_numel(const Shape& shape);

// Owned memory on one device. Freed through the allocator it came from (the caching device
// allocator, the pinned host allocator or plain aligned host memory).
class Storage {
 public:
  Storage(size_t bytes, Device device, bool pinned);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }
  bool pinned() const { return pinned_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  Device device_;
  bool pinned_ = false;
};

struct AutogradMeta;  // tensor/autograd.h

class Tensor {
 public:
  Tensor() = default;  // undefined: holds nothing

  // ---- creation ----
  static Tensor empty(const Shape& shape, DType dtype = DType::F32, Device device = Device::cpu(), bool pinned = false);
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32, Device device = Device::cpu());
  static Tensor ones(const Shape& shape, DType dtype = DType::F32, Device device = Device::cpu());
  static Tensor full(const Shape& shape, double value, DType dtype = DType::F32, Device device = Device::cpu());
  static Tensor arange(int64_t count, DType dtype = DType::F32, Device device = Device::cpu());
  static Tensor uniform(const Shape& shape, Generator& gen, double low = 0.0, double high = 1.0,
                        DType dtype = DType::F32, Device device = Device::cpu());
  static Tensor normal(const Shape& shape, Generator& gen, double mean = 0.0, double stddev = 1.0,
                       DType dtype = DType::F32, Device device = Device::cpu());
  static Tensor from_vector(const std::vector<float>& values, const Shape& shape, Device device = Device::cpu());
  static Tensor from_vector(const std::vector<double>& values, const Shape& shape, Device device = Device::cpu());
  static Tensor from_vector(const std::vector<int32_t>& values, const Shape& shape,
                            Device device = Device::cpu());  // I32 (labels)

  // ---- what it is ----
  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int axis) const;  // negative axes count from the end
  int64_t numel() const { return numel_; }
  DType dtype() const { return dtype_; }
  Device device() const;
  size_t nbytes() const { return static_cast<size_t>(numel_) * dtype_size(dtype_); }
  bool is_pinned() const;
  std::string summary() const;  // "Tensor(2, 8, 8, 3) f32 cpu"

  // ---- raw memory ----
  void* raw_data() const;
  template <typename T> T* data() const;  // float, double, bf16, int32_t: checks the dtype
  bool shares_storage_with(const Tensor& other) const { return storage_ && storage_ == other.storage_; }
  bool storage_shared() const { return storage_ && storage_.use_count() > 1; }  // another tensor or view holds it

  // ---- views (share storage) ----
  Tensor reshape(const Shape& shape) const;  // one dimension may be -1
  Tensor flatten() const { return reshape({numel_}); }
  Tensor slice(int64_t begin, int64_t end) const;  // rows [begin, end) of dimension 0

  // ---- copies and conversion ----
  Tensor clone() const;                                       // same device and dtype, new storage
  Tensor to(Device device) const;                             // synchronous; returns *this if same
  Tensor to(DType dtype) const;                               // on the same device
  Tensor pin() const;                                         // CPU -> pinned CPU copy
  void copy_from(const Tensor& source);                       // same shape and dtype, any devices; the host
                                                              // waits unless both are on one GPU (stream-ordered)
  void copy_from_async(const Tensor& source, Stream stream);  // host side must be pinned
  void fill(double value);

  // ---- element access for tests (slow: copies from the GPU) ----
  double at(std::initializer_list<int64_t> index) const;
  void set(std::initializer_list<int64_t> index, double value);
  std::vector<double> to_vector() const;  // every element as double, any device and dtype

  // ---- autograd (tensor/autograd.h) ----
  bool requires_grad() const;
  Tensor& set_requires_grad(bool flag);
  Tensor grad() const;
  std::shared_ptr<AutogradMeta>& autograd_meta() { return autograd_; }
  const std::shared_ptr<AutogradMeta>& autograd_meta() const { return autograd_; }

 private:
  int64_t flat_index(std::initializer_list<int64_t> index) const;

  std::shared_ptr<Storage> storage_;
  int64_t offset_ = 0;  // in elements
  Shape shape_;
  int64_t numel_ = 0;
  DType dtype_ = DType::F32;
  std::shared_ptr<AutogradMeta> autograd_;
};

// Throws alz::Error naming both operands unless shapes/dtypes/devices agree.
void check_same_shape(const Tensor& a, const Tensor& b, const char* op);
void check_same_dtype(const Tensor& a, const Tensor& b, const char* op);
void check_same_device(const Tensor& a, const Tensor& b, const char* op);

}  // namespace alz
