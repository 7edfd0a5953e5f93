// Device discovery, library versions and raw copies (tensor/cuda_runtime.h), CUDA build.
// Discovery is graceful: no driver, no device or a driver too old all give device_count() 0
// and a reason, never an exception.
#include <cuda_runtime.h>

#include <cstdio>
#include <mutex>

#include "core/cuda/check.h"
#include "tensor/cuda/context.h"
#include "tensor/cuda_runtime.h"

namespace alz::cuda {

namespace {

struct Discovery {
  int count = 0;
  std::string reason;
};

const Discovery& discovery() {
  static Discovery result = [] {
    Discovery found;
    int count = 0;
    cudaError_t status = cudaGetDeviceCount(&count);
    if (status != cudaSuccess) {
      cudaGetLastError();  // clear the sticky-free error so later calls are not confused
      found.reason = std::string("CUDA runtime reports: ") + cudaGetErrorString(status);
      return found;
    }
    if (count == 0) {
      found.reason = "no CUDA device found";
      return found;
    }
    found.count = count;
    return found;
  }();
  return result;
}

}  // namespace

bool built_with_cuda() { return true; }
int device_count() { return discovery().count; }
bool available() { return device_count() > 0; }
std::string unavailable_reason() { return discovery().reason; }

std::vector<DeviceProperties> devices() {
  std::vector<DeviceProperties> list;
  for (int i = 0; i < device_count(); ++i) {
    cudaDeviceProp prop{};
    ALZ_CUDA_CHECK(cudaGetDeviceProperties(&prop, i));
    DeviceProperties d;
    d.index = i;
    d.name = prop.name;
    d.total_memory = prop.totalGlobalMem;
    d.compute_major = prop.major;
    d.compute_minor = prop.minor;
    d.multiprocessors = prop.multiProcessorCount;
    list.push_back(d);
  }
  return list;
}

std::string library_versions() {
  auto dotted = [](int v) {  // CUDA encodes 13000 as 13.0
    return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
  };
  int runtime = 0, driver = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  size_t cudnn = cudnnGetVersion();  // e.g. 91900 = 9.19.0
  int cublas = 0;
  cublasGetProperty(MAJOR_VERSION, &cublas);
  int cublas_minor = 0, cublas_patch = 0;
  cublasGetProperty(MINOR_VERSION, &cublas_minor);
  cublasGetProperty(PATCH_LEVEL, &cublas_patch);
  char text[256];
  std::snprintf(text, sizeof text, "CUDA runtime %s, driver %s, cuDNN %zu.%zu.%zu, cuBLAS %d.%d.%d",
                dotted(runtime).c_str(), driver ? dotted(driver).c_str() : "none", cudnn / 10000, (cudnn % 10000) / 100,
                cudnn % 100, cublas, cublas_minor, cublas_patch);
  return text;
}

namespace {

// The device a pointer lives on, or -1 for host memory.
int pointer_device(const void* pointer) {
  cudaPointerAttributes attributes{};
  ALZ_CUDA_CHECK(cudaPointerGetAttributes(&attributes, pointer));
  return attributes.type == cudaMemoryTypeDevice ? attributes.device : -1;
}

}  // namespace

void copy_sync(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  int device = pointer_device(dst);
  if (device < 0) device = pointer_device(src);
  if (device < 0) device = 0;
  // On the device's compute stream, so the copy is ordered after the work that produced src.
  cudaStream_t stream = context(device).compute_stream;
  ALZ_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, stream));
  ALZ_CUDA_CHECK(cudaStreamSynchronize(stream));
}

void copy_async(void* dst, const void* src, size_t bytes, Stream stream) {
  if (bytes == 0) return;
  if (stream.handle) {  // no pointer query: the copy may be part of a CUDA graph capture
    ALZ_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, static_cast<cudaStream_t>(stream.handle)));
    return;
  }
  int device = pointer_device(dst);
  if (device < 0) device = pointer_device(src);
  if (device < 0) device = 0;
  ALZ_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, stream_or_default(stream, device)));
}

void synchronize(int device) {
  Context& ctx = context(device);
  ALZ_CUDA_CHECK(cudaStreamSynchronize(ctx.compute_stream));
  ALZ_CUDA_CHECK(cudaStreamSynchronize(ctx.copy_stream));
}

Stream compute_stream(int device) { return Stream{context(device).compute_stream}; }

}  // namespace alz::cuda
