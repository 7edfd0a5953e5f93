// Fuzz target: the dataset manifest CSV reader (data/dataset.h parse_manifest): header, quoting,
// field counts, BOM, paths; then the group-aware validation split of what it read.
#include "data/dataset.h"
#include "fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return alz::fuzz::run_expecting_clean_errors([&] {
    const std::string& path = alz::fuzz::write_input_file(data, size, ".csv");
    alz::data::DatasetIndex index = alz::data::parse_manifest(path);
    (void)index.describe();
    (void)alz::data::with_validation_split(index, 0.25, 3);
  });
}
