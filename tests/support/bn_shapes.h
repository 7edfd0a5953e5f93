// BatchNorm shapes (rows = N * H * W, channels C) shared by the tests of the optimised
// BatchNorm(+ReLU) kernels against the reference: the CPU's fast f32 kernels in
// tests/test_bn_relu.cpp (BnReluFast.*) and the CUDA kernels in tests/gpu/test_bn_relu_gpu.cpp
// (BnReluGpu.*, which also runs the ResNet152V2 list). Each is run with and without the ReLU.
// Run: ctest --test-dir build -R BnRelu
#pragma once
#include <cstdint>
#include <vector>

namespace alz::test {

struct BnShape {
  int64_t rows, channels;
};

// Every distinct (H * W, C) BatchNorm shape of ResNet152V2, at batch `batch`.
inline std::vector<BnShape> resnet152v2_bn_shapes(int64_t batch) {
  const int64_t shapes[][2] = {{56 * 56, 64},  {56 * 56, 256}, {28 * 28, 64},  {28 * 28, 256}, {28 * 28, 128},
                               {28 * 28, 512}, {14 * 14, 128}, {14 * 14, 512}, {14 * 14, 256}, {14 * 14, 1024},
                               {7 * 7, 256},   {7 * 7, 1024},  {7 * 7, 512},   {7 * 7, 2048}};
  std::vector<BnShape> out;
  for (const auto& s : shapes) out.push_back({batch * s[0], s[1]});
  return out;
}

// One row; one channel; C not a multiple of 4 or 8 (scalar paths); C = 2048 with few rows (one
// chunk, one block); enough rows for many chunks and blocks whose sizes do not divide them.
inline std::vector<BnShape> bn_odd_shapes() {
  return {{1, 1},    {1, 5},    {1, 64},    {7, 5},     {7, 2048},  {98, 3},     {300, 1},   {300, 21},
          {333, 24}, {392, 13}, {392, 256}, {513, 256}, {1000, 72}, {1568, 100}, {4099, 64}, {6272, 64}};
}

}  // namespace alz::test
