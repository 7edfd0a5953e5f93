// The op-level profiler (tensor/profiler.h): nothing is collected without a session; a session
// gets one row per op and per backward node with the right call counts; nested ranges count
// once, in the outermost; rows come largest first; a session cannot start inside a range.
// Run: ctest --test-dir build -R Profiler
#include <gtest/gtest.h>

#include <map>
#include <thread>

#include "core/error.h"
#include "core/generator.h"
#include "tensor/autograd.h"
#include "tensor/ops.h"
#include "tensor/profiler.h"

namespace alz {
namespace {

std::map<std::string, profiler::OpTime> by_name(const std::vector<profiler::OpTime>& rows) {
  std::map<std::string, profiler::OpTime> out;
  for (const auto& r : rows) out[r.name] = r;
  return out;
}

TEST(Profiler, CollectsNothingWithoutASession) {
  (void)profiler::stop();
  EXPECT_FALSE(profiler::active());
  { profiler::Range range("outside", Tensor()); }
  EXPECT_TRUE(profiler::stop().empty());
}

TEST(Profiler, OneRowPerOpAndPerBackwardNode) {
  Generator gen(3);
  Tensor x = Tensor::normal({2, 6, 6, 3}, gen);
  Tensor w = Tensor::normal({4, 3, 3, 3}, gen).set_requires_grad(true);
  profiler::start();
  EXPECT_TRUE(profiler::active());
  Tensor y = ops::conv2d(x, w, Tensor());  // 3x3, stride 1
  Tensor z = ops::add(y, y);
  Tensor loss = ops::sum(z);
  backward(loss);
  auto rows = by_name(profiler::stop());
  EXPECT_FALSE(profiler::active());
  ASSERT_TRUE(rows.count("conv2d 3x3")) << "the convolution is named by its filter";
  EXPECT_EQ(rows["conv2d 3x3"].calls, 1);
  EXPECT_EQ(rows["conv2d 3x3.backward"].calls, 1);
  EXPECT_EQ(rows["add"].calls, 1);
  EXPECT_EQ(rows["add.backward"].calls, 1);
  EXPECT_EQ(rows["sum"].calls, 1);
  EXPECT_EQ(rows["accumulate_grad"].calls, 1) << "add's two gradients meet in conv's output";
  for (const auto& [name, row] : rows) {
    EXPECT_FALSE(row.on_device) << name;
    EXPECT_GE(row.host_ms, 0.0) << name;
    EXPECT_EQ(row.device_ms, 0.0) << name;
  }
  EXPECT_TRUE(profiler::stop().empty()) << "a stopped session is cleared";
}

TEST(Profiler, NestedRangesCountOnceInTheOutermost) {
  profiler::start();
  {
    profiler::Range outer("outer", Tensor());
    profiler::Range inner("inner", Tensor());
    Tensor a = Tensor::ones({3});
    (void)ops::add(a, a);  // an op inside a range: part of the range, not a row of its own
  }
  { profiler::Range again("outer", Tensor()); }
  auto rows = by_name(profiler::stop());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows["outer"].calls, 2);
}

TEST(Profiler, RowsComeLargestFirst) {
  profiler::start();
  {
    profiler::Range slow("slow", Tensor());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  { profiler::Range quick("quick", Tensor()); }
  std::vector<profiler::OpTime> rows = profiler::stop();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].name, "slow");
  EXPECT_GE(rows[0].host_ms, 15.0);
  EXPECT_LT(rows[1].host_ms, rows[0].host_ms);
}

TEST(Profiler, CannotStartInsideARange) {
  profiler::start();
  {
    profiler::Range open("open", Tensor());
    EXPECT_THROW(profiler::start(), Error);
  }
  EXPECT_EQ(profiler::stop().size(), 1u);
}

}  // namespace
}  // namespace alz
