// dtype conversion edge cases: f32 <-> bf16 round-to-nearest-even, NaN, Inf, overflow,
// subnormals; f32 <-> f64. Run: ctest --test-dir build -R Dtype
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/bf16.h"
#include "support/compare.h"
#include "tensor/tensor.h"

namespace alz {
namespace {

uint16_t bf16_bits_of(float value) { return float_to_bf16(value).bits; }

TEST(Dtype, SizesAndNames) {
  EXPECT_EQ(dtype_size(DType::F32), 4u);
  EXPECT_EQ(dtype_size(DType::F64), 8u);
  EXPECT_EQ(dtype_size(DType::BF16), 2u);
  EXPECT_STREQ(dtype_name(DType::BF16), "bf16");
}

TEST(Dtype, Bf16ExactValuesRoundTrip) {
  for (float value : {0.0f, -0.0f, 1.0f, -2.0f, 0.5f, 3.0f, 256.0f, -1024.0f}) {
    EXPECT_EQ(bf16_to_float(float_to_bf16(value)), value) << value;
  }
  EXPECT_EQ(bf16_bits_of(1.0f), 0x3F80);
  EXPECT_EQ(bf16_bits_of(-0.0f), 0x8000);
}

TEST(Dtype, Bf16RoundsToNearestEven) {
  // 1 + 2^-8 lies exactly halfway between bf16 1.0 (0x3F80) and 1 + 2^-7 (0x3F81): ties to even.
  EXPECT_EQ(bf16_bits_of(1.0f + std::ldexp(1.0f, -8)), 0x3F80);
  // 1 + 3*2^-8 lies halfway between 0x3F81 and 0x3F82: ties to even -> 0x3F82.
  EXPECT_EQ(bf16_bits_of(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3F82);
  // Just above the halfway point rounds up.
  EXPECT_EQ(bf16_bits_of(std::nextafter(1.0f + std::ldexp(1.0f, -8), 2.0f)), 0x3F81);
  // Just below rounds down.
  EXPECT_EQ(bf16_bits_of(std::nextafter(1.0f + std::ldexp(1.0f, -7), 0.0f)), 0x3F81);
}

TEST(Dtype, Bf16SpecialValues) {
  float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(bf16_bits_of(inf), 0x7F80);
  EXPECT_EQ(bf16_bits_of(-inf), 0xFF80);
  // NaN stays NaN, also a NaN whose payload lies only in the low 16 bits (truncation would
  // make it Inf) and one whose rounding carry would otherwise overflow.
  for (uint32_t bits : {0x7FC00000u, 0x7F800001u, 0xFF800001u, 0x7FFFFFFFu}) {
    float nan;
    std::memcpy(&nan, &bits, 4);
    float back = bf16_to_float(float_to_bf16(nan));
    EXPECT_TRUE(std::isnan(back)) << std::hex << bits;
    EXPECT_EQ(std::signbit(back), std::signbit(nan));
  }
  // The largest finite float rounds to Inf (it is above bf16's max + half an ulp).
  EXPECT_EQ(bf16_bits_of(std::numeric_limits<float>::max()), 0x7F80);
  // bf16's own max stays finite.
  EXPECT_EQ(bf16_bits_of(bf16_to_float(bf16{0x7F7F})), 0x7F7F);
  // Subnormals convert like normals (bf16 has the same exponent range).
  float tiny = std::numeric_limits<float>::denorm_min() * 65536.0f * 3.0f;
  EXPECT_EQ(bf16_to_float(float_to_bf16(tiny)), tiny);
}

TEST(Dtype, TensorConversionF32Bf16F64) {
  Generator gen(7);
  Tensor x = Tensor::normal({3, 5, 7}, gen, 0.0, 10.0);
  Tensor as_bf16 = x.to(DType::BF16);
  Tensor back = as_bf16.to(DType::F32);
  // bf16 keeps 8 significant bits: half an ulp is at most 2^-8 of the value.
  ALZ_EXPECT_CLOSE(back, x, (test::Tolerance{0.0, 1.0 / 256}));
  Tensor as_f64 = x.to(DType::F64);
  EXPECT_EQ(as_f64.dtype(), DType::F64);
  EXPECT_TRUE(test::bitwise_equal(as_f64.to(DType::F32), x));  // f32 -> f64 -> f32 is exact
  for (int64_t i = 0; i < 5; ++i) EXPECT_EQ(as_bf16.at({1, i, 2}), bf16_to_float(float_to_bf16(x.at({1, i, 2}))));
}

}  // namespace
}  // namespace alz
