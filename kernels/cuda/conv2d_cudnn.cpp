// 2-D convolution through cuDNN's legacy API, NHWC activations and KRSC filters, f32 (TF32
// tensor cores unless strict fp32 is asked for) and bf16 storage with f32 accumulation.
// Formulas and layouts: kernels/conv2d.h. Host code only: it enqueues cuDNN calls (and, for
// asymmetric padding, a memset and a 3-D copy) on the stream bound to the handle.
//
// Algorithm cache: one Entry per key (device, shape, dtype, direction, mode, math, workspace
// cap) holding the descriptors and the chosen algorithm; chosen once under a mutex, then every
// call is a lookup. Tests: build/tests/test_conv2d_gpu. Bench: build/bench/bench_conv.
#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/cuda/check.h"
#include "kernels/conv2d.h"

namespace alz {
namespace {

std::atomic<ConvAlgoMode> g_mode{ConvAlgoMode::Heuristic};
std::atomic<bool> g_allow_tf32{true};
std::atomic<size_t> g_workspace_limit{size_t(256) << 20};

constexpr size_t kAlign = 256;
size_t align_up(size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }
size_t element_size(DType dtype) { return dtype == DType::BF16 ? 2 : 4; }

struct Key {
  int device;
  Conv2dParams p;
  DType dtype;
  ConvDirection direction;
  ConvAlgoMode mode;
  bool allow_tf32;
  size_t limit;
  bool operator==(const Key& o) const {
    return device == o.device && p == o.p && dtype == o.dtype && direction == o.direction && mode == o.mode &&
           allow_tf32 == o.allow_tf32 && limit == o.limit;
  }
};

struct KeyHash {
  size_t operator()(const Key& k) const {
    const int64_t fields[] = {k.device,
                              k.p.N,
                              k.p.H,
                              k.p.W,
                              k.p.C,
                              k.p.K,
                              k.p.R,
                              k.p.S,
                              k.p.stride_h,
                              k.p.stride_w,
                              k.p.pad_top,
                              k.p.pad_bottom,
                              k.p.pad_left,
                              k.p.pad_right,
                              int64_t(k.dtype),
                              int64_t(k.direction),
                              int64_t(k.mode),
                              k.allow_tf32,
                              int64_t(k.limit)};
    size_t h = 1469598103934665603ull;
    for (int64_t f : fields) h = (h ^ size_t(f)) * 1099511628211ull;
    return h;
  }
};

// Descriptors and choice for one key. With asymmetric padding x is described padded (He, We)
// and cuDNN pads nothing; the padded copy lives at the start of the workspace.
struct Entry {
  ConvAlgoInfo info;
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  bool explicit_pad = false;
  size_t padded_bytes = 0;  // aligned size of the padded x in the workspace
  Entry() = default;
  Entry(const Entry&) = delete;
  Entry& operator=(const Entry&) = delete;
  ~Entry() {  // destructors must not throw: statuses ignored
    if (x) cudnnDestroyTensorDescriptor(x);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
  }
};

std::mutex g_mutex;  // guards everything below
std::unordered_map<Key, std::unique_ptr<Entry>, KeyHash> g_cache;
uint64_t g_selections = 0, g_hits = 0;

const char* algo_name(ConvDirection direction, int algo) {
  static const char* forward[] = {"IMPLICIT_GEMM", "IMPLICIT_PRECOMP_GEMM", "GEMM", "DIRECT", "FFT", "FFT_TILING",
                                  "WINOGRAD",      "WINOGRAD_NONFUSED"};
  static const char* data[] = {"ALGO_0", "ALGO_1", "FFT", "FFT_TILING", "WINOGRAD", "WINOGRAD_NONFUSED"};
  static const char* filter[] = {"ALGO_0", "ALGO_1", "FFT", "ALGO_3", "WINOGRAD", "WINOGRAD_NONFUSED", "FFT_TILING"};
  switch (direction) {
    case ConvDirection::Forward: return algo >= 0 && algo < 8 ? forward[algo] : "UNKNOWN";
    case ConvDirection::BackwardData: return algo >= 0 && algo < 6 ? data[algo] : "UNKNOWN";
    case ConvDirection::BackwardFilter: return algo >= 0 && algo < 7 ? filter[algo] : "UNKNOWN";
  }
  return "UNKNOWN";
}

// One candidate of any direction, from the heuristics or from timing.
struct Candidate {
  int algo;
  cudnnStatus_t status;
  float time;
  cudnnDeterminism_t determinism;
  cudnnMathType_t math;
};
template <typename Perf> std::vector<Candidate> to_candidates(const std::vector<Perf>& perf, int count) {
  std::vector<Candidate> out;
  for (int i = 0; i < count; ++i)
    out.push_back({int(perf[size_t(i)].algo), perf[size_t(i)].status, perf[size_t(i)].time, perf[size_t(i)].determinism,
                   perf[size_t(i)].mathType});
  return out;
}

// Device scratch for one benchmark-mode selection, freed right after.
struct Scratch {
  void* data = nullptr;
  explicit Scratch(size_t bytes) {
    if (bytes == 0) return;
    if (cudaMalloc(&data, bytes) != cudaSuccess) {
      data = nullptr;
      (void)cudaGetLastError();  // clear the allocation error so later launch checks do not see it
    }
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() {
    if (data) cudaFree(data);
  }
};

std::vector<Candidate> heuristic_candidates(cudnnHandle_t handle, const Entry& e, ConvDirection direction) {
  int max_count = 0, returned = 0;
  switch (direction) {
    case ConvDirection::Forward: {
      ALZ_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(handle, &max_count));
      std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(static_cast<size_t>(max_count));
      ALZ_CUDNN_CHECK(
          cudnnGetConvolutionForwardAlgorithm_v7(handle, e.x, e.w, e.conv, e.y, max_count, &returned, perf.data()));
      return to_candidates(perf, returned);
    }
    case ConvDirection::BackwardData: {
      ALZ_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(handle, &max_count));
      std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perf(static_cast<size_t>(max_count));
      ALZ_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(handle, e.w, e.y, e.conv, e.x, max_count, &returned,
                                                                  perf.data()));
      return to_candidates(perf, returned);
    }
    case ConvDirection::BackwardFilter: {
      ALZ_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(handle, &max_count));
      std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perf(static_cast<size_t>(max_count));
      ALZ_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(handle, e.x, e.y, e.conv, e.w, max_count, &returned,
                                                                    perf.data()));
      return to_candidates(perf, returned);
    }
  }
  return {};
}

