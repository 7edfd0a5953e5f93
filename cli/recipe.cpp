// The training recipe's options (cli/recipe.h), shared by alz train and alz cv.
#include "cli/recipe.h"

#include <cstdio>

#include "train/inference.h"

namespace alz::cli {

void add_recipe_options(CLI::App& app, train::TrainConfig& c, RecipeOptions& recipe) {
  app.add_option("--data", c.data, "dataset folder (Kaggle V1/V2, class folders) or manifest CSV; default: phantoms");
  app.add_option("--phantom-dir", c.phantom_dir, "where the phantom set lives (generated if absent)");
  app.add_option("--model", c.model, "auto, resnet50v2, resnet101v2, resnet152v2, resnetv2-small, resnetv2-tiny");
  app.add_option("--epochs", c.epochs,
                 "epochs (0: auto, GPU 20, CPU 8); with alz train --resume of a complete run, train on to this many")
      ->check(CLI::Range(0, 100000));
  app.add_option("--batch", c.batch_size, "batch size (0: auto)")->check(CLI::Range(0, 65536));
  app.add_option("--optimizer", c.optimizer, "adam, adamw or sgd")->check(CLI::IsMember({"adam", "adamw", "sgd"}));
  app.add_option("--lr", c.learning_rate, "learning rate (0: auto)");
  app.add_option("--momentum", c.momentum, "SGD momentum");
  app.add_flag("--nesterov", c.nesterov, "Nesterov momentum (SGD)");
  app.add_option("--weight-decay", c.weight_decay, "decoupled weight decay as Keras: w -= lr * wd * w each step");
  app.add_option("--l2", c.l2, "coupled L2: adds l2 * w to every gradient (Keras L2 regularizer of l2/2)");
  app.add_option("--schedule", c.schedule, "constant, step, cosine, plateau")
      ->check(CLI::IsMember({"constant", "step", "cosine", "plateau"}));
  app.add_option("--warmup-epochs", c.warmup_epochs, "cosine: linear warm-up epochs");
  app.add_option("--step-epochs", c.step_epochs, "step: decay every N epochs");
  app.add_option("--step-gamma", c.step_gamma, "step: decay factor");
  app.add_option("--clip-norm", c.clip_norm, "clip the global gradient norm (0: off)");
  app.add_option("--input-size", recipe.input_size, "N or HxW (default: GPU 224, CPU 80)");
  app.add_option("--resize", c.resize, "keras (bilinear as Keras, the default) or area (box filter when shrinking)")
      ->check(CLI::IsMember({"keras", "area"}));
  app.add_option("--device", c.device, "auto, cpu or cuda")->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  app.add_option("--precision", c.precision,
                 "fp32 (strict), tf32 (GPU default) or bf16 (mixed: bf16 compute, f32 weights)")
      ->check(CLI::IsMember({"fp32", "tf32", "bf16"}));
  app.add_option("--cuda-graph", c.cuda_graph,
                 "on: after 2 eager warm-up steps, replay the whole training step as one CUDA graph (GPU; on the CPU "
                 "the step runs eagerly); off: always eager")
      ->check(CLI::IsMember({"on", "off"}));
  app.add_option("--last-batch", c.last_batch,
                 "the last, partial batch of an epoch: eager (trained, as an eager step beside the graph) or drop "
                 "(left out of training)")
      ->check(CLI::IsMember({"eager", "drop"}));
  app.add_option("--seed", c.seed, "seed of weights, order, augmentation and splits");
  app.add_option("--init-from", c.init_from,
                 "start from these weights, matching names and shapes: a checkpoint or a Keras .h5 / .weights.h5 / "
                 ".keras (with --model auto, the file's architecture)");
  app.add_flag("--freeze-backbone", c.freeze_backbone, "train only the head");
  app.add_option("--class-weights", c.class_weights, "none or auto (inverse frequency)")
      ->check(CLI::IsMember({"none", "auto"}));
  app.add_option("--label-smoothing", c.label_smoothing, "label smoothing in [0, 1)")->check(CLI::Range(0.0, 0.999));
  app.add_flag("--allow-weights-with-smoothing", c.allow_weights_with_smoothing,
               "allow class weights together with label smoothing");
  app.add_option("--early-stopping", c.early_stopping, "stop after N epochs without a better val macro-F1 (0: off)");
  app.add_option("--val-fraction", c.val_fraction, "validation fraction when the data has no val split")
      ->check(CLI::Range(0.01, 0.9));
  app.add_flag("!--no-augment", c.augment, "turn training augmentation off");
  app.add_option("--workers", c.workers, "loader threads (0: all cores)");
  app.add_flag("--cache", c.cache, "keep decoded images in memory");
  app.add_option("--max-steps", c.max_steps, "stop after this many steps in all (benchmarks)");
  app.add_flag("--quiet", c.quiet, "print only errors");
}

bool finish_recipe_options(const char* command, const RecipeOptions& recipe, train::TrainConfig& c) {
  if (!recipe.input_size.empty() && !train::parse_size(recipe.input_size, c.input_height, c.input_width)) {
    std::fprintf(stderr, "%s: --input-size: expected N or HxW, got '%s'\n", command, recipe.input_size.c_str());
    return false;
  }
  return true;
}

}  // namespace alz::cli
