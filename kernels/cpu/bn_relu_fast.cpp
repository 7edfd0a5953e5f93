// Fused BatchNorm(+ReLU) for f32 training and inference on the CPU: the path tensor/ops takes
// for float tensors. Same formulas as kernels/bn_relu.h; kernels/cpu/bn_relu.cpp (double
// arithmetic) stays the reference it is tested against.
//
// Layout (rows = N*H*W, C), C fastest. Every loop runs over channels innermost with per-channel
// float arrays, so the compiler vectorises it. Each pass reads memory once:
//   statistics: the rows are split into at most kChunks chunks fixed by the shape (OpenMP over
//               chunks); a chunk walks cache-sized sub-blocks of rows and, in f32, finds a
//               centre near each sub-block's mean from offsets to its first row, then the
//               squares and the residual sum about that centre (corrected two-pass; these
//               looks hit the cache), and merges the sub-block's exact (mean, M2) into its double
//               accumulators with Chan's formula; the chunks are then merged in chunk order.
//               Results are bit-identical with any number of threads, and no raw
//               E[x^2] - E[x]^2 is ever formed: values far from 0 keep their variance.
//   apply:      y = [relu](x * scale + shift), scale = gamma * invstd, shift = beta - mean * scale
//               (from the SAVED float statistics, so the backward recomputes the same mask).
//   backward:   sums of g and g * (x - mean) per chunk (f32 per sub-block, double per chunk),
//               then dx = k * (g - sum_g / rows - xhat * sum_g_xhat / rows), k = gamma * invstd.
// Bytes: forward 3E, backward 5E (E = rows * C * 4), as the CUDA kernels.
// Tests: tests/test_bn_relu.cpp (BnReluFast.*, against the reference); bench: bench/bench_bn_relu_cpu.cpp.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "kernels/bn_relu.h"

