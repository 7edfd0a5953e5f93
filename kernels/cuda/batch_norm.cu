// Unfused batch normalisation on the GPU, float: the simple, deterministic reference for the
// fused kernels (kernels/cuda/bn_relu.cu). Formulas in kernels/batch_norm.h.
// Layout: NHWC viewed as (rows = N*H*W, C), C fastest.
//
// One kernel per step, no cleverness:
//   training:  column sums of x (double partials per row split)  -> finalize mean
//              column sums of (x - mean)^2                        -> finalize var, invstd, moving
//              elementwise normalise
//   backward:  column sums of dy and dy*xhat                      -> finalize dgamma, dbeta, coefs
//              elementwise dx
// A column-sum block is 32 channels x 8 row lanes; blockIdx.y picks a slice of rows. Partials
// land in the workspace and a finalize kernel adds them in a fixed order (no atomics).
// Tested by tests/gpu/test_bn_relu_gpu.cpp:  ctest --test-dir build -R BatchNormGpu
#include <algorithm>

#include "core/cuda/check.h"
#include "kernels/batch_norm.h"

namespace alz::kernels {
namespace {

constexpr int kColumns = 32;     // channels per column-sum block
constexpr int kRowLanes = 8;     // row lanes per column-sum block
constexpr int kMaxSplits = 256;  // row slices of the column sums
constexpr int kMinRowsPerSplit = 64;
constexpr int kElementThreads = 256;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

int64_t row_splits(int64_t rows) { return std::min<int64_t>(kMaxSplits, ceil_div(rows, kMinRowsPerSplit)); }

// Workspace: partial_a[splits * C], partial_b[splits * C], coef_a[C], coef_b[C], all double.
struct Workspace {
  double* partial_a;
  double* partial_b;
  double* coef_a;
  double* coef_b;
};

Workspace carve(void* workspace, int64_t rows, int64_t channels) {
  auto* base = static_cast<double*>(workspace);
  int64_t splits = row_splits(rows);
  return Workspace{base, base + splits * channels, base + 2 * splits * channels,
                   base + 2 * splits * channels + channels};
}

// mode 0: sum x;  mode 1: sum (x - center)^2;  mode 2: sum dy (into a) and dy * xhat (into b).
__global__ void column_partial_sums_kernel(const float* x, const float* dy, int64_t rows, int64_t channels,
                                           int64_t rows_per_split, int mode, const float* center, const float* invstd,
                                           double* partial_a, double* partial_b) {
  __shared__ double shared_a[kRowLanes][kColumns];
  __shared__ double shared_b[kRowLanes][kColumns];
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kColumns + threadIdx.x;
  const int64_t begin = static_cast<int64_t>(blockIdx.y) * rows_per_split;
  const int64_t end = min(rows, begin + rows_per_split);
  double a = 0.0, b = 0.0;
  if (c < channels) {
    for (int64_t r = begin + threadIdx.y; r < end; r += kRowLanes) {
      double v = x[r * channels + c];
      if (mode == 0) {
        a += v;
      } else if (mode == 1) {
        double d = v - center[c];
        a += d * d;
      } else {
        double g = dy[r * channels + c];
        double xhat = (v - center[c]) * invstd[c];
        a += g;
        b += g * xhat;
      }
    }
  }
  shared_a[threadIdx.y][threadIdx.x] = a;
  shared_b[threadIdx.y][threadIdx.x] = b;
  __syncthreads();
  if (threadIdx.y == 0 && c < channels) {
    for (int lane = 1; lane < kRowLanes; ++lane) {
      a += shared_a[lane][threadIdx.x];
      b += shared_b[lane][threadIdx.x];
    }
    partial_a[blockIdx.y * channels + c] = a;
    partial_b[blockIdx.y * channels + c] = b;
  }
}

__global__ void finalize_mean_kernel(const double* partial, int splits, int64_t rows, int64_t channels,
                                     float* save_mean) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= channels) return;
  double sum = 0.0;
  for (int s = 0; s < splits; ++s) sum += partial[s * channels + c];
  save_mean[c] = static_cast<float>(sum / static_cast<double>(rows));
}

