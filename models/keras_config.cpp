// Keras model configurations: reading the facts alz needs, writing a ResNetV2's (models/keras_config.h).
#include "models/keras_config.h"

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace alz {

using nlohmann::json;

KerasModelConfig parse_keras_config(const std::string& text, const std::string& where) {
  json root;
  try {
    root = json::parse(text);
  } catch (const json::exception& error) {
    ALZ_FAIL(where << ": not JSON (" << error.what() << ")");
  }
  ALZ_CHECK(root.is_object() && root.contains("config") && root["config"].is_object(),
            where << ": not a Keras model config (no \"config\" object)");
  const json& config = root["config"];
  ALZ_CHECK(config.contains("layers") && config["layers"].is_array(),
            where << ": not a functional Keras model (no \"config.layers\" list; class "
                  << root.value("class_name", std::string("?")) << ")");
  KerasModelConfig out;
  if (config.contains("name") && config["name"].is_string()) out.name = config["name"];
  for (const json& layer : config["layers"]) {
    if (!layer.is_object()) continue;
    std::string cls = layer.value("class_name", std::string());
    const json& settings = layer.contains("config") && layer["config"].is_object() ? layer["config"] : json::object();
    std::string name = layer.value("name", settings.value("name", std::string()));
    if (!name.empty()) out.layer_class[name] = cls;
    if (cls == "InputLayer") {
      for (const char* key : {"batch_shape", "batch_input_shape"}) {
        if (!settings.contains(key) || !settings[key].is_array()) continue;
        const json& shape = settings[key];
        ALZ_CHECK(shape.size() == 4, where << ": the input layer's " << key << " " << shape.dump()
                                           << " is not (batch, height, width, channels)");
        out.input_height = shape[1].is_number_integer() ? shape[1].get<int>() : 0;
        out.input_width = shape[2].is_number_integer() ? shape[2].get<int>() : 0;
      }
    } else if (cls == "Dense") {
      ALZ_CHECK(settings.contains("units") && settings["units"].is_number_integer(),
                where << ": Dense layer '" << name << "' has no integer units");
      out.classes = settings["units"];
    }
  }
  return out;
}

std::string keras_model_name(const ResNetV2Config& config) {
  return config.name.find(':') == std::string::npos ? config.name : "resnetv2";
}

namespace {

json dtype_policy() {
  return {{"module", "keras"},
          {"class_name", "DTypePolicy"},
          {"config", {{"name", "float32"}}},
          {"registered_name", nullptr}};
}

json initializer(const char* cls) {
  return {
      {"module", "keras.initializers"}, {"class_name", cls}, {"config", json::object()}, {"registered_name", nullptr}};
}

json with_batch(const Shape& shape) {
  json out = json::array({nullptr});
  for (int64_t d : shape) out.push_back(d);
  return out;
}

// The settings of one layer, as Keras 3 writes them.
json layer_settings(const KerasLayer& layer) {
  json c = {{"name", layer.name}, {"trainable", true}, {"dtype", dtype_policy()}};
  if (layer.type == "ZeroPadding2D") {
    c["padding"] = {{layer.pad, layer.pad}, {layer.pad, layer.pad}};
    c["data_format"] = "channels_last";
  } else if (layer.type == "Conv2D") {
    c["filters"] = layer.filters;
    c["kernel_size"] = {layer.kernel, layer.kernel};
    c["strides"] = {layer.stride, layer.stride};
    c["padding"] = "valid";
    c["data_format"] = "channels_last";
    c["dilation_rate"] = {1, 1};
    c["groups"] = 1;
    c["activation"] = "linear";
    c["use_bias"] = layer.use_bias;
    c["kernel_initializer"] = initializer("GlorotUniform");
    c["bias_initializer"] = initializer("Zeros");
    for (const char* key :
         {"kernel_regularizer", "bias_regularizer", "activity_regularizer", "kernel_constraint", "bias_constraint"})
      c[key] = nullptr;
  } else if (layer.type == "MaxPooling2D") {
    c["pool_size"] = {layer.kernel, layer.kernel};
    c["padding"] = "valid";
    c["strides"] = {layer.stride, layer.stride};
    c["data_format"] = "channels_last";
  } else if (layer.type == "BatchNormalization") {
    c["axis"] = 3;
    c["momentum"] = 0.99;
    c["epsilon"] = 1.001e-5;
    c["center"] = true;
    c["scale"] = true;
    c["beta_initializer"] = initializer("Zeros");
    c["gamma_initializer"] = initializer("Ones");
    c["moving_mean_initializer"] = initializer("Zeros");
    c["moving_variance_initializer"] = initializer("Ones");
    for (const char* key : {"beta_regularizer", "gamma_regularizer", "beta_constraint", "gamma_constraint"})
      c[key] = nullptr;
    c["synchronized"] = false;
  } else if (layer.type == "Activation") {
    c["activation"] = "relu";
  } else if (layer.type == "GlobalAveragePooling2D") {
    c["data_format"] = "channels_last";
    c["keepdims"] = false;
  } else if (layer.type == "Dense") {
    c["units"] = layer.filters;
    c["activation"] = "softmax";
    c["use_bias"] = true;
    c["kernel_initializer"] = initializer("GlorotUniform");
    c["bias_initializer"] = initializer("Zeros");
    for (const char* key : {"kernel_regularizer", "bias_regularizer", "kernel_constraint", "bias_constraint"})
      c[key] = nullptr;
  }
  return c;
}

}  // namespace

std::string keras_functional_config(const ResNetV2& model) {
  const std::vector<KerasLayer>& layers = model.keras_layers();
  std::map<std::string, const KerasLayer*> by_name;
  for (const KerasLayer& layer : layers) by_name[layer.name] = &layer;
  auto tensor_ref = [&](const std::string& name) {
    const KerasLayer& from = *by_name.at(name);
    return json{
        {"class_name", "__keras_tensor__"},
        {"config", {{"shape", with_batch(from.output_shape)}, {"dtype", "float32"}, {"keras_history", {name, 0, 0}}}}};
  };
  json entries = json::array();
  for (const KerasLayer& layer : layers) {
    json entry = {
        {"module", "keras.layers"}, {"class_name", layer.type}, {"registered_name", nullptr}, {"name", layer.name}};
    if (layer.type == "InputLayer") {
      entry["config"] = {{"batch_shape", with_batch(layer.output_shape)},
                         {"dtype", "float32"},
                         {"sparse", false},
                         {"ragged", false},
                         {"name", layer.name},
                         {"optional", false}};
      entry["inbound_nodes"] = json::array();
      entries.push_back(entry);
      continue;
    }
    entry["config"] = layer_settings(layer);
    json args = json::array();
    json input_shapes = json::array();
    for (const std::string& input : layer.inputs) {
      args.push_back(tensor_ref(input));
      input_shapes.push_back(with_batch(by_name.at(input)->output_shape));
    }
    bool many = layer.inputs.size() > 1;  // Add takes a list
    entry["build_config"] = {{"input_shape", many ? input_shapes : input_shapes[0]}};
    json kwargs = json::object();
    if (layer.type == "BatchNormalization") kwargs["mask"] = nullptr;
    entry["inbound_nodes"] = json::array({{{"args", many ? json::array({args}) : args}, {"kwargs", kwargs}}});
    entries.push_back(entry);
  }
  json config = {{"name", keras_model_name(model.config())},
                 {"trainable", true},
                 {"layers", entries},
                 {"input_layers", {layers.front().name, 0, 0}},
                 {"output_layers", {layers.back().name, 0, 0}}};
  json root = {{"module", "keras.src.models.functional"},
               {"class_name", "Functional"},
               {"config", config},
               {"registered_name", "Functional"},
               {"build_config", {{"input_shape", nullptr}}},
               {"compile_config", nullptr}};
  return root.dump();
}

}  // namespace alz
