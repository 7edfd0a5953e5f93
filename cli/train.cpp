// `alz train`: train a ResNetV2 on a dataset folder or manifest (default: the built-in
// phantom MRI set, generated when absent) and write checkpoints, metrics and a report.
//   alz train                                   # phantoms; GPU: ResNet152V2 224x224, CPU: small model 80x80
//   alz train --data DIR --epochs 20 --class-weights auto --run-dir runs/a
//   alz train --resume runs/a                   # continue exactly where it stopped
//   alz train --data DIR --init-from resnet152v2_weights_tf_dim_ordering_tf_kernels_notop.h5 --freeze-backbone
// The training itself: train/trainer.h (the settings, the resume rule, the Trainer) and
// Trainer::train_step in train/trainer.cpp (forward, loss, backward, optimizer step).
#include <CLI/CLI.hpp>

#include "cli/cli.h"
#include "cli/recipe.h"
#include "train/trainer.h"

namespace alz::cli {

int train(int argc, char** argv) {
  CLI::App app{"Train a ResNetV2 on brain MRI slices", "alz train"};
  alz::train::TrainConfig c;
  RecipeOptions recipe;
  add_recipe_options(app, c, recipe);
  app.add_option("--run-dir", c.run_dir, "run folder (default runs/<model>-seed<seed>)");
  app.add_option("--resume", c.resume, "continue the run in this folder, with its saved settings");
  app.add_option("--stop-after-steps", c.stop_after_steps, "save a resumable state after N steps and exit 130");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }
  if (!finish_recipe_options("alz train", recipe, c)) return 2;
  return alz::train::run_training(c);
}

}  // namespace alz::cli
