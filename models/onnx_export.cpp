// ONNX export of a ResNetV2 (models/onnx_export.h): walks the model's layers in the order of
// ResNetV2::forward and ResNetV2Block::forward, emits one ONNX node per Keras operation, checks
// the model and writes it. Tested by tests/test_onnx_export.cpp and
// tests/onnx/check_onnxruntime.py:   ctest --test-dir build -R Onnx
#include "models/onnx_export.h"

#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <bit>
#include <cstring>
#include <exception>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"

namespace alz {

namespace {

static_assert(std::endian::native == std::endian::little, "ONNX raw_data is little-endian");

// The constants of ResNetV2::forward (models/resnet_v2.cpp): conv1_pad, pool1_pad + pool1_pool,
// and each block's _2_pad.
constexpr int64_t kStemPad = 3;
constexpr int64_t kPoolPad = 1, kPoolSize = 3, kPoolStride = 2;
constexpr int64_t kBlockConvPad = 1;

// A layer of `parent` by its Keras name and type; nullptr when absent and optional.
template <typename Layer> Layer* find_layer(const Module& parent, const std::string& name, bool required = true) {
  for (Module* child : parent.children()) {
    if (child->name() != name) continue;
    auto* layer = dynamic_cast<Layer*>(child);
    ALZ_CHECK(layer, "ONNX export: layer '" << name << "' is not of the expected type");
    return layer;
  }
  ALZ_CHECK(!required, "ONNX export: the model has no layer '" << name << "'");
  return nullptr;
}

// The tensor's values as f32 on the host (a device or f64 tensor is copied).
std::vector<float> host_floats(const Tensor& t) {
  Tensor host = t.device().is_cpu() ? t : t.to(Device::cpu());
  if (host.dtype() != DType::F32) host = host.to(DType::F32);
  const float* data = host.data<float>();
  return std::vector<float>(data, data + host.numel());
}

// protobuf's output into an AtomicFile; a failed write is kept and rethrown after protobuf returns.
class AtomicFileStream : public google::protobuf::io::CopyingOutputStream {
 public:
  explicit AtomicFileStream(AtomicFile& file) : file_(file) {}
  bool Write(const void* buffer, int size) override {
    try {
      file_.write(buffer, static_cast<size_t>(size));
      return true;
    } catch (...) {
      error = std::current_exception();
      return false;
    }
  }
  std::exception_ptr error;

 private:
  AtomicFile& file_;
};

// Builds the graph: initializers from alz tensors, nodes with attributes, value names.
class GraphBuilder {
 public:
  explicit GraphBuilder(onnx::GraphProto& graph) : graph_(graph) {}

  // A float initializer of the given dims; returns its name.
  std::string floats(const std::string& name, const std::vector<int64_t>& dims, const std::vector<float>& values) {
    onnx::TensorProto* t = graph_.add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) t->add_dims(d);
    t->set_raw_data(values.data(), values.size() * sizeof(float));
    return t->name();
  }

  std::string int64s(const std::string& name, const std::vector<int64_t>& values) {
    onnx::TensorProto* t = graph_.add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT64);
    t->add_dims(static_cast<int64_t>(values.size()));
    t->set_raw_data(values.data(), values.size() * sizeof(int64_t));
    return t->name();
  }

  // One node whose single output is named after the node; returns the output's name.
  std::string node(const std::string& op, const std::string& name, const std::vector<std::string>& inputs,
                   const std::string& output = "") {
    onnx::NodeProto* n = graph_.add_node();
    n->set_op_type(op);
    n->set_name(name);
    for (const std::string& input : inputs) n->add_input(input);
    n->add_output(output.empty() ? name : output);
    last_ = n;
    return n->output(0);
  }

