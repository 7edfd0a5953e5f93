// Tensor on the GPU: round-trip copies (sync and async from pinned memory), creation and
// the generator giving bit-identical numbers on both devices, conversion on the device.
// Labelled `gpu`; skips with a reason without a device. Run: ctest --test-dir build -L gpu
#include <gtest/gtest.h>

#include "core/error.h"
#include "support/compare.h"
#include "tensor/cuda/context.h"
#include "tensor/cuda_runtime.h"
#include "tensor/tensor.h"

namespace alz {
namespace {

TEST(TensorGpu, RoundTripCopies) {
  ALZ_REQUIRE_GPU();
  Generator gen(11);
  for (DType dtype : {DType::F32, DType::F64, DType::BF16}) {
    Tensor host = Tensor::normal({3, 7, 5, 13}, gen, 0.0, 1.0, dtype);
    Tensor device = host.to(Device::cuda());
    EXPECT_TRUE(device.device().is_cuda());
    EXPECT_TRUE(test::bitwise_equal(device.to(Device::cpu()), host)) << dtype_name(dtype);
    // device -> device
    Tensor other = Tensor::empty(host.shape(), dtype, Device::cuda());
    other.copy_from(device);
    EXPECT_TRUE(test::bitwise_equal(other, host));
  }
}

TEST(TensorGpu, AsyncCopyFromPinnedMemory) {
  ALZ_REQUIRE_GPU();
  Generator gen(12);
  Tensor host = Tensor::uniform({1 << 20}, gen).pin();
  EXPECT_TRUE(host.is_pinned());
  Tensor device = Tensor::empty(host.shape(), DType::F32, Device::cuda());
  auto& ctx = cuda::context(0);
  device.copy_from_async(host, Stream{ctx.copy_stream});
  Tensor back = Tensor::empty(host.shape(), DType::F32, Device::cpu(), /*pinned=*/true);
  back.copy_from_async(device, Stream{ctx.copy_stream});
  cuda::synchronize(0);
  EXPECT_TRUE(test::bitwise_equal(back, host));
  Tensor unpinned = Tensor::zeros({1 << 20});
  EXPECT_THROW(device.copy_from_async(unpinned, Stream{}), Error);  // host side must be pinned
}

TEST(TensorGpu, GeneratorIdenticalOnBothDevices) {
  ALZ_REQUIRE_GPU();
  for (DType dtype : {DType::F32, DType::BF16, DType::F64}) {
    Generator cpu_gen(99), gpu_gen(99);
    Tensor u_cpu = Tensor::uniform({100003}, cpu_gen, -3.0, 5.0, dtype);
    Tensor u_gpu = Tensor::uniform({100003}, gpu_gen, -3.0, 5.0, dtype, Device::cuda());
    EXPECT_TRUE(test::bitwise_equal(u_gpu, u_cpu)) << "uniform " << dtype_name(dtype);
    Tensor n_cpu = Tensor::normal({65537}, cpu_gen, 0.5, 2.0, dtype);
    Tensor n_gpu = Tensor::normal({65537}, gpu_gen, 0.5, 2.0, dtype, Device::cuda());
    EXPECT_TRUE(test::bitwise_equal(n_gpu, n_cpu)) << "normal " << dtype_name(dtype);
    EXPECT_EQ(cpu_gen.offset(), gpu_gen.offset());
  }
}

TEST(TensorGpu, FillArangeAndConversionMatchCpu) {
  ALZ_REQUIRE_GPU();
  EXPECT_TRUE(test::bitwise_equal(Tensor::full({1001}, -1.25, DType::BF16, Device::cuda()),
                                  Tensor::full({1001}, -1.25, DType::BF16)));
  EXPECT_TRUE(test::bitwise_equal(Tensor::arange(513, DType::F32, Device::cuda()), Tensor::arange(513)));
  Generator gen(3);
  Tensor x = Tensor::normal({4099}, gen, 0.0, 100.0);
  Tensor x_gpu = x.to(Device::cuda());
  for (DType target : {DType::BF16, DType::F64}) {
    EXPECT_TRUE(test::bitwise_equal(x_gpu.to(target), x.to(target))) << dtype_name(target);
    EXPECT_TRUE(test::bitwise_equal(x_gpu.to(target).to(DType::F32), x.to(target).to(DType::F32)));
  }
}

TEST(TensorGpu, ElementAccessAndViews) {
  ALZ_REQUIRE_GPU();
  Tensor x = Tensor::arange(24, DType::F32, Device::cuda()).reshape({2, 3, 4});
  EXPECT_EQ(x.at({1, 2, 3}), 23.0);
  x.slice(1, 2).fill(7.0);
  EXPECT_EQ(x.at({1, 0, 0}), 7.0);
  EXPECT_EQ(x.at({0, 2, 3}), 11.0);
  x.set({0, 0, 1}, -5.0);
  EXPECT_EQ(x.to_vector()[1], -5.0);
  EXPECT_EQ(x.summary(), "Tensor(2, 3, 4) f32 cuda:0");
}

}  // namespace
}  // namespace alz
