// Op-level profiler: where a step spends its time, op by op, on the CPU and on the GPU.
//
// Every op in tensor/ops.h opens a Range around its work, and autograd opens one around each
// node's backward ("conv2d.backward"). While a session is active on the thread, a Range notes
// its host time and, for a CUDA tensor, records a pair of CUDA events on the device's compute
// stream; stop() waits for the device, reads the events and returns one row per op name.
// Only outermost ranges are timed (an op called inside another op counts in its caller), so
// the rows add up to the profiled work. Without a session a Range costs one thread-local
// test, plus an NVTX push/pop in CUDA builds, so Nsight Systems shows the same names.
//
//   profiler::start();
//   Tensor loss = ...; backward(loss); optimizer.step();
//   for (const auto& row : profiler::stop()) std::printf("%s %.3f\n", row.name.c_str(), row.device_ms);
//
// Host time of a GPU op is the time spent enqueuing it; device time is the time between its
// events on the stream (it includes any gap where the GPU waited for the host).
// Tests: tests/test_profiler.cpp. Used by bench/bench_train_step.cpp (`--profile`).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace alz::profiler {

struct OpTime {
  std::string name;
  int64_t calls = 0;
  double host_ms = 0;    // wall time on the host inside the range
  double device_ms = 0;  // GPU time between the range's events; 0 for CPU ops
  bool on_device = false;
};

bool active();  // a session is collecting on this thread
void start();   // begins a session on this thread (clears the previous one)
// Ends the session: waits for the GPU work it timed, returns one row per name, the largest
// total (device time for GPU ops, host time for CPU ops) first.
std::vector<OpTime> stop();

class Range {
 public:
  Range(const char* name, const Tensor& on);  // `on` decides CPU or GPU timing (undefined: CPU)
  ~Range();
  Range(const Range&) = delete;
  Range& operator=(const Range&) = delete;

 private:
  int record_ = -1;       // index of this range's record in the session, -1 when not timed
  bool counted_ = false;  // opened while a session was active (counts in its depth)
  bool nvtx_ = false;
};

}  // namespace alz::profiler
