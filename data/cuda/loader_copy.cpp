// Host-to-device batch copies for the loader, overlapped with training.
//
// A ring of `buffers` device slots, each a full-size (N, H, W, 3) image tensor and an (N)
// label tensor (a partial batch uses a leading view). For batch k into slot s = k % buffers:
//   1. record `released[(k-1) % buffers]` on the compute stream: every step that read batch
//      k-1 has been queued by now (the training loop calls next() after queuing its step);
//   2. wait on the host for slot s's previous copy (issued `buffers` batches ago) so its pinned
//      host memory can be released to the allocator;
//   3. copy_stream waits on released[s] (the last reader of slot s is done), copies the batch
//      with cudaMemcpyAsync, and records copied[s];
//   4. the compute stream waits on copied[s].
// No host-device synchronisation in the common case: step 2 waits for a copy long finished.
//
// Tested in tests/gpu/test_loader_gpu.cpp:
//   cmake --build build --target test_loader_gpu && build/tests/test_loader_gpu
#include <cuda_runtime.h>

#include <algorithm>
#include <vector>

#include "core/cuda/check.h"
#include "core/cuda/device_guard.h"
#include "core/error.h"
#include "data/loader.h"
#include "tensor/cuda/context.h"

namespace alz::data::detail {

struct DeviceCopier::Impl {
  Device device;
  struct Slot {
    Tensor images, labels;            // full-size device tensors, allocated on first use
    Tensor host_images, host_labels;  // kept alive until the copy from them is done
    cudaEvent_t copied = nullptr, released = nullptr;
    bool copy_pending = false, release_recorded = false;
  };
  std::vector<Slot> slots;
  int64_t count = 0;  // batches uploaded
  int64_t max_batch = 0;
};

DeviceCopier::DeviceCopier(Device device, int buffers, int64_t max_batch) : impl_(std::make_unique<Impl>()) {
  ALZ_CHECK(device.is_cuda(), "loader copy: target " << device.str() << " is not a CUDA device");
  ALZ_CHECK(buffers >= 1, "loader copy: needs at least one device buffer");
  impl_->device = device;
  impl_->max_batch = max_batch;
  cuda::DeviceGuard guard(device.index);
  cuda::context(device.index);  // throws a clear error without a device
  impl_->slots.resize(buffers);
  for (auto& slot : impl_->slots) {
    ALZ_CUDA_CHECK(cudaEventCreateWithFlags(&slot.copied, cudaEventDisableTiming));
    ALZ_CUDA_CHECK(cudaEventCreateWithFlags(&slot.released, cudaEventDisableTiming));
  }
}

DeviceCopier::~DeviceCopier() {
  if (!impl_) return;
  cudaSetDevice(impl_->device.index);
  for (auto& slot : impl_->slots) {
    if (slot.copied) {
      cudaEventSynchronize(slot.copied);  // the host memory must outlive the copy
      cudaEventDestroy(slot.copied);
    }
    if (slot.released) cudaEventDestroy(slot.released);
  }
}

void DeviceCopier::upload(const Tensor& host_images, const Tensor& host_labels, Tensor& device_images,
                          Tensor& device_labels) {
  Impl& impl = *impl_;
  cuda::DeviceGuard guard(impl.device.index);
  cuda::Context& ctx = cuda::context(impl.device.index);
  const auto buffers = static_cast<int64_t>(impl.slots.size());

  // 1. Everything that read the previous batch is queued on the compute stream by now.
  if (impl.count > 0) {
    Impl::Slot& previous = impl.slots[(impl.count - 1) % buffers];
    ALZ_CUDA_CHECK(cudaEventRecord(previous.released, ctx.compute_stream));
    previous.release_recorded = true;
  }
  Impl::Slot& slot = impl.slots[impl.count % buffers];
  // 2. The pinned memory of this slot's previous batch may go back to the allocator.
  if (slot.copy_pending) {
    ALZ_CUDA_CHECK(cudaEventSynchronize(slot.copied));
    slot.copy_pending = false;
  }
  slot.host_images = host_images;
  slot.host_labels = host_labels;
  const int64_t n = host_images.dim(0);
  if (!slot.images.defined() || slot.images.dim(0) < n || slot.images.dtype() != host_images.dtype()) {
    // Allocated once per slot at the full batch size; a reallocation (a different dtype or
    // size) first makes sure no queued work still reads the old buffer.
    if (slot.images.defined()) ALZ_CUDA_CHECK(cudaStreamSynchronize(ctx.compute_stream));
    Shape shape = host_images.shape();
    shape[0] = std::max(n, impl.max_batch);
    slot.images = Tensor::empty(shape, host_images.dtype(), impl.device);
    slot.labels = Tensor::empty({shape[0]}, host_labels.dtype(), impl.device);
  }
  device_images = slot.images.slice(0, n);
  device_labels = slot.labels.slice(0, n);
  ALZ_CHECK(device_images.nbytes() == host_images.nbytes() && device_labels.nbytes() == host_labels.nbytes(),
            "loader copy: batch " << host_images.summary() << " does not fit " << device_images.summary());

  // 3. Copy after the slot's last reader, on the copy stream.
  if (slot.release_recorded) ALZ_CUDA_CHECK(cudaStreamWaitEvent(ctx.copy_stream, slot.released, 0));
  ALZ_CUDA_CHECK(cudaMemcpyAsync(device_images.raw_data(), host_images.raw_data(), host_images.nbytes(),
                                 cudaMemcpyHostToDevice, ctx.copy_stream));
  ALZ_CUDA_CHECK(cudaMemcpyAsync(device_labels.raw_data(), host_labels.raw_data(), host_labels.nbytes(),
                                 cudaMemcpyHostToDevice, ctx.copy_stream));
  ALZ_CUDA_CHECK(cudaEventRecord(slot.copied, ctx.copy_stream));
  slot.copy_pending = true;
  slot.release_recorded = false;
  // 4. The training stream sees the batch only after the copy.
  ALZ_CUDA_CHECK(cudaStreamWaitEvent(ctx.compute_stream, slot.copied, 0));
  ++impl.count;
}

}  // namespace alz::data::detail
