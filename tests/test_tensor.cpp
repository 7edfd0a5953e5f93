// Tensor core on the CPU: creation, views sharing storage, copies, element access, summaries,
// errors that name both operands. Run: ctest --test-dir build -R Tensor
#include <gtest/gtest.h>

#include "core/error.h"
#include "support/compare.h"
#include "tensor/tensor.h"

namespace alz {
namespace {

TEST(Tensor, CreationShapesAndValues) {
  Tensor z = Tensor::zeros({2, 3, 4, 5});
  EXPECT_EQ(z.numel(), 120);
  EXPECT_EQ(z.ndim(), 4);
  EXPECT_EQ(z.dim(-1), 5);
  EXPECT_EQ(z.nbytes(), 480u);
  EXPECT_EQ(z.at({1, 2, 3, 4}), 0.0);
  EXPECT_EQ(Tensor::ones({3}, DType::F64).at({2}), 1.0);
  EXPECT_EQ(Tensor::full({2, 2}, 2.5, DType::BF16).at({1, 1}), 2.5);
  Tensor r = Tensor::arange(7);
  for (int64_t i = 0; i < 7; ++i) EXPECT_EQ(r.at({i}), static_cast<double>(i));
  Tensor empty = Tensor::empty({0, 3});
  EXPECT_EQ(empty.numel(), 0);
  EXPECT_FALSE(Tensor().defined());
}

TEST(Tensor, SummaryNamesShapeDtypeDevice) {
  EXPECT_EQ(Tensor::zeros({2, 8, 8, 3}).summary(), "Tensor(2, 8, 8, 3) f32 cpu");
  EXPECT_EQ(Tensor::zeros({5}, DType::BF16).summary(), "Tensor(5,) bf16 cpu");
  EXPECT_EQ(Tensor().summary(), "Tensor(undefined)");
}

TEST(Tensor, ReshapeAndSliceShareStorage) {
  Tensor x = Tensor::arange(24).reshape({2, 3, 4});
  Tensor flat = x.reshape({-1});
  EXPECT_TRUE(flat.shares_storage_with(x));
  EXPECT_EQ(flat.shape(), (Shape{24}));
  flat.set({5}, 100.0);
  EXPECT_EQ(x.at({0, 1, 1}), 100.0);  // a view: the write shows through
  Tensor rows = x.slice(1, 2);
  EXPECT_EQ(rows.shape(), (Shape{1, 3, 4}));
  EXPECT_EQ(rows.at({0, 0, 0}), 12.0);
  rows.fill(-1.0);
  EXPECT_EQ(x.at({1, 2, 3}), -1.0);
  EXPECT_EQ(x.at({0, 2, 3}), 11.0);
  EXPECT_THROW(x.reshape({5, 5}), Error);
  EXPECT_THROW(x.reshape({-1, -1}), Error);
  EXPECT_THROW(x.slice(1, 3), Error);
}

TEST(Tensor, CloneAndCopyAreIndependent) {
  Generator gen(1);
  Tensor x = Tensor::uniform({4, 5}, gen, -1.0, 1.0);
  Tensor y = x.clone();
  EXPECT_FALSE(y.shares_storage_with(x));
  EXPECT_TRUE(test::bitwise_equal(x, y));
  y.set({0, 0}, 42.0);
  EXPECT_NE(x.at({0, 0}), 42.0);
  Tensor z = Tensor::zeros({4, 5});
  z.copy_from(x);
  EXPECT_TRUE(test::bitwise_equal(x, z));
}

TEST(Tensor, MismatchErrorsNameBothOperands) {
  Tensor a = Tensor::zeros({2, 3});
  Tensor b = Tensor::zeros({3, 2});
  try {
    a.copy_from(b);
    FAIL() << "expected a shape mismatch";
  } catch (const Error& error) {
    std::string message = error.what();
    EXPECT_NE(message.find("Tensor(2, 3) f32 cpu"), std::string::npos) << message;
    EXPECT_NE(message.find("Tensor(3, 2) f32 cpu"), std::string::npos) << message;
  }
  Tensor c = Tensor::zeros({2, 3}, DType::F64);
  try {
    a.copy_from(c);
    FAIL() << "expected a dtype mismatch";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("dtype mismatch"), std::string::npos);
  }
  EXPECT_THROW(a.data<double>(), Error);
  EXPECT_THROW(a.at({2, 0}), Error);
  EXPECT_THROW(a.at({0}), Error);
}

TEST(Tensor, FromVectorAndToVector) {
  Tensor t = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(t.at({1, 0}), 4.0);
  EXPECT_EQ(t.to_vector(), (std::vector<double>{1, 2, 3, 4, 5, 6}));
  EXPECT_THROW(Tensor::from_vector(std::vector<float>{1, 2}, {3}), Error);
}

TEST(Tensor, PinnedFallsBackToHostMemoryWithoutDevice) {
  Tensor p = Tensor::empty({16}, DType::F32, Device::cpu(), /*pinned=*/true);
  EXPECT_TRUE(p.device().is_cpu());
  if (!cuda::available()) {
    EXPECT_FALSE(p.is_pinned());  // no CUDA: ordinary memory
  }
  p.fill(3.0);
  EXPECT_EQ(p.at({15}), 3.0);
}

TEST(Tensor, DeviceTensorWithoutDeviceGivesClearError) {
  if (cuda::available()) GTEST_SKIP() << "a CUDA device is present; this checks the no-device message";
  try {
    Tensor::zeros({4}, DType::F32, Device::cuda());
    FAIL() << "expected an error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("CUDA"), std::string::npos) << error.what();
  }
}

}  // namespace
}  // namespace alz
