// Element access for CUDA kernels that store float or bf16 and compute in float: load(p, i)
// reads element i as float, store(p, i, v) writes v (bf16: rounded to nearest even, as
// core/bf16.h). One definition for every kernel file that is templated on the storage type.
// Include from .cu files only. Tested through every kernel that uses it (tests/gpu/).
#pragma once
#include <cstdint>

#include "core/bf16.h"

namespace alz::kernels {

__device__ __forceinline__ float load(const float* p, int64_t i) { return p[i]; }
__device__ __forceinline__ float load(const bf16* p, int64_t i) { return bf16_to_float(p[i]); }
__device__ __forceinline__ void store(float* p, int64_t i, float v) { p[i] = v; }
__device__ __forceinline__ void store(bf16* p, int64_t i, float v) { p[i] = float_to_bf16(v); }

}  // namespace alz::kernels
