// Tensor and Storage (tensor/tensor.h): creation, views, copies between devices, dtype
// conversion and element access. Element loops on the CPU live here; their GPU
// counterparts are in tensor/cuda/tensor_kernels.cu behind tensor/cuda_runtime.h.
// Tests: tests/test_tensor.cpp, tests/test_dtype.cpp, tests/gpu/test_tensor_gpu.cpp.
#include "tensor/tensor.h"

#include <cstdlib>
#include <cstring>
#include <sstream>
#include <type_traits>

#include "core/bf16.h"
#include "core/error.h"
#include "core/philox.h"
#include "tensor/allocation_trace.h"
#include "tensor/cuda_runtime.h"
#include "tensor/host_allocator.h"

namespace alz {

namespace {

// Reads element i of a buffer of the given dtype as double.
double load_as_double(const void* data, DType dtype, int64_t i) {
  switch (dtype) {
    case DType::F32: return static_cast<const float*>(data)[i];
    case DType::F64: return static_cast<const double*>(data)[i];
    case DType::BF16: return bf16_to_float(static_cast<const bf16*>(data)[i]);
    case DType::I32: return static_cast<const int32_t*>(data)[i];
  }
  return 0.0;
}

void store_from_double(void* data, DType dtype, int64_t i, double value) {
  switch (dtype) {
    case DType::F32: static_cast<float*>(data)[i] = static_cast<float>(value); break;
    case DType::F64: static_cast<double*>(data)[i] = value; break;
    case DType::BF16: static_cast<bf16*>(data)[i] = float_to_bf16(static_cast<float>(value)); break;
    case DType::I32: static_cast<int32_t*>(data)[i] = static_cast<int32_t>(value); break;
  }
}

// Writes float values (already rounded to f32, as the GPU computes them) into any dtype.
void store_from_float(void* data, DType dtype, int64_t i, float value) {
  switch (dtype) {
    case DType::F32: static_cast<float*>(data)[i] = value; break;
    case DType::F64: static_cast<double*>(data)[i] = value; break;
    case DType::BF16: static_cast<bf16*>(data)[i] = float_to_bf16(value); break;
    case DType::I32: static_cast<int32_t*>(data)[i] = static_cast<int32_t>(value); break;
  }
}

}  // namespace

std::string shape_str(const Shape& shape) {
  std::ostringstream out;
  out << "(";
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  if (shape.size() == 1) out << ",";
  out << ")";
  return out.str();
}

int64_t shape_numel(const Shape& shape) {
  int64_t count = 1;
  for (int64_t extent : shape) {
    ALZ_CHECK(extent >= 0, "negative dimension in shape " << shape_str(shape));
    count *= extent;
  }
  return count;
}

// ---------------------------------------------------------------- Storage

Storage::Storage(size_t bytes, Device device, bool pinned) : bytes_(bytes), device_(device), pinned_(pinned) {
  if (device.is_cuda()) {
    data_ = cuda::device_allocate(bytes, device.index);
  } else if (pinned && cuda::available()) {
    data_ = cuda::pinned_allocate(bytes);
  } else {
    pinned_ = false;               // no CUDA: plain memory serves the same purpose
    data_ = host_allocate(bytes);  // cached by size class (tensor/host_allocator.h)
  }
  trace_allocation(data_, bytes_, device_, pinned_);  // ALZ_ALLOC_TRACE (tensor/allocation_trace.h)
}

Storage::~Storage() {
  trace_free(data_);
  if (device_.is_cuda()) {
    cuda::device_free(data_);
  } else if (pinned_) {
    cuda::pinned_free(data_);
  } else {
    host_free(data_, bytes_);
  }
}

// ---------------------------------------------------------------- creation

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device, bool pinned) {
  ALZ_CHECK(!(pinned && device.is_cuda()), "pinned memory is host memory; asked for " << device.str());
  Tensor t;
  t.shape_ = shape;
  t.numel_ = shape_numel(shape);
  t.dtype_ = dtype;
  t.storage_ = std::make_shared<Storage>(t.nbytes(), device, pinned);
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) { return full(shape, 0.0, dtype, device); }
Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1.0, dtype, device); }

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill(value);
  return t;
}

