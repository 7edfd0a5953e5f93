// Reading a file in a child process (models/sandbox.h).
#include "models/sandbox.h"

#include <fcntl.h>
#include <omp.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"

namespace alz {
namespace {

std::atomic<unsigned> g_sandbox_counter{0};

// A temp file only this process and its child use.
std::string private_temp_path() {
  namespace fs = std::filesystem;
  const fs::path folder = fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
  return (folder /
          ("alz_read_" + std::to_string(::getpid()) + "_" + std::to_string(g_sandbox_counter++) + ".safetensors"))
      .string();
}

void write_text(int fd, const std::string& text) {
  const char* data = text.data();
  size_t left = text.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, data, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data += n;
    left -= static_cast<size_t>(n);
  }
}

// The child: read, write the result, leave without running the parent's exit handlers.
[[noreturn]] void child(const std::string& path, const std::function<SafetensorsFile(const std::string&)>& read,
                        const std::string& out, int error_fd) {
  omp_set_num_threads(1);
  int code = 0;
  try {
    SafetensorsFile file = read(path);
    save_safetensors(out, file.tensors, file.metadata);
  } catch (const std::exception& error) {
    write_text(error_fd, error.what());
    code = 1;
  } catch (...) {
    write_text(error_fd, path + ": cannot read (an unexpected error)");
    code = 1;
  }
  ::close(error_fd);
  ::_exit(code);
}

}  // namespace

int read_time_limit_seconds() {
  const char* text = std::getenv("ALZ_READ_TIME_LIMIT");
  if (text == nullptr || *text == '\0') return 120;
  char* end = nullptr;
  const long seconds = std::strtol(text, &end, 10);
  ALZ_CHECK(*end == '\0' && seconds >= 1 && seconds <= 86400,
            "ALZ_READ_TIME_LIMIT=" << text << ": expected whole seconds between 1 and 86400");
  return static_cast<int>(seconds);
}

SafetensorsFile read_in_child_process(const std::string& path, const std::string& library,
                                      const std::function<SafetensorsFile(const std::string&)>& read,
                                      int time_limit_seconds) {
  const std::string out = private_temp_path();
  int pipe_fds[2];
  ALZ_CHECK(::pipe2(pipe_fds, O_CLOEXEC) == 0, path << ": cannot read: pipe: " << errno_text(errno));
  std::fflush(nullptr);  // nothing buffered is written twice
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int error = errno;
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    ALZ_FAIL(path << ": cannot read: fork: " << errno_text(error));
  }
  if (pid == 0) {
    ::close(pipe_fds[0]);
    child(path, read, out, pipe_fds[1]);
  }
  ::close(pipe_fds[1]);

  // Collect the child's message (if any) until it closes the pipe or the time is up.
  std::string message;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(time_limit_seconds);
  bool timed_out = false;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    pollfd wait_for{pipe_fds[0], POLLIN, 0};
    const int ready = ::poll(&wait_for, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    char buffer[4096];
    const ssize_t n = ::read(pipe_fds[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the child closed its end: it is done
    message.append(buffer, static_cast<size_t>(n));
  }
  ::close(pipe_fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  struct RemoveTemp {  // the result, and a temp file of a child killed while writing it
    const std::string& path;
    ~RemoveTemp() {
      namespace fs = std::filesystem;
      std::error_code ignored;
      fs::remove(path, ignored);
      const std::string temp_prefix = fs::path(path).filename().string() + ".tmp.";
      for (const auto& entry : fs::directory_iterator(fs::path(path).parent_path(), ignored))
        if (entry.path().filename().string().rfind(temp_prefix, 0) == 0) fs::remove(entry.path(), ignored);
    }
  } remove_temp{out};
  if (timed_out)
    ALZ_FAIL(path << ": cannot read: the " << library << " library took more than " << time_limit_seconds
                  << " s on it; the file is probably corrupt");
  if (WIFSIGNALED(status))
    ALZ_FAIL(path << ": corrupt file: the " << library << " library crashed reading it (signal " << WTERMSIG(status)
                  << ")");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    ALZ_FAIL((message.empty() ? path + ": cannot read (the reading process failed)" : message));
  SafetensorsFile file = load_safetensors(out);
  file.path = path;
  return file;
}

}  // namespace alz