// Times every algorithm once on scratch tensors (filled with a small non-zero constant), with
// the largest workspace up to the cap that can be allocated (halving on failure).
std::vector<Candidate> timed_candidates(cudnnHandle_t handle, const Entry& e, const Key& key, size_t x_bytes) {
  const Conv2dParams& p = key.p;
  const size_t es = element_size(key.dtype);
  const size_t w_bytes = size_t(p.w_count()) * es, y_bytes = size_t(p.y_count()) * es;
  Scratch x(x_bytes), w(w_bytes), y(y_bytes);
  ALZ_CHECK(x.data && w.data && y.data, "conv2d (cuDNN): out of device memory for the benchmark-mode scratch of "
                                            << p.str() << " (" << (x_bytes + w_bytes + y_bytes) << " bytes)");
  cudaStream_t stream = nullptr;
  ALZ_CUDNN_CHECK(cudnnGetStream(handle, &stream));
  ALZ_CUDA_CHECK(cudaMemsetAsync(x.data, 0x3c, x_bytes, stream));  // 0x3c3c...: about 0.0115 in f32 and bf16
  ALZ_CUDA_CHECK(cudaMemsetAsync(w.data, 0x3c, w_bytes, stream));
  ALZ_CUDA_CHECK(cudaMemsetAsync(y.data, 0x3c, y_bytes, stream));
  size_t ws_bytes = key.limit;
  std::unique_ptr<Scratch> ws = std::make_unique<Scratch>(ws_bytes);
  while (ws_bytes > 0 && ws->data == nullptr) {
    ws_bytes /= 2;
    ws = std::make_unique<Scratch>(ws_bytes);
  }
  int max_count = 0, returned = 0;
  switch (key.direction) {
    case ConvDirection::Forward: {
      ALZ_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(handle, &max_count));
      std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(static_cast<size_t>(max_count));
      ALZ_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(handle, e.x, x.data, e.w, w.data, e.conv, e.y, y.data,
                                                             max_count, &returned, perf.data(), ws->data, ws_bytes));
      return to_candidates(perf, returned);
    }
    case ConvDirection::BackwardData: {
      ALZ_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(handle, &max_count));
      std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perf(static_cast<size_t>(max_count));
      ALZ_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(handle, e.w, w.data, e.y, y.data, e.conv, e.x, x.data,
                                                                  max_count, &returned, perf.data(), ws->data,
                                                                  ws_bytes));
      return to_candidates(perf, returned);
    }
    case ConvDirection::BackwardFilter: {
      ALZ_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(handle, &max_count));
      std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perf(static_cast<size_t>(max_count));
      ALZ_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(handle, e.x, x.data, e.y, y.data, e.conv, e.w,
                                                                    w.data, max_count, &returned, perf.data(), ws->data,
                                                                    ws_bytes));
      return to_candidates(perf, returned);
    }
  }
  return {};
}

