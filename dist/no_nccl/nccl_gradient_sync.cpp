// A build without NCCL (no CUDA, no MPI, or no nccl.h): GPU ranks synchronise through the host
// (HostGradientSync). The NCCL implementation is dist/nccl/nccl_gradient_sync.cpp.
#include "dist/gradient_sync.h"

namespace alz::dist {

std::unique_ptr<GradientSync> make_nccl_gradient_sync(Communicator&, std::vector<ParamRef>, std::vector<ParamRef>,
                                                      Device, int64_t) {
  return nullptr;
}

}  // namespace alz::dist
