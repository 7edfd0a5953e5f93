// `alz train`: train a ResNetV2 on a dataset folder or manifest (default: the built-in
// phantom MRI set, generated when absent) and write checkpoints, metrics and a report.
//   alz train                                   # phantoms; GPU: ResNet152V2 224x224, CPU: small model 80x80
//   alz train --data DIR --epochs 20 --class-weights auto --run-dir runs/a
//   alz train --resume runs/a                   # continue exactly where it stopped
//   alz train --resume runs/a --epochs 30       # a complete run: train it further
//   alz train --data DIR --init-from resnet152v2_weights_tf_dim_ordering_tf_kernels_notop.h5 --freeze-backbone
// The run folder guards the work in it: a new run never replaces a folder's run (state.json or a
// checkpoint) unless --overwrite is given; without it `alz train` stops with exit code 1 before
// touching anything and offers --resume and --overwrite (the rule: train/trainer.h). Usage
// errors exit with 2 (cli/usage.h).
// The training itself: train/trainer.h (the settings, the resume rule, the Trainer) and
// Trainer::train_step in train/trainer.cpp (forward, loss, backward, optimizer step).
// Tested in tests/test_cli_train.cpp, tests/test_cli_run_folder.cpp and tests/test_cli_usage.cpp.
#include <CLI/CLI.hpp>

#include "cli/cli.h"
#include "cli/recipe.h"
#include "cli/usage.h"
#include "train/inference.h"
#include "train/trainer.h"

namespace alz::cli {

int train(int argc, char** argv) {
  CLI::App app{"Train a ResNetV2 on brain MRI slices", "alz train"};
  use_conventions(app);
  alz::train::TrainConfig c;
  RecipeOptions recipe;
  add_recipe_options(app, c, recipe);
  auto* run_dir = app.add_option("--run-dir", c.run_dir, "run folder (default runs/<model>-seed<seed>)");
  auto* resume = app.add_option("--resume", c.resume, "continue the run in this folder, with its saved settings");
  app.add_flag("--overwrite", c.overwrite, "start a new run in a run folder that holds one, replacing its files")
      ->excludes(resume);
  app.add_option("--stop-after-steps", c.stop_after_steps, "save a resumable state after N steps and exit 130");
  app.add_flag("--sync-bn", c.sync_bn,
               "under mpirun: BatchNorm statistics over the batches of every rank (default: each rank's own)");
  app.add_option("--bucket-mb", c.bucket_mb,
                 "under mpirun: gradients are all-reduced in buckets of this many MiB while backward runs")
      ->check(CLI::Range(1, 4096));
  app.footer(
      "Run folder: a new run never replaces the run in --run-dir (a folder with state.json or a checkpoint) "
      "unless --overwrite is given; without it alz train stops with exit code 1 and changes nothing. "
      "A folder a run left before its first epoch was saved holds nothing to keep and is reused.\n"
      "Resume: --resume DIR continues with the run's saved settings (only --workers, --cuda-graph, --bucket-mb, "
      "--quiet, --max-steps and --stop-after-steps come from the command line). A complete run trains further with "
      "a larger "
      "--epochs; the cosine schedule then spans the new total, so the result differs from a run started with "
      "that many epochs (constant, step and plateau give the same result).\n"
      "GPU: after two eager warm-up steps the whole training step (forward, loss, backward, optimizer) is "
      "replayed as one CUDA graph (--cuda-graph on, the default); the last, partial batch of an epoch runs "
      "eagerly beside it (--last-batch eager, the default) or is left out (--last-batch drop). If the capture "
      "fails, one line says why and training goes on eagerly.\n"
      "Exit status: 0 done, 1 error, 2 usage error, 3 non-finite loss, 130 interrupted (resumable).");
  if (std::optional<int> code = parse_command_line(app, argc, argv)) return *code;
  if (run_dir->count() > 0 && resume->count() > 0 && c.run_dir != c.resume) {
    std::fprintf(stderr, "alz train: --resume continues the run in its own folder; --run-dir %s cannot move it\n",
                 c.run_dir.c_str());
    return kUsageError;
  }
  if (!finish_recipe_options("alz train", recipe, c)) return kUsageError;
  return alz::train::run_training(c);
}

}  // namespace alz::cli
