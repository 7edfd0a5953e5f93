// OpenBLAS's build and thread counts (kernels/cpu_threads.h), read once from OpenBLAS itself.
#include "kernels/cpu_threads.h"

#include <cblas.h>
#include <omp.h>

#include <cstdlib>
#include <sstream>

namespace alz::kernels {

bool blas_shares_openmp_threads() {
  static const bool openmp = openblas_get_parallel() == 2;  // 0 sequential, 1 pthreads, 2 OpenMP
  return openmp;
}

std::string cpu_threading_summary() {
  const int parallel = openblas_get_parallel();
  const char* build = parallel == 2 ? "OpenMP build" : parallel == 1 ? "pthread build" : "sequential build";
  std::ostringstream out;
  out << "CPU: " << openblas_get_config() << " (" << build << ", " << openblas_get_corename() << " kernels), "
      << openblas_get_num_threads() << " BLAS threads; OpenMP " << omp_get_max_threads() << " threads";
  if (parallel == 1) out << " (install libopenblas-openmp-dev and rebuild for a faster CPU path)";
  if (const char* forced = std::getenv("OPENBLAS_CORETYPE")) out << "; kernels forced by OPENBLAS_CORETYPE=" << forced;
  return out.str();
}

}  // namespace alz::kernels
