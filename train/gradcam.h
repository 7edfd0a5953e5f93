// Grad-CAM and Grad-CAM++: where in a slice the model looked for a class.
//
// A is the last convolutional block's output, post_relu (after post_bn), before the global
// average pool: (h, w, C) per image, from ResNetV2::features. S is the pre-softmax logit of the
// class explained (default: the predicted class). Autograd gives G = dS/dA (ResNetV2::classify
// runs on A held as a leaf of the tape; the backbone runs without a tape). Then, per channel k:
//
//   Grad-CAM    a_k = mean over (i, j) of G_kij;              map = ReLU(sum_k a_k A_k)
//   Grad-CAM++  b_kij = G^2 / (2 G^2 + G^3 sum_ab A_kab), 0 where G = 0 (or the denominator is);
//               a_k = sum over (i, j) of b_kij ReLU(G_kij);   map = ReLU(sum_k a_k A_k)
//
// (Grad-CAM++ is written for exp(S); its exp(S) factors cancel in b and only scale a, so the
// gradients of S are used as they are.) The coarse map (h, w) is divided by its maximum, so it
// lies in [0, 1] with 1 at its peak; that maximum is kept as raw_max (0: nothing in the slice
// raises the score, and the map is all zeros). The normalised map is then upsampled to the
// input size (H, W) bilinearly with half-pixel centres, edges clamped (as tf.image.resize), so
// it stays in [0, 1].
//
// With this network's head (average pool, then Dense) G_kij = W[k, class] / (h w) everywhere:
// Grad-CAM equals CAM, and the tests check the known answer that follows.
//
// The overlay: the slice in grey (luma of the preprocessed pixels brought back to 0..255), the
// map through a jet-like colour map (blue 0, green 0.5, red 1) blended over it with weight
// kOverlayAlpha, and a vertical colour bar on the right with marks at 1 (top) and 0 (bottom).
//
//   std::vector<GradCamResult> r = compute_gradcam(model, images);          // predicted classes
//   data::Image png = render_gradcam_overlay(model, image, 256, 300);        // one slice, RGB
//
// Works on either device (the forward and backward run where the model is; the small sums on
// the host). Tested in tests/test_gradcam.cpp (finite differences through the hook, the known
// answer, Grad-CAM++, the overlay) and tests/gpu/test_gradcam_gpu.cpp (GPU equals CPU):
//   cmake --build build --target test_gradcam && build/tests/test_gradcam
#pragma once
#include <vector>

#include "data/image.h"
#include "models/resnet_v2.h"

namespace alz::train {

enum class CamMethod { GradCam, GradCamPlusPlus };
const char* cam_method_name(CamMethod method);  // "gradcam", "gradcam++"

constexpr double kOverlayAlpha = 0.45;  // weight of the colour map over the grey slice

// One method's map of one image.
struct CamMap {
  std::vector<double> weights;  // (C) the channel weights a_k
  double raw_max = 0;           // max of ReLU(sum_k a_k A_k) before normalising
  std::vector<float> coarse;    // (h, w) the map divided by raw_max, in [0, 1]
  std::vector<float> full;      // (H, W) coarse upsampled to the input size, in [0, 1]
};

struct GradCamResult {
  int class_index = 0;                // the class explained
  int predicted = 0;                  // the arg max of the logits
  double score = 0;                   // the explained class's logit
  std::vector<double> probabilities;  // softmax of the logits
  int map_height = 0, map_width = 0;  // h, w of the last block's output
  int height = 0, width = 0;          // H, W of the input
  CamMap gradcam, gradcam_pp;
  const CamMap& map(CamMethod method) const { return method == CamMethod::GradCam ? gradcam : gradcam_pp; }
};

// images (N, H, W, 3), preprocessed (x / 127.5 - 1), on the model's device and dtype. classes:
// empty for every image's predicted class, else one per image (-1: the predicted one). Runs the
// model in eval mode (restored afterwards) with a tape only for the head, whose weights gain no
// gradient; works inside a NoGradGuard too. Throws alz::Error for wrong shapes or classes.
std::vector<GradCamResult> compute_gradcam(ResNetV2& model, const Tensor& images, const std::vector<int>& classes = {});

// The two maps from one image's activations A and gradients G, both (h, w, C) row-major on the
// host, upsampled to (height, width). compute_gradcam calls it; tests call it directly.
void cam_maps_from_gradients(const double* activations, const double* gradients, int h, int w, int channels, int height,
                             int width, CamMap& gradcam, CamMap& gradcam_pp);

// (h, w) -> (height, width), bilinear with half-pixel centres, edges clamped.
std::vector<float> upsample_bilinear(const std::vector<float>& map, int h, int w, int height, int width);

// The jet-like colour of t in [0, 1] (clamped): {r, g, b} in 0..255.
void jet_colour(double t, uint8_t rgb[3]);

// The overlay as an RGB image of exactly out_height x out_width: the slice and its map, resized
// bilinearly to fill all but the right-hand strip, which holds the colour bar. image: one
// preprocessed slice (H, W, 3) on the host, row-major floats in [-1, 1]; map: (H, W) in [0, 1].
// out_height >= 16, out_width >= 32.
data::Image render_overlay(const float* image, int height, int width, const std::vector<float>& map, int out_height,
                           int out_width);

// For the report's gallery: one preprocessed slice, (H, W, 3) or (1, H, W, 3) on any device (it
// is moved to the model's), explained for class_index (-1: the predicted class) with the given
// method, rendered as above at out_height x out_width.
data::Image render_gradcam_overlay(ResNetV2& model, const Tensor& image, int out_height, int out_width,
                                   int class_index = -1, CamMethod method = CamMethod::GradCam);

}  // namespace alz::train