__global__ void finalize_variance_kernel(const double* partial, int splits, int64_t rows, int64_t channels,
                                         const float* save_mean, float* save_invstd, float* moving_mean,
                                         float* moving_variance, float momentum, float epsilon) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= channels) return;
  double sum = 0.0;
  for (int s = 0; s < splits; ++s) sum += partial[s * channels + c];
  double var = sum / static_cast<double>(rows);
  save_invstd[c] = static_cast<float>(1.0 / sqrt(var + static_cast<double>(epsilon)));
  if (moving_mean != nullptr) {
    moving_mean[c] = momentum * moving_mean[c] + (1.0f - momentum) * save_mean[c];
    moving_variance[c] = momentum * moving_variance[c] + (1.0f - momentum) * static_cast<float>(var);
  }
}

__global__ void normalize_kernel(const float* x, float* y, int64_t count, int64_t channels, const float* mean,
                                 const float* invstd, bool invstd_is_variance, float epsilon, const float* gamma,
                                 const float* beta) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t c = i % channels;
    float scale = invstd_is_variance ? 1.0f / sqrtf(invstd[c] + epsilon) : invstd[c];
    y[i] = gamma[c] * ((x[i] - mean[c]) * scale) + beta[c];
  }
}

__global__ void finalize_backward_kernel(const double* sum_dy, const double* sum_dy_xhat, int splits, int64_t rows,
                                         int64_t channels, float* dgamma, float* dbeta, double* coef_a,
                                         double* coef_b) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= channels) return;
  double a = 0.0, b = 0.0;
  for (int s = 0; s < splits; ++s) {
    a += sum_dy[s * channels + c];
    b += sum_dy_xhat[s * channels + c];
  }
  dbeta[c] += static_cast<float>(a);
  dgamma[c] += static_cast<float>(b);
  coef_a[c] = a / static_cast<double>(rows);
  coef_b[c] = b / static_cast<double>(rows);
}

__global__ void backward_dx_kernel(const float* x, const float* dy, float* dx, int64_t count, int64_t channels,
                                   const float* gamma, const float* mean, const float* invstd, const double* coef_a,
                                   const double* coef_b) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t c = i % channels;
    double xhat = (static_cast<double>(x[i]) - mean[c]) * invstd[c];
    dx[i] = static_cast<float>(static_cast<double>(gamma[c]) * invstd[c] * (dy[i] - coef_a[c] - xhat * coef_b[c]));
  }
}

void check_args(const char* op, int64_t rows, int64_t channels, size_t workspace_bytes) {
  ALZ_CHECK(rows > 0 && channels > 0,
            op << ": needs rows > 0 and channels > 0, got rows " << rows << ", channels " << channels);
  ALZ_CHECK(workspace_bytes >= batch_norm_workspace_bytes(rows, channels),
            op << ": workspace of " << workspace_bytes << " bytes is smaller than the "
               << batch_norm_workspace_bytes(rows, channels) << " that (" << rows << ", " << channels << ") needs");
}

dim3 column_grid(int64_t rows, int64_t channels) {
  return dim3(static_cast<unsigned>(ceil_div(channels, kColumns)), static_cast<unsigned>(row_splits(rows)));
}

unsigned element_blocks(int64_t count) {
  return static_cast<unsigned>(std::min<int64_t>(ceil_div(count, kElementThreads), 8192));
}

unsigned channel_blocks(int64_t channels) { return static_cast<unsigned>(ceil_div(channels, 128)); }

}  // namespace

size_t batch_norm_workspace_bytes(int64_t rows, int64_t channels) {
  if (rows <= 0 || channels <= 0) return 0;
  return static_cast<size_t>(2 * row_splits(rows) * channels + 2 * channels) * sizeof(double);
}

