// Fuzz target: a run folder's state.json as `alz train --resume` reads it
// (train/run_state.h read_saved_run): the saved state, the saved configuration, and the resume
// rule that merges it with the command line (config_for_resume).
#include <unistd.h>

#include <filesystem>

#include "fuzz/fuzz_target.h"
#include "train/run_state.h"
#include "train/trainer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return alz::fuzz::run_expecting_clean_errors([&] {
    static const std::string folder = [] {
      const std::filesystem::path base =
          std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
      const std::filesystem::path dir = base / ("alz_fuzz_run_" + std::to_string(::getpid()));
      std::filesystem::create_directories(dir);
      return dir.string();
    }();
    const std::string& written = alz::fuzz::write_input_file(data, size, ".state.json");
    std::filesystem::copy_file(written, folder + "/state.json", std::filesystem::copy_options::overwrite_existing);
    alz::train::SavedRun saved = alz::train::read_saved_run(folder);
    alz::train::TrainConfig command_line;
    command_line.resume = folder;
    (void)alz::train::config_for_resume(saved.config, command_line, nullptr);
  });
}
