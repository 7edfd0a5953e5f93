// Reading an untrusted file with a third-party C library that may crash on a corrupt one, in a
// child process. HDF5's C library (Keras's .h5, .weights.h5 and the weights inside a .keras
// archive) reads whatever a file's headers point at: fuzzing alz's readers found corrupt files
// that make it copy from wild addresses (H5HG_read on a damaged global heap). alz must answer
// bad input with an error naming the file, never a crash, so the Keras readers run here:
//
//   fork() -> the child reads the file with `read`, writes the result as a safetensors file
//             (tensor/safetensors.h) to a private temp file, and leaves with _exit
//          -> the parent waits, then loads that temp file with its own validated reader
//
// A child that throws alz::Error hands its message to the parent through a pipe, which throws
// it unchanged; a child killed by a signal (the library crashed) or running past the time limit
// becomes "<path>: corrupt file: the HDF5 library crashed reading it (signal 11)". The child
// The time limit is ALZ_READ_TIME_LIMIT seconds (default 120; a full ResNet152V2 file reads in
// about a second): corrupt files can also send the library into a loop. The child
// runs single-threaded (OpenMP set to one thread: its thread pool does not survive fork) and
// touches no GPU; the host allocator is fork-safe (tensor/host_allocator.cpp).
//
//   SafetensorsFile w = read_in_child_process(path, "HDF5", read_keras_h5);
//
// Tested by tests/test_keras_bad_input.cpp and the weights-file fuzz target (fuzz/).
#pragma once
#include <functional>
#include <string>

#include "tensor/safetensors.h"

namespace alz {

// ALZ_READ_TIME_LIMIT (whole seconds, 1 to 86400), else 120. A malformed value is an error.
int read_time_limit_seconds();

SafetensorsFile read_in_child_process(const std::string& path, const std::string& library,
                                      const std::function<SafetensorsFile(const std::string&)>& read,
                                      int time_limit_seconds = read_time_limit_seconds());

}  // namespace alz