Tensor Tensor::arange(int64_t count, DType dtype, Device device) {
  Tensor t = empty({count}, dtype, device);
  if (device.is_cuda()) {
    cuda::arange_device(t.raw_data(), dtype, count, device.index);
  } else {
    for (int64_t i = 0; i < count; ++i) store_from_double(t.raw_data(), dtype, i, static_cast<double>(i));
  }
  return t;
}

Tensor Tensor::uniform(const Shape& shape, Generator& gen, double low, double high, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  uint64_t offset = gen.reserve(static_cast<uint64_t>(t.numel_));
  if (device.is_cuda()) {
    cuda::uniform_device(t.raw_data(), dtype, t.numel_, gen.seed(), offset, static_cast<float>(low),
                         static_cast<float>(high), device.index);
  } else {
    for (int64_t i = 0; i < t.numel_; ++i)
      store_from_float(t.raw_data(), dtype, i,
                       philox_uniform(gen.seed(), offset, i, static_cast<float>(low), static_cast<float>(high)));
  }
  return t;
}

Tensor Tensor::normal(const Shape& shape, Generator& gen, double mean, double stddev, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  uint64_t offset = gen.reserve(2 * static_cast<uint64_t>(t.numel_));  // two counters per pair-half
  if (device.is_cuda()) {
    cuda::normal_device(t.raw_data(), dtype, t.numel_, gen.seed(), offset, static_cast<float>(mean),
                        static_cast<float>(stddev), device.index);
  } else {
    for (int64_t i = 0; i < t.numel_; ++i)
      store_from_float(t.raw_data(), dtype, i,
                       philox_normal(gen.seed(), offset, i, static_cast<float>(mean), static_cast<float>(stddev)));
  }
  return t;
}

Tensor Tensor::from_vector(const std::vector<float>& values, const Shape& shape, Device device) {
  ALZ_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape),
            "from_vector: " << values.size() << " values for shape " << shape_str(shape));
  Tensor host = empty(shape, DType::F32);
  std::memcpy(host.raw_data(), values.data(), host.nbytes());
  return host.to(device);
}

Tensor Tensor::from_vector(const std::vector<double>& values, const Shape& shape, Device device) {
  ALZ_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape),
            "from_vector: " << values.size() << " values for shape " << shape_str(shape));
  Tensor host = empty(shape, DType::F64);
  std::memcpy(host.raw_data(), values.data(), host.nbytes());
  return host.to(device);
}

Tensor Tensor::from_vector(const std::vector<int32_t>& values, const Shape& shape, Device device) {
  ALZ_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape),
            "from_vector: " << values.size() << " values for shape " << shape_str(shape));
  Tensor host = empty(shape, DType::I32);
  std::memcpy(host.raw_data(), values.data(), host.nbytes());
  return host.to(device);
}

// ---------------------------------------------------------------- what it is

int64_t Tensor::dim(int axis) const {
  int rank = ndim();
  int resolved = axis < 0 ? axis + rank : axis;
  ALZ_CHECK(resolved >= 0 && resolved < rank, "axis " << axis << " out of range for " << summary());
  return shape_[resolved];
}

Device Tensor::device() const { return storage_ ? storage_->device() : Device::cpu(); }
bool Tensor::is_pinned() const { return storage_ && storage_->pinned(); }

std::string Tensor::summary() const {
  if (!defined()) return "Tensor(undefined)";
  std::ostringstream out;
  out << "Tensor" << shape_str(shape_) << " " << dtype_name(dtype_) << " " << device().str();
  if (is_pinned()) out << " pinned";
  return out.str();
}

void* Tensor::raw_data() const {
  ALZ_CHECK(defined(), "raw_data() of an undefined tensor");
  return static_cast<char*>(storage_->data()) + offset_ * static_cast<int64_t>(dtype_size(dtype_));
}

template <typename T> static constexpr DType dtype_of() {
  if constexpr (std::is_same_v<T, float>)
    return DType::F32;
  else if constexpr (std::is_same_v<T, double>)
    return DType::F64;
  else if constexpr (std::is_same_v<T, int32_t>)
    return DType::I32;
  else
    return DType::BF16;
}

