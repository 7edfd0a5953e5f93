// ONNX export of a ResNetV2 (models/resnet_v2.h) for inference in any ONNX runtime: the network
// as its forward runs, built with the ONNX library's generated message classes
// (onnx/onnx_pb.h), checked by onnx::checker::check_model and ONNX's strict shape inference,
// serialised by protobuf and written atomically. Opset 17, IR version 8.
//
// The file's interface:
//   input  "images"         float (N, H, W, 3), N dynamic, H x W the model's input size; NHWC as
//                           alz and Keras take it, already preprocessed (x / 127.5 - 1, in
//                           [-1, 1]) unless raw_pixels is set, then RGB values in [0, 255]
//   output "probabilities"  float (N, classes), softmax of the logits, in class-index order
//                           (alphabetical, as the checkpoint's class_names); "logits" when
//                           probabilities is false
//   metadata_props          model, classes, input_layout, preprocessing, class_names (JSON list
//                           when given), plus what the caller adds
//
// The graph (NCHW inside: ONNX's Conv and pools are channels-first; weight names are Keras's,
// conv kernels transposed from KRSC to ONNX's OIHW, node names are Keras's layer names):
//   Transpose(0, 3, 1, 2)                          images -> (N, 3, H, W)
//   [Div 127.5, Sub 1]                             raw_pixels only
//   conv1_conv  Conv 7x7/2, pads 3 (zeros: conv1_pad), bias
//   pool1_pad   Pad constant 0, 1 on each side     Keras pads with ZEROS before max pooling;
//   pool1_pool  MaxPool 3x3/2, no pads             a padded ONNX MaxPool would pad with -inf
//   each block  _preact_bn BatchNormalization + Relu;
//               shortcut: _0_conv Conv 1x1/stride (bias) on the pre-activation in block 1,
//               else MaxPool 1x1/stride on the block input when strided, else the input;
//               _1_conv Conv 1x1 -> _1_bn + Relu -> _2_conv Conv 3x3/stride pads 1 -> _2_bn +
//               Relu -> _3_conv Conv 1x1 (bias) -> _out Add(shortcut, x)
//   post_bn + post_relu, avg_pool GlobalAveragePool + Flatten, predictions Gemm, Softmax
// BatchNormalization is the inference form (moving statistics, the layer's epsilon, 1.001e-5).
//
//   OnnxExportOptions options;
//   options.class_names = {"MildDemented", "ModerateDemented", "NonDemented", "VeryMildDemented"};
//   export_onnx(model, "model.onnx", options);
//
// Errors (a model the checker rejects, an unwritable path) throw alz::Error naming the file;
// nothing is left half-written. Tested by tests/test_onnx_export.cpp (structure, shapes,
// weights) and tests/onnx/check_onnxruntime.py (probabilities in ONNX Runtime equal alz's):
//   ctest --test-dir build -R Onnx
#pragma once
#include <map>
#include <string>
#include <vector>

#include "models/resnet_v2.h"

namespace alz {

struct OnnxExportOptions {
  bool raw_pixels = false;                      // the graph applies x / 127.5 - 1 to RGB values in [0, 255]
  bool probabilities = true;                    // end with Softmax ("probabilities"); false: "logits"
  std::vector<std::string> class_names;         // stored as metadata (size must equal classes)
  std::map<std::string, std::string> metadata;  // further metadata_props
};

inline constexpr int kOnnxOpset = 17;

// Writes `model` (any device, f32 or f64 weights; exported as f32) to `path`.
void export_onnx(ResNetV2& model, const std::string& path, const OnnxExportOptions& options = {});

}  // namespace alz
