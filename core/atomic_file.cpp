// Atomic and durable file writes (core/atomic_file.h).
#include "core/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace alz {
namespace {

std::atomic<unsigned long> g_temp_counter{0};

// Fault injection for the crash-safety tests (tests/test_crash_resume.cpp): with
// ALZ_FAULT_KILL_AT=N in the environment, the process kills itself with SIGKILL at the N-th
// fault point, counting every write of a temp file, the moment before each rename and the
// moment after it, and both sides of an appended line, process-wide. ALZ_FAULT_KILL_AT=count
// prints "alz fault points: N" on stderr at exit instead. Unset (always, outside those tests):
// one relaxed load per point.
std::atomic<long> g_fault_points{0};

void print_fault_count() { std::fprintf(stderr, "alz fault points: %ld\n", g_fault_points.load()); }

void fault_point() {
  static const long kill_at = [] {
    const char* text = std::getenv("ALZ_FAULT_KILL_AT");
    if (!text) return 0L;
    if (std::string(text) == "count") {
      std::atexit(print_fault_count);
      return -1L;
    }
    return std::atol(text);
  }();
  if (kill_at == 0) return;
  if (++g_fault_points == kill_at) std::raise(SIGKILL);
}

// Writes all of `size` bytes; false (errno set) on failure.
bool write_all(int fd, const char* data, size_t size) {
  constexpr size_t kChunk = size_t{1} << 24;  // bytes per write() call
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size < kChunk ? size : kChunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// Makes a rename durable; a folder that cannot be opened or synced is not an error (some file
// systems refuse fsync on folders).
void sync_folder_of(const std::string& path) {
  const std::string folder = std::filesystem::path(path).parent_path().string();
  const int fd = ::open(folder.empty() ? "." : folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  (void)::fsync(fd);
  ::close(fd);
}

}  // namespace

std::string errno_text(int error_number) { return std::strerror(error_number); }

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  temp_ = path_ + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(g_temp_counter++);
  fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) ALZ_FAIL("cannot write '" << path_ << "': cannot create '" << temp_ << "': " << errno_text(errno));
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(temp_.c_str());
}

void AtomicFile::fail(const std::string& what, int error_number) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  ::unlink(temp_.c_str());
  ALZ_FAIL("cannot write '" << path_ << "': " << what << errno_text(error_number));
}

void AtomicFile::write(const void* data, size_t bytes) {
  ALZ_CHECK(fd_ >= 0 && !committed_, "cannot write '" << path_ << "': the file is already closed");
  fault_point();
  if (!write_all(fd_, static_cast<const char*>(data), bytes)) fail("", errno);
}

void AtomicFile::commit() {
  ALZ_CHECK(fd_ >= 0 && !committed_, "cannot write '" << path_ << "': the file is already closed");
  if (::fsync(fd_) != 0) fail("fsync: ", errno);
  const int closed = ::close(fd_);
  fd_ = -1;
  if (closed != 0) fail("close: ", errno);
  fault_point();
  if (::rename(temp_.c_str(), path_.c_str()) != 0) fail("rename from '" + temp_ + "': ", errno);
  committed_ = true;
  fault_point();
  sync_folder_of(path_);
}

void write_file_atomic(const std::string& path, std::string_view contents) {
  AtomicFile out(path);
  out.write(contents);
  out.commit();
}

void append_line_durable(const std::string& path, std::string_view line) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  ALZ_CHECK(fd >= 0, "cannot append to '" << path << "': " << errno_text(errno));
  std::string text(line);
  if (text.empty() || text.back() != '\n') text += '\n';
  fault_point();
  const bool written = write_all(fd, text.data(), text.size()) && ::fsync(fd) == 0;
  const int write_errno = errno;
  const bool closed = ::close(fd) == 0;
  fault_point();
  ALZ_CHECK(written && closed, "cannot append to '" << path << "': " << errno_text(written ? errno : write_errno));
}

}  // namespace alz