void batch_norm_forward_training_cuda(const BatchNormForwardArgs<float>& a, void* workspace, size_t workspace_bytes,
                                      cudaStream_t stream) {
  const float *x = a.x, *gamma = a.gamma, *beta = a.beta;
  float *y = a.y, *moving_mean = a.moving_mean, *moving_variance = a.moving_variance;
  float *save_mean = a.saved.mean, *save_invstd = a.saved.invstd;
  const int64_t rows = a.rows, channels = a.channels;
  const float momentum = static_cast<float>(a.momentum), epsilon = static_cast<float>(a.epsilon);
  check_args("batch_norm_forward_training_cuda", rows, channels, workspace_bytes);
  ALZ_CHECK((moving_mean == nullptr) == (moving_variance == nullptr),
            "batch_norm_forward_training_cuda: moving_mean and moving_variance must both be given or both be null");
  Workspace ws = carve(workspace, rows, channels);
  const int64_t rows_per_split = ceil_div(rows, row_splits(rows));
  const int splits = static_cast<int>(row_splits(rows));
  const dim3 block(kColumns, kRowLanes);
  column_partial_sums_kernel<<<column_grid(rows, channels), block, 0, stream>>>(
      x, nullptr, rows, channels, rows_per_split, 0, nullptr, nullptr, ws.partial_a, ws.partial_b);
  ALZ_CUDA_CHECK_LAUNCH();
  finalize_mean_kernel<<<channel_blocks(channels), 128, 0, stream>>>(ws.partial_a, splits, rows, channels, save_mean);
  ALZ_CUDA_CHECK_LAUNCH();
  column_partial_sums_kernel<<<column_grid(rows, channels), block, 0, stream>>>(
      x, nullptr, rows, channels, rows_per_split, 1, save_mean, nullptr, ws.partial_a, ws.partial_b);
  ALZ_CUDA_CHECK_LAUNCH();
  finalize_variance_kernel<<<channel_blocks(channels), 128, 0, stream>>>(
      ws.partial_a, splits, rows, channels, save_mean, save_invstd, moving_mean, moving_variance, momentum, epsilon);
  ALZ_CUDA_CHECK_LAUNCH();
  normalize_kernel<<<element_blocks(rows * channels), kElementThreads, 0, stream>>>(
      x, y, rows * channels, channels, save_mean, save_invstd, false, epsilon, gamma, beta);
  ALZ_CUDA_CHECK_LAUNCH();
}

void batch_norm_backward_cuda(const BatchNormBackwardArgs<float>& a, void* workspace, size_t workspace_bytes,
                              cudaStream_t stream) {
  const float *x = a.x, *dy = a.dy, *gamma = a.gamma, *save_mean = a.saved.mean, *save_invstd = a.saved.invstd;
  float *dx = a.dx, *dgamma = a.dgamma, *dbeta = a.dbeta;
  const int64_t rows = a.rows, channels = a.channels;
  check_args("batch_norm_backward_cuda", rows, channels, workspace_bytes);
  Workspace ws = carve(workspace, rows, channels);
  if (!a.accumulate_params) {  // the finalize kernel adds into dgamma and dbeta
    ALZ_CUDA_CHECK(cudaMemsetAsync(dgamma, 0, sizeof(float) * static_cast<size_t>(channels), stream));
    ALZ_CUDA_CHECK(cudaMemsetAsync(dbeta, 0, sizeof(float) * static_cast<size_t>(channels), stream));
  }
  const int64_t rows_per_split = ceil_div(rows, row_splits(rows));
  const int splits = static_cast<int>(row_splits(rows));
  column_partial_sums_kernel<<<column_grid(rows, channels), dim3(kColumns, kRowLanes), 0, stream>>>(
      x, dy, rows, channels, rows_per_split, 2, save_mean, save_invstd, ws.partial_a, ws.partial_b);
  ALZ_CUDA_CHECK_LAUNCH();
  finalize_backward_kernel<<<channel_blocks(channels), 128, 0, stream>>>(ws.partial_a, ws.partial_b, splits, rows,
                                                                         channels, dgamma, dbeta, ws.coef_a, ws.coef_b);
  ALZ_CUDA_CHECK_LAUNCH();
  backward_dx_kernel<<<element_blocks(rows * channels), kElementThreads, 0, stream>>>(
      x, dy, dx, rows * channels, channels, gamma, save_mean, save_invstd, ws.coef_a, ws.coef_b);
  ALZ_CUDA_CHECK_LAUNCH();
}

}  // namespace alz::kernels
