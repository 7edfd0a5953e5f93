// Evaluation of a model over a loader: class probabilities for every sample, then the honest
// metrics of train/metrics.h (macro-F1, balanced accuracy, per-class figures, confusion
// matrix, ROC-AUC). Used by `alz train` for validation and by `alz eval`.
//
//   Predictions p = predict_loader(model, loader);   // eval mode, no tape
//   Metrics m = compute_metrics(p.probs, p.labels, class_names, p.mean_loss);
#pragma once
#include <string>
#include <vector>

#include "data/loader.h"
#include "models/resnet_v2.h"
#include "train/metrics.h"

namespace alz::train {

struct Predictions {
  std::vector<float> probs;      // (N, K) softmax probabilities
  std::vector<int> labels;       // (N) true labels
  std::vector<int64_t> samples;  // (N) indices into the loader's samples
  double mean_loss = 0.0;        // mean cross-entropy -log p[label], unweighted
  double seconds = 0.0;
};

// One pass over the loader's current epoch in eval mode (BatchNorm on moving statistics);
// restores the model's training flag afterwards.
Predictions predict_loader(ResNetV2& model, data::Loader& loader);

Metrics evaluate(ResNetV2& model, data::Loader& loader, const std::vector<std::string>& class_names);

// Softmax of logits (N, K) on any device, as host floats.
std::vector<float> softmax_probabilities(const Tensor& logits);

}  // namespace alz::train
