// The CUDA side of the optimizers (optim/optimizer.h): the device table of (param, grad,
// state, count) and its chunks, uploaded through a ring of pinned staging buffers only when a
// pointer changes; the learning rate and t in device memory; per step [norm partials], the
// rule's prepare kernel (t += 1, clip factor) and ONE fused update launch (kernels/optimizer.h).
// Nothing here waits for the device except an upload four tables back.
// Inside a CUDA graph capture (tensor/cuda_graph.h) the table goes elsewhere: a staging slot
// would be overwritten by later uploads while the graph's copy node keeps reading it at every
// replay, and the eager table is rewritten by eager steps between replays. So a captured step
// gets a table of its own (pinned host copy + device table, both kept alive by the graph): the
// graph's memcpy node copies the same bytes at each replay, and eager uploads never touch it.
// Tested by tests/gpu/test_optimizer_gpu.cpp; benchmarked by bench/bench_optimizer.cu.
#include <algorithm>
#include <cstring>
#include <vector>

#include "core/cuda/check.h"
#include "core/error.h"
#include "kernels/optimizer.h"
#include "optim/detail/device_step.h"
#include "optim/optimizer.h"
#include "tensor/cuda/context.h"
#include "tensor/cuda_graph.h"
#include "tensor/cuda_runtime.h"

namespace alz {

struct Optimizer::CudaState {
  static constexpr int kStagingSlots = 4;

  int device = 0;
  cudaStream_t stream = nullptr;
  kernels::OptimizerScalars* scalars = nullptr;  // device
  double* partials = nullptr;                    // device, one per chunk (clipping)
  char* table = nullptr;                         // device: entries, then chunks at chunk_offset
  size_t chunk_offset = 0;
  size_t table_bytes = 0;
  char* staging[kStagingSlots] = {};  // pinned host copies of the table, used round-robin
  cudaEvent_t copied[kStagingSlots] = {};
  bool pending[kStagingSlots] = {};
  int next_slot = 0;
  std::vector<kernels::MultiTensorEntry> uploaded;  // what the device table holds now
  int32_t num_chunks = 0;
  bool has_table = false;
  uint64_t uploads = 0;

  CudaState(int device_index, size_t max_entries, size_t max_chunks) : device(device_index) {
    stream = cuda::context(device).compute_stream;
    chunk_offset = (max_entries * sizeof(kernels::MultiTensorEntry) + 255) / 256 * 256;
    table_bytes = chunk_offset + std::max<size_t>(max_chunks, 1) * sizeof(kernels::MultiTensorChunk);
    scalars = static_cast<kernels::OptimizerScalars*>(cuda::device_allocate(sizeof(kernels::OptimizerScalars), device));
    partials = static_cast<double*>(cuda::device_allocate(std::max<size_t>(max_chunks, 1) * sizeof(double), device));
    table = static_cast<char*>(cuda::device_allocate(table_bytes, device));
    for (int s = 0; s < kStagingSlots; ++s) {
      staging[s] = static_cast<char*>(cuda::pinned_allocate(table_bytes));
      ALZ_CUDA_CHECK(cudaEventCreateWithFlags(&copied[s], cudaEventDisableTiming));
    }
  }

  ~CudaState() {  // teardown only: wait for our work, then give everything back (no throwing)
    for (int s = 0; s < kStagingSlots; ++s) {
      if (copied[s]) {
        if (pending[s]) cudaEventSynchronize(copied[s]);
        cudaEventDestroy(copied[s]);
      }
    }
    cudaStreamSynchronize(stream);
    try {
      for (char* buffer : staging)
        if (buffer) cuda::pinned_free(buffer);
      cuda::device_free(table);
      cuda::device_free(partials);
      cuda::device_free(scalars);
    } catch (...) {
    }
  }

  kernels::MultiTensorEntry* device_entries() const { return reinterpret_cast<kernels::MultiTensorEntry*>(table); }
  kernels::MultiTensorChunk* device_chunks() const {
    return reinterpret_cast<kernels::MultiTensorChunk*>(table + chunk_offset);
  }

  static bool same(const std::vector<kernels::MultiTensorEntry>& a, const std::vector<kernels::MultiTensorEntry>& b) {
    return a.size() == b.size() &&
           (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(kernels::MultiTensorEntry)) == 0);
  }

  // Makes the device table describe `entries`; copies only when it differs from the last one.
  void upload(const std::vector<kernels::MultiTensorEntry>& entries) {
    if (has_table && same(entries, uploaded)) return;
    const std::vector<kernels::MultiTensorChunk> chunks = kernels::multi_tensor_chunks(entries);
    const size_t bytes = chunk_offset + chunks.size() * sizeof(kernels::MultiTensorChunk);
    ALZ_CHECK(bytes <= table_bytes,
              "optimizer: the gradient table outgrew its buffer (" << bytes << " > " << table_bytes << " bytes)");
    const int s = next_slot;
    next_slot = (next_slot + 1) % kStagingSlots;
    if (pending[s]) ALZ_CUDA_CHECK(cudaEventSynchronize(copied[s]));  // its copy was queued 4 uploads ago
    if (!entries.empty()) std::memcpy(staging[s], entries.data(), entries.size() * sizeof(kernels::MultiTensorEntry));
    if (!chunks.empty())
      std::memcpy(staging[s] + chunk_offset, chunks.data(), chunks.size() * sizeof(kernels::MultiTensorChunk));
    ALZ_CUDA_CHECK(cudaMemcpyAsync(table, staging[s], bytes, cudaMemcpyHostToDevice, stream));
    ALZ_CUDA_CHECK(cudaEventRecord(copied[s], stream));
    pending[s] = true;
    uploaded = entries;
    num_chunks = static_cast<int32_t>(chunks.size());
    has_table = true;
    ++uploads;
  }

