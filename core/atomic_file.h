// The one way alz writes a file that must never be seen half-written (checkpoints, optimizer
// state, run state, reports, images, manifests): write a temp file in the same folder, fsync
// it, rename it over the target, fsync the folder. A crash at any point leaves either the old
// file or the new one, never a mix; a failed write removes the temp file and throws
// alz::Error naming the target and the reason.
//
//   write_file_atomic("runs/a/state.json", text);                 // a whole buffer
//
//   AtomicFile out("runs/a/last.safetensors");                    // streaming
//   out.write(header.data(), header.size());
//   out.write(tensor.raw_data(), tensor.nbytes());
//   out.commit();                     // not reached (an exception): the temp file is removed
//
// Temp names are "<target>.tmp.<pid>.<n>", unique across threads of one process and across
// processes. Tested by tests/test_atomic_file.cpp.
//
// Crash-safety tests set ALZ_FAULT_KILL_AT=N: the process then kills itself (SIGKILL) at the
// N-th fault point (every write(), just before and just after every rename, around every
// appended line), so a test can stop a run inside any file write and check what survives;
// ALZ_FAULT_KILL_AT=count prints how many points a run passed.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace alz {

class AtomicFile {
 public:
  // Creates the temp file beside `path`; throws alz::Error when it cannot.
  explicit AtomicFile(std::string path);
  ~AtomicFile();  // removes the temp file unless commit() succeeded
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t bytes);
  void write(std::string_view text) { write(text.data(), text.size()); }
  // fsync, close, rename over the target, fsync the folder. The file is in place on return.
  void commit();

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_; }

 private:
  [[noreturn]] void fail(const std::string& what, int error_number);
  std::string path_;
  std::string temp_;
  int fd_ = -1;
  bool committed_ = false;
};

void write_file_atomic(const std::string& path, std::string_view contents);

// Appends one line to a log file (metrics.jsonl) and fsyncs it: lines already written survive
// a crash; a line is never split across runs of the program.
void append_line_durable(const std::string& path, std::string_view line);

// strerror as a std::string.
std::string errno_text(int error_number);

}  // namespace alz
