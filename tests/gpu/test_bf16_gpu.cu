// bf16 conversion on the device (core/bf16.h) against the host's float_to_bf16, bit for bit:
// float_to_bf16 itself and pack_bf16x2 (the hardware cvt.rn.bf16x2.f32 that bulk kernels such as
// the fused BatchNorm use to store bf16) on ties, subnormals, the largest finite values, values
// that round to Inf, +-Inf, and a sweep of random bit patterns; a NaN must stay a quiet NaN.
//   ctest --test-dir build -R Bf16Gpu        (or build/tests/test_bf16_gpu)
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "core/bf16.h"
#include "core/cuda/check.h"
#include "support/compare.h"

namespace alz {
namespace {

// out_scalar[i] = float_to_bf16(in[i]); out_packed[i / 2] packs in[i], in[i + 1] (i even).
__global__ void convert_kernel(const float* in, int count, uint16_t* out_scalar, uint32_t* out_packed) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < count) out_scalar[i] = float_to_bf16(in[i]).bits;
  if (i % 2 == 0 && i + 1 < count) out_packed[i / 2] = pack_bf16x2(in[i], in[i + 1]);
}

float from_bits(uint32_t bits) {
  float v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}

std::vector<float> test_values() {
  std::vector<float> v = {0.0f,
                          -0.0f,
                          1.0f,
                          -1.0f,
                          1.00390625f,
                          1.01171875f,  // ties to even, both ways
                          from_bits(0x3F808000u),
                          from_bits(0x3F818000u),
                          from_bits(0x3F808001u),
                          from_bits(0x00000001u),
                          from_bits(0x80008000u),
                          from_bits(0x007FFFFFu),  // subnormals
                          std::numeric_limits<float>::max(),
                          -std::numeric_limits<float>::max(),  // round to Inf
                          from_bits(0x7F7F7FFFu),
                          from_bits(0x7F7F8000u),  // largest finite bf16, and past it
                          std::numeric_limits<float>::infinity(),
                          -std::numeric_limits<float>::infinity(),
                          std::numeric_limits<float>::min(),
                          3.14159265f,
                          -2.71828182f,
                          65504.0f,
                          1e-30f,
                          -1e30f};
  std::mt19937 rng(5);
  std::uniform_int_distribution<uint32_t> bits;
  while (v.size() < 100000) {
    const float f = from_bits(bits(rng));
    if (!std::isnan(f)) v.push_back(f);
  }
  if (v.size() % 2 != 0) v.push_back(0.5f);
  return v;
}

TEST(Bf16Gpu, DeviceConversionsMatchTheHostBitForBit) {
  ALZ_REQUIRE_GPU();
  const std::vector<float> values = test_values();
  const int count = static_cast<int>(values.size());
  float* in = nullptr;
  uint16_t* scalar = nullptr;
  uint32_t* packed = nullptr;
  ALZ_CUDA_CHECK(cudaMalloc(&in, count * sizeof(float)));
  ALZ_CUDA_CHECK(cudaMalloc(&scalar, count * sizeof(uint16_t)));
  ALZ_CUDA_CHECK(cudaMalloc(&packed, count / 2 * sizeof(uint32_t)));
  ALZ_CUDA_CHECK(cudaMemcpy(in, values.data(), count * sizeof(float), cudaMemcpyHostToDevice));
  convert_kernel<<<(count + 255) / 256, 256>>>(in, count, scalar, packed);
  ALZ_CUDA_CHECK_LAUNCH();
  std::vector<uint16_t> scalar_host(count);
  std::vector<uint32_t> packed_host(count / 2);
  ALZ_CUDA_CHECK(cudaMemcpy(scalar_host.data(), scalar, count * sizeof(uint16_t), cudaMemcpyDeviceToHost));
  ALZ_CUDA_CHECK(cudaMemcpy(packed_host.data(), packed, count / 2 * sizeof(uint32_t), cudaMemcpyDeviceToHost));
  cudaFree(in);
  cudaFree(scalar);
  cudaFree(packed);
  int scalar_mismatches = 0, packed_mismatches = 0;
  for (int i = 0; i < count; ++i) {
    const uint16_t expected = float_to_bf16(values[i]).bits;
    const uint16_t from_pack = static_cast<uint16_t>(packed_host[i / 2] >> (i % 2 == 0 ? 0 : 16));
    if (scalar_host[i] != expected && ++scalar_mismatches <= 5)
      ADD_FAILURE() << "float_to_bf16 on the device: value " << values[i] << " gave 0x" << std::hex << scalar_host[i]
                    << ", the host 0x" << expected;
    if (from_pack != expected && ++packed_mismatches <= 5)
      ADD_FAILURE() << "pack_bf16x2: value " << values[i] << " (" << (i % 2 == 0 ? "low" : "high") << " half) gave 0x"
                    << std::hex << from_pack << ", the host 0x" << expected;
  }
  EXPECT_EQ(scalar_mismatches, 0);
  EXPECT_EQ(packed_mismatches, 0);
}

TEST(Bf16Gpu, NanStaysAQuietNan) {
  ALZ_REQUIRE_GPU();
  const std::vector<float> values = {std::numeric_limits<float>::quiet_NaN(), from_bits(0xFF800001u),
                                     from_bits(0x7FC00000u), from_bits(0x7F800001u)};
  float* in = nullptr;
  uint16_t* scalar = nullptr;
  uint32_t* packed = nullptr;
  ALZ_CUDA_CHECK(cudaMalloc(&in, values.size() * sizeof(float)));
  ALZ_CUDA_CHECK(cudaMalloc(&scalar, values.size() * sizeof(uint16_t)));
  ALZ_CUDA_CHECK(cudaMalloc(&packed, values.size() / 2 * sizeof(uint32_t)));
  ALZ_CUDA_CHECK(cudaMemcpy(in, values.data(), values.size() * sizeof(float), cudaMemcpyHostToDevice));
  convert_kernel<<<1, 32>>>(in, static_cast<int>(values.size()), scalar, packed);
  ALZ_CUDA_CHECK_LAUNCH();
  std::vector<uint32_t> packed_host(values.size() / 2);
  ALZ_CUDA_CHECK(cudaMemcpy(packed_host.data(), packed, packed_host.size() * sizeof(uint32_t), cudaMemcpyDeviceToHost));
  cudaFree(in);
  cudaFree(scalar);
  cudaFree(packed);
  for (size_t i = 0; i < values.size(); ++i) {
    const uint16_t half = static_cast<uint16_t>(packed_host[i / 2] >> (i % 2 == 0 ? 0 : 16));
    EXPECT_EQ(half & 0x7F80u, 0x7F80u) << "value " << i << ": exponent not all ones";
    EXPECT_NE(half & 0x0040u, 0u) << "value " << i << ": not a quiet NaN";
  }
}

}  // namespace
}  // namespace alz
