// The CUDA runtime of a build without the CUDA toolkit (configured with -DALZ_CUDA=OFF or on
// a machine without nvcc): no devices, and every device operation says so. Compiled only in
// such builds; see tensor/cuda_runtime.h for the interface.
#include "core/error.h"
#include "tensor/cuda_runtime.h"

namespace alz::cuda {

namespace {
[[noreturn]] void no_cuda(const char* what) {
  ALZ_FAIL(what << ": this build of alz has no CUDA backend (configured without the CUDA toolkit)");
}
}  // namespace

bool built_with_cuda() { return false; }
int device_count() { return 0; }
bool available() { return false; }
std::string unavailable_reason() { return "this build has no CUDA backend (built without the CUDA toolkit)"; }
std::vector<DeviceProperties> devices() { return {}; }
std::string library_versions() { return "built without CUDA"; }

void* device_allocate(size_t, int) { no_cuda("device_allocate"); }
void device_free(void*) {}
AllocatorStats allocator_stats(int) { return {}; }
void reset_peak_stats(int) {}
void release_cached_blocks() {}
size_t allocator_size_class(size_t bytes) { return bytes; }
void* pinned_allocate(size_t) { no_cuda("pinned_allocate"); }
void pinned_free(void*) {}
void copy_sync(void*, const void*, size_t) { no_cuda("copy to or from a CUDA device"); }
void copy_async(void*, const void*, size_t, Stream) { no_cuda("asynchronous copy"); }
void synchronize(int) { no_cuda("synchronize"); }
Stream compute_stream(int) { no_cuda("compute_stream"); }
void fill_device(void*, DType, int64_t, double, int) { no_cuda("fill on a CUDA device"); }
void arange_device(void*, DType, int64_t, int) { no_cuda("arange on a CUDA device"); }
void uniform_device(void*, DType, int64_t, uint64_t, uint64_t, float, float, int) {
  no_cuda("uniform on a CUDA device");
}
void normal_device(void*, DType, int64_t, uint64_t, uint64_t, float, float, int) { no_cuda("normal on a CUDA device"); }
void convert_device(const void*, DType, void*, DType, int64_t, int) { no_cuda("convert on a CUDA device"); }

}  // namespace alz::cuda
