// The caching device allocator's books (tensor/block_allocator.h) on the CPU: no memory is
// touched, the backend hands out made-up addresses, so any device's working set fits.
//
// 1. Google Benchmark: host time of one allocate + free through the books, for a step-like mix
//    of sizes (BM_StepPattern: a forward's allocations, then freed in reverse as a backward
//    frees them) and for one size in a loop (BM_SameSize).
//      build/bench/bench_allocator
// 2. --replay FILE: runs an allocation trace (tensor/allocation_trace.h, ALZ_ALLOC_TRACE) of
//    one device through the books and through the exact size classes the allocator used before
//    (512-byte granules below 1 MiB, 2 MiB granules above, a free block reused only by its own
//    class), and prints each one's peak allocated and peak reserved bytes beside the peak of
//    what was asked for; then the last step captured as a CUDA graph: by best fit, and placed
//    by the plan of the step before it (tensor/block_allocator.h: planned captures).
//      export ALZ_ALLOC_TRACE=step.trace
//      build/bench/bench_train_step --device cpu --model resnet152v2 --batch 64 --size 224 --warmup 0 --steps 1
//      build/bench/bench_allocator --replay step.trace --replay-device cpu
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "tensor/block_allocator.h"

namespace {

using alz::BlockAllocator;
using alz::MemoryBackend;

// Made-up segment addresses, 2 MiB apart at least; counts what is held.
class FakeMemory : public MemoryBackend {
 public:
  void* reserve(size_t bytes, int, bool) override {
    char* base = next_;
    next_ += (bytes + (size_t{2} << 20) - 1) / (size_t{2} << 20) * (size_t{2} << 20);
    held_ += bytes;
    peak_held_ = std::max(peak_held_, held_);
    ++reserves_;
    return base;
  }
  void release(void*, size_t bytes, int) override { held_ -= bytes; }
  void wait_for_device(int) override {}
  std::string out_of_memory_text(int) const override { return "out of made-up memory"; }

  size_t peak_held() const { return peak_held_; }
  uint64_t reserves() const { return reserves_; }

 private:
  char* next_ = reinterpret_cast<char*>(uintptr_t{1} << 40);
  size_t held_ = 0, peak_held_ = 0;
  uint64_t reserves_ = 0;
};

// Activation-like sizes of a ResNet152V2 step at batch 64, 224x224, f32 (bytes), one of each
// block kind's tensors, with a few small parameter-sized ones between.
std::vector<size_t> step_sizes() {
  std::vector<size_t> sizes;
  const size_t batch = 64, f32 = 4;
  const struct {
    size_t hw, filters;
    int blocks;
  } stacks[] = {{56, 64, 3}, {28, 128, 8}, {14, 256, 36}, {7, 512, 3}};
  for (const auto& stack : stacks)
    for (int block = 0; block < stack.blocks; ++block) {
      const size_t plane = stack.hw * stack.hw * batch * f32;
      sizes.insert(sizes.end(), {plane * stack.filters * 4, plane * stack.filters, plane * stack.filters,
                                 plane * stack.filters, stack.filters * f32, plane * stack.filters * 4});
    }
  return sizes;
}

void BM_StepPattern(benchmark::State& state) {
  FakeMemory memory;
  BlockAllocator books(memory);
  const std::vector<size_t> sizes = step_sizes();
  std::vector<void*> live(sizes.size());
  for (auto _ : state) {
    for (size_t i = 0; i < sizes.size(); ++i) live[i] = books.allocate(sizes[i], 0);
    for (size_t i = sizes.size(); i-- > 0;) books.free(live[i]);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(sizes.size()));
  state.counters["segments"] = static_cast<double>(books.segment_count());
  state.counters["reserve_calls"] = static_cast<double>(memory.reserves());
}
BENCHMARK(BM_StepPattern);

void BM_SameSize(benchmark::State& state) {
  FakeMemory memory;
  BlockAllocator books(memory);
  const size_t bytes = static_cast<size_t>(state.range(0));
  for (auto _ : state) books.free(books.allocate(bytes, 0));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SameSize)->Arg(4096)->Arg(12845056);

// ---- trace replay ----

struct Event {
  enum Kind { kAllocate, kFree, kStepStart, kStepEnd } kind;
  uint64_t id;  // pairs a free with its allocation
  size_t bytes;
};

std::vector<Event> read_trace(const std::string& path, const std::string& device) {
  std::ifstream in(path);
  ALZ_CHECK(in, "cannot read the allocation trace " << path);
  std::unordered_map<std::string, std::pair<uint64_t, size_t>> live;  // address -> id, bytes
  std::vector<Event> events;
  uint64_t next_id = 0;
  std::string line;
  int64_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    std::istringstream fields(line);
    std::string kind, address, where;
    size_t bytes = 0;
    fields >> kind >> address;
    if (kind == "a") {
      fields >> bytes >> where;
      ALZ_CHECK(fields, path << ":" << number << ": expected 'a <address> <bytes> <device>'");
      if (where != device) continue;
      live[address] = {next_id, bytes};
      events.push_back({Event::kAllocate, next_id++, bytes});
    } else if (kind == "f") {
      auto found = live.find(address);
      if (found == live.end()) continue;  // another device's, or allocated before the trace began
      events.push_back({Event::kFree, found->second.first, found->second.second});
      live.erase(found);
    } else if (kind == "m") {
      if (address == "step") events.push_back({Event::kStepStart, 0, 0});
      if (address == "step_end") events.push_back({Event::kStepEnd, 0, 0});
    } else {
      ALZ_FAIL(path << ":" << number << ": a line must start with 'a', 'f' or 'm'");
    }
  }
  return events;
}

