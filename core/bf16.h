// bfloat16 <-> float32 conversion on the host and the device, bit-exact on both.
//
// bf16 keeps the top 16 bits of an IEEE float32 (1 sign, 8 exponent, 7 mantissa bits).
// float -> bf16 rounds to nearest, ties to even: add 0x7FFF + (lsb of the kept part), then
// truncate. NaN stays NaN (a quiet NaN with the sign kept; the carry must not turn it into
// Inf), +-Inf stays +-Inf, values past the bf16 range round to +-Inf as IEEE says.
// bf16 -> float is exact (shift left by 16).
// Tested in tests/test_dtype.cpp (edge cases) and tests/gpu/test_tensor_gpu.cpp (GPU == CPU).
#pragma once
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define ALZ_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define ALZ_HOST_DEVICE inline
#endif

namespace alz {

// Storage type: the raw 16 bits. Arithmetic always goes through float.
struct bf16 {
  uint16_t bits;
};

ALZ_HOST_DEVICE uint32_t float_bits(float value) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(value);
#else
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
#endif
}

ALZ_HOST_DEVICE float bits_float(uint32_t bits) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(bits);
#else
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
#endif
}

ALZ_HOST_DEVICE bf16 float_to_bf16(float value) {
  uint32_t bits = float_bits(value);
  if ((bits & 0x7F800000u) == 0x7F800000u && (bits & 0x007FFFFFu) != 0) {
    return bf16{static_cast<uint16_t>((bits >> 16) | 0x0040u)};  // NaN: keep sign, force quiet
  }
  uint32_t lsb = (bits >> 16) & 1u;
  bits += 0x7FFFu + lsb;  // round to nearest even; overflow to the exponent gives Inf, as IEEE
  return bf16{static_cast<uint16_t>(bits >> 16)};
}

ALZ_HOST_DEVICE float bf16_to_float(bf16 value) { return bits_float(static_cast<uint32_t>(value.bits) << 16); }

#if defined(__CUDACC__)
// Two floats to two bf16 packed in one 32-bit word (lo at the lower address), in one hardware
// instruction (cvt.rn.bf16x2.f32, sm_80 and later; the software path elsewhere). Finite values
// and infinities round exactly as float_to_bf16; a NaN comes out as a quiet NaN, not
// necessarily with float_to_bf16's bits. For kernels that write bf16 in bulk.
__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  uint32_t packed;
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(packed) : "f"(hi), "f"(lo));
  return packed;
#else
  return static_cast<uint32_t>(float_to_bf16(lo).bits) | (static_cast<uint32_t>(float_to_bf16(hi).bits) << 16);
#endif
}
#endif

}  // namespace alz
