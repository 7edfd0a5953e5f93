// ResNetV2 (models/resnet_v2.h): construction with Keras names, forward, summary.
#include "models/resnet_v2.h"

#include <cstdio>
#include <map>
#include <sstream>

#include "core/error.h"

namespace alz {

namespace {

int strided(int size, int stride) { return (size - 1) / stride + 1; }  // 1x1 (or padded 3x3) valid conv

std::string with_commas(int64_t value) {
  std::string digits = std::to_string(value), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

}  // namespace

namespace {

// "resnetv2:stem64:2x4,2x8" -> stem 64, blocks {2, 2}, filters {4, 8}; false when malformed.
bool parse_spec_name(const std::string& name, ResNetV2Config& c) {
  const std::string prefix = "resnetv2:stem";
  if (name.rfind(prefix, 0) != 0) return false;
  std::istringstream in(name.substr(prefix.size()));
  char colon = 0;
  if (!(in >> c.stem_filters >> colon) || colon != ':' || c.stem_filters < 1) return false;
  c.blocks.clear();
  c.filters.clear();
  for (;;) {
    int blocks = 0, filters = 0;
    char x = 0;
    if (!(in >> blocks >> x >> filters) || x != 'x' || blocks < 1 || filters < 1) return false;
    c.blocks.push_back(blocks);
    c.filters.push_back(filters);
    char comma = 0;
    if (!(in >> comma)) return true;
    if (comma != ',') return false;
  }
}

}  // namespace

std::string resnet_v2_spec_name(const ResNetV2Config& config) {
  std::string name = "resnetv2:stem" + std::to_string(config.stem_filters) + ":";
  for (size_t i = 0; i < config.blocks.size(); ++i) {
    if (i) name += ',';
    name += std::to_string(config.blocks[i]);
    name += 'x';
    name += std::to_string(config.filters[i]);
  }
  return name;
}

std::string resnet_v2_name_for(const ResNetV2Config& config) {
  for (const std::string& name : resnet_v2_names()) {
    ResNetV2Config named = resnet_v2_config(name, 2, 32, 32);
    if (named.blocks == config.blocks && named.filters == config.filters && named.stem_filters == config.stem_filters)
      return name;
  }
  return resnet_v2_spec_name(config);
}

ResNetV2Config resnet_v2_config(const std::string& name, int classes, int input_height, int input_width) {
  ResNetV2Config c;
  c.name = name;
  c.classes = classes;
  c.input_height = input_height;
  c.input_width = input_width;
  if (name == "resnet50v2") {
    c.blocks = {3, 4, 6, 3};
  } else if (name == "resnet101v2") {
    c.blocks = {3, 4, 23, 3};
  } else if (name == "resnet152v2") {
    c.blocks = {3, 8, 36, 3};
  } else if (name == "resnetv2-small") {  // about 1.1 M parameters: trains on a CPU in minutes
    c.blocks = {2, 2, 2, 2};
    c.filters = {16, 32, 64, 128};
    c.stem_filters = 32;
    c.bn_momentum = 0.9;
  } else if (name == "resnetv2-tiny") {  // a few thousand parameters: unit tests
    c.blocks = {1, 2, 1, 1};
    c.filters = {4, 4, 8, 8};
    c.stem_filters = 8;
    c.bn_momentum = 0.9;
  } else if (!parse_spec_name(name, c)) {
    ALZ_FAIL("unknown model '" << name
                               << "'; known: resnet50v2, resnet101v2, resnet152v2, resnetv2-small, "
                                  "resnetv2-tiny, or resnetv2:stem<S>:<blocks>x<filters>,... (e.g. "
                                  "resnetv2:stem64:2x4,2x8)");
  }
  ALZ_CHECK(classes >= 2, "a classifier needs at least 2 classes; got " << classes);
  ALZ_CHECK(input_height >= 32 && input_width >= 32,
            "input size must be at least 32x32 (as Keras's ResNetV2); got " << input_height << "x" << input_width);
  return c;
}

std::vector<std::string> resnet_v2_names() {
  return {"resnet50v2", "resnet101v2", "resnet152v2", "resnetv2-small", "resnetv2-tiny"};
}

// ---------------------------------------------------------------- block

ResNetV2Block::ResNetV2Block(const std::string& name, int64_t in_channels, int filters, int stride, bool conv_shortcut,
                             double bn_momentum, Generator& gen)
    : Module(name),
      filters_(filters),
      stride_(stride),
      preact_(name + "_preact_bn", in_channels, true, bn_momentum),
      shortcut_(conv_shortcut
                    ? std::make_unique<Conv2D>(name + "_0_conv", in_channels, 4 * filters, 1, stride, true, gen)
                    : nullptr),
      conv1_(name + "_1_conv", in_channels, filters, 1, 1, false, gen),
      bn1_(name + "_1_bn", filters, true, bn_momentum),
      conv2_(name + "_2_conv", filters, filters, 3, stride, false, gen),
      bn2_(name + "_2_bn", filters, true, bn_momentum),
      conv3_(name + "_3_conv", filters, 4 * filters, 1, 1, true, gen) {
  ALZ_CHECK(conv_shortcut || in_channels == 4 * filters,
            name << ": an identity shortcut needs " << 4 * filters << " input channels; got " << in_channels);
  add_child(preact_);
  if (shortcut_) add_child(*shortcut_);
  add_child(conv1_);
  add_child(bn1_);
  add_child(conv2_);
  add_child(bn2_);
  add_child(conv3_);
}

Tensor ResNetV2Block::forward(const Tensor& x) {
  Tensor preact = preact_.forward(x);  // _preact_bn + _preact_relu
  Tensor shortcut;
  if (shortcut_)
    shortcut = shortcut_->forward(preact);  // _0_conv on the pre-activation
  else if (stride_ > 1)
    shortcut = ops::max_pool2d(x, {1, 1, stride_, stride_, {}});  // on the raw input
  else
    shortcut = x;
  Tensor h = bn1_.forward(conv1_.forward(preact));    // _1_conv, _1_bn, _1_relu
  h = bn2_.forward(conv2_.forward(h, {1, 1, 1, 1}));  // _2_pad + _2_conv, _2_bn, _2_relu
  return conv3_.forward_add(h, shortcut);  // _3_conv and _out (the Add) as one op: ops::conv2d_add
}

// ---------------------------------------------------------------- model

ResNetV2::ResNetV2(const ResNetV2Config& config, uint64_t seed) : Module(config.name), config_(config) {
  ALZ_CHECK(config.blocks.size() == config.filters.size() && !config.blocks.empty(),
            config.name << ": blocks and filters must name the same, non-zero number of stacks");
  Generator gen(seed);
  add_layer("input_layer", "InputLayer", {config.input_height, config.input_width, 3});
  build_stem(gen);
  int64_t channels = config.stem_filters;
  int height = static_cast<int>(layers_.back().output_shape[0]),
      width = static_cast<int>(layers_.back().output_shape[1]);
  for (int i = 0; i < static_cast<int>(config.blocks.size()); ++i) build_stack(i, channels, height, width, gen);
  build_head(channels, height, width, gen);
  // Each row's weights and count, from the tensors themselves (Keras's order: kernel, bias;
  // gamma, beta, moving_mean, moving_variance).
  std::map<std::string, std::vector<const ParamRef*>> by_layer;
  std::vector<ParamRef> params = parameters();
  for (const ParamRef& p : params) by_layer[p.name.substr(0, p.name.find('/'))].push_back(&p);
  for (KerasLayer& layer : layers_) {
    for (const ParamRef* p : by_layer[layer.name]) {
      layer.weights.push_back(p->name);
      layer.params += p->tensor->numel();
    }
  }
}

KerasLayer& ResNetV2::add_layer(const std::string& name, const std::string& type, Shape output_shape,
                                std::vector<std::string> inputs) {
  if (inputs.empty() && !layers_.empty()) inputs = {layers_.back().name};  // a chain, unless told
  KerasLayer layer;
  layer.name = name;
  layer.type = type;
  layer.output_shape = std::move(output_shape);
  layer.inputs = std::move(inputs);
  layers_.push_back(std::move(layer));
  return layers_.back();
}

void ResNetV2::build_stem(Generator& gen) {
  int h = config_.input_height + 6, w = config_.input_width + 6;
  add_layer("conv1_pad", "ZeroPadding2D", {h, w, 3}).pad = 3;
  conv1_ = std::make_unique<Conv2D>("conv1_conv", 3, config_.stem_filters, 7, 2, true, gen);
  add_child(*conv1_);
  h = (h - 7) / 2 + 1;
  w = (w - 7) / 2 + 1;
  KerasLayer& conv = add_layer("conv1_conv", "Conv2D", {h, w, config_.stem_filters});
  conv.filters = config_.stem_filters, conv.kernel = 7, conv.stride = 2, conv.use_bias = true;
  add_layer("pool1_pad", "ZeroPadding2D", {h + 2, w + 2, config_.stem_filters}).pad = 1;
  KerasLayer& pool = add_layer("pool1_pool", "MaxPooling2D", {(h - 1) / 2 + 1, (w - 1) / 2 + 1, config_.stem_filters});
  pool.kernel = 3, pool.stride = 2;
}

void ResNetV2::build_stack(int index, int64_t& channels, int& height, int& width, Generator& gen) {
  int filters = config_.filters[index], blocks = config_.blocks[index];
  bool last_stack = index + 1 == static_cast<int>(config_.blocks.size());
  std::string stack = "conv" + std::to_string(index + 2);
  auto conv = [](KerasLayer& row, int filters, int kernel, int stride, bool bias) {
    row.filters = filters, row.kernel = kernel, row.stride = stride, row.use_bias = bias;
  };
  for (int b = 1; b <= blocks; ++b) {
    int stride = (b == blocks && !last_stack) ? 2 : 1;
    bool conv_shortcut = b == 1;
    std::string name = stack + "_block" + std::to_string(b);
    std::string block_input = layers_.back().name;
    blocks_.push_back(
        std::make_unique<ResNetV2Block>(name, channels, filters, stride, conv_shortcut, config_.bn_momentum, gen));
    add_child(*blocks_.back());
    int out_h = strided(height, stride), out_w = strided(width, stride);
    int64_t out_c = 4 * int64_t{filters};
    // Keras's order (model.layers, by depth in the graph): the main path up to _2_relu, then
    // the shortcut, then _3_conv and the Add.
    add_layer(name + "_preact_bn", "BatchNormalization", {height, width, channels});
    add_layer(name + "_preact_relu", "Activation", {height, width, channels});
    conv(add_layer(name + "_1_conv", "Conv2D", {height, width, filters}), filters, 1, 1, false);
    add_layer(name + "_1_bn", "BatchNormalization", {height, width, filters});
    add_layer(name + "_1_relu", "Activation", {height, width, filters});
    add_layer(name + "_2_pad", "ZeroPadding2D", {height + 2, width + 2, filters}).pad = 1;
    conv(add_layer(name + "_2_conv", "Conv2D", {out_h, out_w, filters}), filters, 3, stride, false);
    add_layer(name + "_2_bn", "BatchNormalization", {out_h, out_w, filters});
    add_layer(name + "_2_relu", "Activation", {out_h, out_w, filters});
    std::string shortcut = block_input;
    if (conv_shortcut) {
      shortcut = name + "_0_conv";
      conv(add_layer(shortcut, "Conv2D", {out_h, out_w, out_c}, {name + "_preact_relu"}), static_cast<int>(out_c), 1,
           stride, true);
    } else if (stride > 1) {  // Keras leaves this layer unnamed: max_pooling2d, max_pooling2d_1, ...
      shortcut = "max_pooling2d";
      if (shortcut_pools_ > 0) shortcut.append("_").append(std::to_string(shortcut_pools_));
      ++shortcut_pools_;
      KerasLayer& pool = add_layer(shortcut, "MaxPooling2D", {out_h, out_w, channels}, {block_input});
      pool.kernel = 1, pool.stride = stride;
    }
    conv(add_layer(name + "_3_conv", "Conv2D", {out_h, out_w, out_c}, {name + "_2_relu"}), static_cast<int>(out_c), 1,
         1, true);
    add_layer(name + "_out", "Add", {out_h, out_w, out_c}, {shortcut, name + "_3_conv"});
    channels = out_c;
    height = out_h;
    width = out_w;
  }
}

void ResNetV2::build_head(int64_t channels, int height, int width, Generator& gen) {
  post_bn_ = std::make_unique<BatchNormReLU>("post_bn", channels, true, config_.bn_momentum);
  predictions_ = std::make_unique<Dense>("predictions", channels, config_.classes, gen);
  add_child(*post_bn_);
  add_child(*predictions_);
  add_layer("post_bn", "BatchNormalization", {height, width, channels});
  add_layer("post_relu", "Activation", {height, width, channels});
  add_layer("avg_pool", "GlobalAveragePooling2D", {channels});
  add_layer("predictions", "Dense", {config_.classes}).filters = config_.classes;
}

Tensor ResNetV2::forward(const Tensor& images) { return classify(features(images)); }

Tensor ResNetV2::features(const Tensor& images) {
  ALZ_CHECK(images.ndim() == 4 && images.dim(3) == 3,
            config_.name << ": expects images (N, H, W, 3); got " << images.summary());
  ALZ_CHECK(images.dim(1) >= 32 && images.dim(2) >= 32,
            config_.name << ": images must be at least 32x32; got " << images.summary());
  // Mixed precision (layers/module.h): the images enter in the compute dtype.
  Tensor x = compute_dtype() ? ops::cast(images, *compute_dtype()) : images;
  x = conv1_->forward(x, {3, 3, 3, 3});                // conv1_pad + conv1_conv
  x = ops::max_pool2d(x, {3, 3, 2, 2, {1, 1, 1, 1}});  // pool1_pad + pool1_pool
  for (auto& block : blocks_) x = block->forward(x);   // conv2 .. conv5
  return post_bn_->forward(x);                         // post_bn + post_relu
}

Tensor ResNetV2::classify(const Tensor& features) {
  Tensor x = ops::global_avg_pool(features);  // avg_pool
  Tensor logits = predictions_->forward(x);   // predictions (logits)
  // Mixed precision: the logits leave in f32, so the softmax and the loss run in f32.
  return logits.dtype() == DType::BF16 ? ops::cast(logits, DType::F32) : logits;
}

void ResNetV2::freeze_backbone(bool frozen) {
  set_trainable(!frozen);
  predictions_->set_trainable(true);
}

std::string ResNetV2::summary_text() const {
  std::ostringstream out;
  char line[256];
  std::snprintf(line, sizeof line, "Model: \"%s\"\n", config_.name.c_str());
  out << line;
  std::string rule(96, '_'), double_rule(96, '=');
  out << rule << "\n";
  std::snprintf(line, sizeof line, " %-44s %-30s %-14s\n", "Layer (type)", "Output Shape", "Param #");
  out << line << double_rule << "\n";
  int64_t total = 0;
  for (const KerasLayer& row : layers_) {
    std::string shape = "(None";
    for (int64_t d : row.output_shape) shape += ", " + std::to_string(d);
    shape += ")";
    std::string layer = row.name + " (" + row.type + ")";
    std::snprintf(line, sizeof line, " %-44s %-30s %-14s\n", layer.c_str(), shape.c_str(),
                  with_commas(row.params).c_str());
    out << line;
    total += row.params;
  }
  // Non-trainable: the BatchNorm moving statistics, plus every weight of a frozen module.
  int64_t trainable = 0;
  for (const ParamRef& p : const_cast<ResNetV2*>(this)->parameters())
    if (p.trainable) trainable += p.tensor->numel();
  out << double_rule << "\n";
  out << "Total params: " << with_commas(total) << "\n";
  out << "Trainable params: " << with_commas(trainable) << "\n";
  out << "Non-trainable params: " << with_commas(total - trainable) << "\n";
  out << rule << "\n";
  return out.str();
}

}  // namespace alz
