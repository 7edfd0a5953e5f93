// Fuzz target: every weights format alz reads (models/weights_file.h), told apart by their
// first bytes: Keras's legacy HDF5 (.h5, weights only or a full model), Keras 3 .weights.h5
// (HDF5) and .keras archives (zip), and safetensors. A file that reads is then checked the
// way `alz predict` and `alz train --init-from` use it: the ResNetV2 its names describe, and
// a transfer report against a tiny model.
#include <cstdlib>

#include "fuzz/fuzz_target.h"
#include "models/resnet_v2.h"
#include "models/weights_file.h"

// A corrupt file can send HDF5 into a loop; the reader's child process is then stopped after
// this many seconds (models/sandbox.h) instead of the default two minutes.
static const int kShortReadLimit = ::setenv("ALZ_READ_TIME_LIMIT", "2", /*overwrite=*/0);

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return alz::fuzz::run_expecting_clean_errors([&] {
    const std::string& path = alz::fuzz::write_input_file(data, size, ".weights");
    alz::SafetensorsFile file = alz::read_weights_file(path);
    (void)alz::is_keras_file(file);
    try {
      (void)alz::infer_resnet_v2(file);
    } catch (const alz::Error&) {  // not a ResNetV2: the transfer report below still runs
    }
    alz::ResNetV2 tiny(alz::resnet_v2_config("resnetv2-tiny", 4, 32, 32), 1);
    (void)alz::describe_transfer(alz::load_weights_file(file, tiny, alz::LoadMode::Partial));
  });
}
