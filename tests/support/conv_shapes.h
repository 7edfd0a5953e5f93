// The odd convolution shapes on which the optimised convolutions are checked against the
// direct reference (kernels/cpu/conv2d_reference.cpp): the CPU's im2col and 1x1 paths in
// tests/test_conv2d.cpp and cuDNN in tests/gpu/test_conv2d_gpu.cpp run the same list.
// C not a multiple of 4, N = 1, 1x1 spatial, strides on odd inputs, asymmetric padding, the
// Keras stem. Run: ctest --test-dir build -R Conv2d
#pragma once
#include <ostream>
#include <vector>

#include "kernels/conv2d.h"

namespace alz::test {

struct ConvShape {
  const char* name;  // a test name: letters, digits, '_'
  Conv2dParams p;
};
inline void PrintTo(const ConvShape& c, std::ostream* os) { *os << c.name << ": " << c.p.str(); }

// Conv2dParams with padding top, bottom, left, right given one by one.
inline Conv2dParams asymmetric(int n, int h, int w, int c, int k, int r, int s, int sh, int sw, int pt, int pb, int pl,
                               int pr) {
  Conv2dParams p;
  p.N = n, p.H = h, p.W = w, p.C = c, p.K = k, p.R = r, p.S = s, p.stride_h = sh, p.stride_w = sw;
  p.pad_top = pt, p.pad_bottom = pb, p.pad_left = pl, p.pad_right = pr;
  return p;
}

inline std::vector<ConvShape> conv_odd_shapes() {
  return {
      {"c3_k7_3x3_pad1", Conv2dParams::make(2, 5, 6, 3, 7, 3, 1, 1)},
      {"n1_1x1spatial_3x3_pad1", Conv2dParams::make(1, 1, 1, 5, 7, 3, 1, 1)},
      {"pointwise_s1", Conv2dParams::make(2, 5, 7, 5, 7, 1, 1, 0)},
      {"pointwise_1x1spatial", Conv2dParams::make(3, 1, 1, 5, 3, 1, 1, 0)},
      {"pointwise_s2_7x7", Conv2dParams::make(2, 7, 7, 5, 7, 1, 2, 0)},
      {"pointwise_s2_9x9", Conv2dParams::make(1, 9, 9, 3, 5, 1, 2, 0)},
      {"pointwise_pad1", Conv2dParams::make(1, 3, 4, 5, 3, 1, 1, 1)},
      {"3x3_s2_pad1_7x7", Conv2dParams::make(2, 7, 7, 3, 7, 3, 2, 1)},
      {"3x3_s2_pad1_9x9", Conv2dParams::make(1, 9, 9, 5, 7, 3, 2, 1)},
      {"3x3_s2_pad0101_8x8", asymmetric(2, 8, 8, 3, 5, 3, 3, 2, 2, 0, 1, 0, 1)},
      {"2x3_s1x2_pad1021", asymmetric(1, 6, 5, 5, 3, 2, 3, 1, 2, 1, 0, 2, 1)},
      {"keras_stem_7x7_s2_pad3", Conv2dParams::make(2, 11, 13, 3, 5, 7, 2, 3)},
      {"stem_on_prepadded_input", Conv2dParams::make(1, 16, 16, 3, 4, 7, 2, 0)},
  };
}

}  // namespace alz::test