namespace alz::kernels {
namespace {

constexpr int64_t kChunks = 64;                    // at most; fixed by the shape, not the thread count
constexpr int64_t kSubBlockElements = 8192;        // 32 KB of f32: a sub-block stays in L1/L2
constexpr int64_t kParallelMinElements = 1 << 15;  // below this, threads cost more than they save

void check_args(const char* op, int64_t rows, int64_t channels) {
  ALZ_CHECK(rows > 0 && channels > 0,
            op << ": needs rows > 0 and channels > 0, got rows " << rows << ", channels " << channels);
}

// Chunks of at least a few sub-blocks each, at most kChunks: a function of the shape only.
int64_t chunk_count(int64_t rows, int64_t channels) {
  return std::clamp<int64_t>(rows * channels / (4 * kSubBlockElements), 1, std::min(rows, kChunks));
}
int64_t chunk_begin(int64_t chunk, int64_t chunks, int64_t rows) { return chunk * rows / chunks; }
int64_t sub_block_rows(int64_t channels) { return std::max<int64_t>(1, kSubBlockElements / channels); }

// Per-channel coefficients of the affine map pre = x * scale + shift.
void affine(const float* gamma, const float* beta, const float* mean, const float* invstd, int64_t channels,
            float* scale, float* shift) {
  for (int64_t c = 0; c < channels; ++c) {
    scale[c] = gamma[c] * invstd[c];
    shift[c] = beta[c] - mean[c] * scale[c];
  }
}

// dy where the recomputed pre-activation passed the ReLU, else 0. Both operands are loaded
// unconditionally, so the loops around it vectorise (a select, not a branch).
inline float masked(float x, float dy, float scale, float shift, bool relu) {
  const float pre = x * scale + shift;
  return (relu && !(pre > 0.0f)) ? 0.0f : dy;
}

// y = [relu](x * scale + shift), rows in parallel.
void apply(const float* x, float* y, int64_t rows, int64_t channels, const float* scale, const float* shift,
           bool relu) {
#pragma omp parallel for schedule(static) if (rows * channels >= kParallelMinElements)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * channels;
    float* yr = y + r * channels;
    if (relu) {
      for (int64_t c = 0; c < channels; ++c) {
        const float pre = xr[c] * scale[c] + shift[c];
        yr[c] = pre > 0.0f ? pre : 0.0f;
      }
    } else {
      for (int64_t c = 0; c < channels; ++c) yr[c] = xr[c] * scale[c] + shift[c];
    }
  }
}

// Per-channel mean and biased variance (double) of x (rows, channels).
void moments(const float* x, int64_t rows, int64_t channels, std::vector<double>& mean, std::vector<double>& var) {
  const int64_t chunks = chunk_count(rows, channels), block = sub_block_rows(channels);
  std::vector<double> chunk_mean(static_cast<size_t>(chunks * channels)), chunk_m2(chunk_mean.size());
#pragma omp parallel for schedule(static) if (rows * channels >= kParallelMinElements)
  for (int64_t k = 0; k < chunks; ++k) {
    const size_t C = static_cast<size_t>(channels);
    std::vector<float> centre(C), residual(C), m2(C);
    double* cmean = chunk_mean.data() + k * channels;
    double* cm2 = chunk_m2.data() + k * channels;
    const int64_t r_end = chunk_begin(k + 1, chunks, rows);
    double count = 0;
    for (int64_t r0 = chunk_begin(k, chunks, rows); r0 < r_end; r0 += block) {
      const int64_t r1 = std::min(r_end, r0 + block);
      const float n = static_cast<float>(r1 - r0);
      float* __restrict ce = centre.data();
      float* __restrict re = residual.data();
      float* __restrict sq = m2.data();
      // 1. A centre near the sub-block mean: the first row plus the mean offset from it (the
      //    offsets are small, so their f32 sum keeps its digits even for values far from 0).
      const float* first = x + r0 * channels;
      std::fill(re, re + C, 0.0f);
      for (int64_t r = r0; r < r1; ++r) {
        const float* xr = x + r * channels;
        for (size_t c = 0; c < C; ++c) re[c] += xr[c] - first[c];
      }
      for (size_t c = 0; c < C; ++c) ce[c] = first[c] + re[c] / n;
      // 2. Squares about that centre and the residual sum (the centre's rounding error), which
      //    corrects both: mean = centre + residual / n, M2 = squares - residual^2 / n.
      std::fill(re, re + C, 0.0f);
      std::fill(sq, sq + C, 0.0f);
      for (int64_t r = r0; r < r1; ++r) {
        const float* xr = x + r * channels;
        for (size_t c = 0; c < C; ++c) {
          const float d = xr[c] - ce[c];
          re[c] += d;
          sq[c] += d * d;
        }
      }
      const double nb = r1 - r0, total = count + nb;
      for (size_t c = 0; c < C; ++c) {  // Chan: merge (nb, mean_b, M2_b) into the chunk
        const double mean_b = static_cast<double>(ce[c]) + static_cast<double>(re[c]) / nb;
        const double m2_b = static_cast<double>(sq[c]) - static_cast<double>(re[c]) * re[c] / nb;
        const double delta = mean_b - cmean[c];
        cmean[c] += delta * nb / total;
        cm2[c] += m2_b + delta * delta * count * nb / total;
      }
      count = total;
    }
  }
  mean.assign(static_cast<size_t>(channels), 0.0);
  var.assign(static_cast<size_t>(channels), 0.0);
  std::vector<double> m2(static_cast<size_t>(channels), 0.0);
  double count = 0;
  for (int64_t k = 0; k < chunks; ++k) {  // chunk order: deterministic
    const double nb = static_cast<double>(chunk_begin(k + 1, chunks, rows) - chunk_begin(k, chunks, rows));
    const double total = count + nb;
    for (int64_t c = 0; c < channels; ++c) {
      const double delta = chunk_mean[k * channels + c] - mean[c];
      mean[c] += delta * nb / total;
      m2[c] += chunk_m2[k * channels + c] + delta * delta * count * nb / total;
    }
    count = total;
  }
  for (int64_t c = 0; c < channels; ++c) var[c] = m2[c] / static_cast<double>(rows);
}

}  // namespace

