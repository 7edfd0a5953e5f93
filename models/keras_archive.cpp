// .keras archives (models/keras_archive.h).
#include "models/keras_archive.h"

#include <ctime>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "models/hdf5_file.h"
#include "models/keras_config.h"
#include "models/keras_h5.h"
#include "models/zip_archive.h"

namespace alz {

SafetensorsFile read_keras_archive(const std::string& path) {
  ZipReader zip(path);
  ALZ_CHECK(zip.has("model.weights.h5"), path << ": a zip archive without model.weights.h5, so not a Keras model "
                                                 "with weights (members: "
                                              << zip.member_list() << ")");
  KerasModelConfig config;
  bool has_config = zip.has("config.json");
  if (has_config) config = parse_keras_config(zip.read("config.json", kMaxAttributeBytes), path + ": config.json");
  std::string keras_version;
  if (zip.has("metadata.json")) {
    try {
      auto meta = nlohmann::json::parse(zip.read("metadata.json", kMaxAttributeBytes));
      if (meta.is_object() && meta.contains("keras_version") && meta["keras_version"].is_string())
        keras_version = meta["keras_version"];
    } catch (const nlohmann::json::exception& error) {
      ALZ_FAIL(path << ": metadata.json is not JSON (" << error.what() << ")");
    }
  }
  H5File weights =
      H5File::open_image(path + ": model.weights.h5", zip.read("model.weights.h5", kMaxArchiveWeightsBytes));
  SafetensorsFile out = read_keras3_weights(weights, has_config ? &config : nullptr);
  out.path = path;
  out.metadata["format"] = "keras";
  if (!keras_version.empty()) out.metadata["keras_version"] = keras_version;
  return out;
}

std::string keras_archive_bytes(ResNetV2& model, const std::string& name_for_messages) {
  char date[32];
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  std::strftime(date, sizeof date, "%Y-%m-%d@%H:%M:%S", &utc);
  // The Keras version whose format this follows (checked with it by tests/keras_roundtrip.py).
  nlohmann::json metadata = {{"keras_version", "3.15.1"}, {"date_saved", date}};
  std::vector<ZipMember> members = {
      {"metadata.json", metadata.dump()},
      {"config.json", keras_functional_config(model)},
      {"model.weights.h5", keras3_weights_h5_bytes(model, name_for_messages + ": model.weights.h5")},
  };
  return make_zip(members, name_for_messages);
}

}  // namespace alz