// What a replay found. "Last step": from the trace's last "m step" to the "m step_end" after it
// (the whole trace without marks); its peaks are a warm step's, as bench_train_step reports them.
struct Figures {
  size_t step_peak_allocated = 0, peak_reserved = 0;
  uint64_t reserves = 0;
  size_t pool_bytes = 0;    // the last step captured into a graph's pool: what the pool holds
  size_t graph_memory = 0;  // in use outside the pool plus the pool, at the end of the capture
  bool followed_plan = false;
  double ns_per_event = 0;
};

// [start, end) of the last step's events, or of the one before it (back = 1).
std::pair<size_t, size_t> last_step_of(const std::vector<Event>& events, int back = 0) {
  size_t start = events.size();
  for (size_t i = events.size(); i-- > 0;)
    if (events[i].kind == Event::kStepStart && back-- == 0) {
      start = i;
      break;
    }
  if (start == events.size()) start = 0;
  size_t end = start;
  while (end < events.size() && events[end].kind != Event::kStepEnd) ++end;
  return {start, end};
}

enum class Capture { kNone, kBestFit, kPlanned };

// kPlanned: the step before the last is recorded and the last one captured with its plan, as
// CudaGraph::record_allocations and capture do.
Figures replay_books(const std::vector<Event>& events, Capture capture) {
  FakeMemory memory;
  BlockAllocator books(memory);
  std::unordered_map<uint64_t, void*> pointers;
  const auto [step_start, step_end] = last_step_of(events);
  const auto [recorded_start, recorded_end] = last_step_of(events, 1);
  const bool planned = capture == Capture::kPlanned && recorded_start < step_start;
  alz::AllocationRecording recording(0);
  alz::AllocationRecording* recording_now = nullptr;
  Figures figures;
  uint64_t pool = 0;
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i <= events.size(); ++i) {
    if (planned && i == recorded_start) recording_now = &recording;
    if (planned && i == recorded_end) recording_now = nullptr;
    if (i == step_start) {
      books.reset_peak(0);
      if (capture != Capture::kNone) {
        const alz::MemoryPlan plan = planned ? recording.plan() : alz::MemoryPlan{};
        pool = books.create_graph_pool(0, &plan);
      }
    }
    if (i == step_end) {
      figures.step_peak_allocated = books.stats(0).peak_allocated_bytes;
      if (pool != 0) {
        figures.pool_bytes = books.graph_pool_bytes(pool);
        figures.graph_memory = books.stats(0).allocated_bytes + books.graph_pool_idle_bytes(pool);
        figures.followed_plan = books.graph_pool_follows_plan(pool);
      }
      pool = 0;  // the capture ends with the step
    }
    if (i == events.size()) break;
    const Event& event = events[i];
    if (event.kind == Event::kAllocate) {
      pointers[event.id] = books.allocate(event.bytes, 0, pool, recording_now);
    } else if (event.kind == Event::kFree) {
      books.free(pointers[event.id], pool, recording_now);
      pointers.erase(event.id);
    }
  }
  const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
  figures.peak_reserved = memory.peak_held();
  figures.reserves = memory.reserves();
  figures.ns_per_event = ns / static_cast<double>(std::max<size_t>(events.size(), 1));
  return figures;
}

