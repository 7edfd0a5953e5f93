// Evaluation over a loader (train/evaluate.h).
#include "train/evaluate.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "tensor/autograd.h"
#include "tensor/ops.h"

namespace alz::train {

std::vector<float> softmax_probabilities(const Tensor& logits) {
  Tensor probs = ops::softmax(logits).to(Device::cpu()).to(DType::F32);
  const float* p = probs.data<float>();
  return std::vector<float>(p, p + probs.numel());
}

Predictions predict_loader(ResNetV2& model, data::Loader& loader) {
  auto start = std::chrono::steady_clock::now();
  bool was_training = model.training();
  model.set_training(false);
  NoGradGuard no_grad;
  Predictions out;
  double loss_sum = 0.0;
  while (std::optional<data::Batch> batch = loader.next()) {
    Tensor logits = model.forward(batch->images);
    std::vector<float> probs = softmax_probabilities(logits);
    int64_t k = logits.dim(1);
    for (size_t i = 0; i < batch->labels_int.size(); ++i) {
      int label = batch->labels_int[i];
      loss_sum += -std::log(std::max(probs[i * k + label], 1e-30f));
      out.labels.push_back(label);
      out.samples.push_back(batch->samples[i]);
    }
    out.probs.insert(out.probs.end(), probs.begin(), probs.end());
  }
  model.set_training(was_training);
  out.mean_loss = out.labels.empty() ? 0.0 : loss_sum / static_cast<double>(out.labels.size());
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

Metrics evaluate(ResNetV2& model, data::Loader& loader, const std::vector<std::string>& class_names) {
  Predictions p = predict_loader(model, loader);
  return compute_metrics(std::span<const float>(p.probs), std::span<const int>(p.labels), class_names, p.mean_loss);
}

}  // namespace alz::train
