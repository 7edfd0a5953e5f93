// The ResNetV2 family exactly as keras.applications builds it (resnet_v2.py, stack2/block2),
// with every weight under its Keras name. Pre-activation blocks:
//
//   stem:   conv1_pad ZeroPadding2D(3) -> conv1_conv 7x7/2 (bias) -> pool1_pad ZeroPadding2D(1)
//           -> pool1_pool MaxPool 3x3/2 (zero padding: Keras semantics)
//   stacks: conv2..conv5 with blocks[i] blocks of filters[i]; the LAST block of every stack but
//           the last has stride 2
//   block:  preact_bn+relu; shortcut = _0_conv 1x1 (bias, on the pre-activation) in block 1,
//           else MaxPool 1x1/stride on the raw input when strided, else the input;
//           _1_conv 1x1 (no bias) -> _1_bn+relu -> _2_pad(1) -> _2_conv 3x3/stride (no bias)
//           -> _2_bn+relu -> _3_conv 1x1 x4 (bias) -> _out = shortcut + x
//   head:   post_bn+relu -> avg_pool (global) -> predictions Dense (logits; softmax is the loss's)
// See docs/resnet152v2.md for the drawing and the name-to-code table.
//
//   ResNetV2 model(resnet_v2_config("resnet152v2", 4), /*seed=*/1);
//   Tensor logits = model.forward(images);   // (N, H, W, 3) in [-1, 1] -> (N, 4)
//   model.set_compute_dtype(DType::BF16);     // mixed precision: f32 weights, bf16 compute,
//                                             // f32 logits (layers/module.h)
//
// Tested in tests/test_resnet_v2.cpp (parameter counts, shapes, gradients) and
// tests/gpu/test_resnet_v2_gpu.cpp (GPU equals CPU).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "layers/layers.h"

namespace alz {

struct ResNetV2Config {
  // A named model ("resnet152v2", ...) or a custom one named by its shape (resnet_v2_spec_name).
  std::string name = "resnet152v2";
  std::vector<int> blocks = {3, 8, 36, 3};
  std::vector<int> filters = {64, 128, 256, 512};
  int stem_filters = 64;
  int classes = 4;
  int input_height = 224, input_width = 224;
  // BatchNorm momentum: Keras's 0.99 for the Keras models; the small test and demo models,
  // which train for a few hundred steps, use 0.9 so their moving statistics keep up.
  double bn_momentum = 0.99;
};

// "resnet50v2", "resnet101v2", "resnet152v2" (Keras), and the small members built by the same
// code: "resnetv2-small" (CPU demo) and "resnetv2-tiny" (tests). Any other ResNetV2 is named by
// its shape, "resnetv2:stem<S>:<blocks>x<filters>,..." (e.g. "resnetv2:stem64:2x4,2x8": a
// 64-filter stem, then a stack of 2 blocks of 4 filters and one of 2 blocks of 8; BatchNorm
// momentum 0.99), which is what a Keras file of an unnamed ResNetV2 loads as. Throws for an
// unknown name or an input smaller than 32x32.
ResNetV2Config resnet_v2_config(const std::string& name, int classes, int input_height = 224, int input_width = 224);
std::vector<std::string> resnet_v2_names();
// "resnetv2:stem<S>:<b>x<f>,..." for the config's stem, blocks and filters.
std::string resnet_v2_spec_name(const ResNetV2Config& config);
// The named model with this stem, blocks and filters, else the spec name.
std::string resnet_v2_name_for(const ResNetV2Config& config);

// One layer of the model as Keras builds it, in Keras's order (model.layers): the one table the
// summary, the legacy HDF5 `layer_names`, the Keras 3 weight-group names and the .keras config
// are all made from. Weightless layers (paddings, activations, pools, Add) are rows too.
struct KerasLayer {
  std::string name;                  // "conv2_block1_1_conv", "max_pooling2d_1", "input_layer"
  std::string type;                  // Keras class: "Conv2D", "BatchNormalization", "Add", ...
  Shape output_shape;                // without the batch dimension
  std::vector<std::string> inputs;   // the layers it reads (two for Add; none for the input)
  std::vector<std::string> weights;  // Keras weight names in Keras's order ("conv1_conv/kernel", ...)
  int64_t params = 0;                // Keras's count: BatchNorm counts its moving statistics too
  // The settings a Keras config needs: Conv2D filters/kernel/stride/use_bias, Dense units
  // (in `filters`), MaxPooling2D pool size (`kernel`) and stride, ZeroPadding2D `pad`.
  int filters = 0, kernel = 0, stride = 1, pad = 0;
  bool use_bias = false;
};
using LayerSummary = KerasLayer;

class ResNetV2Block : public Module {
 public:
  ResNetV2Block(const std::string& name, int64_t in_channels, int filters, int stride, bool conv_shortcut,
                double bn_momentum, Generator& gen);
  Tensor forward(const Tensor& x);
  int64_t out_channels() const { return int64_t{4} * filters_; }

 private:
  int filters_, stride_;
  BatchNormReLU preact_;
  std::unique_ptr<Conv2D> shortcut_;  // _0_conv, block 1 only
  Conv2D conv1_;
  BatchNormReLU bn1_;
  Conv2D conv2_;
  BatchNormReLU bn2_;
  Conv2D conv3_;
};

class ResNetV2 : public Module {
 public:
  ResNetV2(const ResNetV2Config& config, uint64_t seed);
  Tensor forward(const Tensor& images);  // (N, H, W, 3) -> logits (N, classes)
  // The same forward in two halves, forward(x) == classify(features(x)), so that explanations
  // (train/gradcam.h) can hold the last convolutional block's output and take its gradient:
  // features() ends at post_relu, (N, H, W, 3) -> (N, h, w, C); classify() is avg_pool and
  // predictions, (N, h, w, C) -> logits (N, classes).
  Tensor features(const Tensor& images);
  Tensor classify(const Tensor& features);

  const ResNetV2Config& config() const { return config_; }
  Dense& head() { return *predictions_; }
  void freeze_backbone(bool frozen);  // everything but `predictions`
  // Keras's layers in Keras's order (see KerasLayer); the summary is this table.
  const std::vector<KerasLayer>& keras_layers() const { return layers_; }
  std::vector<KerasLayer> summary() const { return layers_; }
  std::string summary_text() const;  // Keras-style table with the three totals

 private:
  void build_stem(Generator& gen);
  void build_stack(int index, int64_t& channels, int& height, int& width, Generator& gen);
  void build_head(int64_t channels, int height, int width, Generator& gen);
  KerasLayer& add_layer(const std::string& name, const std::string& type, Shape output_shape,
                        std::vector<std::string> inputs = {});

  ResNetV2Config config_;
  std::unique_ptr<Conv2D> conv1_;
  std::vector<std::unique_ptr<ResNetV2Block>> blocks_;
  std::unique_ptr<BatchNormReLU> post_bn_;
  std::unique_ptr<Dense> predictions_;
  std::vector<KerasLayer> layers_;
  int shortcut_pools_ = 0;
};

}  // namespace alz
