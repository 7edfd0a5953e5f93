// The distinct convolution shapes of ResNet152V2 (Keras) and how many layers use each, for the
// convolution benchmarks (bench/bench_conv.cu on the GPU, bench/bench_conv_cpu.cpp on the CPU).
// Stem 7x7/2 on the input zero-padded by 3, 3x3/2 max pool (pad 1), then stacks of bottleneck
// blocks (64, 128, 256, 512 filters; 3, 8, 36, 3 blocks), the stride in the last block of the
// first three stacks; block 1 of each stack has a 1x1 shortcut conv.
#pragma once
#include <string>
#include <vector>

#include "kernels/conv2d.h"

namespace alz::bench {

struct ConvShape {
  std::string name;  // the first Keras layer with this shape
  Conv2dParams p;
  int count;  // layers with this shape in the network
};

inline std::vector<ConvShape> resnet152v2_shapes(int batch, int resolution) {
  std::vector<ConvShape> shapes;
  auto add = [&](const std::string& name, const Conv2dParams& p) {
    for (ConvShape& s : shapes)
      if (s.p == p) {
        ++s.count;
        return;
      }
    shapes.push_back({name, p, 1});
  };
  add("conv1_conv", Conv2dParams::make(batch, resolution + 6, resolution + 6, 3, 64, 7, 2, 0));
  int size = ((resolution + 6 - 7) / 2 + 1 + 2 - 3) / 2 + 1;  // after the stem and the pool
  const int depths[4] = {3, 8, 36, 3};
  int cin = 64;
  for (int stack = 0; stack < 4; ++stack) {
    const int f = 64 << stack;
    for (int block = 0; block < depths[stack]; ++block) {
      const int stride = (block == depths[stack] - 1 && stack < 3) ? 2 : 1;
      const std::string prefix = "conv" + std::to_string(stack + 2) + "_block" + std::to_string(block + 1) + "_";
      if (block == 0) add(prefix + "0_conv", Conv2dParams::make(batch, size, size, cin, 4 * f, 1, stride, 0));
      add(prefix + "1_conv", Conv2dParams::make(batch, size, size, cin, f, 1, 1, 0));
      add(prefix + "2_conv", Conv2dParams::make(batch, size, size, f, f, 3, stride, 1));
      size = (size + 2 - 3) / stride + 1;
      add(prefix + "3_conv", Conv2dParams::make(batch, size, size, f, 4 * f, 1, 1, 0));
      cin = 4 * f;
    }
  }
  return shapes;
}

}  // namespace alz::bench
