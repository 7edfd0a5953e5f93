// A small network built from the layers of layers/ the way the models are built: children
// registered in creation order, Keras names. Used by the layer tests on the CPU
// (tests/test_layers.cpp) and on the GPU (tests/gpu/test_layers_gpu.cpp).
//   x (N, H, W, 3) -> Conv2D 3x3, 5 filters, bias, zero-padded by 1 -> BatchNorm+ReLU
//     -> global average pool -> Dense 5 -> 3
// 178 numbers: 140 in the convolution, 20 in the BatchNorm (10 trainable), 18 in the Dense.
#pragma once
#include "layers/layers.h"
#include "tensor/ops.h"

namespace alz::test {

class TinyNet : public Module {
 public:
  explicit TinyNet(Generator& gen)
      : Module("tiny"), conv("tiny_conv", 3, 5, 3, 1, true, gen), bn("tiny_bn", 5), dense("tiny_dense", 5, 3, gen) {
    add_child(conv);
    add_child(bn);
    add_child(dense);
  }
  Tensor forward(const Tensor& x) {
    return dense.forward(ops::global_avg_pool(bn.forward(conv.forward(x, {1, 1, 1, 1}))));
  }

  Conv2D conv;
  BatchNormReLU bn;
  Dense dense;
};

}  // namespace alz::test
