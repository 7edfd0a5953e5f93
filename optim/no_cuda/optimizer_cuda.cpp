// The CUDA side of the optimizers in a build without the CUDA toolkit: parameters can only be
// on the CPU, so these are never reached with a device; see optim/cuda/optimizer_cuda.cpp.
#include "core/error.h"
#include "optim/optimizer.h"

namespace alz {

struct Optimizer::CudaState {};

void Optimizer::make_cuda_state() {
  ALZ_FAIL(kind_ << " optimizer: parameters on " << device_.str() << " in a build without CUDA");
}
void Optimizer::step_cuda() { make_cuda_state(); }
void Optimizer::upload_scalars_cuda(bool) {}
double Optimizer::last_grad_norm() const { return last_norm_; }
uint64_t Optimizer::table_uploads() const { return 0; }
Optimizer::~Optimizer() = default;
void Optimizer::CudaStateDeleter::operator()(CudaState* state) const { delete state; }
void SGD::update_cuda(const DeviceStep&) {}
void Adam::update_cuda(const DeviceStep&) {}

}  // namespace alz
