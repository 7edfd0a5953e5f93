// Element types and devices of a Tensor.
//   DType: F32 (everywhere), F64 (CPU gradient checks; also on the GPU), BF16 (GPU storage with
//   f32 arithmetic), I32 (class labels). Device: CPU or CUDA with an index.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace alz {

enum class DType : uint8_t { F32, F64, BF16, I32 };

size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);  // "f32", "f64", "bf16", "i32"

enum class DeviceType : uint8_t { CPU, CUDA };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;

  static Device cpu() { return Device{}; }
  static Device cuda(int index = 0) { return Device{DeviceType::CUDA, index}; }
  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  std::string str() const;  // "cpu", "cuda:0"
  bool operator==(const Device& other) const { return type == other.type && index == other.index; }
  bool operator!=(const Device& other) const { return !(*this == other); }
};

// A CUDA stream as an opaque handle, so that CPU-only code can pass streams around.
// nullptr means the device's default compute stream (see tensor/cuda/context.h), not stream 0.
struct Stream {
  void* handle = nullptr;
};

}  // namespace alz
