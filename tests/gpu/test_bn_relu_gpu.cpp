// CUDA BatchNorm(+ReLU) (kernels/cuda/bn_relu.cu) against the f64 CPU reference, f32 and bf16
// storage: y, saved and moving statistics and every gradient, over every distinct BatchNorm
// shape of ResNet152V2 at batch 2 plus odd shapes; the scalar path (misaligned pointers),
// inference (also in place), bit-exact repeat runs, a large-offset numerics case, workspace
// checks, dgamma/dbeta overwritten unless accumulate_params (fused, unfused, frozen), dx added
// into an existing gradient with accumulate_dx (every shape, f32 and bf16), and the
// unfused CUDA reference (kernels/cuda/batch_norm.cu) against its CPU twin.
//   ctest --test-dir build -R "BnReluGpu|BatchNormGpu"      (or build/tests/test_bn_relu_gpu)
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/bf16.h"
#include "core/cuda/check.h"
#include "core/error.h"
#include "kernels/batch_norm.h"
#include "kernels/bn_relu.h"
#include "kernels/frozen_bn.h"
#include "support/bn_shapes.h"
#include "support/compare.h"

namespace alz::kernels {
namespace {

using test::Tolerance;

// Device memory of `count` elements of T, optionally starting `offset` elements into the
// allocation (offset 1 breaks the 16-byte alignment and forces the scalar path).
template <typename T> class DeviceArray {
 public:
  explicit DeviceArray(size_t count, size_t offset = 0) : count_(count) {
    ALZ_CUDA_CHECK(cudaMalloc(&base_, (count + offset) * sizeof(T) + 16));
    ptr_ = static_cast<T*>(base_) + offset;
  }
  DeviceArray(const std::vector<T>& host, size_t offset = 0) : DeviceArray(host.size(), offset) { upload(host); }
  ~DeviceArray() { cudaFree(base_); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  T* get() const { return ptr_; }
  void upload(const std::vector<T>& host) {
    ALZ_CUDA_CHECK(cudaMemcpy(ptr_, host.data(), count_ * sizeof(T), cudaMemcpyHostToDevice));
  }
  std::vector<T> download() const {
    std::vector<T> host(count_);
    ALZ_CUDA_CHECK(cudaMemcpy(host.data(), ptr_, count_ * sizeof(T), cudaMemcpyDeviceToHost));
    return host;
  }

 private:
  void* base_ = nullptr;
  T* ptr_ = nullptr;
  size_t count_;
};

float to_float(float v) { return v; }
float to_float(bf16 v) { return bf16_to_float(v); }
template <typename S> S from_float(float v);
template <> float from_float<float>(float v) { return v; }
template <> bf16 from_float<bf16>(float v) { return float_to_bf16(v); }

template <typename S> std::vector<double> as_double(const std::vector<S>& v) {
  std::vector<double> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = to_float(v[i]);
  return out;
}

std::vector<float> random_normal(size_t count, double mean, double stddev, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> dist(mean, stddev);
  std::vector<float> v(count);
  for (float& e : v) e = static_cast<float>(dist(rng));
  return v;
}

struct Case {
  int64_t rows, channels;
  bool relu;
  std::string name() const {
    std::string text = std::to_string(rows);
    text.insert(0, 1, 'r');
    text.append("_c").append(std::to_string(channels)).append(relu ? "_relu" : "_bn");
    return text;
  }
};

// Host inputs in the storage type S plus the float parameters; x = offset_c + spread * N(0, 1).
template <typename S> struct Inputs {
  std::vector<S> x, dy;
  std::vector<float> gamma, beta, moving_mean, moving_var;
  std::vector<S> dx_before;  // non-empty: the backward adds dx into these (accumulate_dx)
};

template <typename S>
Inputs<S> make_inputs(int64_t rows, int64_t channels, uint64_t seed, double offset_scale = 1.0, double spread = 1.5) {
  Inputs<S> in;
  const std::vector<float> offsets = random_normal(channels, 0.0, offset_scale, seed);
  const std::vector<float> noise = random_normal(rows * channels, 0.0, spread, seed + 1);
  const std::vector<float> dy = random_normal(rows * channels, 0.0, 1.0, seed + 2);
  in.x.resize(rows * channels);
  in.dy.resize(rows * channels);
  for (int64_t i = 0; i < rows * channels; ++i) {
    in.x[i] = from_float<S>(offsets[i % channels] + noise[i]);
    in.dy[i] = from_float<S>(dy[i]);
  }
  in.gamma = random_normal(channels, 1.0, 0.3, seed + 3);
  for (int64_t c = 0; c < channels; c += 5) in.gamma[c] = -in.gamma[c];  // both signs
  in.beta = random_normal(channels, 0.0, 0.5, seed + 4);
  in.moving_mean = random_normal(channels, 0.0, 1.0, seed + 5);
  in.moving_var = random_normal(channels, 1.0, 0.2, seed + 6);
  for (float& v : in.moving_var) v = std::fabs(v) + 0.1f;
  return in;
}

struct Outputs {  // everything a training step produces, as double
  std::vector<double> y, mean, invstd, moving_mean, moving_var, dx, dgamma, dbeta;
};

// f64 CPU reference on the exact input values. dy is zeroed (in `in` too) where a
// pre-activation lies within 1e-3 of the ReLU kink, where f32 and f64 could disagree on the mask.
template <typename S> Outputs reference(Inputs<S>& in, int64_t rows, int64_t channels, bool relu) {
  const int64_t n = rows * channels;
  std::vector<double> x = as_double(in.x), g(in.gamma.begin(), in.gamma.end()), b(in.beta.begin(), in.beta.end());
  Outputs out{std::vector<double>(n),
              std::vector<double>(channels),
              std::vector<double>(channels),
              std::vector<double>(in.moving_mean.begin(), in.moving_mean.end()),
              std::vector<double>(in.moving_var.begin(), in.moving_var.end()),
              in.dx_before.empty() ? std::vector<double>(n) : as_double(in.dx_before),
              std::vector<double>(channels, 0.5),
              std::vector<double>(channels, -0.25)};
  bn_relu_forward_training_cpu(BnReluForwardArgs<double>{.x = x.data(),
                                                         .y = out.y.data(),
                                                         .rows = rows,
                                                         .channels = channels,
                                                         .gamma = g.data(),
                                                         .beta = b.data(),
                                                         .moving_mean = out.moving_mean.data(),
                                                         .moving_variance = out.moving_var.data(),
                                                         .saved = {out.mean.data(), out.invstd.data()},
                                                         .relu = relu});
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = i % channels;
    const double pre = g[c] * ((x[i] - out.mean[c]) * out.invstd[c]) + b[c];
    if (relu && std::fabs(pre) < 1e-3) in.dy[i] = from_float<S>(0.0f);
  }
  std::vector<double> dy = as_double(in.dy);
  bn_relu_backward_cpu(BnReluBackwardArgs<double>{.x = x.data(),
                                                  .dy = dy.data(),
                                                  .dx = out.dx.data(),
                                                  .rows = rows,
                                                  .channels = channels,
                                                  .gamma = g.data(),
                                                  .beta = b.data(),
                                                  .saved = {out.mean.data(), out.invstd.data()},
                                                  .relu = relu,
                                                  .dgamma = out.dgamma.data(),
                                                  .dbeta = out.dbeta.data(),
                                                  .accumulate_params = true,
                                                  .accumulate_dx = !in.dx_before.empty()});
  return out;
}

// One training step (forward + backward) on the GPU; dgamma/dbeta start at 0.5 / -0.25.
template <typename S>
Outputs run_cuda(const Inputs<S>& in, int64_t rows, int64_t channels, bool relu, size_t misalign = 0) {
  DeviceArray<S> x(in.x, misalign), dy(in.dy, misalign), y(in.x.size(), misalign), dx(in.x.size(), misalign);
  if (!in.dx_before.empty()) dx.upload(in.dx_before);
  DeviceArray<float> gamma(in.gamma), beta(in.beta), mm(in.moving_mean), mv(in.moving_var);
  DeviceArray<float> mean(channels), invstd(channels);
  DeviceArray<float> dgamma(std::vector<float>(channels, 0.5f)), dbeta(std::vector<float>(channels, -0.25f));
  const size_t bytes = bn_relu_workspace_bytes(rows, channels);
  DeviceArray<unsigned char> workspace(bytes);
  bn_relu_workspace_init_cuda(workspace.get(), bytes, nullptr);
  bn_relu_forward_training_cuda(BnReluForwardArgs<S>{.x = x.get(),
                                                     .y = y.get(),
                                                     .rows = rows,
                                                     .channels = channels,
                                                     .gamma = gamma.get(),
                                                     .beta = beta.get(),
                                                     .moving_mean = mm.get(),
                                                     .moving_variance = mv.get(),
                                                     .saved = {mean.get(), invstd.get()},
                                                     .relu = relu},
                                workspace.get(), bytes, nullptr);
  bn_relu_backward_cuda(BnReluBackwardArgs<S>{.x = x.get(),
                                              .dy = dy.get(),
                                              .dx = dx.get(),
                                              .rows = rows,
                                              .channels = channels,
                                              .gamma = gamma.get(),
                                              .beta = beta.get(),
                                              .saved = {mean.get(), invstd.get()},
                                              .relu = relu,
                                              .dgamma = dgamma.get(),
                                              .dbeta = dbeta.get(),
                                              .accumulate_params = true,
                                              .accumulate_dx = !in.dx_before.empty()},
                        workspace.get(), bytes, nullptr);
  ALZ_CUDA_CHECK(cudaDeviceSynchronize());
  // The counters must be back at zero for the next user of the workspace.
  const std::vector<unsigned char> ws = workspace.download();
  const size_t counter_bytes = sizeof(unsigned) * static_cast<size_t>(channels);  // one per tile at most
  size_t nonzero = 0;
  for (size_t i = 0; i < counter_bytes; ++i) nonzero += ws[i] != 0;
  EXPECT_EQ(nonzero, 0u) << "the last-block counters were not reset to zero";
  return Outputs{as_double(y.download()),      as_double(mean.download()), as_double(invstd.download()),
                 as_double(mm.download()),     as_double(mv.download()),   as_double(dx.download()),
                 as_double(dgamma.download()), as_double(dbeta.download())};
}

// Tolerances: f32 statistics and sums against f64. Sums of `rows` O(1) terms in f32 carry
// up to ~rows * 1e-7 of error; bf16 outputs are rounded to 8 significant bits (relative 2^-8).
template <typename S> void expect_close(const Outputs& gpu, const Outputs& cpu, int64_t rows) {
  const bool is_bf16 = sizeof(S) == 2;
  const Tolerance stats{1e-5, 1e-5};                                    // f32 Welford over the batch
  const Tolerance sums{2e-6 * static_cast<double>(rows) + 1e-5, 1e-4};  // f32 sums of g and g * xhat
  const Tolerance values = is_bf16 ? Tolerance{1e-3, 8e-3}              // rounded to bf16
                                   : Tolerance{1e-4, 1e-4};             // f32 arithmetic, |xhat| < 8
  ALZ_EXPECT_CLOSE(gpu.mean, cpu.mean, stats);
  ALZ_EXPECT_CLOSE(gpu.invstd, cpu.invstd, stats);
  ALZ_EXPECT_CLOSE(gpu.moving_mean, cpu.moving_mean, stats);
  ALZ_EXPECT_CLOSE(gpu.moving_var, cpu.moving_var, stats);
  ALZ_EXPECT_CLOSE(gpu.y, cpu.y, values);
  ALZ_EXPECT_CLOSE(gpu.dx, cpu.dx, values);
  ALZ_EXPECT_CLOSE(gpu.dgamma, cpu.dgamma, sums);
  ALZ_EXPECT_CLOSE(gpu.dbeta, cpu.dbeta, sums);
}

// accumulate_dx: dx starts as another random tensor (the gradient a residual block's shortcut
// has already brought) and the backward adds into it, as autograd's fused epilogue asks.
template <typename S> void check_training(const Case& c, uint64_t seed, size_t misalign = 0, bool accumulate_dx = false) {
  Inputs<S> in = make_inputs<S>(c.rows, c.channels, seed);
  if (accumulate_dx)
    for (float v : random_normal(c.rows * c.channels, 0.0, 1.0, seed + 9)) in.dx_before.push_back(from_float<S>(v));
  const Outputs cpu = reference(in, c.rows, c.channels, c.relu);
  expect_close<S>(run_cuda(in, c.rows, c.channels, c.relu, misalign), cpu, c.rows);
}

// Every distinct (H*W, C) BatchNorm shape of ResNet152V2 at N = 2 (rows = 2*H*W), and the odd
// ones of the CPU's fast kernels with and without the ReLU (tests/support/bn_shapes.h).
std::vector<Case> training_cases() {
  std::vector<Case> cases;
  for (const test::BnShape& s : test::resnet152v2_bn_shapes(2)) cases.push_back({s.rows, s.channels, true});
  for (const test::BnShape& s : test::bn_odd_shapes())
    for (bool relu : {true, false}) {
      const Case c{s.rows, s.channels, relu};
      bool seen = false;
      for (const Case& other : cases) seen = seen || other.name() == c.name();
      if (!seen) cases.push_back(c);
    }
  return cases;
}

class BnReluGpu : public ::testing::TestWithParam<Case> {};

TEST_P(BnReluGpu, F32MatchesCpu) {
  ALZ_REQUIRE_GPU();
  check_training<float>(GetParam(), 7 + GetParam().rows + GetParam().channels);
}

TEST_P(BnReluGpu, Bf16MatchesCpu) {
  ALZ_REQUIRE_GPU();
  check_training<bf16>(GetParam(), 11 + GetParam().rows + GetParam().channels);
}

TEST_P(BnReluGpu, F32AddsDxIntoTheGivenGradient) {
  ALZ_REQUIRE_GPU();
  check_training<float>(GetParam(), 13 + GetParam().rows + GetParam().channels, 0, /*accumulate_dx=*/true);
}

TEST_P(BnReluGpu, Bf16AddsDxIntoTheGivenGradient) {
  ALZ_REQUIRE_GPU();
  check_training<bf16>(GetParam(), 17 + GetParam().rows + GetParam().channels, 0, /*accumulate_dx=*/true);
}

INSTANTIATE_TEST_SUITE_P(Shapes, BnReluGpu, ::testing::ValuesIn(training_cases()),
                         [](const ::testing::TestParamInfo<Case>& info) { return info.param.name(); });

TEST(BnReluGpuPaths, ScalarPathWhenPointersAreMisaligned) {
  ALZ_REQUIRE_GPU();
  check_training<float>({392, 256, true}, 21, 1);
  check_training<bf16>({392, 256, true}, 22, 1);
  check_training<bf16>({98, 100, true}, 23, 0);  // C % 8 != 0: scalar path for bf16
  check_training<float>({392, 256, true}, 24, 1, /*accumulate_dx=*/true);
  check_training<bf16>({98, 100, true}, 25, 0, /*accumulate_dx=*/true);
}

TEST(BnReluGpuPaths, LargeOffsetKeepsVarianceAccurate) {
  ALZ_REQUIRE_GPU();
  // mean ~ 1000, std 1: E[x^2] - E[x]^2 in f32 would lose the variance entirely.
  const int64_t rows = 6272, channels = 64;
  Inputs<float> in = make_inputs<float>(rows, channels, 31, 0.01, 1.0);
  for (float& v : in.x) v += 1000.0f;
  const Outputs cpu = reference(in, rows, channels, true);
  const Outputs gpu = run_cuda(in, rows, channels, true);
  ALZ_EXPECT_CLOSE(gpu.invstd, cpu.invstd, Tolerance({0.0, 2e-3}));  // f32 mean carries ~1e-4 absolute error
  ALZ_EXPECT_CLOSE(gpu.y, cpu.y, Tolerance({5e-3, 5e-3}));           // xhat inherits that error
}

template <typename S> void check_inference(int64_t rows, int64_t channels, bool relu, bool in_place) {
  SCOPED_TRACE("rows " + std::to_string(rows) + ", channels " + std::to_string(channels) +
               (in_place ? ", in place" : ""));
  Inputs<S> in = make_inputs<S>(rows, channels, 41 + rows);
  std::vector<double> x = as_double(in.x), y_cpu(x.size());
  std::vector<double> g(in.gamma.begin(), in.gamma.end()), b(in.beta.begin(), in.beta.end()),
      mm(in.moving_mean.begin(), in.moving_mean.end()), mv(in.moving_var.begin(), in.moving_var.end());
  bn_relu_forward_inference_cpu(BnReluForwardArgs<double>{.x = x.data(),
                                                          .y = y_cpu.data(),
                                                          .rows = rows,
                                                          .channels = channels,
                                                          .gamma = g.data(),
                                                          .beta = b.data(),
                                                          .moving_mean = mm.data(),
                                                          .moving_variance = mv.data(),
                                                          .relu = relu});
  DeviceArray<S> xd(in.x), yd(in.x.size());
  DeviceArray<float> gd(in.gamma), bd(in.beta), mmd(in.moving_mean), mvd(in.moving_var);
  S* out = in_place ? xd.get() : yd.get();
  bn_relu_forward_inference_cuda(BnReluForwardArgs<S>{.x = xd.get(),
                                                      .y = out,
                                                      .rows = rows,
                                                      .channels = channels,
                                                      .gamma = gd.get(),
                                                      .beta = bd.get(),
                                                      .moving_mean = mmd.get(),
                                                      .moving_variance = mvd.get(),
                                                      .relu = relu},
                                 nullptr);
  ALZ_CUDA_CHECK(cudaDeviceSynchronize());
  const std::vector<double> y_gpu = as_double(in_place ? xd.download() : yd.download());
  ALZ_EXPECT_CLOSE(y_gpu, y_cpu, sizeof(S) == 2 ? Tolerance({1e-3, 8e-3}) : Tolerance({1e-5, 1e-5}));
}

TEST(BnReluGpuPaths, InferenceMatchesCpu) {
  ALZ_REQUIRE_GPU();
  for (bool in_place : {false, true}) {
    check_inference<float>(1568, 128, true, in_place);
    check_inference<float>(98, 13, false, in_place);
    check_inference<bf16>(392, 512, true, in_place);
    check_inference<bf16>(7, 3, true, in_place);
  }
}

template <typename S> void check_deterministic(int64_t rows, int64_t channels) {
  SCOPED_TRACE("rows " + std::to_string(rows) + ", channels " + std::to_string(channels));
  Inputs<S> in = make_inputs<S>(rows, channels, 51);
  const Outputs a = run_cuda(in, rows, channels, true), b = run_cuda(in, rows, channels, true);
  const Tolerance exact{0.0, 0.0};  // bit-identical: fixed reduction order, no atomics on floats
  ALZ_EXPECT_CLOSE(a.y, b.y, exact);
  ALZ_EXPECT_CLOSE(a.mean, b.mean, exact);
  ALZ_EXPECT_CLOSE(a.invstd, b.invstd, exact);
  ALZ_EXPECT_CLOSE(a.moving_var, b.moving_var, exact);
  ALZ_EXPECT_CLOSE(a.dx, b.dx, exact);
  ALZ_EXPECT_CLOSE(a.dgamma, b.dgamma, exact);
  ALZ_EXPECT_CLOSE(a.dbeta, b.dbeta, exact);
}

TEST(BnReluGpuPaths, TwoRunsAreBitIdentical) {
  ALZ_REQUIRE_GPU();
  check_deterministic<float>(6272, 256);
  check_deterministic<bf16>(6272, 64);
  check_deterministic<float>(1000, 13);
}

// The channel-tile width changes the grid, the block shape and the merge order of every
// reduction: each width must still match the CPU, and stay deterministic.

TEST(BnReluGpuPaths, EveryTileWidthMatchesTheCpu) {
  ALZ_REQUIRE_GPU();
  EXPECT_EQ(bn_relu_tile_bytes(), 128);
  for (int bytes : {4, 16, 32, 64, 128, 256, 512, 1024}) {
    SCOPED_TRACE("tile width " + std::to_string(bytes) + " bytes");
    BnReluTileBytesScope width(bytes);
    check_training<float>({392, 256, true}, 61);
    check_training<bf16>({392, 256, true}, 62);
    check_training<bf16>({6272, 64, false}, 63);
    check_training<float>({98, 2048, true}, 64);
    check_training<bf16>({1568, 100, true}, 65);    // scalar path
    check_training<float>({333, 24, true}, 66, 1);  // misaligned: scalar path
    check_deterministic<bf16>(1568, 512);
  }
  EXPECT_EQ(bn_relu_tile_bytes(), 128);
}

TEST(BnReluGpuPaths, RejectsABadTileWidth) {
  EXPECT_THROW(bn_relu_set_tile_bytes(96), Error);
  EXPECT_THROW(bn_relu_set_tile_bytes(2048), Error);
  EXPECT_THROW(bn_relu_set_tile_bytes(-1), Error);
  EXPECT_EQ(bn_relu_tile_bytes(), 128);
}

TEST(BnReluGpuPaths, RejectsSmallWorkspace) {
  ALZ_REQUIRE_GPU();
  const int64_t rows = 392, channels = 64;
  DeviceArray<float> x(rows * channels), y(rows * channels), p(4 * channels);
  const size_t bytes = bn_relu_workspace_bytes(rows, channels);
  DeviceArray<unsigned char> workspace(bytes);
  const BnReluForwardArgs<float> forward{.x = x.get(),
                                         .y = y.get(),
                                         .rows = rows,
                                         .channels = channels,
                                         .gamma = p.get(),
                                         .beta = p.get(),
                                         .moving_mean = p.get(),
                                         .moving_variance = p.get() + channels,
                                         .saved = {p.get() + 2 * channels, p.get() + 3 * channels},
                                         .epsilon = 1e-3};
  EXPECT_THROW(bn_relu_forward_training_cuda(forward, workspace.get(), bytes - 1, nullptr), Error);
  const BnReluBackwardArgs<float> backward{.x = x.get(),
                                           .dy = y.get(),
                                           .dx = y.get(),
                                           .rows = 0,
                                           .channels = channels,
                                           .gamma = p.get(),
                                           .beta = p.get(),
                                           .saved = {p.get(), p.get()},
                                           .dgamma = p.get(),
                                           .dbeta = p.get()};
  EXPECT_THROW(bn_relu_backward_cuda(backward, workspace.get(), bytes, nullptr), Error);
}

// The gradient rule (tensor/autograd.h): without accumulate_params the launchers overwrite
// dgamma and dbeta, so NaN left in the buffers must not reach the result, which equals adding
// onto zeros bit for bit. Fused, unfused and frozen (inference-mode) backward.
TEST(BnReluGpuPaths, ParameterGradientsAreOverwrittenUnlessAccumulated) {
  ALZ_REQUIRE_GPU();
  const int64_t rows = 391, channels = 24;
  const Inputs<float> in = make_inputs<float>(rows, channels, 71);
  DeviceArray<float> x(in.x), dy(in.dy), y(in.x.size()), dx(in.x.size()), gamma(in.gamma), beta(in.beta),
      mm(in.moving_mean), mv(in.moving_var), mean(channels), invstd(channels);
  const size_t bytes = std::max(bn_relu_workspace_bytes(rows, channels), batch_norm_workspace_bytes(rows, channels));
  DeviceArray<unsigned char> workspace(bytes);
  bn_relu_workspace_init_cuda(workspace.get(), bytes, nullptr);
  bn_relu_forward_training_cuda(BnReluForwardArgs<float>{.x = x.get(),
                                                         .y = y.get(),
                                                         .rows = rows,
                                                         .channels = channels,
                                                         .gamma = gamma.get(),
                                                         .beta = beta.get(),
                                                         .saved = {mean.get(), invstd.get()}},
                                workspace.get(), bytes, nullptr);
  // Runs one backward into buffers that start at `start`; returns dgamma then dbeta.
  auto run = [&](auto launch, float start, bool accumulate) {
    DeviceArray<float> dgamma(std::vector<float>(channels, start)), dbeta(std::vector<float>(channels, start));
    launch(dgamma.get(), dbeta.get(), accumulate);
    ALZ_CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<float> both = dgamma.download(), db = dbeta.download();
    both.insert(both.end(), db.begin(), db.end());
    return both;
  };
  auto fused = [&](float* dg, float* db, bool accumulate) {
    bn_relu_backward_cuda(BnReluBackwardArgs<float>{.x = x.get(),
                                                    .dy = dy.get(),
                                                    .dx = dx.get(),
                                                    .rows = rows,
                                                    .channels = channels,
                                                    .gamma = gamma.get(),
                                                    .beta = beta.get(),
                                                    .saved = {mean.get(), invstd.get()},
                                                    .dgamma = dg,
                                                    .dbeta = db,
                                                    .accumulate_params = accumulate},
                          workspace.get(), bytes, nullptr);
  };
  auto unfused = [&](float* dg, float* db, bool accumulate) {
    batch_norm_backward_cuda(BatchNormBackwardArgs<float>{.x = x.get(),
                                                          .dy = dy.get(),
                                                          .dx = dx.get(),
                                                          .rows = rows,
                                                          .channels = channels,
                                                          .gamma = gamma.get(),
                                                          .saved = {mean.get(), invstd.get()},
                                                          .dgamma = dg,
                                                          .dbeta = db,
                                                          .accumulate_params = accumulate},
                             workspace.get(), bytes, nullptr);
    bn_relu_workspace_init_cuda(workspace.get(), bytes, nullptr);  // it scribbled over the fused counters
  };
  auto frozen = [&](float* dg, float* db, bool accumulate) {
    frozen_bn_backward_cuda(FrozenBnBackwardArgs<float>{.x = x.get(),
                                                        .dy = dy.get(),
                                                        .dx = dx.get(),
                                                        .rows = rows,
                                                        .channels = channels,
                                                        .gamma = gamma.get(),
                                                        .beta = beta.get(),
                                                        .moving_mean = mm.get(),
                                                        .moving_variance = mv.get(),
                                                        .dgamma = dg,
                                                        .dbeta = db,
                                                        .accumulate_params = accumulate},
                            nullptr);
  };
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(run(fused, nan, false), run(fused, 0.0f, true)) << "fused";
  EXPECT_EQ(run(unfused, nan, false), run(unfused, 0.0f, true)) << "unfused";
  EXPECT_EQ(run(frozen, nan, false), run(frozen, 0.0f, true)) << "frozen";
}

// The unfused CUDA reference against the unfused CPU reference (f64 on the same f32 inputs).
void check_unfused(int64_t rows, int64_t channels) {
  SCOPED_TRACE("unfused rows " + std::to_string(rows) + ", channels " + std::to_string(channels));
  Inputs<float> in = make_inputs<float>(rows, channels, 61 + rows);
  const int64_t n = rows * channels;
  std::vector<double> x = as_double(in.x), dy = as_double(in.dy), g(in.gamma.begin(), in.gamma.end()),
                      b(in.beta.begin(), in.beta.end()), mm(in.moving_mean.begin(), in.moving_mean.end()),
                      mv(in.moving_var.begin(), in.moving_var.end()), y(n), m(channels), s(channels), dx(n),
                      dg(channels, 0.5), db(channels, -0.25);
  const BatchNormForwardArgs<double> forward{.x = x.data(),
                                             .y = y.data(),
                                             .rows = rows,
                                             .channels = channels,
                                             .gamma = g.data(),
                                             .beta = b.data(),
                                             .moving_mean = mm.data(),
                                             .moving_variance = mv.data(),
                                             .saved = {m.data(), s.data()}};
  batch_norm_forward_training_cpu(forward);
  batch_norm_backward_cpu(BatchNormBackwardArgs<double>{.x = x.data(),
                                                        .dy = dy.data(),
                                                        .dx = dx.data(),
                                                        .rows = rows,
                                                        .channels = channels,
                                                        .gamma = g.data(),
                                                        .saved = {m.data(), s.data()},
                                                        .dgamma = dg.data(),
                                                        .dbeta = db.data(),
                                                        .accumulate_params = true});

  DeviceArray<float> xd(in.x), dyd(in.dy), yd(n), dxd(n), gd(in.gamma), bd(in.beta), mmd(in.moving_mean),
      mvd(in.moving_var), md(channels), sd(channels), dgd(std::vector<float>(channels, 0.5f)),
      dbd(std::vector<float>(channels, -0.25f));
  const size_t bytes = batch_norm_workspace_bytes(rows, channels);
  DeviceArray<unsigned char> workspace(bytes);
  const BatchNormForwardArgs<float> forward_d{.x = xd.get(),
                                              .y = yd.get(),
                                              .rows = rows,
                                              .channels = channels,
                                              .gamma = gd.get(),
                                              .beta = bd.get(),
                                              .moving_mean = mmd.get(),
                                              .moving_variance = mvd.get(),
                                              .saved = {md.get(), sd.get()}};
  batch_norm_forward_training_cuda(forward_d, workspace.get(), bytes, nullptr);
  batch_norm_backward_cuda(BatchNormBackwardArgs<float>{.x = xd.get(),
                                                        .dy = dyd.get(),
                                                        .dx = dxd.get(),
                                                        .rows = rows,
                                                        .channels = channels,
                                                        .gamma = gd.get(),
                                                        .saved = {md.get(), sd.get()},
                                                        .dgamma = dgd.get(),
                                                        .dbeta = dbd.get(),
                                                        .accumulate_params = true},
                           workspace.get(), bytes, nullptr);
  ALZ_CUDA_CHECK(cudaDeviceSynchronize());
  const Tolerance tight{1e-5, 1e-5};  // double sums on the GPU too; f32 storage of results
  ALZ_EXPECT_CLOSE(as_double(yd.download()), y, tight);
  ALZ_EXPECT_CLOSE(as_double(md.download()), m, tight);
  ALZ_EXPECT_CLOSE(as_double(sd.download()), s, tight);
  ALZ_EXPECT_CLOSE(as_double(mmd.download()), mm, tight);
  ALZ_EXPECT_CLOSE(as_double(mvd.download()), mv, tight);
  ALZ_EXPECT_CLOSE(as_double(dxd.download()), dx, Tolerance({1e-4, 1e-4}));  // dy - mean terms cancel in f32
  ALZ_EXPECT_CLOSE(as_double(dgd.download()), dg, Tolerance({1e-4, 1e-5}));
  ALZ_EXPECT_CLOSE(as_double(dbd.download()), db, Tolerance({1e-4, 1e-5}));
}

TEST(BatchNormGpu, UnfusedMatchesCpu) {
  ALZ_REQUIRE_GPU();
  check_unfused(6272, 64);
  check_unfused(392, 1024);
  check_unfused(7, 3);
  check_unfused(1, 13);
}

}  // namespace
}  // namespace alz::kernels