// The allocator before best fit: size classes, a free block reused only by its own class; a
// capture takes whole blocks from the general cache into the graph's pool.
Figures replay_exact_classes(const std::vector<Event>& events, bool capture_last_step) {
  auto size_class = [](size_t bytes) {
    const size_t granule = bytes < (size_t{1} << 20) ? 512 : (size_t{2} << 20);
    return (std::max<size_t>(bytes, 1) + granule - 1) / granule * granule;
  };
  std::map<size_t, int64_t> general_free, pool_free;
  std::unordered_map<uint64_t, bool> in_pool;  // live blocks: the pool's?
  Figures figures;
  size_t allocated = 0, reserved = 0, pool_bytes = 0, pool_idle = 0;
  bool capturing = false;
  const auto [step_start, step_end] = last_step_of(events);
  for (size_t i = 0; i < events.size(); ++i) {
    if (i == step_start) capturing = capture_last_step;
    if (i == step_end) {
      if (capture_last_step) {
        figures.pool_bytes = pool_bytes;
        figures.graph_memory = allocated + pool_idle;
      }
      capturing = false;
    }
    const Event& event = events[i];
    const size_t size = size_class(event.bytes);
    if (event.kind == Event::kAllocate) {
      if (capturing && pool_free[size] > 0) {
        --pool_free[size];
        pool_idle -= size;
      } else if (general_free[size] > 0) {
        --general_free[size];
        if (capturing) pool_bytes += size;
      } else {
        reserved += size;
        ++figures.reserves;
        if (capturing) pool_bytes += size;
      }
      in_pool[event.id] = capturing;
      allocated += size;
    } else if (event.kind == Event::kFree) {
      const bool pool_block = in_pool[event.id];
      in_pool.erase(event.id);
      if (pool_block || capturing) {
        if (!pool_block) pool_bytes += size;
        ++pool_free[size];
        pool_idle += size;
      } else {
        ++general_free[size];
      }
      allocated -= size;
    }
    if (i >= step_start && i < step_end) figures.step_peak_allocated = std::max(figures.step_peak_allocated, allocated);
    figures.peak_reserved = std::max(figures.peak_reserved, reserved);
  }
  if (capturing) {  // no step_end: the trace ends with the step
    figures.pool_bytes = pool_bytes;
    figures.graph_memory = allocated + pool_idle;
  }
  return figures;
}

size_t step_peak_requested(const std::vector<Event>& events) {
  const auto [step_start, step_end] = last_step_of(events);
  size_t live = 0, peak = 0;
  for (size_t i = 0; i < step_end; ++i) {
    if (events[i].kind == Event::kAllocate) live += events[i].bytes;
    if (events[i].kind == Event::kFree) live -= events[i].bytes;
    if (i >= step_start) peak = std::max(peak, live);
  }
  return peak;
}

int replay(const std::string& path, const std::string& device) {
  const std::vector<Event> events = read_trace(path, device);
  ALZ_CHECK(!events.empty(), path << " holds no allocation on " << device);
  const double gib = 1024.0 * 1024.0 * 1024.0;
  const int64_t steps =
      std::count_if(events.begin(), events.end(), [](const Event& e) { return e.kind == Event::kStepStart; });
  std::printf("%s: %zu events on %s, %lld steps marked; the last step's peak of the bytes asked for: %.3f GiB\n\n",
              path.c_str(), events.size(), device.c_str(), static_cast<long long>(steps),
              step_peak_requested(events) / gib);
  std::printf(
      "| allocator | last step: peak allocated GiB | peak reserved GiB | segments reserved | last step captured "
      "as a graph: pool GiB | in use outside the pool + pool GiB |\n|---|---|---|---|---|---|\n");
  const Figures eager = replay_books(events, Capture::kNone), best_fit = replay_books(events, Capture::kBestFit),
                planned = replay_books(events, Capture::kPlanned);
  const Figures exact = replay_exact_classes(events, false), exact_graph = replay_exact_classes(events, true);
  auto row = [&](const char* name, const Figures& step, const Figures& graph) {
    std::printf("| %s | %.3f | %.3f | %llu | %.3f | %.3f |\n", name, step.step_peak_allocated / gib,
                step.peak_reserved / gib, static_cast<unsigned long long>(step.reserves), graph.pool_bytes / gib,
                graph.graph_memory / gib);
  };
  row("best fit, splitting, merging (tensor/block_allocator.h)", eager, best_fit);
  if (steps >= 2)
    row(planned.followed_plan ? "the same, the capture placed by the recorded step's plan"
                              : "the same with a plan, which the capture did not follow to the end",
        eager, planned);
  row("exact size classes (before)", exact, exact_graph);
  std::printf("\nbooks: %.0f ns of host time per trace event\n", eager.ns_per_event);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string trace, device = "cuda:0";
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--replay") == 0 && i + 1 < argc) {
      trace = argv[++i];
    } else if (std::strcmp(argv[i], "--replay-device") == 0 && i + 1 < argc) {
      device = argv[++i];
    } else {
      rest.push_back(argv[i]);
    }
  }
  if (!trace.empty()) {
    try {
      return replay(trace, device);
    } catch (const alz::Error& error) {
      std::fprintf(stderr, "bench_allocator: %s\n", error.what());
      return 1;
    }
  }
  int count = static_cast<int>(rest.size());
  benchmark::Initialize(&count, rest.data());
  if (benchmark::ReportUnrecognizedArguments(count, rest.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
