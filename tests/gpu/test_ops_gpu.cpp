// Every CUDA op of kernels/{elementwise,reduce,gemm,pool,softmax_xent,pad}.h against its CPU
// reference, forward and backward, on random odd-size inputs: one table of cases, each run for
// f32 and, where the op has it, bf16 storage. bf16 inputs are rounded to bf16 on the host first
// and the CPU reference (f32) runs on those same values, so the only bf16 error left is the
// rounding of the result. f32 GEMMs run with TF32 off (strict fp32) except where stated.
// Tolerances, one line each:
//   kF32Exact   {1e-6, 1e-6}  same f32 operations, at most a contracted multiply-add apart
//   kBf16       {1e-5, 8e-3}  one bf16 rounding of the result (2^-9 relative) with slack
//   kF32Sum     {1e-4, 1e-5}  f32 partial sums vs the CPU's double accumulation (<= 1e5 terms)
// Skips cleanly without a device.   ctest --test-dir build -L gpu -R OpsGpu
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <ostream>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/cuda/check.h"
#include "kernels/elementwise.h"
#include "kernels/gemm.h"
#include "kernels/pad.h"
#include "kernels/pool.h"
#include "kernels/reduce.h"
#include "kernels/softmax_xent.h"
#include "support/compare.h"
#include "support/finite_difference.h"
#include "support/pool_pad_shapes.h"

