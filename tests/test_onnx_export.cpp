// ONNX export (models/onnx_export.h): resnetv2-tiny exported, the file parsed back with
// protobuf and checked: IR version and opset, the input and output with a dynamic batch, the
// node sequence and the count of each op type (derived from the config, independently of the
// exporter), every weight as an initializer under its Keras name with the right shape and
// values (conv kernels transposed KRSC -> OIHW), the BatchNorm epsilon, the stem's explicit zero
// Pad before an unpadded MaxPool, each block's strides, the shapes ONNX's own shape inference
// derives against the model's Keras summary, the metadata; the raw-pixel and logits variants;
// errors. That the numbers come out right in a runtime is tests/onnx/check_onnxruntime.py.
// Run: ctest --test-dir build -R Onnx
#include <gtest/gtest.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "core/error.h"
#include "models/onnx_export.h"
#include "support/compare.h"

namespace alz {
namespace {

// Every BatchNorm's statistics and affine weights away from their initial values (1, 0, 0, 1),
// so that a swapped or missing one shows.
void randomize_batch_norms(ResNetV2& model, uint64_t seed) {
  Generator gen(seed);
  for (ParamRef& p : model.parameters()) {
    const std::string& n = p.name;
    if (n.ends_with("/gamma") || n.ends_with("/moving_variance"))
      *p.tensor = Tensor::uniform(p.tensor->shape(), gen, 0.5, 1.5);
    else if (n.ends_with("/beta") || n.ends_with("/moving_mean"))
      *p.tensor = Tensor::normal(p.tensor->shape(), gen, 0.0, 0.2);
  }
}

onnx::ModelProto read_model(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  onnx::ModelProto model;
  EXPECT_TRUE(model.ParseFromIstream(&in)) << path;
  return model;
}

// dims of a value: dim_param as -1.
std::vector<int64_t> dims_of(const onnx::ValueInfoProto& value) {
  std::vector<int64_t> dims;
  for (const auto& d : value.type().tensor_type().shape().dim()) dims.push_back(d.has_dim_param() ? -1 : d.dim_value());
  return dims;
}

const onnx::AttributeProto* attribute(const onnx::NodeProto& node, const std::string& name) {
  for (const auto& a : node.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

std::vector<int64_t> ints_of(const onnx::NodeProto& node, const std::string& name) {
  const onnx::AttributeProto* a = attribute(node, name);
  return a ? std::vector<int64_t>(a->ints().begin(), a->ints().end()) : std::vector<int64_t>{};
}

std::vector<float> floats_of(const onnx::TensorProto& t) {
  EXPECT_EQ(t.data_type(), onnx::TensorProto::FLOAT) << t.name();
  std::vector<float> values(t.raw_data().size() / sizeof(float));
  std::memcpy(values.data(), t.raw_data().data(), values.size() * sizeof(float));
  return values;
}

struct Exported {
  onnx::ModelProto proto;
  std::map<std::string, const onnx::TensorProto*> initializers;
  std::map<std::string, const onnx::NodeProto*> nodes;  // by node name
};

Exported load(const std::string& path) {
  Exported e;
  e.proto = read_model(path);
  for (const auto& t : e.proto.graph().initializer()) e.initializers[t.name()] = &t;
  for (const auto& n : e.proto.graph().node()) e.nodes[n.name()] = &n;
  return e;
}

TEST(OnnxExport, TinyModelStructureAndWeights) {
  const std::string dir = test::fresh_temp_dir("onnx_export");
  ResNetV2 model(resnet_v2_config("resnetv2-tiny", 4, 45, 38), 5);  // odd sizes on purpose
  randomize_batch_norms(model, 6);
  OnnxExportOptions options;
  options.class_names = {"A", "B", "C", "D"};
  options.metadata["source"] = "test";
  export_onnx(model, dir + "/tiny.onnx", options);
  Exported e = load(dir + "/tiny.onnx");
  const onnx::ModelProto& m = e.proto;
  EXPECT_NO_THROW(onnx::checker::check_model(m));

  EXPECT_EQ(m.ir_version(), 8);
  ASSERT_EQ(m.opset_import_size(), 1);
  EXPECT_EQ(m.opset_import(0).domain(), "");
  EXPECT_EQ(m.opset_import(0).version(), 17);
  EXPECT_EQ(m.producer_name(), "alz");

  const onnx::GraphProto& g = m.graph();
  ASSERT_EQ(g.input_size(), 1);
  EXPECT_EQ(g.input(0).name(), "images");
  EXPECT_EQ(dims_of(g.input(0)), (std::vector<int64_t>{-1, 45, 38, 3}));  // NHWC, dynamic batch
  EXPECT_EQ(g.input(0).type().tensor_type().shape().dim(0).dim_param(), "N");
  ASSERT_EQ(g.output_size(), 1);
  EXPECT_EQ(g.output(0).name(), "probabilities");
  EXPECT_EQ(dims_of(g.output(0)), (std::vector<int64_t>{-1, 4}));

  // Op counts from the config: per block 3 convs, 3 BatchNorm + Relu, one Add; a conv shortcut
  // in the first block of each stack; a 1x1 max-pool shortcut in the strided last block of each
  // stack but the last, unless that block is also the first.
  const ResNetV2Config& c = model.config();
  int blocks = 0, pool_shortcuts = 0;
  for (size_t s = 0; s < c.blocks.size(); ++s) {
    blocks += c.blocks[s];
    if (s + 1 < c.blocks.size() && c.blocks[s] > 1) ++pool_shortcuts;
  }
  const int stacks = static_cast<int>(c.blocks.size());
  std::map<std::string, int> expected = {{"Transpose", 1},
                                         {"Conv", 1 + 3 * blocks + stacks},
                                         {"Pad", 1},
                                         {"MaxPool", 1 + pool_shortcuts},
                                         {"BatchNormalization", 3 * blocks + 1},
                                         {"Relu", 3 * blocks + 1},
                                         {"Add", blocks},
                                         {"GlobalAveragePool", 1},
                                         {"Flatten", 1},
                                         {"Gemm", 1},
                                         {"Softmax", 1}};
  std::map<std::string, int> counted;
  for (const auto& n : g.node()) ++counted[n.op_type()];
  EXPECT_EQ(counted, expected);
  EXPECT_EQ(g.node_size(), 65);  // resnetv2-tiny: 5 blocks, one pooled shortcut (conv3_block2)
  const std::vector<std::string> head = {"Transpose", "Conv", "Pad", "MaxPool", "BatchNormalization", "Relu", "Conv"};
  for (size_t i = 0; i < head.size(); ++i) EXPECT_EQ(g.node(static_cast<int>(i)).op_type(), head[i]) << i;
  EXPECT_EQ(g.node(g.node_size() - 2).op_type(), "Gemm");
  EXPECT_EQ(g.node(g.node_size() - 1).op_type(), "Softmax");

  // Every weight and buffer of the model, under its Keras name, plus the Pad's two inputs.
  std::vector<ParamRef> params = model.parameters();
  EXPECT_EQ(e.initializers.size(), params.size() + 2);
  for (const ParamRef& p : params) {
    ASSERT_TRUE(e.initializers.count(p.name)) << p.name;
    const onnx::TensorProto& t = *e.initializers.at(p.name);
    const std::vector<float> stored = floats_of(t);
    const std::vector<double> mine = p.tensor->to_vector();
    ASSERT_EQ(stored.size(), mine.size()) << p.name;
    std::vector<int64_t> dims(t.dims().begin(), t.dims().end());
    if (p.layout == KerasLayout::ConvKRSC) {  // (K, R, S, C) here, (K, C, R, S) in the file
      const Shape& s = p.tensor->shape();
      ASSERT_EQ(dims, (std::vector<int64_t>{s[0], s[3], s[1], s[2]})) << p.name;
      for (int64_t k = 0; k < s[0]; ++k)
        for (int64_t r = 0; r < s[1]; ++r)
          for (int64_t q = 0; q < s[2]; ++q)
            for (int64_t ch = 0; ch < s[3]; ++ch)
              ASSERT_EQ(stored[((k * s[3] + ch) * s[1] + r) * s[2] + q],
                        static_cast<float>(mine[((k * s[1] + r) * s[2] + q) * s[3] + ch]))
                  << p.name << " at " << k << "," << r << "," << q << "," << ch;
    } else {
      EXPECT_EQ(dims, std::vector<int64_t>(p.tensor->shape().begin(), p.tensor->shape().end())) << p.name;
      for (size_t i = 0; i < mine.size(); ++i) ASSERT_EQ(stored[i], static_cast<float>(mine[i])) << p.name << " " << i;
    }
  }

  // Keras semantics the exporter must keep.
  for (const auto& n : g.node())
    if (n.op_type() == "BatchNormalization") {
      ASSERT_NE(attribute(n, "epsilon"), nullptr) << n.name();
      EXPECT_EQ(attribute(n, "epsilon")->f(), 1.001e-5f) << n.name();
    }
  const onnx::NodeProto& conv1 = *e.nodes.at("conv1_conv");
  EXPECT_EQ(ints_of(conv1, "strides"), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(ints_of(conv1, "pads"), (std::vector<int64_t>{3, 3, 3, 3}));
  const onnx::NodeProto& pad = *e.nodes.at("pool1_pad");  // zeros, not -inf
  EXPECT_EQ(attribute(pad, "mode")->s(), "constant");
  const std::vector<int64_t> pads = {0, 0, 1, 1, 0, 0, 1, 1};
  const onnx::TensorProto& pad_amounts = *e.initializers.at(pad.input(1));
  ASSERT_EQ(pad_amounts.raw_data().size(), pads.size() * sizeof(int64_t));
  EXPECT_EQ(std::memcmp(pad_amounts.raw_data().data(), pads.data(), pad_amounts.raw_data().size()), 0);
  EXPECT_EQ(floats_of(*e.initializers.at(pad.input(2))), std::vector<float>{0.0f});
  const onnx::NodeProto& pool = *e.nodes.at("pool1_pool");
  EXPECT_EQ(ints_of(pool, "kernel_shape"), (std::vector<int64_t>{3, 3}));
  EXPECT_EQ(ints_of(pool, "strides"), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(attribute(pool, "pads"), nullptr);
  // Stride 2 in the last block of conv2..conv4: conv2_block1 (one block: conv shortcut of
  // stride 2), conv3_block2 (a pooled shortcut), conv4_block1; never in conv5.
  for (const auto& [block, stride] : std::vector<std::pair<std::string, int64_t>>{
           {"conv2_block1", 2}, {"conv3_block1", 1}, {"conv3_block2", 2}, {"conv4_block1", 2}, {"conv5_block1", 1}}) {
    const onnx::NodeProto& conv2 = *e.nodes.at(block + "_2_conv");
    EXPECT_EQ(ints_of(conv2, "strides"), (std::vector<int64_t>{stride, stride})) << block;
    EXPECT_EQ(ints_of(conv2, "pads"), (std::vector<int64_t>{1, 1, 1, 1})) << block;
  }
  EXPECT_EQ(ints_of(*e.nodes.at("conv2_block1_0_conv"), "strides"), (std::vector<int64_t>{2, 2}));
  const onnx::NodeProto& pooled = *e.nodes.at("max_pooling2d");
  EXPECT_EQ(pooled.input(0), "conv3_block1_out");  // on the raw block input, not the pre-activation
  EXPECT_EQ(ints_of(pooled, "kernel_shape"), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(ints_of(pooled, "strides"), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(e.nodes.at("conv2_block1_0_conv")->input(0), "conv2_block1_preact_relu");
  EXPECT_EQ(e.nodes.at("predictions")->op_type(), "Gemm");

  // ONNX's shape inference (run again here, from the parsed file without its value_info) gives
  // every Keras layer's output shape of the model's summary, in NCHW.
  onnx::ModelProto inferred = m;
  inferred.mutable_graph()->clear_value_info();
  onnx::shape_inference::InferShapes(inferred, onnx::OpSchemaRegistry::Instance(),
                                     onnx::ShapeInferenceOptions(true, 1));
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& v : inferred.graph().value_info()) shapes[v.name()] = dims_of(v);
  int checked = 0;
  for (const LayerSummary& row : model.summary()) {
    auto it = shapes.find(row.name);
    if (it == shapes.end() || row.output_shape.size() != 3) continue;
    const Shape& s = row.output_shape;  // (H, W, C)
    EXPECT_EQ(it->second, (std::vector<int64_t>{-1, s[2], s[0], s[1]})) << row.name;
    ++checked;
  }
  // conv1_conv, pool1_pad, pool1_pool; 10 rows per block and its shortcut layer; post_bn and
  // post_relu (conv1_pad and the _2_pad rows are the convolutions' own pads in ONNX).
  EXPECT_EQ(checked, 3 + 10 * blocks + stacks + pool_shortcuts + 2);
  EXPECT_EQ(shapes.at("avg_pool_flatten"), (std::vector<int64_t>{-1, 32}));

  std::map<std::string, std::string> meta;
  for (const auto& p : m.metadata_props()) meta[p.key()] = p.value();
  EXPECT_EQ(meta.at("model"), "resnetv2-tiny");
  EXPECT_EQ(meta.at("classes"), "4");
  EXPECT_EQ(meta.at("input_layout"), "NHWC");
  EXPECT_EQ(meta.at("class_names"), R"(["A","B","C","D"])");
  EXPECT_EQ(meta.at("source"), "test");
}

TEST(OnnxExport, RawPixelsAndLogitsVariants) {
  const std::string dir = test::fresh_temp_dir("onnx_export_variants");
  ResNetV2 model(resnet_v2_config("resnetv2-tiny", 3, 32, 32), 7);
  OnnxExportOptions options;
  options.raw_pixels = true;
  options.probabilities = false;
  export_onnx(model, dir + "/raw.onnx", options);
  Exported e = load(dir + "/raw.onnx");
  const onnx::GraphProto& g = e.proto.graph();
  EXPECT_EQ(g.output(0).name(), "logits");
  EXPECT_EQ(dims_of(g.output(0)), (std::vector<int64_t>{-1, 3}));
  EXPECT_EQ(g.node(g.node_size() - 1).op_type(), "Gemm");
  ASSERT_TRUE(e.nodes.count("preprocess_scale") && e.nodes.count("preprocess_shift"));
  EXPECT_EQ(e.nodes.at("preprocess_scale")->op_type(), "Div");  // x / 127.5 - 1, as Keras
  EXPECT_EQ(floats_of(*e.initializers.at(e.nodes.at("preprocess_scale")->input(1))), std::vector<float>{127.5f});
  EXPECT_EQ(e.nodes.at("preprocess_shift")->op_type(), "Sub");
  EXPECT_EQ(floats_of(*e.initializers.at(e.nodes.at("preprocess_shift")->input(1))), std::vector<float>{1.0f});
  EXPECT_EQ(e.nodes.at("conv1_conv")->input(0), "preprocess_shift");
}

// f64 weights and a frozen backbone export the same file content as the f32 model.
TEST(OnnxExport, F64WeightsExportAsF32) {
  const std::string dir = test::fresh_temp_dir("onnx_export_f64");
  ResNetV2 a(resnet_v2_config("resnetv2-tiny", 4, 32, 32), 9);
  ResNetV2 b(resnet_v2_config("resnetv2-tiny", 4, 32, 32), 9);
  b.cast(DType::F64);
  b.freeze_backbone(true);
  export_onnx(a, dir + "/a.onnx");
  export_onnx(b, dir + "/b.onnx");
  std::ifstream fa(dir + "/a.onnx", std::ios::binary), fb(dir + "/b.onnx", std::ios::binary);
  const std::string sa((std::istreambuf_iterator<char>(fa)), {}), sb((std::istreambuf_iterator<char>(fb)), {});
  EXPECT_GT(sa.size(), 20000u);
  EXPECT_TRUE(sa == sb);
}

TEST(OnnxExport, ErrorsNameTheFileAndLeaveNothing) {
  const std::string dir = test::fresh_temp_dir("onnx_export_errors");
  ResNetV2 model(resnet_v2_config("resnetv2-tiny", 4, 32, 32), 1);
  const std::string missing = dir + "/no/such/folder/model.onnx";
  std::string message = test::error_message([&] { export_onnx(model, missing); });
  EXPECT_NE(message.find(missing), std::string::npos) << message;
  OnnxExportOptions options;
  options.class_names = {"only", "three", "names"};
  message = test::error_message([&] { export_onnx(model, dir + "/model.onnx", options); });
  EXPECT_NE(message.find("3 class names for a model of 4 classes"), std::string::npos) << message;
  EXPECT_TRUE(std::filesystem::is_empty(dir));
}

}  // namespace
}  // namespace alz
