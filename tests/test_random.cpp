// The seeded counter-based generator: reproducibility, independence of successive draws,
// known answers that pin the stream, and statistics. Run: ctest --test-dir build -R Random
#include <gtest/gtest.h>

#include <cmath>

#include "core/philox.h"
#include "support/compare.h"
#include "tensor/tensor.h"

namespace alz {
namespace {

TEST(Random, PhiloxKnownAnswer) {
  // Philox4x32-10 known-answer vectors of the Random123 distribution (counter 0, key 0 and
  // counter all-ones, key all-ones): these pin the algorithm, not our implementation.
  PhiloxBlock zero = philox4x32(0, 0, 0);
  EXPECT_EQ(zero.word[0], 0x6627e8d5u);
  EXPECT_EQ(zero.word[1], 0xe169c58du);
  EXPECT_EQ(zero.word[2], 0xbc57ac4cu);
  EXPECT_EQ(zero.word[3], 0x9b00dbd8u);
  PhiloxBlock ones = philox4x32(~uint64_t{0}, ~uint64_t{0}, ~uint64_t{0});
  EXPECT_EQ(ones.word[0], 0x408f276du);
  EXPECT_EQ(ones.word[1], 0x41c83b0eu);
  EXPECT_EQ(ones.word[2], 0xa20bc7c6u);
  EXPECT_EQ(ones.word[3], 0x6d5451fdu);
}

TEST(Random, SameSeedSameNumbersDifferentDrawsDiffer) {
  Generator a(123), b(123);
  Tensor x1 = Tensor::uniform({1000}, a), x2 = Tensor::uniform({1000}, b);
  EXPECT_TRUE(test::bitwise_equal(x1, x2));
  Tensor y1 = Tensor::uniform({1000}, a);
  EXPECT_FALSE(test::bitwise_equal(x1, y1));  // the offset moved on
  Generator c(124);
  EXPECT_FALSE(test::bitwise_equal(x1, Tensor::uniform({1000}, c)));
  // A saved (seed, offset) resumes the stream exactly.
  Generator resumed(123, a.offset());
  Tensor z1 = Tensor::normal({37}, a), z2 = Tensor::normal({37}, resumed);
  EXPECT_TRUE(test::bitwise_equal(z1, z2));
}

TEST(Random, UniformAndNormalStatistics) {
  Generator gen(2024);
  const int64_t n = 200000;
  std::vector<double> u = Tensor::uniform({n}, gen, -2.0, 3.0).to_vector();
  double sum = 0, lo = 1e9, hi = -1e9;
  for (double v : u) {
    sum += v;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  EXPECT_GE(lo, -2.0);
  EXPECT_LT(hi, 3.0);
  EXPECT_NEAR(sum / n, 0.5, 0.02);  // sd of the mean: 5/sqrt(12)/sqrt(n) ~ 0.003
  std::vector<double> z = Tensor::normal({n}, gen, 1.0, 2.0).to_vector();
  double mean = 0, var = 0;
  for (double v : z) mean += v;
  mean /= n;
  for (double v : z) var += (v - mean) * (v - mean);
  var /= n - 1;
  EXPECT_NEAR(mean, 1.0, 0.03);  // sd of the mean: 2/sqrt(n) ~ 0.0045
  EXPECT_NEAR(var, 4.0, 0.08);   // sd of the variance: 4*sqrt(2/n) ~ 0.013
}

TEST(Random, DtypesDrawTheSameValues) {
  Generator a(5), b(5);
  Tensor f = Tensor::uniform({64}, a);
  Tensor d = Tensor::uniform({64}, b, 0.0, 1.0, DType::F64);
  EXPECT_TRUE(test::bitwise_equal(d.to(DType::F32), f));
}

}  // namespace
}  // namespace alz
