// The op-level profiler on the GPU (tensor/profiler.h): ops on CUDA tensors get device times
// from CUDA events on the compute stream; stop() waits for them. Skips cleanly without a device.
//   ctest --test-dir build -L gpu -R Profiler
#include <gtest/gtest.h>

#include <map>

#include "core/generator.h"
#include "support/compare.h"
#include "tensor/autograd.h"
#include "tensor/ops.h"
#include "tensor/profiler.h"

namespace alz {
namespace {

TEST(ProfilerGpu, DeviceOpsGetDeviceTimes) {
  ALZ_REQUIRE_GPU();
  Generator gen(5);
  const Device gpu = Device::cuda(0);
  Tensor x = Tensor::normal({8, 32, 32, 16}, gen, 0.0, 1.0, DType::F32, gpu);
  Tensor w = Tensor::normal({32, 3, 3, 16}, gen, 0.0, 0.1, DType::F32, gpu).set_requires_grad(true);
  (void)ops::conv2d(x, w, Tensor());  // algorithm choice and workspace outside the session
  profiler::start();
  Tensor loss = ops::sum(ops::conv2d(x, w, Tensor()));
  backward(loss);
  std::map<std::string, profiler::OpTime> rows;
  for (const auto& r : profiler::stop()) rows[r.name] = r;
  ASSERT_TRUE(rows.count("conv2d 3x3"));
  ASSERT_TRUE(rows.count("conv2d 3x3.backward"));
  for (const char* name : {"conv2d 3x3", "conv2d 3x3.backward", "sum"}) {
    EXPECT_TRUE(rows[name].on_device) << name;
    EXPECT_GT(rows[name].device_ms, 0.0) << name;
  }
  // A second session reuses the events of the first.
  profiler::start();
  (void)ops::conv2d(x, w, Tensor());
  auto again = profiler::stop();
  ASSERT_EQ(again.size(), 1u);
  EXPECT_GT(again[0].device_ms, 0.0);
}

}  // namespace
}  // namespace alz
