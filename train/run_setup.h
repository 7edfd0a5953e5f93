// The parts of a training run that come before the first step: the device, the data (the
// phantom set generated when no data is given), the loaders, the model (initialised from a
// file and frozen when asked), class weights, the optimizer and the learning-rate schedule.
// Internal to train/trainer.cpp and the tests.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/loader.h"
#include "models/resnet_v2.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"
#include "train/trainer.h"

namespace alz::train {

// Fills every "auto" of the configuration for the device found (the model: the one the
// --init-from file holds, when there is one); returns the device.
Device resolve_config(TrainConfig& config);

struct RunData {
  data::DatasetIndex index;   // with "train" and "val" splits
  std::string source;         // what was scanned
  bool phantom = false;       // the built-in phantom set
  nlohmann::json provenance;  // the checkpoints' "training_data" record (train/provenance.h)
};

// Scans the data (generating the phantom set first when config.data is empty) and makes a
// validation split when the data has none: group-aware (whole subjects) when groups are known;
// with config.cv_folds, fold cv_fold is the validation split (train/provenance.h).
RunData prepare_data(const TrainConfig& config);

std::unique_ptr<data::Loader> make_loader(const data::DatasetIndex& index, const std::string& split,
                                          const TrainConfig& config, Device device, bool training);

// Builds the model for the data's classes; loads `init_from` (any weights file, models/weights_file.h:
// what matches by name and shape; the rest is counted in one line), freezes the backbone when
// asked, moves to the device.
std::unique_ptr<ResNetV2> make_model(const TrainConfig& config, int classes, Device device, std::string& log);

// Warnings printed beside the data summary (data/class_balance.h): classes with fewer than 30
// images, or fewer than 10 in val, and heavy imbalance in train unless --class-weights auto is
// already given.
std::vector<std::string> data_warnings(const TrainConfig& config, const data::DatasetIndex& index);

// Inverse-frequency class weights ("auto": N / (K * count_c), as Keras/sklearn "balanced") on
// the device, or an undefined tensor for "none".
Tensor make_class_weights(const TrainConfig& config, const data::DatasetIndex& index, Device device);

// The optimizer of config.optimizer (adam, adamw, sgd) over the model's trainable parameters.
std::unique_ptr<Optimizer> make_optimizer(const TrainConfig& config, std::vector<ParamRef> params);

// The learning-rate schedule of config.schedule; cosine decays per step over every epoch of the
// run, after a linear warm-up, and plateau watches the validation macro-F1.
std::unique_ptr<LearningRateSchedule> make_schedule(const TrainConfig& config, int64_t steps_per_epoch);

}  // namespace alz::train