void bn_relu_forward_training_cpu_fast(const BnReluForwardArgs<float>& a) {
  const float *x = a.x, *gamma = a.gamma, *beta = a.beta;
  float *y = a.y, *moving_mean = a.moving_mean, *moving_variance = a.moving_variance;
  const BatchNormSaved<float> saved = a.saved;
  const int64_t rows = a.rows, channels = a.channels;
  const double momentum = a.momentum, epsilon = a.epsilon;
  const bool relu = a.relu;
  check_args("bn_relu_forward_training_cpu_fast", rows, channels);
  ALZ_CHECK(saved.mean != nullptr && saved.invstd != nullptr,
            "bn_relu_forward_training_cpu_fast: the saved mean and invstd buffers are required");
  ALZ_CHECK((moving_mean == nullptr) == (moving_variance == nullptr),
            "bn_relu_forward_training_cpu_fast: moving_mean and moving_variance must both be given or both be null");
  std::vector<double> mean, var;
  moments(x, rows, channels, mean, var);
  for (int64_t c = 0; c < channels; ++c) {
    saved.mean[c] = static_cast<float>(mean[c]);
    saved.invstd[c] = static_cast<float>(1.0 / std::sqrt(var[c] + epsilon));
    if (moving_mean != nullptr) {
      moving_mean[c] = static_cast<float>(momentum * moving_mean[c] + (1.0 - momentum) * mean[c]);
      moving_variance[c] = static_cast<float>(momentum * moving_variance[c] + (1.0 - momentum) * var[c]);
    }
  }
  std::vector<float> scale(static_cast<size_t>(channels)), shift(static_cast<size_t>(channels));
  affine(gamma, beta, saved.mean, saved.invstd, channels, scale.data(), shift.data());
  apply(x, y, rows, channels, scale.data(), shift.data(), relu);
}

void bn_relu_forward_inference_cpu_fast(const BnReluForwardArgs<float>& a) {
  const float *x = a.x, *gamma = a.gamma, *beta = a.beta, *moving_mean = a.moving_mean,
              *moving_variance = a.moving_variance;
  float* y = a.y;
  const int64_t rows = a.rows, channels = a.channels;
  const double epsilon = a.epsilon;
  const bool relu = a.relu;
  check_args("bn_relu_forward_inference_cpu_fast", rows, channels);
  std::vector<float> invstd(static_cast<size_t>(channels));
  for (int64_t c = 0; c < channels; ++c)
    invstd[c] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(moving_variance[c]) + epsilon));
  std::vector<float> scale(static_cast<size_t>(channels)), shift(static_cast<size_t>(channels));
  affine(gamma, beta, moving_mean, invstd.data(), channels, scale.data(), shift.data());
  apply(x, y, rows, channels, scale.data(), shift.data(), relu);
}

