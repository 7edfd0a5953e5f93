// cuDNN convolution (kernels/cuda/conv2d_cudnn.cpp) against the CPU reference on odd shapes:
// forward, backward data and backward filter (overwrite and accumulate), in f32 with TF32 off
// (strict fp32), f32 with TF32, and bf16; in the heuristic,
// benchmark and deterministic modes. Also: deterministic mode is bit-identical across runs, the
// algorithm cache selects once per key, a zero workspace cap still finds algorithms, and a
// too-small workspace throws.
//
//   ctest --test-dir build -L gpu -R Conv2d      or      build/tests/test_conv2d_gpu
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <random>
#include <tuple>
#include <vector>

#include "core/bf16.h"
#include "core/cuda/check.h"
#include "kernels/conv2d.h"
#include "support/compare.h"
#include "support/conv_shapes.h"

namespace alz {
namespace {

using alz::test::Tolerance;

// One cuDNN handle on its own stream for the whole program.
cudnnHandle_t handle() {
  static cudnnHandle_t h = [] {
    cudaStream_t stream = nullptr;
    cudnnHandle_t created = nullptr;
    ALZ_CUDA_CHECK(cudaStreamCreate(&stream));  // blocking: ordered after the plain cudaMemcpy/cudaMemset
    ALZ_CUDNN_CHECK(cudnnCreate(&created));
    ALZ_CUDNN_CHECK(cudnnSetStream(created, stream));
    return created;
  }();
  return h;
}

void sync() {
  cudaStream_t stream = nullptr;
  ALZ_CUDNN_CHECK(cudnnGetStream(handle(), &stream));
  ALZ_CUDA_CHECK(cudaStreamSynchronize(stream));
}

class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t bytes) : bytes_(bytes) {
    if (bytes > 0) ALZ_CUDA_CHECK(cudaMalloc(&data_, bytes));
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    if (data_) cudaFree(data_);
  }
  void* get() const { return data_; }
  size_t bytes() const { return bytes_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

size_t element_size(DType dtype) { return dtype == DType::BF16 ? 2 : 4; }

// Values as the device stores them (bf16 rounding applied), so the reference sees the same inputs.
std::vector<double> random_values(int64_t count, uint64_t seed, DType dtype) {
  std::mt19937_64 engine(seed);
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  std::vector<double> v(static_cast<size_t>(count));
  for (auto& e : v) {
    const float f = float(dist(engine));
    e = dtype == DType::BF16 ? double(bf16_to_float(float_to_bf16(f))) : double(f);
  }
  return v;
}

std::unique_ptr<DeviceBuffer> upload(const std::vector<double>& v, DType dtype) {
  auto buffer = std::make_unique<DeviceBuffer>(v.size() * element_size(dtype));
  if (dtype == DType::BF16) {
    std::vector<bf16> host(v.size());
    for (size_t i = 0; i < v.size(); ++i) host[i] = float_to_bf16(float(v[i]));
    ALZ_CUDA_CHECK(cudaMemcpy(buffer->get(), host.data(), buffer->bytes(), cudaMemcpyHostToDevice));
  } else {
    std::vector<float> host(v.begin(), v.end());
    ALZ_CUDA_CHECK(cudaMemcpy(buffer->get(), host.data(), buffer->bytes(), cudaMemcpyHostToDevice));
  }
  return buffer;
}

std::vector<double> download(const DeviceBuffer& buffer, DType dtype) {
  sync();
  const size_t count = buffer.bytes() / element_size(dtype);
  std::vector<double> out(count);
  if (dtype == DType::BF16) {
    std::vector<bf16> host(count);
    ALZ_CUDA_CHECK(cudaMemcpy(host.data(), buffer.get(), buffer.bytes(), cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < count; ++i) out[i] = bf16_to_float(host[i]);
  } else {
    std::vector<float> host(count);
    ALZ_CUDA_CHECK(cudaMemcpy(host.data(), buffer.get(), buffer.bytes(), cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < count; ++i) out[i] = host[i];
  }
  return out;
}

std::vector<unsigned char> download_bytes(const DeviceBuffer& buffer) {
  sync();
  std::vector<unsigned char> out(buffer.bytes());
  ALZ_CUDA_CHECK(cudaMemcpy(out.data(), buffer.get(), buffer.bytes(), cudaMemcpyDeviceToHost));
  return out;
}

using test::asymmetric;

// The odd shapes of tests/test_conv2d.cpp (tests/support/conv_shapes.h).
std::vector<Conv2dParams> odd_shapes() {
  std::vector<Conv2dParams> shapes;
  for (const test::ConvShape& shape : test::conv_odd_shapes()) shapes.push_back(shape.p);
  return shapes;
}

// Every direction on the device against the f64 reference on the same (rounded) inputs.
void check_shape(const Conv2dParams& p, DType dtype, Tolerance tol) {
  SCOPED_TRACE(p.str() + " " + dtype_name(dtype) + " mode " + conv_algo_mode_name(conv_algo_mode()) +
               (conv_allow_tf32() ? " tf32" : " strict-fp32"));
  const auto x = random_values(p.x_count(), 1, dtype), w = random_values(p.w_count(), 2, dtype);
  const auto dy = random_values(p.y_count(), 4, dtype), dw0 = random_values(p.w_count(), 5, dtype);
  const auto garbage_x = random_values(p.x_count(), 7, dtype), garbage_y = random_values(p.y_count(), 8, dtype);
  const auto garbage_w = random_values(p.w_count(), 9, dtype);
  auto x_d = upload(x, dtype), w_d = upload(w, dtype), dy_d = upload(dy, dtype);

  std::vector<double> y_ref(static_cast<size_t>(p.y_count())), dx_ref(static_cast<size_t>(p.x_count()));
  auto dw_ref = dw0;
  const size_t fwd_ws = conv2d_workspace_bytes_cudnn(handle(), p, dtype, ConvDirection::Forward);
  const size_t data_ws = conv2d_workspace_bytes_cudnn(handle(), p, dtype, ConvDirection::BackwardData);
  const size_t filter_ws = conv2d_workspace_bytes_cudnn(handle(), p, dtype, ConvDirection::BackwardFilter);
  DeviceBuffer ws(std::max({fwd_ws, data_ws, filter_ws}));

  auto y_d = upload(garbage_y, dtype);  // must be overwritten
  conv2d_forward_cudnn(handle(), p, dtype, x_d->get(), w_d->get(), y_d->get(), ws.get(), ws.bytes());
  conv2d_forward_reference(p, x.data(), w.data(), static_cast<const double*>(nullptr), y_ref.data());
  EXPECT_TRUE(alz::test::all_close(download(*y_d, dtype), y_ref, tol, "forward"));

  auto dx_d = upload(garbage_x, dtype);
  conv2d_backward_data_cudnn(handle(), p, dtype, dy_d->get(), w_d->get(), dx_d->get(), ws.get(), ws.bytes());
  conv2d_backward_data_reference(p, dy.data(), w.data(), dx_ref.data());
  EXPECT_TRUE(alz::test::all_close(download(*dx_d, dtype), dx_ref, tol, "backward_data"));

  for (bool accumulate : {false, true}) {
    auto dw_d = upload(accumulate ? dw0 : garbage_w, dtype);
    conv2d_backward_filter_cudnn(handle(), p, dtype, x_d->get(), dy_d->get(), dw_d->get(), accumulate, ws.get(),
                                 ws.bytes());
    dw_ref = dw0;
    conv2d_backward_filter_reference(p, x.data(), dy.data(), dw_ref.data(), accumulate);
    EXPECT_TRUE(alz::test::all_close(download(*dw_d, dtype), dw_ref, tol, accumulate ? "dw (accumulate)" : "dw"));
  }
}

// Strict fp32: FMA-only algorithms (FFT and Winograd among them, ~1e-6 relative error) on
// sums of at most ~600 O(1) terms.
constexpr Tolerance kStrictF32{2e-4, 1e-4};
// bf16: inputs are exact in the reference; the output is rounded to 8 mantissa bits (2^-9
// relative) and values reach ~10, plus f32 accumulation in another order.
constexpr Tolerance kBf16{5e-2, 2e-2};
// TF32: each product's inputs rounded to 10 mantissa bits (2^-11 relative), ~150-600 terms.
constexpr Tolerance kTf32{2e-2, 1e-2};

class Conv2dCudnn : public ::testing::TestWithParam<std::tuple<ConvAlgoMode, DType>> {
 protected:
  void TearDown() override {
    set_conv_algo_mode(ConvAlgoMode::Heuristic);
    set_conv_allow_tf32(true);
    set_conv_workspace_limit(size_t(256) << 20);
  }
};

TEST_P(Conv2dCudnn, MatchesReferenceOnOddShapes) {
  ALZ_REQUIRE_GPU();
  const auto [mode, dtype] = GetParam();
  set_conv_algo_mode(mode);
  set_conv_allow_tf32(false);
  for (const Conv2dParams& p : odd_shapes()) check_shape(p, dtype, dtype == DType::BF16 ? kBf16 : kStrictF32);
}

INSTANTIATE_TEST_SUITE_P(Modes, Conv2dCudnn,
                         ::testing::Combine(::testing::Values(ConvAlgoMode::Heuristic, ConvAlgoMode::Benchmark,
                                                              ConvAlgoMode::Deterministic),
                                            ::testing::Values(DType::F32, DType::BF16)),
                         [](const ::testing::TestParamInfo<std::tuple<ConvAlgoMode, DType>>& info) {
                           return std::string(conv_algo_mode_name(std::get<0>(info.param))) + "_" +
                                  dtype_name(std::get<1>(info.param));
                         });

TEST_F(Conv2dCudnn, Tf32MatchesReferenceOnOddShapes) {
  ALZ_REQUIRE_GPU();
  set_conv_allow_tf32(true);
  for (ConvAlgoMode mode : {ConvAlgoMode::Heuristic, ConvAlgoMode::Benchmark}) {
    set_conv_algo_mode(mode);
    for (const Conv2dParams& p : odd_shapes()) check_shape(p, DType::F32, kTf32);
  }
}

TEST_F(Conv2dCudnn, ZeroWorkspaceCapStillFindsAlgorithms) {
  ALZ_REQUIRE_GPU();
  set_conv_allow_tf32(false);
  set_conv_workspace_limit(0);
  const Conv2dParams p = Conv2dParams::make(2, 9, 9, 5, 7, 3, 2, 1);
  for (ConvDirection direction : {ConvDirection::Forward, ConvDirection::BackwardData, ConvDirection::BackwardFilter})
    EXPECT_EQ(conv2d_algo_cudnn(handle(), p, DType::F32, direction).algo_workspace, 0u)
        << conv_direction_name(direction);
  check_shape(p, DType::F32, kStrictF32);
}

TEST_F(Conv2dCudnn, TooSmallWorkspaceThrows) {
  ALZ_REQUIRE_GPU();
  // Asymmetric padding always needs workspace: the padded copy of x lives there.
  const Conv2dParams p = asymmetric(2, 8, 8, 3, 5, 3, 3, 2, 2, 0, 1, 0, 1);
  EXPECT_GT(conv2d_workspace_bytes_cudnn(handle(), p, DType::F32, ConvDirection::Forward), 0u);
  DeviceBuffer x(size_t(p.x_count()) * 4), w(size_t(p.w_count()) * 4), y(size_t(p.y_count()) * 4);
  EXPECT_THROW(conv2d_forward_cudnn(handle(), p, DType::F32, x.get(), w.get(), y.get(), nullptr, 0), Error);
}

TEST_F(Conv2dCudnn, CacheSelectsOncePerKey) {
  ALZ_REQUIRE_GPU();
  conv_algo_cache_clear();
  const Conv2dParams p = Conv2dParams::make(2, 7, 7, 5, 7, 3, 1, 1);
  EXPECT_EQ(conv_algo_cache_stats().entries, 0u);
  const size_t bytes = conv2d_workspace_bytes_cudnn(handle(), p, DType::F32, ConvDirection::Forward);
  ConvAlgoCacheStats after_first = conv_algo_cache_stats();
  EXPECT_EQ(after_first.selections, 1u);
  EXPECT_EQ(after_first.entries, 1u);
  DeviceBuffer x(size_t(p.x_count()) * 4), w(size_t(p.w_count()) * 4), y(size_t(p.y_count()) * 4), ws(bytes);
  for (int i = 0; i < 3; ++i)
    conv2d_forward_cudnn(handle(), p, DType::F32, x.get(), w.get(), y.get(), ws.get(), ws.bytes());
  sync();
  ConvAlgoCacheStats warm = conv_algo_cache_stats();
  EXPECT_EQ(warm.selections, 1u) << "a warm call must not select again";
  EXPECT_EQ(warm.hits, after_first.hits + 3);
  conv2d_algo_cudnn(handle(), p, DType::F32, ConvDirection::BackwardData);  // another direction: a new key
  EXPECT_EQ(conv_algo_cache_stats().selections, 2u);
  set_conv_allow_tf32(false);  // another math mode: a new key
  conv2d_algo_cudnn(handle(), p, DType::F32, ConvDirection::Forward);
  EXPECT_EQ(conv_algo_cache_stats().selections, 3u);
  set_conv_allow_tf32(true);  // back: cached
  conv2d_algo_cudnn(handle(), p, DType::F32, ConvDirection::Forward);
  EXPECT_EQ(conv_algo_cache_stats().selections, 3u);
  EXPECT_EQ(conv_algo_cache_stats().entries, 3u);
}

TEST_F(Conv2dCudnn, DeterministicModeIsBitIdentical) {
  ALZ_REQUIRE_GPU();
  set_conv_algo_mode(ConvAlgoMode::Deterministic);
  // Large enough reductions (8*14*14 pixels per filter element) that split-K atomics would show.
  const Conv2dParams p = Conv2dParams::make(8, 14, 14, 64, 96, 3, 1, 1);
  for (DType dtype : {DType::F32, DType::BF16}) {
    SCOPED_TRACE(dtype_name(dtype));
    auto x = upload(random_values(p.x_count(), 21, dtype), dtype);
    auto w = upload(random_values(p.w_count(), 22, dtype), dtype);
    auto dy = upload(random_values(p.y_count(), 23, dtype), dtype);
    size_t bytes = 0;
    for (ConvDirection direction :
         {ConvDirection::Forward, ConvDirection::BackwardData, ConvDirection::BackwardFilter}) {
      const ConvAlgoInfo info = conv2d_algo_cudnn(handle(), p, dtype, direction);
      EXPECT_TRUE(info.deterministic) << conv_direction_name(direction) << " chose " << info.name;
      bytes = std::max(bytes, info.workspace_bytes);
    }
    DeviceBuffer ws(bytes);
    std::vector<unsigned char> first[3];
    for (int run = 0; run < 2; ++run) {
      DeviceBuffer y(size_t(p.y_count()) * element_size(dtype)), dx(size_t(p.x_count()) * element_size(dtype));
      DeviceBuffer dw(size_t(p.w_count()) * element_size(dtype));
      conv2d_forward_cudnn(handle(), p, dtype, x->get(), w->get(), y.get(), ws.get(), ws.bytes());
      conv2d_backward_data_cudnn(handle(), p, dtype, dy->get(), w->get(), dx.get(), ws.get(), ws.bytes());
      conv2d_backward_filter_cudnn(handle(), p, dtype, x->get(), dy->get(), dw.get(), false, ws.get(), ws.bytes());
      std::vector<unsigned char> now[3] = {download_bytes(y), download_bytes(dx), download_bytes(dw)};
      for (int i = 0; i < 3; ++i) {
        if (run == 0)
          first[i] = now[i];
        else
          EXPECT_TRUE(first[i] == now[i]) << "output " << i << " (y, dx, dw) differs between two deterministic runs";
      }
    }
  }
}

}  // namespace
}  // namespace alz
