// `alz cv`: cross-validation by subject. K models on subject-disjoint folds, each trained as
// `alz train` trains (the same recipe options, cli/recipe.h), then the mean ± sample standard
// deviation of macro-F1, balanced accuracy and ROC-AUC over the folds.
//   alz cv --folds 5                              # the phantom set, the default model
//   alz cv --data subjects.csv --folds 5 --epochs 20 --class-weights auto --cv-dir runs/cv
// Running the same command again skips finished folds and resumes an interrupted one.
// The loop and the summary: train/cross_validation.h.
#include <CLI/CLI.hpp>

#include "cli/cli.h"
#include "cli/recipe.h"
#include "cli/usage.h"
#include "train/cross_validation.h"

namespace alz::cli {

int cv(int argc, char** argv) {
  CLI::App app{"Cross-validate a training recipe by subject: K models on subject-disjoint folds", "alz cv"};
  use_conventions(app);
  train::CrossValidationConfig cv;
  RecipeOptions recipe;
  add_recipe_options(app, cv.recipe, recipe);
  app.add_option("--folds", cv.folds, "number of folds K (every subject is validated in exactly one)")
      ->check(CLI::Range(2, 1000));
  app.add_option("--cv-dir", cv.dir, "folder of the fold runs and the summary (default runs/cv-seed<seed>)");
  if (std::optional<int> code = parse_command_line(app, argc, argv)) return *code;
  if (!finish_recipe_options("alz cv", recipe, cv.recipe)) return kUsageError;
  return train::run_cross_validation(cv);
}

}  // namespace alz::cli
