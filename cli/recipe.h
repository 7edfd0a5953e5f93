// The command-line options that say how a model is trained (the data, the model, the
// optimizer, the schedule, augmentation, the device, ...), shared by `alz train` and `alz cv`
// so that a cross-validation runs exactly the recipe `alz train` would.
//   CLI::App app{...};  train::TrainConfig c;  RecipeOptions recipe;
//   add_recipe_options(app, c, recipe);  app.parse(...);
//   if (!finish_recipe_options("alz train", recipe, c)) return 2;
// Tested through tests/test_cli_train.cpp and tests/test_cli_cv.cpp.
#pragma once
#include <CLI/CLI.hpp>
#include <string>

#include "train/trainer.h"

namespace alz::cli {

struct RecipeOptions {
  std::string input_size;  // "N" or "HxW"; parsed by finish_recipe_options
};

// Adds every recipe option to `app`, each writing into `config` (or `recipe`).
void add_recipe_options(CLI::App& app, train::TrainConfig& config, RecipeOptions& recipe);

// After parsing: fills the fields that need more than CLI11 (the input size). Prints
// "<command>: ..." on stderr and returns false on a bad value.
bool finish_recipe_options(const char* command, const RecipeOptions& recipe, train::TrainConfig& config);

}  // namespace alz::cli