// Workspace of `algo` under the math type currently set on the descriptor; false if unsupported.
bool algo_workspace(cudnnHandle_t handle, const Entry& e, ConvDirection direction, int algo, size_t* bytes) {
  cudnnStatus_t status = CUDNN_STATUS_NOT_SUPPORTED;
  switch (direction) {
    case ConvDirection::Forward:
      status = cudnnGetConvolutionForwardWorkspaceSize(handle, e.x, e.w, e.conv, e.y, cudnnConvolutionFwdAlgo_t(algo),
                                                       bytes);
      break;
    case ConvDirection::BackwardData:
      status = cudnnGetConvolutionBackwardDataWorkspaceSize(handle, e.w, e.y, e.conv, e.x,
                                                            cudnnConvolutionBwdDataAlgo_t(algo), bytes);
      break;
    case ConvDirection::BackwardFilter:
      status = cudnnGetConvolutionBackwardFilterWorkspaceSize(handle, e.x, e.y, e.conv, e.w,
                                                              cudnnConvolutionBwdFilterAlgo_t(algo), bytes);
      break;
  }
  return status == CUDNN_STATUS_SUCCESS;
}

std::unique_ptr<Entry> select(cudnnHandle_t handle, const Key& key) {
  const Conv2dParams& p = key.p;
  auto e = std::make_unique<Entry>();
  const cudnnDataType_t type = key.dtype == DType::BF16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
  e->explicit_pad = !p.symmetric_padding();
  const int he = e->explicit_pad ? p.H + p.pad_top + p.pad_bottom : p.H;
  const int we = e->explicit_pad ? p.W + p.pad_left + p.pad_right : p.W;
  const int pad_h = e->explicit_pad ? 0 : p.pad_top, pad_w = e->explicit_pad ? 0 : p.pad_left;
  const size_t x_bytes = size_t(p.N) * he * we * p.C * element_size(key.dtype);
  e->padded_bytes = e->explicit_pad ? align_up(x_bytes) : 0;

  ALZ_CUDNN_CHECK(cudnnCreateTensorDescriptor(&e->x));
  ALZ_CUDNN_CHECK(cudnnCreateTensorDescriptor(&e->y));
  ALZ_CUDNN_CHECK(cudnnCreateFilterDescriptor(&e->w));
  ALZ_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&e->conv));
  ALZ_CUDNN_CHECK(cudnnSetTensor4dDescriptor(e->x, CUDNN_TENSOR_NHWC, type, p.N, p.C, he, we));
  ALZ_CUDNN_CHECK(cudnnSetTensor4dDescriptor(e->y, CUDNN_TENSOR_NHWC, type, p.N, p.K, p.P(), p.Q()));
  ALZ_CUDNN_CHECK(cudnnSetFilter4dDescriptor(e->w, type, CUDNN_TENSOR_NHWC, p.K, p.C, p.R, p.S));
  ALZ_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(e->conv, pad_h, pad_w, p.stride_h, p.stride_w, 1, 1,
                                                  CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  const bool strict_f32 = key.dtype == DType::F32 && !key.allow_tf32;
  const cudnnMathType_t base_math =
      key.dtype == DType::BF16 ? CUDNN_TENSOR_OP_MATH : (strict_f32 ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH);
  ALZ_CUDNN_CHECK(cudnnSetConvolutionMathType(e->conv, base_math));
  int n = 0, c = 0, h = 0, w = 0;
  ALZ_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(e->conv, e->x, e->w, &n, &c, &h, &w));
  ALZ_CHECK(n == p.N && c == p.K && h == p.P() && w == p.Q(),
            "conv2d (cuDNN): output " << h << "x" << w << " differs from " << p.str());

  const bool timed = key.mode == ConvAlgoMode::Benchmark;
  const std::vector<Candidate> candidates =
      timed ? timed_candidates(handle, *e, key, x_bytes) : heuristic_candidates(handle, *e, key.direction);
  for (const Candidate& cand : candidates) {
    if (cand.status != CUDNN_STATUS_SUCCESS) continue;
    const bool tensor_ops = cand.math == CUDNN_TENSOR_OP_MATH || cand.math == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
    if (strict_f32 && tensor_ops) continue;
    if (key.mode == ConvAlgoMode::Deterministic && cand.determinism != CUDNN_DETERMINISTIC) continue;
    // Strict fp32 keeps FMA math whatever the candidate says (DEFAULT_MATH would allow TF32).
    ALZ_CUDNN_CHECK(cudnnSetConvolutionMathType(e->conv, strict_f32 ? CUDNN_FMA_MATH : cand.math));
    size_t bytes = 0;
    if (!algo_workspace(handle, *e, key.direction, cand.algo, &bytes) || bytes > key.limit) continue;
    e->info.algo = cand.algo;
    e->info.tensor_ops = tensor_ops;
    e->info.deterministic = cand.determinism == CUDNN_DETERMINISTIC;
    e->info.name = std::string(algo_name(key.direction, cand.algo)) + (tensor_ops ? "+TC" : "");
    e->info.algo_workspace = bytes;
    e->info.workspace_bytes = e->padded_bytes + bytes;
    e->info.time_ms = timed ? cand.time : -1.0f;
    return e;
  }
  ALZ_FAIL("conv2d (cuDNN): no " << conv_direction_name(key.direction) << " algorithm for " << p.str() << " in "
                                 << dtype_name(key.dtype) << ", mode " << conv_algo_mode_name(key.mode)
                                 << (strict_f32 ? ", strict fp32" : "") << ", fits the workspace limit of " << key.limit
                                 << " bytes (" << candidates.size() << " candidates)");
}