void bn_relu_backward_cpu_fast(const BnReluBackwardArgs<float>& a) {
  const float *x = a.x, *dy = a.dy, *gamma = a.gamma, *beta = a.beta;
  float *dx = a.dx, *dgamma = a.dgamma, *dbeta = a.dbeta;
  const BatchNormSaved<const float> saved = a.saved;
  const int64_t rows = a.rows, channels = a.channels;
  const bool relu = a.relu;
  check_args("bn_relu_backward_cpu_fast", rows, channels);
  ALZ_CHECK(!(a.accumulate_dx && dx == dy), "bn_relu_backward_cpu_fast: accumulate_dx needs dx apart from dy");
  ALZ_CHECK(saved.mean != nullptr && saved.invstd != nullptr,
            "bn_relu_backward_cpu_fast: the saved mean and invstd of the forward are required");
  const size_t C = static_cast<size_t>(channels);
  std::vector<float> scale(C), shift(C);
  affine(gamma, beta, saved.mean, saved.invstd, channels, scale.data(), shift.data());
  const float* mean = saved.mean;

  // Pass 1: per-chunk sums of g and g * (x - mean), g = dy masked by the recomputed ReLU.
  const int64_t chunks = chunk_count(rows, channels), block = sub_block_rows(channels);
  std::vector<double> chunk_g(static_cast<size_t>(chunks) * C), chunk_gx(chunk_g.size());
#pragma omp parallel for schedule(static) if (rows * channels >= kParallelMinElements)
  for (int64_t k = 0; k < chunks; ++k) {
    std::vector<float> sg(C), sgx(C);
    double* cg = chunk_g.data() + k * channels;
    double* cgx = chunk_gx.data() + k * channels;
    const int64_t r_end = chunk_begin(k + 1, chunks, rows);
    for (int64_t r0 = chunk_begin(k, chunks, rows); r0 < r_end; r0 += block) {
      const int64_t r1 = std::min(r_end, r0 + block);
      std::fill(sg.begin(), sg.end(), 0.0f);
      std::fill(sgx.begin(), sgx.end(), 0.0f);
      for (int64_t r = r0; r < r1; ++r) {
        const float* xr = x + r * channels;
        const float* dyr = dy + r * channels;
        float* __restrict sgp = sg.data();
        float* __restrict sgxp = sgx.data();
        for (int64_t c = 0; c < channels; ++c) {
          const float g = masked(xr[c], dyr[c], scale[c], shift[c], relu);
          sgp[c] += g;
          sgxp[c] += g * (xr[c] - mean[c]);
        }
      }
      for (size_t c = 0; c < C; ++c) {
        cg[c] += sg[c];
        cgx[c] += sgx[c];
      }
    }
  }
  std::vector<double> sum_g(C, 0.0), sum_g_xhat(C, 0.0);
  for (int64_t k = 0; k < chunks; ++k)
    for (size_t c = 0; c < C; ++c) {
      sum_g[c] += chunk_g[k * C + c];
      sum_g_xhat[c] += chunk_gx[k * C + c];
    }
  std::vector<float> k_coef(C), mean_g(C), mean_gx(C);
  const double inv_rows = 1.0 / static_cast<double>(rows);
  for (size_t c = 0; c < C; ++c) {
    sum_g_xhat[c] *= static_cast<double>(saved.invstd[c]);
    const bool add = a.accumulate_params;
    dbeta[c] = static_cast<float>((add ? static_cast<double>(dbeta[c]) : 0.0) + sum_g[c]);
    dgamma[c] = static_cast<float>((add ? static_cast<double>(dgamma[c]) : 0.0) + sum_g_xhat[c]);
    k_coef[c] = gamma[c] * saved.invstd[c];
    mean_g[c] = static_cast<float>(sum_g[c] * inv_rows);
    mean_gx[c] = static_cast<float>(sum_g_xhat[c] * inv_rows);
  }

  // Pass 2: dx (may alias dy: each element is read before it is written), or dx += with
  // accumulate_dx.
  const float* invstd = saved.invstd;
  const bool accumulate = a.accumulate_dx;
#pragma omp parallel for schedule(static) if (rows * channels >= kParallelMinElements)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * channels;
    const float* dyr = dy + r * channels;
    float* dxr = dx + r * channels;
    for (int64_t c = 0; c < channels; ++c) {
      const float g = masked(xr[c], dyr[c], scale[c], shift[c], relu);
      const float xhat = (xr[c] - mean[c]) * invstd[c];
      const float value = k_coef[c] * (g - mean_g[c] - xhat * mean_gx[c]);
      dxr[c] = accumulate ? dxr[c] + value : value;
    }
  }
}

}  // namespace alz::kernels
