// The one seeded random generator of the project: a Philox counter (core/philox.h) with a
// seed and an offset. Each draw of n values takes the counter range [offset, offset + n') and
// advances the offset past it, so successive draws differ and a saved (seed, offset) pair
// resumes the stream exactly. The same state gives the same numbers on the CPU and the GPU.
#pragma once
#include <cstdint>

namespace alz {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0, uint64_t offset = 0) : seed_(seed), offset_(offset) {}

  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_offset(uint64_t offset) { offset_ = offset; }

  // Reserves `count` counter positions and returns the first one. Rounded up to a multiple of
  // 4 so each draw starts on a fresh Philox block.
  uint64_t reserve(uint64_t count) {
    uint64_t start = offset_;
    offset_ += (count + 3) & ~uint64_t{3};
    return start;
  }

 private:
  uint64_t seed_;
  uint64_t offset_;
};

}  // namespace alz
