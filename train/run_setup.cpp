// Setting up a training run (train/run_setup.h).
#include "train/run_setup.h"

#include <filesystem>
#include <sstream>

#include "core/error.h"
#include "data/class_balance.h"
#include "data/phantom.h"
#include "models/checkpoint.h"
#include "models/weights_file.h"
#include "tensor/cuda_runtime.h"
#include "train/precision.h"
#include "train/provenance.h"

namespace alz::train {

Device resolve_config(TrainConfig& c) {
  Device device = Device::cpu();
  if (c.device == "cuda" || (c.device == "auto" && cuda::available())) {
    ALZ_CHECK(cuda::available(), "--device cuda: no usable CUDA device (" << cuda::unavailable_reason() << ")");
    device = Device::cuda(0);
  } else {
    ALZ_CHECK(c.device == "cpu" || c.device == "auto", "--device must be auto, cpu or cuda; got '" << c.device << "'");
  }
  bool gpu = device.is_cuda();
  if (c.model == "auto" && !c.init_from.empty()) c.model = infer_resnet_v2(read_weights_file(c.init_from)).name;
  if (c.model == "auto") c.model = gpu ? "resnet152v2" : "resnetv2-small";
  // GPU: 20 epochs of the 1,200 training phantoms are ~380 steps, enough for the BatchNorm moving
  // statistics (momentum 0.99) to settle; 3 left them at their initial values (validation at chance).
  if (c.epochs <= 0) c.epochs = gpu ? 20 : 8;
  if (c.batch_size <= 0) c.batch_size = gpu ? 64 : 32;
  if (c.input_height <= 0) c.input_height = gpu ? 224 : 80;
  if (c.input_width <= 0) c.input_width = c.input_height;
  ALZ_CHECK(c.optimizer == "adam" || c.optimizer == "adamw" || c.optimizer == "sgd",
            "--optimizer must be adam, adamw or sgd; got '" << c.optimizer << "'");
  if (c.learning_rate <= 0) c.learning_rate = c.optimizer == "sgd" ? 0.1 * c.batch_size / 256.0 : 1e-3;
  check_precision(c.precision);
  data::parse_resize_method(c.resize);  // throws unless keras or area
  ALZ_CHECK(c.cuda_graph == "on" || c.cuda_graph == "off",
            "--cuda-graph must be on or off; got '" << c.cuda_graph << "'");
  ALZ_CHECK(c.last_batch == "eager" || c.last_batch == "drop",
            "--last-batch must be eager or drop; got '" << c.last_batch << "'");
  ALZ_CHECK(c.class_weights == "none" || c.class_weights == "auto",
            "--class-weights must be none or auto; got '" << c.class_weights << "'");
  ALZ_CHECK(!(c.class_weights == "auto" && c.label_smoothing > 0 && !c.allow_weights_with_smoothing),
            "class weights together with label smoothing were reported to collapse predictions to the rare "
            "class; pass --allow-weights-with-smoothing to combine them anyway");
  if (c.run_dir.empty()) c.run_dir = "runs/" + c.model + "-seed" + std::to_string(c.seed);
  return device;
}

RunData prepare_data(const TrainConfig& config) {
  RunData run;
  if (config.data.empty()) {
    run.phantom = true;
    std::string manifest = config.phantom_dir + "/manifest.csv";
    if (!std::filesystem::exists(manifest)) {
      data::PhantomSpec spec;
      spec.out_dir = config.phantom_dir;
      spec.seed = 7;
      if (!config.quiet) std::printf("generating the phantom MRI set in %s ...\n", config.phantom_dir.c_str());
      data::write_phantom_dataset(spec);
    }
    // The manifest carries subjects: the validation split keeps every subject on one side.
    run.source = manifest;
  } else {
    run.source = config.data;
  }
  data::DatasetIndex index = data::scan_dataset(run.source);
  SplitRecipe recipe{config.val_fraction, config.seed, config.cv_folds, config.cv_fold};
  std::string split = make_training_split(index, recipe);
  ALZ_CHECK(index.find_split("train") && index.find_split("val"),
            run.source << ": found no training split (splits: " << index.describe() << ")");
  ALZ_CHECK(!index.find_split("train")->samples.empty() && !index.find_split("val")->samples.empty(),
            run.source << ": the training or validation split is empty");
  run.provenance = training_provenance(run.source, index, split, recipe);
  run.index = std::move(index);
  return run;
}

std::unique_ptr<data::Loader> make_loader(const data::DatasetIndex& index, const std::string& split,
                                          const TrainConfig& config, Device device, bool training, int rank,
                                          int world) {
  data::LoaderOptions options;
  options.batch_size = config.batch_size;
  options.height = config.input_height;
  options.width = config.input_width;
  options.resize = data::parse_resize_method(config.resize);
  options.shuffle = training;
  options.drop_last = training && config.last_batch == "drop";  // validation sees every sample
  options.seed = config.seed;
  options.augment = training && config.augment;
  options.workers = config.workers;
  options.cache = config.cache;
  options.device = device;
  // bf16 on a GPU: the loader rounds the images to bf16 on the host (as the model's input cast
  // would, round to nearest even), which halves each batch's host-to-device copy.
  if (config.precision == "bf16" && device.is_cuda()) options.dtype = DType::BF16;
  options.rank = rank;
  options.world = world;
  return std::make_unique<data::Loader>(index.find_split(split)->samples, options);
}

std::unique_ptr<ResNetV2> make_model(const TrainConfig& config, int classes, Device device, std::string& log) {
  auto model = std::make_unique<ResNetV2>(
      resnet_v2_config(config.model, classes, config.input_height, config.input_width), config.seed);
  std::ostringstream out;
  if (!config.init_from.empty()) {
    LoadReport report = load_weights_file(config.init_from, *model, LoadMode::Partial);  // any format
    ALZ_CHECK(!report.loaded.empty(), config.init_from << ": no weight matches the model " << config.model
                                                       << " by name and shape; " << describe_transfer(report));
    out << describe_transfer(report) << "\n";
  }
  if (config.freeze_backbone) {
    model->freeze_backbone(true);
    out << "backbone frozen: " << model->count_parameters(true) << " trainable parameters (the head)\n";
  }
  model->to(device);
  log = out.str();
  return model;
}

std::vector<std::string> data_warnings(const TrainConfig& config, const data::DatasetIndex& index) {
  std::vector<data::SplitClassCounts> splits;
  for (const char* name : {"train", "val"})
    if (const data::Split* split = index.find_split(name)) splits.push_back({name, index.class_counts(*split)});
  data::ClassBalanceOptions options;
  if (config.class_weights == "auto") options.max_imbalance = 1e300;  // already reweighted
  return data::class_balance_warnings(index.class_names, splits, "train", options);
}

Tensor make_class_weights(const TrainConfig& config, const data::DatasetIndex& index, Device device) {
  if (config.class_weights != "auto") return Tensor();
  std::vector<int64_t> counts = index.class_counts(*index.find_split("train"));
  int64_t total = 0;
  for (int64_t c : counts) total += c;
  std::vector<float> weights;
  for (int64_t c : counts)
    weights.push_back(c > 0 ? static_cast<float>(static_cast<double>(total) / (counts.size() * c)) : 0.0f);
  return Tensor::from_vector(weights, {static_cast<int64_t>(weights.size())}, device);
}

std::unique_ptr<Optimizer> make_optimizer(const TrainConfig& c, std::vector<ParamRef> params) {
  if (c.optimizer == "sgd") {
    SgdOptions o;
    o.learning_rate = c.learning_rate;
    o.momentum = c.momentum;
    o.nesterov = c.nesterov;
    o.weight_decay = c.weight_decay;
    o.l2 = c.l2;
    o.clip_global_norm = c.clip_norm;
    return std::make_unique<SGD>(std::move(params), o);
  }
  AdamOptions o;  // adam and adamw: Adam with decoupled weight decay is AdamW, as in Keras
  o.learning_rate = c.learning_rate;
  o.weight_decay = c.weight_decay;
  o.l2 = c.l2;
  o.clip_global_norm = c.clip_norm;
  return std::make_unique<Adam>(std::move(params), o);
}

std::unique_ptr<LearningRateSchedule> make_schedule(const TrainConfig& c, int64_t steps_per_epoch) {
  if (c.schedule == "constant") return std::make_unique<ConstantSchedule>(c.learning_rate);
  if (c.schedule == "step") return std::make_unique<StepDecaySchedule>(c.learning_rate, c.step_gamma, c.step_epochs);
  if (c.schedule == "cosine")  // per step, with linear warm-up over the first warmup_epochs
    return std::make_unique<WarmupCosineSchedule>(c.learning_rate, c.warmup_epochs * steps_per_epoch,
                                                  int64_t{c.epochs} * steps_per_epoch);
  if (c.schedule == "plateau") {  // on validation macro-F1: higher is better
    PlateauOptions options;
    options.mode = PlateauOptions::Mode::Max;
    options.patience = 2;
    return std::make_unique<ReduceOnPlateauSchedule>(c.learning_rate, options);
  }
  ALZ_FAIL("--schedule must be constant, step, cosine or plateau; got '" << c.schedule << "'");
}

}  // namespace alz::train