  // Attributes of the node added last.
  void ints(const std::string& name, const std::vector<int64_t>& values) {
    onnx::AttributeProto* a = last_->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t v : values) a->add_ints(v);
  }
  void integer(const std::string& name, int64_t value) {
    onnx::AttributeProto* a = last_->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(value);
  }
  void real(const std::string& name, float value) {
    onnx::AttributeProto* a = last_->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(value);
  }
  void text(const std::string& name, const std::string& value) {
    onnx::AttributeProto* a = last_->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s(value);
  }

  // Conv with the layer's kernel (KRSC -> OIHW), stride and bias; `pad` zeros on each side.
  std::string conv(const Conv2D& layer, const std::string& input, int64_t pad) {
    const Tensor& kernel = layer.kernel_;  // (K, R, S, C)
    const int64_t k = kernel.dim(0), r = kernel.dim(1), s = kernel.dim(2), c = kernel.dim(3);
    const std::vector<float> krsc = host_floats(kernel);
    std::vector<float> oihw(krsc.size());
    for (int64_t o = 0; o < k; ++o)
      for (int64_t y = 0; y < r; ++y)
        for (int64_t x = 0; x < s; ++x)
          for (int64_t i = 0; i < c; ++i) oihw[((o * c + i) * r + y) * s + x] = krsc[((o * r + y) * s + x) * c + i];
    std::vector<std::string> inputs = {input, floats(layer.name() + "/kernel", {k, c, r, s}, oihw)};
    if (layer.bias_.defined()) inputs.push_back(floats(layer.name() + "/bias", {k}, host_floats(layer.bias_)));
    const std::string out = node("Conv", layer.name(), inputs);
    ints("kernel_shape", {r, s});
    ints("strides", {layer.stride(), layer.stride()});
    ints("pads", {pad, pad, pad, pad});  // top, left, bottom, right
    return out;
  }

  // Inference BatchNormalization with the moving statistics, then Relu when the layer has one.
  // `relu_name` is Keras's name of the activation layer that follows (conv2_block1_1_relu, ...).
  std::string batch_norm_relu(const BatchNormReLU& layer, const std::string& input, const std::string& relu_name) {
    const int64_t channels = layer.gamma_.numel();
    const std::string& n = layer.name();
    const std::string out = node("BatchNormalization", n,
                                 {input, floats(n + "/gamma", {channels}, host_floats(layer.gamma_)),
                                  floats(n + "/beta", {channels}, host_floats(layer.beta_)),
                                  floats(n + "/moving_mean", {channels}, host_floats(layer.moving_mean_)),
                                  floats(n + "/moving_variance", {channels}, host_floats(layer.moving_variance_))});
    real("epsilon", static_cast<float>(layer.epsilon()));
    return layer.relu() ? node("Relu", relu_name, {out}) : out;
  }

  std::string max_pool(const std::string& name, const std::string& input, int64_t size, int64_t stride) {
    const std::string out = node("MaxPool", name, {input});
    ints("kernel_shape", {size, size});
    ints("strides", {stride, stride});
    return out;
  }

 private:
  onnx::GraphProto& graph_;
  onnx::NodeProto* last_ = nullptr;
};

// Strips the "_bn" of a BatchNorm's Keras name for its activation: conv2_block1_1_bn -> _1_relu.
std::string relu_name(const std::string& bn_name) {
  const std::string stem =
      bn_name.size() > 3 && bn_name.ends_with("_bn") ? bn_name.substr(0, bn_name.size() - 3) : bn_name;
  return stem + "_relu";
}

// One pre-activation block, as ResNetV2Block::forward.
std::string emit_block(GraphBuilder& g, const ResNetV2Block& block, const std::string& x, int& pool_count) {
  const std::string& b = block.name();
  const auto& preact_bn = *find_layer<BatchNormReLU>(block, b + "_preact_bn");
  const Conv2D* shortcut_conv = find_layer<Conv2D>(block, b + "_0_conv", /*required=*/false);
  const auto& conv1 = *find_layer<Conv2D>(block, b + "_1_conv");
  const auto& bn1 = *find_layer<BatchNormReLU>(block, b + "_1_bn");
  const auto& conv2 = *find_layer<Conv2D>(block, b + "_2_conv");
  const auto& bn2 = *find_layer<BatchNormReLU>(block, b + "_2_bn");
  const auto& conv3 = *find_layer<Conv2D>(block, b + "_3_conv");
  const int64_t stride = conv2.stride();

  const std::string preact = g.batch_norm_relu(preact_bn, x, b + "_preact_relu");
  std::string shortcut = x;
  if (shortcut_conv) {
    shortcut = g.conv(*shortcut_conv, preact, 0);  // on the pre-activation
  } else if (stride > 1) {                         // on the raw input; Keras leaves it unnamed
    std::string name = "max_pooling2d";
    if (pool_count > 0) name.append("_").append(std::to_string(pool_count));
    ++pool_count;
    shortcut = g.max_pool(name, x, 1, stride);
  }
  std::string h = g.batch_norm_relu(bn1, g.conv(conv1, preact, 0), relu_name(bn1.name()));
  h = g.batch_norm_relu(bn2, g.conv(conv2, h, kBlockConvPad), relu_name(bn2.name()));
  h = g.conv(conv3, h, 0);
  return g.node("Add", b + "_out", {shortcut, h});
}

void set_tensor_type(onnx::ValueInfoProto& value, const std::string& name, const std::vector<int64_t>& dims) {
  value.set_name(name);
  onnx::TypeProto_Tensor* type = value.mutable_type()->mutable_tensor_type();
  type->set_elem_type(onnx::TensorProto::FLOAT);
  onnx::TensorShapeProto* shape = type->mutable_shape();
  shape->add_dim()->set_dim_param("N");  // the batch: any size
  for (int64_t d : dims) shape->add_dim()->set_dim_value(d);
}

void add_metadata(onnx::ModelProto& model, const std::string& key, const std::string& value) {
  onnx::StringStringEntryProto* entry = model.add_metadata_props();
  entry->set_key(key);
  entry->set_value(value);
}