template <typename T> T* Tensor::data() const {
  ALZ_CHECK(dtype_ == dtype_of<T>(), "data<" << dtype_name(dtype_of<T>()) << ">() on " << summary());
  return static_cast<T*>(raw_data());
}
template float* Tensor::data<float>() const;
template double* Tensor::data<double>() const;
template bf16* Tensor::data<bf16>() const;
template int32_t* Tensor::data<int32_t>() const;

// ---------------------------------------------------------------- views

Tensor Tensor::reshape(const Shape& shape) const {
  Shape resolved = shape;
  int inferred = -1;
  int64_t known = 1;
  for (size_t i = 0; i < resolved.size(); ++i) {
    if (resolved[i] == -1) {
      ALZ_CHECK(inferred < 0, "reshape " << summary() << " to " << shape_str(shape) << ": more than one -1");
      inferred = static_cast<int>(i);
    } else {
      ALZ_CHECK(resolved[i] >= 0, "reshape " << summary() << " to " << shape_str(shape) << ": negative size");
      known *= resolved[i];
    }
  }
  if (inferred >= 0) {
    ALZ_CHECK(known > 0 && numel_ % known == 0,
              "reshape " << summary() << " to " << shape_str(shape) << ": sizes do not divide");
    resolved[inferred] = numel_ / known;
  }
  ALZ_CHECK(shape_numel(resolved) == numel_,
            "reshape " << summary() << " to " << shape_str(shape) << ": element counts differ");
  Tensor view = *this;
  view.shape_ = resolved;
  view.autograd_.reset();  // a raw view; tensor/ops.h records reshape on the tape
  return view;
}

Tensor Tensor::slice(int64_t begin, int64_t end) const {
  ALZ_CHECK(ndim() >= 1, "slice of a 0-d tensor " << summary());
  ALZ_CHECK(0 <= begin && begin <= end && end <= shape_[0],
            "slice [" << begin << ", " << end << ") out of range for " << summary());
  Tensor view = *this;
  int64_t row = shape_[0] == 0 ? 0 : numel_ / shape_[0];
  view.shape_[0] = end - begin;
  view.numel_ = shape_numel(view.shape_);
  view.offset_ = offset_ + begin * row;
  view.autograd_.reset();
  return view;
}

// ---------------------------------------------------------------- copies

Tensor Tensor::clone() const {
  Tensor copy = empty(shape_, dtype_, device());
  copy.copy_from(*this);
  return copy;
}

Tensor Tensor::to(Device target) const {
  if (target == device()) return *this;
  Tensor copy = empty(shape_, dtype_, target);
  copy.copy_from(*this);
  return copy;
}

Tensor Tensor::pin() const {
  ALZ_CHECK(device().is_cpu(), "pin() of a device tensor " << summary());
  Tensor copy = empty(shape_, dtype_, Device::cpu(), /*pinned=*/true);
  copy.copy_from(*this);
  return copy;
}

Tensor Tensor::to(DType target) const {
  if (target == dtype_) return *this;
  Tensor converted = empty(shape_, target, device());
  if (device().is_cuda()) {
    cuda::convert_device(raw_data(), dtype_, converted.raw_data(), target, numel_, device().index);
  } else if (dtype_ == DType::F32 && target == DType::BF16) {  // the mixed-precision casts: direct loops
    const float* from = static_cast<const float*>(raw_data());
    bf16* to = static_cast<bf16*>(converted.raw_data());
    for (int64_t i = 0; i < numel_; ++i) to[i] = float_to_bf16(from[i]);
  } else if (dtype_ == DType::BF16 && target == DType::F32) {
    const bf16* from = static_cast<const bf16*>(raw_data());
    float* to = static_cast<float*>(converted.raw_data());
    for (int64_t i = 0; i < numel_; ++i) to[i] = bf16_to_float(from[i]);
  } else {
    // f64 -> bf16 goes through f32, as on the GPU (double rounding is the documented behaviour).
    for (int64_t i = 0; i < numel_; ++i) {
      double value = load_as_double(raw_data(), dtype_, i);
      if (target == DType::BF16)
        store_from_float(converted.raw_data(), target, i, static_cast<float>(value));
      else
        store_from_double(converted.raw_data(), target, i, value);
    }
  }
  return converted;
}

