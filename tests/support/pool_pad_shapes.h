// Max-pooling and zero-padding shapes shared by the CPU kernel tests (tests/test_pool.cpp and
// tests/test_pad.cpp: backward against central finite differences) and the CUDA kernel tests
// (tests/gpu/test_ops_gpu.cpp: against the CPU, which adds large shapes of its own). Odd sizes:
// C not a multiple of 4, N = 1, 1x1 spatial, asymmetric padding, overlapping windows.
// Run: ctest --test-dir build -R "MaxPool|ZeroPad|OpsGpu"
#pragma once
#include <cstdint>
#include <ostream>
#include <vector>

#include "kernels/pad.h"

namespace alz::test {

struct PoolShape {
  kernels::ImageShape in;  // (N, H, W, C)
  int64_t k, s;            // square window and stride
  kernels::Padding2d pad;  // zeros, as Keras's ZeroPadding2D before MaxPooling2D
  double low, high;        // input values: all negative makes the padding win at the border
};

struct PadShape {
  kernels::ImageShape in;
  kernels::Padding2d pad;
};

inline void PrintTo(const kernels::ImageShape& s, std::ostream* os) {
  *os << "(" << s.n << ", " << s.h << ", " << s.w << ", " << s.c << ")";
}
inline void PrintTo(const kernels::Padding2d& p, std::ostream* os) {
  *os << "pad " << p.top << "," << p.bottom << "," << p.left << "," << p.right;
}
inline void PrintTo(const PoolShape& p, std::ostream* os) {
  PrintTo(p.in, os);
  *os << " k" << p.k << " s" << p.s << " ";
  PrintTo(p.pad, os);
}
inline void PrintTo(const PadShape& p, std::ostream* os) {
  PrintTo(p.in, os);
  *os << " ";
  PrintTo(p.pad, os);
}

inline std::vector<PoolShape> max_pool_odd_shapes() {
  return {
      {{2, 7, 5, 3}, 3, 2, {1, 1, 1, 1}, -1.0, 1.0},   // pool1 (3x3 stride 2 after a 1-pixel pad), odd sizes
      {{3, 9, 7, 13}, 3, 2, {1, 1, 1, 1}, -1.0, 1.0},  // pool1, C = 13
      {{2, 9, 7, 5}, 3, 2, {1, 1, 1, 1}, -2.0, -1.0},  // all negative: the padding's zeros win
      {{1, 5, 5, 3}, 1, 2, {}, -1.0, 1.0},             // the strided block's 1x1 stride-2 shortcut
      {{2, 7, 5, 3}, 1, 2, {}, -1.0, 1.0},             // the shortcut on odd sizes
      {{1, 1, 1, 1}, 1, 1, {}, -1.0, 1.0},             // 1x1 spatial
      {{1, 1, 1, 3}, 1, 1, {}, -1.0, 1.0},             // 1x1 spatial, C = 3
      {{2, 6, 7, 5}, 2, 2, {0, 1, 0, 1}, -1.0, 1.0},   // asymmetric padding
      {{1, 4, 4, 2}, 3, 1, {1, 1, 1, 1}, -1.0, 1.0},   // heavy overlap
      {{1, 5, 6, 4}, 3, 1, {1, 1, 1, 1}, -1.0, 1.0},   // heavy overlap, H != W
  };
}

inline std::vector<PadShape> zero_pad_odd_shapes() {
  return {
      {{2, 3, 5, 7}, {1, 1, 1, 1}}, {{3, 5, 7, 13}, {1, 1, 1, 1}}, {{1, 1, 1, 3}, {3, 3, 3, 3}},
      {{1, 1, 1, 3}, {3, 0, 2, 1}}, {{1, 4, 3, 5}, {0, 2, 1, 0}},  {{2, 4, 3, 5}, {0, 2, 1, 0}},
      {{3, 2, 2, 1}, {0, 0, 0, 0}},  // no padding: a plain copy
  };
}

}  // namespace alz::test