const Entry& lookup(cudnnHandle_t handle, const Conv2dParams& p, DType dtype, ConvDirection direction) {
  p.validate("conv2d (cuDNN)");
  ALZ_CHECK(dtype == DType::F32 || dtype == DType::BF16,
            "conv2d (cuDNN): dtype " << dtype_name(dtype) << " is not supported (f32 or bf16)");
  Key key{0, p, dtype, direction, g_mode.load(), g_allow_tf32.load(), g_workspace_limit.load()};
  ALZ_CUDA_CHECK(cudaGetDevice(&key.device));
  std::lock_guard<std::mutex> lock(g_mutex);
  auto it = g_cache.find(key);
  if (it != g_cache.end()) {
    ++g_hits;
    return *it->second;
  }
  std::unique_ptr<Entry> entry = select(handle, key);
  ++g_selections;
  return *g_cache.emplace(key, std::move(entry)).first->second;
}

void check_workspace(const Entry& e, const Conv2dParams& p, const char* what, const void* workspace, size_t bytes) {
  ALZ_CHECK(bytes >= e.info.workspace_bytes && (workspace != nullptr || e.info.workspace_bytes == 0),
            what << ": " << p.str() << " needs " << e.info.workspace_bytes << " bytes of workspace (" << e.info.name
                 << "), got " << bytes << " at " << workspace);
}

// Copies x (N, H, W, C) into the interior of the zeroed padded buffer (N, He, We, C), or back.
void copy_padded(cudnnHandle_t handle, const Conv2dParams& p, DType dtype, const void* src, void* dst, bool into) {
  cudaStream_t stream = nullptr;
  ALZ_CUDNN_CHECK(cudnnGetStream(handle, &stream));
  const size_t es = element_size(dtype), row = size_t(p.W) * p.C * es;
  const size_t padded_row = size_t(p.W + p.pad_left + p.pad_right) * p.C * es;
  const size_t padded_h = size_t(p.H + p.pad_top + p.pad_bottom);
  const cudaPos interior = make_cudaPos(size_t(p.pad_left) * p.C * es, size_t(p.pad_top), 0);
  cudaMemcpy3DParms copy;
  std::memset(&copy, 0, sizeof copy);
  if (into) {
    ALZ_CUDA_CHECK(cudaMemsetAsync(dst, 0, padded_row * padded_h * size_t(p.N), stream));
    copy.srcPtr = make_cudaPitchedPtr(const_cast<void*>(src), row, row, size_t(p.H));
    copy.dstPtr = make_cudaPitchedPtr(dst, padded_row, padded_row, padded_h);
    copy.dstPos = interior;
  } else {
    copy.srcPtr = make_cudaPitchedPtr(const_cast<void*>(src), padded_row, padded_row, padded_h);
    copy.srcPos = interior;
    copy.dstPtr = make_cudaPitchedPtr(dst, row, row, size_t(p.H));
  }
  copy.extent = make_cudaExtent(row, size_t(p.H), size_t(p.N));
  copy.kind = cudaMemcpyDeviceToDevice;
  ALZ_CUDA_CHECK(cudaMemcpy3DAsync(&copy, stream));
}

}  // namespace

const char* conv_algo_mode_name(ConvAlgoMode mode) {
  switch (mode) {
    case ConvAlgoMode::Heuristic: return "heuristic";
    case ConvAlgoMode::Benchmark: return "benchmark";
    case ConvAlgoMode::Deterministic: return "deterministic";
  }
  return "unknown";
}

