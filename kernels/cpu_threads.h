// What the CPU kernels run on: OpenBLAS's build (OpenMP or pthreads) and thread counts.
//
// The CPU path is fastest when OpenBLAS is its OpenMP build (cmake/dependencies.cmake links it
// when Debian's libopenblas-openmp-dev is installed): GEMMs and our own OpenMP loops then share
// one pool of threads. With the pthread build, OpenBLAS's workers spin after each GEMM and an
// OpenMP loop right after one fights them for the cores, so the copy loops around GEMMs
// (im2col, col2im) stay serial in that case. The summary also names the kernels OpenBLAS
// picked for this CPU: an OPENBLAS_CORETYPE in the environment overrides its own choice (a
// Zen 4 forced to "Haswell" runs GEMMs at about half the speed of its own "Cooperlake" pick).
//
//   std::printf("%s\n", kernels::cpu_threading_summary().c_str());
//   // "CPU: OpenBLAS 0.3.21 ... (OpenMP build, Haswell kernels), 2 BLAS threads; OpenMP 2 threads"
// Shown by `alz info`; tested by tests/test_cli_train.cpp (`alz info` names the BLAS kernels).
#pragma once
#include <string>

namespace alz::kernels {

bool blas_shares_openmp_threads();  // OpenBLAS is the OpenMP build
std::string cpu_threading_summary();

}  // namespace alz::kernels
