// Op-level profiler (tensor/profiler.h): a thread-local list of timed ranges, CUDA events from a
// reusable pool, rows summed by name when the session stops.
#include "tensor/profiler.h"

#include <algorithm>
#include <chrono>
#include <map>

#include "core/error.h"

#if ALZ_HAS_CUDA
#include <cuda_runtime.h>
#include <nvtx3/nvToolsExt.h>

#include "core/cuda/check.h"
#include "tensor/cuda/context.h"
#endif

namespace alz::profiler {

namespace {

using Clock = std::chrono::steady_clock;

struct Record {
  std::string name;
  Clock::time_point host_start;
  double host_ms = 0;
  int device = -1;  // -1: a CPU range
#if ALZ_HAS_CUDA
  cudaEvent_t start = nullptr, end = nullptr;
#endif
};

struct Session {
  bool active = false;
  int depth = 0;  // open ranges; only depth-0 ranges are timed
  std::vector<Record> records;
#if ALZ_HAS_CUDA
  std::vector<cudaEvent_t> spare_events;  // kept for the next session (never destroyed)

  cudaEvent_t take_event() {
    if (!spare_events.empty()) {
      cudaEvent_t event = spare_events.back();
      spare_events.pop_back();
      return event;
    }
    cudaEvent_t event = nullptr;
    ALZ_CUDA_CHECK(cudaEventCreate(&event));
    return event;
  }
#endif
};

thread_local Session t_session;

}  // namespace

bool active() { return t_session.active; }

void start() {
  ALZ_CHECK(t_session.depth == 0, "profiler::start inside an open range");
  (void)stop();
  t_session.active = true;
}

std::vector<OpTime> stop() {
  Session& s = t_session;
  s.active = false;
  std::map<std::string, OpTime> rows;
  for (Record& r : s.records) {
    OpTime& row = rows[r.name];
    row.name = r.name;
    ++row.calls;
    row.host_ms += r.host_ms;
#if ALZ_HAS_CUDA
    if (r.device >= 0) {
      row.on_device = true;
      ALZ_CUDA_CHECK(cudaEventSynchronize(r.end));
      float ms = 0;
      ALZ_CUDA_CHECK(cudaEventElapsedTime(&ms, r.start, r.end));
      row.device_ms += ms;
      s.spare_events.push_back(r.start);
      s.spare_events.push_back(r.end);
    }
#endif
  }
  s.records.clear();
  std::vector<OpTime> out;
  for (auto& [name, row] : rows) out.push_back(row);
  auto total = [](const OpTime& r) { return r.on_device ? r.device_ms : r.host_ms; };
  std::stable_sort(out.begin(), out.end(), [&](const OpTime& a, const OpTime& b) { return total(a) > total(b); });
  return out;
}

Range::Range(const char* name, const Tensor& on) {
#if ALZ_HAS_CUDA
  nvtxRangePushA(name);
  nvtx_ = true;
#endif
  Session& s = t_session;
  if (!s.active) return;
  counted_ = true;
  if (s.depth++ > 0) return;
  Record r;
  r.name = name;
#if ALZ_HAS_CUDA
  if (on.defined() && on.device().is_cuda()) {
    r.device = on.device().index;
    r.start = s.take_event();
    r.end = s.take_event();
    ALZ_CUDA_CHECK(cudaEventRecord(r.start, cuda::context(r.device).compute_stream));
  }
#else
  (void)on;
#endif
  r.host_start = Clock::now();
  record_ = static_cast<int>(s.records.size());
  s.records.push_back(std::move(r));
}

Range::~Range() {
  Session& s = t_session;
  if (counted_ && s.depth > 0) --s.depth;
  if (record_ >= 0 && record_ < static_cast<int>(s.records.size())) {
    Record& r = s.records[static_cast<size_t>(record_)];
    r.host_ms = std::chrono::duration<double, std::milli>(Clock::now() - r.host_start).count();
#if ALZ_HAS_CUDA
    // A destructor must not throw: a failed record leaves the pair unread (stop() reports it).
    if (r.device >= 0) (void)cudaEventRecord(r.end, cuda::context(r.device).compute_stream);
#endif
  }
#if ALZ_HAS_CUDA
  if (nvtx_) nvtxRangePop();
#endif
}

}  // namespace alz::profiler
