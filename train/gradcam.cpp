// Grad-CAM and Grad-CAM++ maps (train/gradcam.h): the gradient of one logit with respect to the
// last block's output, through the tape, and the maps made from it. The overlay is drawn in
// train/gradcam_overlay.cpp.
#include "train/gradcam.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "tensor/autograd.h"
#include "tensor/grad_mode.h"
#include "tensor/ops.h"

namespace alz::train {

namespace {

// Restores the model's mode and the head's trainable flag however compute_gradcam leaves.
class ExplainScope {
 public:
  explicit ExplainScope(ResNetV2& model)
      : model_(model), was_training_(model.training()), head_trainable_(model.head().trainable()) {
    model_.set_training(false);          // BatchNorm on the moving statistics: images independent
    model_.head().set_trainable(false);  // the head's weights take no gradient from this
  }
  ~ExplainScope() {
    model_.head().set_trainable(head_trainable_);
    model_.set_training(was_training_);
  }
  ExplainScope(const ExplainScope&) = delete;
  ExplainScope& operator=(const ExplainScope&) = delete;

 private:
  ResNetV2& model_;
  bool was_training_, head_trainable_;
};

// map (h*w) = ReLU(sum_k weights[k] A[., k]); normalised by its max into `cam`.
void finish_map(const double* activations, int h, int w, int channels, int height, int width, CamMap& cam) {
  const int64_t positions = int64_t{h} * w;
  std::vector<double> raw(positions, 0.0);
  for (int64_t p = 0; p < positions; ++p) {
    double sum = 0;
    for (int k = 0; k < channels; ++k) sum += cam.weights[k] * activations[p * channels + k];
    raw[p] = std::max(sum, 0.0);
  }
  cam.raw_max = *std::max_element(raw.begin(), raw.end());
  cam.coarse.assign(positions, 0.0f);
  if (cam.raw_max > 0)
    for (int64_t p = 0; p < positions; ++p) cam.coarse[p] = static_cast<float>(raw[p] / cam.raw_max);
  cam.full = upsample_bilinear(cam.coarse, h, w, height, width);
}

}  // namespace

const char* cam_method_name(CamMethod method) { return method == CamMethod::GradCam ? "gradcam" : "gradcam++"; }

std::vector<float> upsample_bilinear(const std::vector<float>& map, int h, int w, int height, int width) {
  ALZ_CHECK(
      h >= 1 && w >= 1 && height >= 1 && width >= 1 && map.size() == size_t(h) * w,
      "upsample_bilinear: a " << map.size() << "-value map for " << h << "x" << w << " -> " << height << "x" << width);
  // Per axis: output i samples the source at s = (i + 0.5) * in / out - 0.5, clamped.
  auto taps = [](int in, int out, std::vector<int>& lo, std::vector<int>& hi, std::vector<double>& frac) {
    lo.resize(out), hi.resize(out), frac.resize(out);
    for (int i = 0; i < out; ++i) {
      double s = std::clamp((i + 0.5) * in / out - 0.5, 0.0, double(in - 1));
      lo[i] = static_cast<int>(std::floor(s));
      hi[i] = std::min(lo[i] + 1, in - 1);
      frac[i] = s - lo[i];
    }
  };
  std::vector<int> y0, y1, x0, x1;
  std::vector<double> fy, fx;
  taps(h, height, y0, y1, fy);
  taps(w, width, x0, x1, fx);
  std::vector<float> out(size_t(height) * width);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      auto at = [&](int yy, int xx) { return double(map[size_t(yy) * w + xx]); };
      double top = at(y0[y], x0[x]) + (at(y0[y], x1[x]) - at(y0[y], x0[x])) * fx[x];
      double bottom = at(y1[y], x0[x]) + (at(y1[y], x1[x]) - at(y1[y], x0[x])) * fx[x];
      out[size_t(y) * width + x] = static_cast<float>(top + (bottom - top) * fy[y]);
    }
  return out;
}