onnx::ModelProto build_model(ResNetV2& model, const OnnxExportOptions& options) {
  const ResNetV2Config& config = model.config();
  onnx::ModelProto proto;
  proto.set_ir_version(onnx::IR_VERSION);
  proto.set_producer_name("alz");
  proto.set_doc_string(config.name + " (Keras ResNetV2 layout and names), exported by alz");
  onnx::OperatorSetIdProto* opset = proto.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOnnxOpset);

  onnx::GraphProto& graph = *proto.mutable_graph();
  graph.set_name(config.name);
  GraphBuilder g(graph);
  set_tensor_type(*graph.add_input(), "images", {config.input_height, config.input_width, 3});

  std::string x = g.node("Transpose", "to_nchw", {"images"});  // (N, H, W, 3) -> (N, 3, H, W)
  g.ints("perm", {0, 3, 1, 2});
  if (options.raw_pixels) {  // Keras's preprocess_input for ResNetV2: x / 127.5 - 1
    x = g.node("Div", "preprocess_scale", {x, g.floats("preprocess/127.5", {}, {127.5f})});
    x = g.node("Sub", "preprocess_shift", {x, g.floats("preprocess/1", {}, {1.0f})});
  }

  // Stem, as ResNetV2::forward: conv1_pad + conv1_conv, pool1_pad + pool1_pool.
  x = g.conv(*find_layer<Conv2D>(model, "conv1_conv"), x, kStemPad);
  x = g.node("Pad", "pool1_pad",
             {x, g.int64s("pool1_pad/pads", {0, 0, kPoolPad, kPoolPad, 0, 0, kPoolPad, kPoolPad}),
              g.floats("pool1_pad/value", {}, {0.0f})});
  g.text("mode", "constant");
  x = g.max_pool("pool1_pool", x, kPoolSize, kPoolStride);

  int blocks = 0, pool_count = 0;
  for (Module* child : model.children())
    if (const auto* block = dynamic_cast<const ResNetV2Block*>(child)) {
      x = emit_block(g, *block, x, pool_count);
      ++blocks;
    }
  int expected_blocks = 0;
  for (int n : config.blocks) expected_blocks += n;
  ALZ_CHECK(blocks == expected_blocks,
            "ONNX export: found " << blocks << " blocks, the config has " << expected_blocks);

  // Head: post_bn + post_relu, avg_pool, predictions, softmax.
  x = g.batch_norm_relu(*find_layer<BatchNormReLU>(model, "post_bn"), x, "post_relu");
  x = g.node("GlobalAveragePool", "avg_pool", {x});  // (N, C, 1, 1)
  x = g.node("Flatten", "avg_pool_flatten", {x});    // (N, C)
  g.integer("axis", 1);
  const Dense& dense = model.head();
  const int64_t in = dense.kernel_.dim(0), classes = dense.kernel_.dim(1);
  const std::string output = options.probabilities ? "probabilities" : "logits";
  x = g.node("Gemm", "predictions",
             {x, g.floats("predictions/kernel", {in, classes}, host_floats(dense.kernel_)),
              g.floats("predictions/bias", {classes}, host_floats(dense.bias_))},
             options.probabilities ? "logits" : output);
  if (options.probabilities) {
    g.node("Softmax", "softmax", {x}, output);
    g.integer("axis", 1);
  }
  set_tensor_type(*graph.add_output(), output, {classes});

  add_metadata(proto, "model", config.name);
  add_metadata(proto, "classes", std::to_string(classes));
  add_metadata(proto, "input_layout", "NHWC");
  add_metadata(proto, "preprocessing",
               options.raw_pixels ? "in graph: x/127.5-1 of RGB 0..255" : "x/127.5-1 (by the caller)");
  if (!options.class_names.empty()) {
    ALZ_CHECK(static_cast<int64_t>(options.class_names.size()) == classes,
              "ONNX export: " << options.class_names.size() << " class names for a model of " << classes << " classes");
    add_metadata(proto, "class_names", nlohmann::json(options.class_names).dump());
  }
  for (const auto& [key, value] : options.metadata) add_metadata(proto, key, value);
  return proto;
}

}  // namespace

void export_onnx(ResNetV2& model, const std::string& path, const OnnxExportOptions& options) {
  onnx::ModelProto proto = build_model(model, options);
  try {
    onnx::checker::check_model(proto);
    // Strict shape inference: every node's shapes must follow from the input's; it also records
    // the intermediate shapes (value_info) for viewers.
    onnx::shape_inference::InferShapes(proto, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(/*check_type=*/true, /*strict_mode=*/1));
  } catch (const std::exception& e) {
    ALZ_FAIL(path << ": the exported ONNX model does not pass ONNX's checks: " << e.what());
  }
  // Serialised straight into the temp file (no second copy of the weights in memory).
  AtomicFile out(path);
  AtomicFileStream stream(out);
  bool serialised = false;
  {
    google::protobuf::io::CopyingOutputStreamAdaptor adaptor(&stream);
    serialised = proto.SerializeToZeroCopyStream(&adaptor) && adaptor.Flush();
  }
  if (stream.error) std::rethrow_exception(stream.error);
  ALZ_CHECK(serialised, path << ": protobuf could not serialise the ONNX model (" << proto.ByteSizeLong()
                             << " bytes; the limit is 2 GiB)");
  out.commit();
}

}  // namespace alz
