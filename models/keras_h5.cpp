// Keras's HDF5 weight files: legacy, full-model and Keras 3 layouts (models/keras_h5.h).
#include "models/keras_h5.h"

#include <algorithm>
#include <set>

#include "core/error.h"
#include "models/checkpoint.h"
#include "models/hdf5_file.h"

namespace alz {

namespace {

// "conv1_conv/kernel:0" -> "kernel"; "gamma" -> "gamma".
std::string weight_base_name(std::string name) {
  if (name.size() > 2 && name.compare(name.size() - 2, 2, ":0") == 0) name.resize(name.size() - 2);
  size_t slash = name.rfind('/');
  return slash == std::string::npos ? name : name.substr(slash + 1);
}

void add_tensor(SafetensorsFile& out, std::set<std::string>& seen, const std::string& name, Tensor tensor) {
  ALZ_CHECK(seen.insert(name).second, out.path << ": the weight '" << name << "' appears twice");
  out.tensors.push_back({name, std::move(tensor)});
}

void add_config_metadata(SafetensorsFile& out, const KerasModelConfig& config) {
  if (!config.name.empty()) out.metadata["keras_name"] = config.name;
  if (config.classes > 0) out.metadata["classes"] = std::to_string(config.classes);
  if (config.input_height > 0 && config.input_width > 0)
    out.metadata["input_size"] = std::to_string(config.input_height) + "x" + std::to_string(config.input_width);
}

// Keras 2 / tf.keras layout below `root` ("/" or "/model_weights").
void read_legacy_layers(const H5File& file, const std::string& root, SafetensorsFile& out) {
  std::string prefix = root == "/" ? "" : root + "/";
  std::set<std::string> seen;
  for (const std::string& layer : file.string_attribute(root, "layer_names")) {
    std::string group = prefix + layer;
    ALZ_CHECK(file.has_group(group),
              file.name() << ": layer_names lists '" << layer << "' but there is no group '" << group << "'");
    for (const std::string& weight : file.string_attribute(group, "weight_names")) {
      std::string dataset = group + "/" + weight;
      ALZ_CHECK(file.has_dataset(dataset), file.name() << ": layer '" << layer << "' names the weight '" << weight
                                                       << "' but there is no dataset '" << dataset << "'");
      add_tensor(out, seen, layer + "/" + weight_base_name(weight), file.read_f32(dataset));
    }
  }
}

// The Keras weight names of a layer class's variables, in Keras's order.
const std::vector<std::string>* variable_names(const std::string& keras_class) {
  static const std::map<std::string, std::vector<std::string>> kNames = {
      {"Conv2D", {"kernel", "bias"}},
      {"BatchNormalization", {"gamma", "beta", "moving_mean", "moving_variance"}},
      {"Dense", {"kernel", "bias"}},
  };
  auto it = kNames.find(keras_class);
  return it == kNames.end() ? nullptr : &it->second;
}

// "conv2d_12" -> "Conv2D", "batch_normalization" -> "BatchNormalization"; "" when unknown.
std::string class_from_group(std::string group) {
  size_t underscore = group.rfind('_');
  if (underscore != std::string::npos && underscore + 1 < group.size() &&
      std::all_of(group.begin() + static_cast<long>(underscore) + 1, group.end(), ::isdigit))
    group.resize(underscore);
  static const std::map<std::string, std::string> kClasses = {
      {"conv2d", "Conv2D"}, {"batch_normalization", "BatchNormalization"}, {"dense", "Dense"}};
  auto it = kClasses.find(group);
  return it == kClasses.end() ? group : it->second;
}

// Keras's naming.to_snake_case for the classes a ResNetV2 has.
std::string snake_case(const std::string& keras_class) {
  static const std::map<std::string, std::string> kSnake = {
      {"InputLayer", "input_layer"},
      {"ZeroPadding2D", "zero_padding2d"},
      {"Conv2D", "conv2d"},
      {"MaxPooling2D", "max_pooling2d"},
      {"BatchNormalization", "batch_normalization"},
      {"Activation", "activation"},
      {"Add", "add"},
      {"GlobalAveragePooling2D", "global_average_pooling2d"},
      {"Dense", "dense"},
  };
  return kSnake.at(keras_class);
}

}  // namespace

SafetensorsFile read_keras3_weights(const H5File& file, const KerasModelConfig* config) {
  SafetensorsFile out;
  out.path = file.name();
  out.metadata["format"] = "keras-weights-h5";
  if (config) add_config_metadata(out, *config);
  std::set<std::string> seen;
  for (const std::string& group : file.children("layers")) {
    std::string base = "layers/" + group;
    ALZ_CHECK(!file.has_group(base + "/layers"),
              file.name() << ": '" << base << "' is a nested model; alz reads a single functional ResNetV2");
    std::string vars = base + "/vars";
    if (!file.has_group(vars)) continue;
    std::vector<std::string> values =
        file.has_attribute(vars, "name") ? file.string_attribute(vars, "name") : std::vector<std::string>{};
    ALZ_CHECK(values.size() == 1 && !values[0].empty(),
              file.name() << ": '" << vars << "' has no 'name' attribute naming its layer");
    const std::string& layer = values[0];
    int count = 0;
    while (file.has_dataset(vars + "/" + std::to_string(count))) ++count;
    if (count == 0) continue;
    std::string keras_class = class_from_group(group);
    if (config && config->layer_class.count(layer)) keras_class = config->layer_class.at(layer);
    const std::vector<std::string>* names = variable_names(keras_class);
    ALZ_CHECK(names, file.name() << ": layer '" << layer << "' is a " << keras_class
                                 << " with weights; a ResNetV2 has only Conv2D, BatchNormalization and Dense");
    ALZ_CHECK(count <= static_cast<int>(names->size()), file.name() << ": layer '" << layer << "' (" << keras_class
                                                                    << ") holds " << count << " variables, at most "
                                                                    << names->size() << " expected");
    for (int i = 0; i < count; ++i)
      add_tensor(out, seen, layer + "/" + (*names)[i], file.read_f32(vars + "/" + std::to_string(i)));
  }
  return out;
}

SafetensorsFile read_keras_h5(const std::string& path) {
  H5File file = H5File::open(path);
  SafetensorsFile out;
  out.path = path;
  if (file.has_attribute("/", "layer_names") || file.has_attribute("/", "layer_names0")) {
    out.metadata["format"] = "keras-h5";
    read_legacy_layers(file, "/", out);
  } else if (file.has_group("model_weights")) {
    out.metadata["format"] = "keras-h5-model";
    if (file.has_attribute("/", "model_config")) {
      std::vector<std::string> text = file.string_attribute("/", "model_config");
      ALZ_CHECK(text.size() == 1, path << ": model_config is not one string");
      add_config_metadata(out, parse_keras_config(text[0], path + ": model_config"));
    }
    read_legacy_layers(file, "/model_weights", out);
  } else if (file.has_group("layers")) {
    return read_keras3_weights(file, nullptr);
  } else {
    std::string found;
    for (const std::string& name : file.children("/")) {
      found += found.empty() ? "" : ", ";
      found += name;
    }
    ALZ_FAIL(path << ": an HDF5 file, but not Keras weights (no layer_names attribute, model_weights or layers "
                     "group; it holds: "
                  << (found.empty() ? "nothing" : found) << ")");
  }
  return out;
}

std::string keras_legacy_h5_bytes(ResNetV2& model, const std::string& name_for_messages) {
  std::map<std::string, Tensor> tensors;
  for (NamedTensor& named : keras_weights(model)) tensors[named.name] = named.tensor;
  H5File file = H5File::create_in_memory(name_for_messages);
  std::vector<std::string> layer_names;
  for (const KerasLayer& layer : model.keras_layers()) layer_names.push_back(layer.name);
  file.write_string_list("/", "layer_names", layer_names);
  file.write_string("/", "backend", "tensorflow");  // the layout of tf.keras / keras.applications files
  file.write_string("/", "keras_version", "2.15.0");
  // Keras writes the groups sorted by name (no group name is then a prefix of a later one).
  std::vector<const KerasLayer*> sorted;
  for (const KerasLayer& layer : model.keras_layers()) sorted.push_back(&layer);
  std::sort(sorted.begin(), sorted.end(), [](const KerasLayer* a, const KerasLayer* b) { return a->name < b->name; });
  for (const KerasLayer* layer : sorted) {
    file.create_group(layer->name);
    file.write_string_list(layer->name, "weight_names", layer->weights);
    for (const std::string& weight : layer->weights) file.write_f32(layer->name + "/" + weight, tensors.at(weight));
  }
  return file.image();
}

std::string keras3_weights_h5_bytes(ResNetV2& model, const std::string& name_for_messages) {
  std::map<std::string, Tensor> tensors;
  for (NamedTensor& named : keras_weights(model)) tensors[named.name] = named.tensor;
  H5File file = H5File::create_in_memory(name_for_messages);
  file.create_group("layers");
  std::map<std::string, int> used;  // per class: how many groups so far
  for (const KerasLayer& layer : model.keras_layers()) {
    std::string group = snake_case(layer.type);
    int k = used[group]++;
    if (k > 0) group += "_" + std::to_string(k);
    std::string vars = "layers/" + group + "/vars";
    file.create_group(vars);
    file.write_string(vars, "name", layer.name);
    for (size_t i = 0; i < layer.weights.size(); ++i)
      file.write_f32(vars + "/" + std::to_string(i), tensors.at(layer.weights[i]));
  }
  file.create_group("vars");
  file.write_string("vars", "name", keras_model_name(model.config()));
  return file.image();
}

}  // namespace alz
