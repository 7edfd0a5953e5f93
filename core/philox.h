// Counter-based random numbers (Philox4x32-10, Salmon et al., SC 2011) shared by the CPU and
// the GPU, so that the same (seed, offset) gives the same numbers on both devices.
//
// Element i of a draw with generator state (seed, offset) uses counter (offset + i/4 ... ) and
// lane i%4 of the 4x32-bit block: element values never depend on how work is split between
// threads. uniform: the top 24 bits of the word, in [0, 1). normal: Box-Muller on two uniforms,
// computed in double and rounded to float so host libm and CUDA's math agree to the bit.
// Tested in tests/test_random.cpp (known answers, statistics) and on the GPU against the CPU.
#pragma once
#include <cmath>
#include <cstdint>

#include "core/bf16.h"

namespace alz {

struct PhiloxBlock {
  uint32_t word[4];
};

ALZ_HOST_DEVICE void philox_mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  uint64_t product = static_cast<uint64_t>(a) * b;
  hi = static_cast<uint32_t>(product >> 32);
  lo = static_cast<uint32_t>(product);
}

// Ten rounds of Philox4x32 on a 128-bit counter with a 64-bit key.
ALZ_HOST_DEVICE PhiloxBlock philox4x32(uint64_t counter_low, uint64_t counter_high, uint64_t key) {
  uint32_t c0 = static_cast<uint32_t>(counter_low), c1 = static_cast<uint32_t>(counter_low >> 32);
  uint32_t c2 = static_cast<uint32_t>(counter_high), c3 = static_cast<uint32_t>(counter_high >> 32);
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    philox_mulhilo(0xD2511F53u, c0, hi0, lo0);
    philox_mulhilo(0xCD9E8D57u, c2, hi1, lo1);
    uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0;
    c1 = n1;
    c2 = n2;
    c3 = n3;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return PhiloxBlock{{c0, c1, c2, c3}};
}

// The 32 random bits for element `index` of a draw that starts at `offset`.
ALZ_HOST_DEVICE uint32_t philox_bits(uint64_t seed, uint64_t offset, uint64_t index) {
  uint64_t position = offset + index;
  PhiloxBlock block = philox4x32(position >> 2, 0, seed);
  return block.word[position & 3];
}

// Uniform in [0, 1) with 24 random bits (exact in float).
ALZ_HOST_DEVICE float bits_to_unit_float(uint32_t bits) { return static_cast<float>(bits >> 8) * (1.0f / 16777216.0f); }

// Element `index` of a uniform draw in [low, high).
ALZ_HOST_DEVICE float philox_uniform(uint64_t seed, uint64_t offset, uint64_t index, float low, float high) {
  return low + (high - low) * bits_to_unit_float(philox_bits(seed, offset, index));
}

// Element `index` of a normal draw: element 2k and 2k+1 share one Box-Muller pair, drawn from
// counter positions 2*index-ish, so a draw of n normals consumes 2n counter positions.
ALZ_HOST_DEVICE float philox_normal(uint64_t seed, uint64_t offset, uint64_t index, float mean, float stddev) {
  uint64_t pair = index >> 1;
  uint32_t bits_a = philox_bits(seed, offset, 2 * pair);
  uint32_t bits_b = philox_bits(seed, offset, 2 * pair + 1);
  // u1 in (0, 1] so log(u1) is finite; 53-bit-free: 32 bits each is plenty for a float result.
  double u1 = (static_cast<double>(bits_a) + 1.0) * (1.0 / 4294967296.0);
  double u2 = static_cast<double>(bits_b) * (1.0 / 4294967296.0);
  double radius = sqrt(-2.0 * log(u1));
  double angle = 6.283185307179586476925 * u2;
  double z = (index & 1) ? radius * sin(angle) : radius * cos(angle);
  return static_cast<float>(mean + stddev * z);
}

}  // namespace alz