  // A table owned by the graph being captured: recorded as a copy from host memory that nothing
  // else writes into device memory that nothing else uses. Returns (entries, chunks, count).
  struct GraphTable {
    char* host = nullptr;    // pinned
    char* device = nullptr;  // from the graph's pool
    ~GraphTable() {
      try {
        if (host) cuda::pinned_free(host);
        if (device) cuda::device_free(device);
      } catch (...) {
      }
    }
  };
  DeviceStep upload_for_graph(const std::vector<kernels::MultiTensorEntry>& entries, const double* norm_partials) {
    const std::vector<kernels::MultiTensorChunk> chunks = kernels::multi_tensor_chunks(entries);
    const size_t bytes = chunk_offset + std::max<size_t>(chunks.size(), 1) * sizeof(kernels::MultiTensorChunk);
    auto owned = std::make_shared<GraphTable>();
    owned->host = static_cast<char*>(cuda::pinned_allocate(bytes));
    owned->device = static_cast<char*>(cuda::device_allocate(bytes, device));
    cuda::keep_alive_until_graph_destroyed(owned);
    std::memset(owned->host, 0, bytes);
    if (!entries.empty()) std::memcpy(owned->host, entries.data(), entries.size() * sizeof(kernels::MultiTensorEntry));
    if (!chunks.empty())
      std::memcpy(owned->host + chunk_offset, chunks.data(), chunks.size() * sizeof(kernels::MultiTensorChunk));
    ALZ_CUDA_CHECK(cudaMemcpyAsync(owned->device, owned->host, bytes, cudaMemcpyHostToDevice, stream));
    return DeviceStep{reinterpret_cast<const kernels::MultiTensorEntry*>(owned->device),
                      reinterpret_cast<const kernels::MultiTensorChunk*>(owned->device + chunk_offset),
                      static_cast<int32_t>(chunks.size()),
                      norm_partials,
                      scalars,
                      stream};
  }
};

void Optimizer::step_cuda() {
  std::vector<kernels::MultiTensorEntry> entries;
  entries.reserve(slots_.size());
  for (Slot& slot : slots_) {
    const Tensor* g = find_grad(slot);
    if (!g) continue;  // skipped this step: not in the table
    entries.push_back({slot.param->data<float>(), g->data<float>(),
                       slot.state.size() > 0 ? slot.state[0].data<float>() : nullptr,
                       slot.state.size() > 1 ? slot.state[1].data<float>() : nullptr, slot.param->numel()});
  }
  // In a capture (tensor/cuda_graph.h) the step is recorded, not run: it counts at each replay
  // (count_replayed_step), and reads a table that belongs to the graph.
  const bool capturing = cuda::capturing();
  DeviceStep step{};
  if (capturing) {
    step = cuda_->upload_for_graph(entries, clip_ > 0.0 ? cuda_->partials : nullptr);
  } else {
    cuda_->upload(entries);
    step = DeviceStep{cuda_->device_entries(), cuda_->device_chunks(),
                      cuda_->num_chunks,       clip_ > 0.0 ? cuda_->partials : nullptr,
                      cuda_->scalars,          cuda_->stream};
  }
  if (clip_ > 0.0)
    kernels::grad_sq_norm_partials_cuda(step.entries, step.chunks, step.num_chunks, cuda_->partials, cuda_->stream);
  update_cuda(step);
  if (!capturing) ++step_;
}

void Optimizer::make_cuda_state() {
  size_t max_chunks = 0;
  for (const Slot& slot : slots_)
    max_chunks +=
        static_cast<size_t>((slot.param->numel() + kernels::kMultiTensorChunk - 1) / kernels::kMultiTensorChunk);
  cuda_.reset(new CudaState(device_.index, slots_.size(), max_chunks));
  upload_scalars_cuda(/*with_step=*/true);
}

void Optimizer::upload_scalars_cuda(bool with_step) {
  if (with_step)
    kernels::optimizer_set_scalars_cuda(cuda_->scalars, lr_, step_, cuda_->stream);
  else
    kernels::optimizer_set_learning_rate_cuda(cuda_->scalars, lr_, cuda_->stream);
}

double Optimizer::last_grad_norm() const {
  if (!cuda_) return last_norm_;
  double norm = -1.0;
  cuda::copy_sync(&norm, &cuda_->scalars->grad_norm, sizeof norm);  // ordered after the step
  return norm;
}

uint64_t Optimizer::table_uploads() const { return cuda_ ? cuda_->uploads : 0; }

Optimizer::~Optimizer() = default;
void Optimizer::CudaStateDeleter::operator()(CudaState* state) const { delete state; }

void SGD::update_cuda(const DeviceStep& s) {
  kernels::sgd_prepare_cuda(s.scalars, sgd_hyper(options_), s.partials, s.num_chunks, clip_global_norm(), s.stream);
  kernels::sgd_multi_tensor_cuda(s.entries, s.chunks, s.num_chunks, s.scalars, s.stream);
}

void Adam::update_cuda(const DeviceStep& s) {
  kernels::adam_prepare_cuda(s.scalars, adam_hyper(options_), s.partials, s.num_chunks, clip_global_norm(), s.stream);
  kernels::adam_multi_tensor_cuda(s.entries, s.chunks, s.num_chunks, s.scalars, s.stream);
}

}  // namespace alz