namespace alz::kernels {
namespace {

using test::Tolerance;
using Host = std::vector<float>;
using Sizes3 = std::tuple<int64_t, int64_t, int64_t>;

constexpr Tolerance kF32Exact{1e-6, 1e-6};
constexpr Tolerance kBf16{1e-5, 8e-3};
constexpr Tolerance kF32Sum{1e-4, 1e-5};

template <typename S> constexpr Tolerance kElementTol = std::is_same_v<S, float> ? kF32Exact : kBf16;

// One stream and one cuBLAS handle bound to it, for the whole program.
struct Gpu {
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
};
Gpu& gpu() {
  static Gpu g = [] {
    Gpu made;
    ALZ_CUDA_CHECK(cudaStreamCreateWithFlags(&made.stream, cudaStreamNonBlocking));
    ALZ_CUBLAS_CHECK(cublasCreate(&made.cublas));
    ALZ_CUBLAS_CHECK(cublasSetStream(made.cublas, made.stream));
    return made;
  }();
  return g;
}

float to_f(float v) { return v; }
float to_f(bf16 v) { return bf16_to_float(v); }
template <typename S> S from_f(float v) {
  if constexpr (std::is_same_v<S, float>)
    return v;
  else
    return float_to_bf16(v);
}

// Host values as storage S can hold them (bf16 rounds to nearest even).
template <typename S> Host representable(Host v) {
  for (float& x : v) x = to_f(from_f<S>(x));
  return v;
}

// Seeded random values in [low, high), already representable in S.
template <typename S> Host random(size_t count, uint64_t seed, double low = -1.0, double high = 1.0) {
  return representable<S>(test::to_float(test::random_vector(count, seed, low, high)));
}

// A device buffer of storage type S; filled with NaN bytes when made without values, so an
// element the kernel forgets to write shows up.
template <typename S> struct Dev {
  S* ptr = nullptr;
  size_t count = 0;
  explicit Dev(size_t n) : count(n) {
    ALZ_CUDA_CHECK(cudaMalloc(&ptr, std::max<size_t>(1, n) * sizeof(S)));
    ALZ_CUDA_CHECK(cudaMemset(ptr, 0xFF, std::max<size_t>(1, n) * sizeof(S)));
  }
  explicit Dev(const Host& host) : Dev(host.size()) {
    std::vector<S> staged(host.size());
    for (size_t i = 0; i < host.size(); ++i) staged[i] = from_f<S>(host[i]);
    ALZ_CUDA_CHECK(cudaMemcpy(ptr, staged.data(), count * sizeof(S), cudaMemcpyHostToDevice));
  }
  ~Dev() { cudaFree(ptr); }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  Host get() const {
    ALZ_CUDA_CHECK(cudaStreamSynchronize(gpu().stream));
    std::vector<S> staged(count);
    ALZ_CUDA_CHECK(cudaMemcpy(staged.data(), ptr, count * sizeof(S), cudaMemcpyDeviceToHost));
    Host out(count);
    for (size_t i = 0; i < count; ++i) out[i] = to_f(staged[i]);
    return out;
  }
};

#define EXPECT_GPU_CLOSE(dev, expected, tol) EXPECT_TRUE(test::all_close((dev).get(), expected, tol, #dev))

// ---------------------------------------------------------------- elementwise
constexpr int64_t kRows = 3 * 7 * 5, kChannels = 13, kCount = kRows * kChannels;  // (3, 7, 5, 13)

template <typename S> void binary_ops() {
  const Host a = random<S>(kCount, 1), b = random<S>(kCount, 2), g = random<S>(kCount, 3), prior = random<S>(kCount, 4);
  Dev<S> da(a), db(b), dg(g), y(kCount);
  Host ref(kCount), ref_a(kCount), ref_b(kCount);
  const cudaStream_t s = gpu().stream;
  using Cpu = void (*)(const float*, const float*, float*, int64_t);
  using Cuda = void (*)(const S*, const S*, S*, int64_t, cudaStream_t);
  const std::vector<std::pair<Cpu, Cuda>> forwards = {{add_forward_cpu<float>, add_forward_cuda},
                                                      {sub_forward_cpu<float>, sub_forward_cuda},
                                                      {mul_forward_cpu<float>, mul_forward_cuda}};
  for (auto [cpu, cuda] : forwards) {
    cpu(a.data(), b.data(), ref.data(), kCount);
    cuda(da.ptr, db.ptr, y.ptr, kCount, s);
    EXPECT_GPU_CLOSE(y, ref, kElementTol<S>);
  }
  for (bool accumulate : {false, true}) {
    Dev<S> ga(prior), gb(prior);
    ref_a = prior, ref_b = prior;
    mul_backward_cpu(g.data(), a.data(), b.data(), ref_a.data(), ref_b.data(), kCount, accumulate);
    mul_backward_cuda(dg.ptr, da.ptr, db.ptr, ga.ptr, gb.ptr, kCount, accumulate, s);
    EXPECT_GPU_CLOSE(ga, ref_a, kElementTol<S>);
    EXPECT_GPU_CLOSE(gb, ref_b, kElementTol<S>);
    Dev<S> sb(prior);  // sub's second operand: -dy
    ref_b = prior;
    scaled_grad_cpu(g.data(), -1.0f, ref_b.data(), kCount, accumulate);
    scaled_grad_cuda(dg.ptr, -1.0f, sb.ptr, kCount, accumulate, s);
    scaled_grad_cuda(dg.ptr, -1.0f, static_cast<S*>(nullptr), kCount, accumulate, s);  // nothing to write
    scaled_grad_cuda(dg.ptr, -1.0f, sb.ptr, 0, accumulate, s);                         // count 0: a no-op
    EXPECT_GPU_CLOSE(sb, ref_b, kElementTol<S>);
  }
}

template <typename S> void scale_and_relu() {
  const Host x = random<S>(kCount, 5), g = random<S>(kCount, 6), prior = random<S>(kCount, 7);
  Dev<S> dx_in(x), dg(g), y(kCount);
  const cudaStream_t s = gpu().stream;
  Host ref(kCount);
  scale_forward_cpu(x.data(), -0.75f, ref.data(), kCount);
  scale_forward_cuda(dx_in.ptr, -0.75f, y.ptr, kCount, s);
  EXPECT_GPU_CLOSE(y, ref, kElementTol<S>);
  relu_forward_cpu(x.data(), ref.data(), kCount);
  relu_forward_cuda(dx_in.ptr, y.ptr, kCount, s);
  EXPECT_GPU_CLOSE(y, ref, kElementTol<S>);
  for (bool accumulate : {false, true}) {
    Dev<S> d_relu(prior), d_scale(prior);
    Host ref_relu = prior, ref_scale = prior;
    relu_backward_cpu(g.data(), x.data(), ref_relu.data(), kCount, accumulate);
    relu_backward_cuda(dg.ptr, y.ptr, d_relu.ptr, kCount, accumulate, s);  // from the output y
    EXPECT_GPU_CLOSE(d_relu, ref_relu, kElementTol<S>);
    scaled_grad_cpu(g.data(), 2.5f, ref_scale.data(), kCount, accumulate);
    scaled_grad_cuda(dg.ptr, 2.5f, d_scale.ptr, kCount, accumulate, s);
    EXPECT_GPU_CLOSE(d_scale, ref_scale, kElementTol<S>);
  }
}

template <typename S> void bias_add() {
  for (auto [rows, channels] :
       std::vector<std::pair<int64_t, int64_t>>{{kRows, kChannels}, {1, 3}, {4099, 67}, {2, 2049}}) {
    const int64_t n = rows * channels;
    const Host x = random<S>(n, 8), bias = random<S>(channels, 9), g = random<S>(n, 10),
               prior_b = random<S>(channels, 11);
    Dev<S> dx_in(x), dbias_in(bias), dg(g), y(n), dx(n), db(prior_b);
    Dev<float> workspace(channel_sum_workspace_elements(rows, channels));
    Host ref(n), ref_db = prior_b;
    bias_add_forward_cpu(x.data(), bias.data(), ref.data(), rows, channels);
    bias_add_forward_cuda(dx_in.ptr, dbias_in.ptr, y.ptr, rows, channels, gpu().stream);
    EXPECT_GPU_CLOSE(y, ref, kElementTol<S>);
    Host ref_fill(n);
    for (int64_t i = 0; i < n; ++i) ref_fill[i] = bias[i % channels];
    bias_fill_cuda(dbias_in.ptr, y.ptr, rows, channels, gpu().stream);
    EXPECT_GPU_CLOSE(y, ref_fill, (Tolerance{0.0, 0.0}));  // a copy: exact
    bias_add_backward_cpu(g.data(), ref.data(), ref_db.data(), rows, channels, false, true);
    bias_add_backward_cuda(dg.ptr, dx.ptr, db.ptr, rows, channels, false, true, workspace.ptr, gpu().stream);
    EXPECT_GPU_CLOSE(dx, ref, kElementTol<S>);
    // Tolerance: sums of up to 4099 terms, f32 partials vs double; then the storage rounding.
    EXPECT_GPU_CLOSE(db, ref_db, (std::is_same_v<S, float> ? kF32Sum : kBf16));
  }
}

// ---------------------------------------------------------------- reductions
void sums_and_means() {
  for (int64_t n : {int64_t{1}, int64_t{1000}, int64_t{100003}}) {
    const Host x = random<float>(n, 12);
    Dev<float> dx_in(x), out(1), workspace(sum_workspace_elements(n)), upstream(Host{-1.25f});
    sum_cuda(dx_in.ptr, out.ptr, n, workspace.ptr, gpu().stream);
    EXPECT_GPU_CLOSE(out, Host{sum_cpu(x.data(), n)}, kF32Sum);
    // Determinism: the same input gives the same bits.
    const Host first = out.get();
    sum_cuda(dx_in.ptr, out.ptr, n, workspace.ptr, gpu().stream);
    EXPECT_EQ(out.get(), first);
    mean_cuda(dx_in.ptr, out.ptr, n, workspace.ptr, gpu().stream);
    EXPECT_GPU_CLOSE(out, Host{mean_cpu(x.data(), n)}, kF32Sum);
    for (bool accumulate : {false, true}) {
      const Host prior = random<float>(n, 13);
      Dev<float> d_sum(prior), d_mean(prior);
      Host ref_sum = prior, ref_mean = prior;
      sum_backward_cpu(-1.25f, ref_sum.data(), n, accumulate);
      mean_backward_cpu(-1.25f, ref_mean.data(), n, accumulate);
      sum_backward_cuda(upstream.ptr, d_sum.ptr, n, accumulate, gpu().stream);
      mean_backward_cuda(upstream.ptr, d_mean.ptr, n, accumulate, gpu().stream);
      EXPECT_GPU_CLOSE(d_sum, ref_sum, kF32Exact);
      EXPECT_GPU_CLOSE(d_mean, ref_mean, kF32Exact);
    }
  }
}

template <typename S> void channel_reductions() {
  for (auto [rows, channels] :
       std::vector<std::pair<int64_t, int64_t>>{{kRows, kChannels}, {1, 1}, {20001, 5}, {3, 2049}}) {
    const Host x = random<S>(rows * channels, 14), g = random<float>(channels, 15);
    Dev<S> dx_in(x), out(channels);
    Dev<float> workspace(channel_sum_workspace_elements(rows, channels));
    Host ref(channels);
    channel_sum_cpu(x.data(), ref.data(), rows, channels);
    channel_sum_cuda(dx_in.ptr, out.ptr, rows, channels, false, workspace.ptr, gpu().stream);
    EXPECT_GPU_CLOSE(out, ref, (std::is_same_v<S, float> ? kF32Sum : kBf16));
    if constexpr (std::is_same_v<S, float>) {
      channel_mean_cpu(x.data(), ref.data(), rows, channels);
      channel_mean_cuda(dx_in.ptr, out.ptr, rows, channels, workspace.ptr, gpu().stream);
      EXPECT_GPU_CLOSE(out, ref, kF32Sum);
      Dev<float> dg(g), d_sum(rows * channels), d_mean(random<float>(rows * channels, 16));
      Host ref_sum(rows * channels), ref_mean = random<float>(rows * channels, 16);
      channel_sum_backward_cpu(g.data(), ref_sum.data(), rows, channels, false);
      channel_mean_backward_cpu(g.data(), ref_mean.data(), rows, channels, true);
      channel_sum_backward_cuda(dg.ptr, d_sum.ptr, rows, channels, false, gpu().stream);
      channel_mean_backward_cuda(dg.ptr, d_mean.ptr, rows, channels, true, gpu().stream);
      EXPECT_GPU_CLOSE(d_sum, ref_sum, kF32Exact);
      EXPECT_GPU_CLOSE(d_mean, ref_mean, kF32Exact);
    }
  }
}

template <typename S> void global_avg_pool() {
  // (N, H*W, C): odd, the ResNet head (7x7, 2048 channels), N = 1 with 1x1 spatial.
  for (auto [n, spatial, channels] : std::vector<Sizes3>{{3, 35, 13}, {2, 49, 2048}, {1, 1, 3}}) {
    const Host x = random<S>(n * spatial * channels, 17), g = random<S>(n * channels, 18),
               prior = random<S>(n * spatial * channels, 19);
    Dev<S> dx_in(x), y(n * channels), dg(g), dx(prior);
    Host ref(n * channels), ref_dx = prior;
    global_avg_pool_forward_cpu(x.data(), ref.data(), n, spatial, channels);
    global_avg_pool_forward_cuda(dx_in.ptr, y.ptr, n, spatial, channels, gpu().stream);
    EXPECT_GPU_CLOSE(y, ref, (std::is_same_v<S, float> ? kF32Sum : kBf16));
    global_avg_pool_backward_cpu(g.data(), ref_dx.data(), n, spatial, channels, true);
    global_avg_pool_backward_cuda(dg.ptr, dx.ptr, n, spatial, channels, true, gpu().stream);
    EXPECT_GPU_CLOSE(dx, ref_dx, kElementTol<S>);
  }
}

// ---------------------------------------------------------------- dense
// Strict fp32 for the duration of a case, whatever the process-wide switch said.
struct StrictFp32 {
  bool saved = gemm_allow_tf32();
  StrictFp32() { set_gemm_allow_tf32(false); }
  ~StrictFp32() { set_gemm_allow_tf32(saved); }
};

template <typename S> void matmul() {
  StrictFp32 strict;
  // Tolerance: f32 sums of up to 300 products of size <= 1, in another order (cuBLAS splits K).
  const Tolerance tol = std::is_same_v<S, float> ? Tolerance{1e-5, 1e-5} : kBf16;
  for (auto [m, n, k] : std::vector<Sizes3>{{5, 7, 3}, {1, 1, 1}, {64, 4, 301}, {33, 65, 17}}) {
    for (int t = 0; t < 4; ++t) {
      const bool ta = t & 1, tb = t & 2;
      const Host a = random<S>(m * k, 20 + t), b = random<S>(k * n, 30 + t), c0 = random<S>(m * n, 40 + t);
      Dev<S> da(a), db(b), dc(c0);
      Host ref = c0;
      matmul_cpu(a.data(), b.data(), ref.data(), m, n, k, ta, tb, 0.5f, 1.0f);
      matmul_cuda(gpu().cublas, da.ptr, db.ptr, dc.ptr, m, n, k, ta, tb, 0.5f, 1.0f);
      EXPECT_GPU_CLOSE(dc, ref, tol) << "m " << m << " n " << n << " k " << k << " ta " << ta << " tb " << tb;
    }
  }
}

void matmul_tf32() {
  // TF32 keeps 10 mantissa bits of each input: products err by ~2^-11 relative, and over K = 301
  // random-sign terms that stays well inside 2e-2 absolute.
  const bool saved = gemm_allow_tf32();
  set_gemm_allow_tf32(true);
  const int64_t m = 64, n = 48, k = 301;
  const Host a = random<float>(m * k, 50), b = random<float>(k * n, 51);
  Dev<float> da(a), db(b), dc(m * n);
  Host ref(m * n);
  matmul_cpu(a.data(), b.data(), ref.data(), m, n, k, false, false);
  matmul_cuda(gpu().cublas, da.ptr, db.ptr, dc.ptr, m, n, k, false, false);
  EXPECT_GPU_CLOSE(dc, ref, (Tolerance{2e-2, 1e-2}));
  set_gemm_allow_tf32(saved);
}

template <typename S> void linear() {
  StrictFp32 strict;
  const Tolerance tol = std::is_same_v<S, float> ? Tolerance{1e-5, 1e-5} : Tolerance{1e-3, 8e-3};
  // (batch, in, out): odd, the ResNet head (64 x 2048 -> 4), batch 1.
  for (auto [batch, in, out] : std::vector<Sizes3>{{3, 17, 5}, {64, 2048, 4}, {1, 1, 1}}) {
    const Host x = random<S>(batch * in, 60), w = random<S>(in * out, 61), b = random<S>(out, 62),
               g = random<S>(batch * out, 63), prior_w = random<S>(in * out, 64), prior_b = random<S>(out, 65);
    Dev<S> dx_in(x), dw_in(w), db_in(b), dg(g), y(batch * out), dx(batch * in), dw(prior_w), db(prior_b);
    Dev<float> workspace(linear_backward_workspace_elements(batch, out));
    Host ref(batch * out), ref_dx(batch * in), ref_dw = prior_w, ref_db = prior_b;
    linear_forward_cpu(x.data(), w.data(), b.data(), ref.data(), batch, in, out);
    linear_forward_cuda(gpu().cublas, dx_in.ptr, dw_in.ptr, db_in.ptr, y.ptr, batch, in, out);
    // Tolerance: f32 sums of K = 2048 terms in another order; bf16: one rounding of y.
    EXPECT_GPU_CLOSE(y, ref, (std::is_same_v<S, float> ? Tolerance{1e-4, 1e-5} : tol));
    // dx overwritten, dW and db added into the prior values.
    linear_backward_cpu(LinearBackwardArgs<float>{.dy = g.data(),
                                                  .x = x.data(),
                                                  .w = w.data(),
                                                  .dx = ref_dx.data(),
                                                  .dw = ref_dw.data(),
                                                  .db = ref_db.data(),
                                                  .batch = batch,
                                                  .in = in,
                                                  .out = out,
                                                  .accumulate_params = true});
    linear_backward_cuda(gpu().cublas,
                         LinearBackwardArgs<S>{.dy = dg.ptr,
                                               .x = dx_in.ptr,
                                               .w = dw_in.ptr,
                                               .dx = dx.ptr,
                                               .dw = dw.ptr,
                                               .db = db.ptr,
                                               .batch = batch,
                                               .in = in,
                                               .out = out,
                                               .accumulate_params = true},
                         workspace.ptr);
    EXPECT_GPU_CLOSE(dx, ref_dx, tol);
    EXPECT_GPU_CLOSE(dw, ref_dw, tol);
    EXPECT_GPU_CLOSE(db, ref_db, tol);
  }
}

// ---------------------------------------------------------------- pooling and padding
template <typename S> void max_pool() {
  // The odd shapes of tests/test_pool.cpp (tests/support/pool_pad_shapes.h), and two too large
  // for finite differences.
  std::vector<test::PoolShape> cases = test::max_pool_odd_shapes();
  cases.push_back({{2, 12, 11, 70}, 3, 2, {1, 1, 1, 1}, -1.0, 1.0});     // C > a warp of lanes
  cases.push_back({{1, 1450, 1450, 1}, 3, 2, {1, 1, 1, 1}, -1.0, 1.0});  // grid-stride loop
  for (const test::PoolShape& c : cases) {
    MaxPool2dParams p;
    p.input = c.in;
    p.kernel_h = p.kernel_w = c.k;
    p.stride_h = p.stride_w = c.s;
    p.pad = c.pad;
    const int64_t out = max_pool_output_shape(p).numel();
    const Host x = random<S>(c.in.numel(), 70, c.low, c.high), g = random<S>(out, 71),
               prior = random<S>(c.in.numel(), 72);
    Dev<S> dx_in(x), dg(g), y(out);
    Host ref(out);
    max_pool_forward_cpu(x.data(), ref.data(), p);
    max_pool_forward_cuda(dx_in.ptr, y.ptr, p, gpu().stream);
    EXPECT_GPU_CLOSE(y, ref, (Tolerance{0.0, 0.0}));  // the max selects an input: exact
    for (bool accumulate : {false, true}) {
      Dev<S> dx(prior);
      Host ref_dx = prior;
      max_pool_backward_cpu(x.data(), g.data(), ref_dx.data(), p, accumulate);
      max_pool_backward_cuda(dx_in.ptr, dg.ptr, dx.ptr, p, accumulate, gpu().stream);
      EXPECT_GPU_CLOSE(dx, ref_dx, kElementTol<S>);
    }
  }
  // Ties: every value equal, overlapping windows; the first arg-max wins on both devices.
  const ImageShape in{1, 5, 5, 3};
  MaxPool2dParams p;
  p.input = in;
  p.kernel_h = p.kernel_w = 3;
  p.stride_h = p.stride_w = 1;
  const Host x(in.numel(), 0.5f), g = random<S>(max_pool_output_shape(p).numel(), 73);
  Dev<S> dx_in(x), dg(g), dx(in.numel());
  Host ref_dx(in.numel());
  max_pool_backward_cpu(x.data(), g.data(), ref_dx.data(), p, false);
  max_pool_backward_cuda(dx_in.ptr, dg.ptr, dx.ptr, p, false, gpu().stream);
  EXPECT_GPU_CLOSE(dx, ref_dx, kElementTol<S>);
}

template <typename S> void zero_pad() {
  // The odd shapes of tests/test_pad.cpp (tests/support/pool_pad_shapes.h).
  for (const test::PadShape& c : test::zero_pad_odd_shapes()) {
    const ImageShape& in = c.in;
    const Padding2d& pad = c.pad;
    const ImageShape out = padded_shape(in, pad);
    const Host x = random<S>(in.numel(), 80), g = random<S>(out.numel(), 81), prior = random<S>(in.numel(), 82);
    Dev<S> dx_in(x), dg(g), y(out.numel());
    Host ref(out.numel());
    zero_pad_forward_cpu(x.data(), ref.data(), in, pad);
    zero_pad_forward_cuda(dx_in.ptr, y.ptr, in, pad, gpu().stream);
    EXPECT_GPU_CLOSE(y, ref, (Tolerance{0.0, 0.0}));  // a copy: exact
    for (bool accumulate : {false, true}) {
      Dev<S> dx(prior);
      Host ref_dx = prior;
      zero_pad_backward_cpu(g.data(), ref_dx.data(), in, pad, accumulate);
      zero_pad_backward_cuda(dg.ptr, dx.ptr, in, pad, accumulate, gpu().stream);
      EXPECT_GPU_CLOSE(dx, ref_dx, kElementTol<S>);
    }
  }
}

// ---------------------------------------------------------------- loss
void softmax_xent() {
  struct Case {
    int64_t n, k;
    bool weighted;
    float eps;
  };
  for (const Case& c : {Case{64, 4, false, 0.0f}, Case{37, 4, true, 0.1f}, Case{5, 1000, true, 0.0f},
                        Case{1, 3, false, 0.2f}, Case{300, 33, true, 0.05f}}) {
    const Host logits = random<float>(c.n * c.k, 90, -4.0, 4.0), weights = random<float>(c.k, 91, 0.2, 2.0),
               prior = random<float>(c.n * c.k, 92);
    std::vector<int32_t> labels(c.n);
    for (int64_t i = 0; i < c.n; ++i) labels[i] = static_cast<int32_t>((i * 7 + 3) % c.k);
    Dev<float> d_logits(logits), d_weights(weights), loss(1), probs(c.n * c.k), upstream(Host{0.75f});
    Dev<float> workspace(softmax_xent_workspace_elements(c.n)), dz(prior);
    int32_t* d_labels = nullptr;
    ALZ_CUDA_CHECK(cudaMalloc(&d_labels, c.n * sizeof(int32_t)));
    ALZ_CUDA_CHECK(cudaMemcpy(d_labels, labels.data(), c.n * sizeof(int32_t), cudaMemcpyHostToDevice));
    SoftmaxXentArgs<float> host_args{labels.data(), c.weighted ? weights.data() : nullptr, c.eps, c.n, c.k};
    SoftmaxXentArgs<float> dev_args{d_labels, c.weighted ? d_weights.ptr : nullptr, c.eps, c.n, c.k};
    Host ref_probs(c.n * c.k), ref_dz = prior;
    const float ref_loss = softmax_xent_forward_cpu(logits.data(), host_args, ref_probs.data());
    softmax_xent_forward_cuda(d_logits.ptr, dev_args, loss.ptr, probs.ptr, workspace.ptr, gpu().stream);
    // Tolerance: f32 exp/log and sums of <= 1000 terms against the CPU's double arithmetic.
    EXPECT_GPU_CLOSE(loss, Host{ref_loss}, (Tolerance{1e-5, 1e-5}));
    EXPECT_GPU_CLOSE(probs, ref_probs, (Tolerance{1e-6, 1e-5}));
    softmax_xent_backward_cpu(logits.data(), host_args, 0.75f, ref_dz.data(), true);
    softmax_xent_backward_cuda(d_logits.ptr, dev_args, upstream.ptr, dz.ptr, true, workspace.ptr, gpu().stream);
    EXPECT_GPU_CLOSE(dz, ref_dz, (Tolerance{1e-6, 1e-5}));
    // An out-of-range label cannot throw on the GPU: it makes the loss NaN.
    labels[0] = static_cast<int32_t>(c.k);
    ALZ_CUDA_CHECK(cudaMemcpy(d_labels, labels.data(), c.n * sizeof(int32_t), cudaMemcpyHostToDevice));
    softmax_xent_forward_cuda(d_logits.ptr, dev_args, loss.ptr, nullptr, workspace.ptr, gpu().stream);
    EXPECT_TRUE(std::isnan(loss.get()[0]));
    ALZ_CUDA_CHECK(cudaFree(d_labels));
  }
}

// ---------------------------------------------------------------- the table
struct OpCase {
  std::string name;
  std::function<void()> f32, bf16;  // bf16 empty where the op has no bf16 version
};

const std::vector<OpCase>& op_cases() {
  static const std::vector<OpCase> cases = {
      {"binary_ops", binary_ops<float>, binary_ops<bf16>},
      {"scale_and_relu", scale_and_relu<float>, scale_and_relu<bf16>},
      {"bias_add", bias_add<float>, bias_add<bf16>},
      {"sums_and_means", sums_and_means, {}},
      {"channel_reductions", channel_reductions<float>, channel_reductions<bf16>},
      {"global_avg_pool", global_avg_pool<float>, global_avg_pool<bf16>},
      {"matmul", matmul<float>, matmul<bf16>},
      {"matmul_tf32", matmul_tf32, {}},
      {"linear", linear<float>, linear<bf16>},
      {"max_pool", max_pool<float>, max_pool<bf16>},
      {"zero_pad", zero_pad<float>, zero_pad<bf16>},
      {"softmax_xent", softmax_xent, {}},
  };
  return cases;
}

struct Param {
  size_t index;
  bool bf16;
};
void PrintTo(const Param& p, std::ostream* os) { *os << op_cases()[p.index].name << (p.bf16 ? " bf16" : " f32"); }

std::vector<Param> all_params() {
  std::vector<Param> params;
  for (size_t i = 0; i < op_cases().size(); ++i) {
    params.push_back({i, false});
    if (op_cases()[i].bf16) params.push_back({i, true});
  }
  return params;
}

class OpsGpu : public ::testing::TestWithParam<Param> {};

TEST_P(OpsGpu, MatchesCpuReference) {
  ALZ_REQUIRE_GPU();
  const OpCase& c = op_cases()[GetParam().index];
  (GetParam().bf16 ? c.bf16 : c.f32)();
}

INSTANTIATE_TEST_SUITE_P(AllOps, OpsGpu, ::testing::ValuesIn(all_params()),
                         [](const ::testing::TestParamInfo<Param>& info) {
                           return op_cases()[info.param.index].name + (info.param.bf16 ? "_bf16" : "_f32");
                         });

}  // namespace
}  // namespace alz::kernels
