// The tiny phantom set the training tests share: 52 slices of 48x40 (12, 8, 20 and 12 per class),
// a quarter of them for validation (data/phantom.h). Small enough for a one-epoch `alz train`
// of resnetv2-tiny in a second or two on the CPU.
#pragma once
#include <cstdint>
#include <string>

namespace alz::test {

// Writes the set into `dir` and returns the path of its manifest.csv.
std::string write_tiny_phantoms(const std::string& dir, uint64_t seed);

}  // namespace alz::test