void cam_maps_from_gradients(const double* activations, const double* gradients, int h, int w, int channels, int height,
                             int width, CamMap& gradcam, CamMap& gradcam_pp) {
  const int64_t positions = int64_t{h} * w;
  gradcam.weights.assign(channels, 0.0);
  gradcam_pp.weights.assign(channels, 0.0);
  for (int k = 0; k < channels; ++k) {
    double grad_sum = 0, activation_sum = 0;
    for (int64_t p = 0; p < positions; ++p) {
      grad_sum += gradients[p * channels + k];
      activation_sum += activations[p * channels + k];
    }
    gradcam.weights[k] = grad_sum / static_cast<double>(positions);
    double weight_pp = 0;
    for (int64_t p = 0; p < positions; ++p) {
      double g = gradients[p * channels + k];
      double denominator = 2 * g * g + g * g * g * activation_sum;
      if (g == 0 || denominator == 0) continue;
      weight_pp += (g * g / denominator) * std::max(g, 0.0);
    }
    gradcam_pp.weights[k] = weight_pp;
  }
  finish_map(activations, h, w, channels, height, width, gradcam);
  finish_map(activations, h, w, channels, height, width, gradcam_pp);
}

std::vector<GradCamResult> compute_gradcam(ResNetV2& model, const Tensor& images, const std::vector<int>& classes) {
  ALZ_CHECK(
      images.defined() && images.ndim() == 4 && images.dim(3) == 3,
      "Grad-CAM: expects preprocessed images (N, H, W, 3); got " << (images.defined() ? images.summary() : "nothing"));
  const int64_t n = images.dim(0);
  const int num_classes = model.config().classes;
  ALZ_CHECK(classes.empty() || static_cast<int64_t>(classes.size()) == n,
            "Grad-CAM: " << classes.size() << " classes for " << n << " images");
  for (int c : classes)
    ALZ_CHECK(c >= -1 && c < num_classes,
              "Grad-CAM: class " << c << " out of range (the model has " << num_classes << " classes)");
  ExplainScope scope(model);
  Tensor activations;  // A (N, h, w, C): the last block's output, held as a leaf
  {
    NoGradGuard no_grad;  // the backbone needs no tape
    activations = model.features(images);
  }
  EnableGradGuard with_grad;  // the head does, even when the caller evaluates without one
  activations.set_requires_grad(true);
  Tensor logits = model.classify(activations);  // (N, K)
  Tensor host_logits = logits.to(Device::cpu()).to(DType::F64);
  const double* z = host_logits.data<double>();

  std::vector<GradCamResult> results(n);
  std::vector<double> seed(n * num_classes, 0.0);  // d(sum of the chosen logits) / d logits
  for (int64_t i = 0; i < n; ++i) {
    GradCamResult& r = results[i];
    const double* row = z + i * num_classes;
    r.predicted = static_cast<int>(std::max_element(row, row + num_classes) - row);
    r.class_index = classes.empty() || classes[i] < 0 ? r.predicted : classes[i];
    r.score = row[r.class_index];
    double top = row[r.predicted], total = 0;
    for (int j = 0; j < num_classes; ++j) total += std::exp(row[j] - top);
    for (int j = 0; j < num_classes; ++j) r.probabilities.push_back(std::exp(row[j] - top) / total);
    seed[i * num_classes + r.class_index] = 1.0;
  }
  // Images are independent in eval mode, so one backward gives every image's gradient.
  Tensor seed_tensor = Tensor::from_vector(seed, {n, num_classes}).to(logits.dtype()).to(logits.device());
  backward(logits, seed_tensor);
  ALZ_CHECK(activations.grad().defined(), "Grad-CAM: the class score has no gradient with respect to post_relu");
  Tensor a = activations.to(Device::cpu()).to(DType::F64);
  Tensor g = activations.grad().to(Device::cpu()).to(DType::F64);
  const int h = static_cast<int>(a.dim(1)), w = static_cast<int>(a.dim(2)), channels = static_cast<int>(a.dim(3));
  const int64_t per_image = int64_t{h} * w * channels;
  for (int64_t i = 0; i < n; ++i) {
    GradCamResult& r = results[i];
    r.map_height = h, r.map_width = w;
    r.height = static_cast<int>(images.dim(1)), r.width = static_cast<int>(images.dim(2));
    cam_maps_from_gradients(a.data<double>() + i * per_image, g.data<double>() + i * per_image, h, w, channels,
                            r.height, r.width, r.gradcam, r.gradcam_pp);
  }
  return results;
}

}  // namespace alz::train
