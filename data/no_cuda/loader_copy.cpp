// Host-to-device batch copies for a build without CUDA: there is no device to copy to, so
// asking the loader for a CUDA target fails with a clear message. See data/cuda/loader_copy.cpp.
//
// Tested in tests/test_loader.cpp (CPU targets) when built with -DALZ_CUDA=OFF.
#include "core/error.h"
#include "data/loader.h"

namespace alz::data::detail {

struct DeviceCopier::Impl {};

DeviceCopier::DeviceCopier(Device device, int /*buffers*/, int64_t /*max_batch*/) {
  ALZ_FAIL("loader: target " << device.str() << " needs CUDA, but alz was built without CUDA");
}

DeviceCopier::~DeviceCopier() = default;

void DeviceCopier::upload(const Tensor&, const Tensor&, Tensor&, Tensor&) {
  ALZ_FAIL("loader: alz was built without CUDA");
}

}  // namespace alz::data::detail
