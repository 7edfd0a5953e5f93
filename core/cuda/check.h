// Check macros around every CUDA runtime, cuBLAS and cuDNN call. A failure throws alz::Error
// naming the file, the line, the call and the library's own message. After every kernel
// launch use ALZ_CUDA_CHECK_LAUNCH() (it reads cudaGetLastError without synchronising).
//
//   ALZ_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, stream));
//   my_kernel<<<grid, block, 0, stream>>>(...); ALZ_CUDA_CHECK_LAUNCH();
//   ALZ_CUBLAS_CHECK(cublasSgemm(...));  ALZ_CUDNN_CHECK(cudnnConvolutionForward(...));
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <sstream>
#include <string>

#include "core/error.h"

namespace alz::cuda {

const char* cublas_status_string(cublasStatus_t status);

[[noreturn]] inline void throw_library_error(const char* library, const char* call, const char* message,
                                             const char* file, int line) {
  std::ostringstream stream;
  stream << library << " error at " << file << ":" << line << ": " << message << " (in " << call << ")";
  throw ::alz::Error(stream.str());
}

}  // namespace alz::cuda

#define ALZ_CUDA_CHECK(call)                                                                                \
  do {                                                                                                      \
    cudaError_t alz_status_ = (call);                                                                       \
    if (alz_status_ != cudaSuccess)                                                                         \
      ::alz::cuda::throw_library_error("CUDA", #call, cudaGetErrorString(alz_status_), __FILE__, __LINE__); \
  } while (0)

#define ALZ_CUDA_CHECK_LAUNCH() ALZ_CUDA_CHECK(cudaGetLastError())

#define ALZ_CUBLAS_CHECK(call)                                                                                    \
  do {                                                                                                            \
    cublasStatus_t alz_status_ = (call);                                                                          \
    if (alz_status_ != CUBLAS_STATUS_SUCCESS)                                                                     \
      ::alz::cuda::throw_library_error("cuBLAS", #call, ::alz::cuda::cublas_status_string(alz_status_), __FILE__, \
                                       __LINE__);                                                                 \
  } while (0)

#define ALZ_CUDNN_CHECK(call)                                                                                 \
  do {                                                                                                        \
    cudnnStatus_t alz_status_ = (call);                                                                       \
    if (alz_status_ != CUDNN_STATUS_SUCCESS)                                                                  \
      ::alz::cuda::throw_library_error("cuDNN", #call, cudnnGetErrorString(alz_status_), __FILE__, __LINE__); \
  } while (0)
