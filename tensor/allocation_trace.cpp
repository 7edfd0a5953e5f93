// The allocation trace (tensor/allocation_trace.h): one stdio file under one mutex.
#include "tensor/allocation_trace.h"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "core/error.h"

namespace alz {

namespace {

std::mutex g_mutex;
std::FILE* g_file = nullptr;        // under g_mutex
std::atomic<bool> g_enabled{false};  // g_file != nullptr, readable without the lock

void close_locked() {
  if (g_file) std::fclose(g_file);
  g_file = nullptr;
  g_enabled.store(false);
}

// Reads ALZ_ALLOC_TRACE once, before main's work starts allocating.
const bool g_from_environment = [] {
  const char* path = std::getenv("ALZ_ALLOC_TRACE");
  if (path == nullptr || *path == '\0') return false;
  g_file = std::fopen(path, "w");
  if (g_file == nullptr) {
    std::fprintf(stderr, "alz: ALZ_ALLOC_TRACE: cannot write %s: %s; no allocation trace\n", path,
                 std::strerror(errno));
    return false;
  }
  g_enabled.store(true);
  std::atexit([] {
    std::lock_guard<std::mutex> lock(g_mutex);
    close_locked();
  });
  return true;
}();

const char* device_text(Device device, bool pinned, char* buffer, size_t size) {
  if (device.is_cuda()) {
    std::snprintf(buffer, size, "cuda:%d", device.index);
    return buffer;
  }
  return pinned ? "pinned" : "cpu";
}

}  // namespace

bool allocation_trace_enabled() { return g_enabled.load(std::memory_order_relaxed); }

void trace_allocation(const void* address, size_t bytes, Device device, bool pinned) {
  if (!allocation_trace_enabled()) return;
  char buffer[24];
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_file) std::fprintf(g_file, "a %p %zu %s\n", address, bytes, device_text(device, pinned, buffer, sizeof buffer));
}

void trace_free(const void* address) {
  if (!allocation_trace_enabled()) return;
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_file) std::fprintf(g_file, "f %p\n", address);
}

void trace_mark(const char* label) {
  if (!allocation_trace_enabled()) return;
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_file) std::fprintf(g_file, "m %s\n", label);
}

void start_allocation_trace(const std::string& path) {
  std::lock_guard<std::mutex> lock(g_mutex);
  close_locked();
  g_file = std::fopen(path.c_str(), "w");
  ALZ_CHECK(g_file != nullptr, "cannot write the allocation trace " << path << ": " << std::strerror(errno));
  g_enabled.store(true);
}

void stop_allocation_trace() {
  std::lock_guard<std::mutex> lock(g_mutex);
  close_locked();
}

}  // namespace alz
