// Names of cuBLAS status codes for the check macros (cuBLAS has cublasGetStatusString since
// 11.4; this wrapper keeps one spelling for every call site). See core/cuda/check.h.
#include "core/cuda/check.h"

namespace alz::cuda {

const char* cublas_status_string(cublasStatus_t status) { return cublasGetStatusString(status); }

}  // namespace alz::cuda