void Tensor::copy_from(const Tensor& source) {
  check_same_shape(*this, source, "copy_from");
  check_same_dtype(*this, source, "copy_from");
  if (numel_ == 0) return;
  if (device().is_cpu() && source.device().is_cpu()) {
    std::memmove(raw_data(), source.raw_data(), nbytes());
  } else if (device() == source.device()) {
    // Device to device on one GPU: queued on its compute stream, where every later use of the
    // copy is queued too, so the host need not wait (clone() inside backward stays async).
    // The stream is named, so no pointer query is made (the copy may be inside a graph capture).
    cuda::copy_async(raw_data(), source.raw_data(), nbytes(), cuda::compute_stream(device().index));
  } else {
    cuda::copy_sync(raw_data(), source.raw_data(), nbytes());
  }
}

void Tensor::copy_from_async(const Tensor& source, Stream stream) {
  check_same_shape(*this, source, "copy_from_async");
  check_same_dtype(*this, source, "copy_from_async");
  const Tensor& host = device().is_cpu() ? *this : source;
  if (device().is_cpu() && source.device().is_cpu()) {
    std::memmove(raw_data(), source.raw_data(), nbytes());
    return;
  }
  ALZ_CHECK(!(device().is_cpu() || source.device().is_cpu()) || host.is_pinned(),
            "copy_from_async between " << summary() << " and " << source.summary()
                                       << ": the host side must be pinned memory (Tensor::pin())");
  if (numel_ == 0) return;
  cuda::copy_async(raw_data(), source.raw_data(), nbytes(), stream);
}

void Tensor::fill(double value) {
  if (device().is_cuda()) {
    cuda::fill_device(raw_data(), dtype_, numel_, value, device().index);
  } else {
    for (int64_t i = 0; i < numel_; ++i) store_from_double(raw_data(), dtype_, i, value);
  }
}

// ---------------------------------------------------------------- element access

int64_t Tensor::flat_index(std::initializer_list<int64_t> index) const {
  ALZ_CHECK(static_cast<int>(index.size()) == ndim(), "index of rank " << index.size() << " for " << summary());
  int64_t flat = 0;
  int axis = 0;
  for (int64_t i : index) {
    ALZ_CHECK(0 <= i && i < shape_[axis], "index " << i << " out of range on axis " << axis << " of " << summary());
    flat = flat * shape_[axis] + i;
    ++axis;
  }
  return flat;
}

double Tensor::at(std::initializer_list<int64_t> index) const {
  int64_t flat = flat_index(index);
  if (device().is_cpu()) return load_as_double(raw_data(), dtype_, flat);
  unsigned char element[8];
  size_t size = dtype_size(dtype_);
  cuda::copy_sync(element, static_cast<const char*>(raw_data()) + flat * size, size);
  return load_as_double(element, dtype_, 0);
}

void Tensor::set(std::initializer_list<int64_t> index, double value) {
  int64_t flat = flat_index(index);
  if (device().is_cpu()) {
    store_from_double(raw_data(), dtype_, flat, value);
    return;
  }
  unsigned char element[8];
  size_t size = dtype_size(dtype_);
  store_from_double(element, dtype_, 0, value);
  cuda::copy_sync(static_cast<char*>(raw_data()) + flat * size, element, size);
}

std::vector<double> Tensor::to_vector() const {
  Tensor host = to(Device::cpu());
  std::vector<double> values(static_cast<size_t>(numel_));
  for (int64_t i = 0; i < numel_; ++i) values[i] = load_as_double(host.raw_data(), dtype_, i);
  return values;
}

// ---------------------------------------------------------------- checks

void check_same_shape(const Tensor& a, const Tensor& b, const char* op) {
  ALZ_CHECK(a.shape() == b.shape(), op << ": shape mismatch: " << a.summary() << " vs " << b.summary());
}
void check_same_dtype(const Tensor& a, const Tensor& b, const char* op) {
  ALZ_CHECK(a.dtype() == b.dtype(), op << ": dtype mismatch: " << a.summary() << " vs " << b.summary());
}
void check_same_device(const Tensor& a, const Tensor& b, const char* op) {
  ALZ_CHECK(a.device() == b.device(), op << ": device mismatch: " << a.summary() << " vs " << b.summary());
}

}  // namespace alz