const char* conv_direction_name(ConvDirection direction) {
  switch (direction) {
    case ConvDirection::Forward: return "forward";
    case ConvDirection::BackwardData: return "backward_data";
    case ConvDirection::BackwardFilter: return "backward_filter";
  }
  return "unknown";
}

void set_conv_algo_mode(ConvAlgoMode mode) { g_mode.store(mode); }
ConvAlgoMode conv_algo_mode() { return g_mode.load(); }
void set_conv_allow_tf32(bool allow) { g_allow_tf32.store(allow); }
bool conv_allow_tf32() { return g_allow_tf32.load(); }
void set_conv_workspace_limit(size_t bytes) { g_workspace_limit.store(bytes); }
size_t conv_workspace_limit() { return g_workspace_limit.load(); }

ConvAlgoInfo conv2d_algo_cudnn(cudnnHandle_t handle, const Conv2dParams& p, DType dtype, ConvDirection direction) {
  return lookup(handle, p, dtype, direction).info;
}

size_t conv2d_workspace_bytes_cudnn(cudnnHandle_t handle, const Conv2dParams& p, DType dtype, ConvDirection direction) {
  return lookup(handle, p, dtype, direction).info.workspace_bytes;
}

ConvAlgoCacheStats conv_algo_cache_stats() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return ConvAlgoCacheStats{g_cache.size(), g_selections, g_hits};
}

void conv_algo_cache_clear() {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_cache.clear();
  g_selections = g_hits = 0;
}

void conv2d_forward_cudnn(cudnnHandle_t handle, const Conv2dParams& p, DType dtype, const void* x, const void* w,
                          void* y, void* workspace, size_t workspace_bytes) {
  const Entry& e = lookup(handle, p, dtype, ConvDirection::Forward);
  check_workspace(e, p, "conv2d_forward_cudnn", workspace, workspace_bytes);
  const void* input = x;
  if (e.explicit_pad) {
    copy_padded(handle, p, dtype, x, workspace, true);
    input = workspace;
  }
  void* algo_ws = static_cast<char*>(workspace) + e.padded_bytes;
  const float one = 1.0f, zero = 0.0f;
  ALZ_CUDNN_CHECK(cudnnConvolutionForward(handle, &one, e.x, input, e.w, w, e.conv,
                                          cudnnConvolutionFwdAlgo_t(e.info.algo), algo_ws, e.info.algo_workspace, &zero,
                                          e.y, y));
}

void conv2d_backward_data_cudnn(cudnnHandle_t handle, const Conv2dParams& p, DType dtype, const void* dy, const void* w,
                                void* dx, void* workspace, size_t workspace_bytes) {
  const Entry& e = lookup(handle, p, dtype, ConvDirection::BackwardData);
  check_workspace(e, p, "conv2d_backward_data_cudnn", workspace, workspace_bytes);
  void* out = e.explicit_pad ? workspace : dx;  // padded dx, interior copied out below
  void* algo_ws = static_cast<char*>(workspace) + e.padded_bytes;
  const float one = 1.0f, zero = 0.0f;
  ALZ_CUDNN_CHECK(cudnnConvolutionBackwardData(handle, &one, e.w, w, e.y, dy, e.conv,
                                               cudnnConvolutionBwdDataAlgo_t(e.info.algo), algo_ws,
                                               e.info.algo_workspace, &zero, e.x, out));
  if (e.explicit_pad) copy_padded(handle, p, dtype, workspace, dx, false);
}

void conv2d_backward_filter_cudnn(cudnnHandle_t handle, const Conv2dParams& p, DType dtype, const void* x,
                                  const void* dy, void* dw, bool accumulate, void* workspace, size_t workspace_bytes) {
  const Entry& e = lookup(handle, p, dtype, ConvDirection::BackwardFilter);
  check_workspace(e, p, "conv2d_backward_filter_cudnn", workspace, workspace_bytes);
  const void* input = x;
  if (e.explicit_pad) {
    copy_padded(handle, p, dtype, x, workspace, true);
    input = workspace;
  }
  void* algo_ws = static_cast<char*>(workspace) + e.padded_bytes;
  const float one = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  ALZ_CUDNN_CHECK(cudnnConvolutionBackwardFilter(handle, &one, e.x, input, e.y, dy, e.conv,
                                                 cudnnConvolutionBwdFilterAlgo_t(e.info.algo), algo_ws,
                                                 e.info.algo_workspace, &beta, e.w, dw));
}

}  // namespace alz
