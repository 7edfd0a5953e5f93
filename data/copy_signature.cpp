// Thumbnail, pose and descriptor of one image for the copy finder. See data/copy_signature.h;
// tests in tests/test_copy_match.cpp.
#include "data/copy_signature.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "data/phash.h"

namespace alz::data {

namespace {

constexpr float kPi = 3.14159265358979f;
constexpr float kBlurSigma = 1.2f;        // thumbnail pixels, before the symmetry search and the grid
constexpr float kGridReach = 2.2f;        // the grid spans +-kGridReach whitened units of the frame
constexpr float kReach = 2.0f;            // symmetry-test points within +-kReach whitened units
constexpr int kAcross = 10, kAlong = 20;  // symmetry-test points: per side across, along the axis
constexpr int kCoarseSteps = 22;          // coarse axis angles: -44..44 degrees in 2 degree steps

// Otsu's threshold of values in 0..255: the cut maximising the between-class variance.
float otsu_threshold(const std::vector<float>& values) {
  std::array<double, 256> histogram{};
  for (float v : values) histogram[size_t(std::clamp(int(std::lround(v)), 0, 255))] += 1;
  double total = double(values.size()), sum_all = 0;
  for (int i = 0; i < 256; ++i) sum_all += i * histogram[size_t(i)];
  double below = 0, sum_below = 0, best = -1;
  int best_cut = 0;
  for (int cut = 0; cut < 255; ++cut) {  // class 0: values <= cut
    below += histogram[size_t(cut)];
    sum_below += cut * histogram[size_t(cut)];
    double above = total - below;
    if (below == 0 || above == 0) continue;
    double mean_below = sum_below / below, mean_above = (sum_all - sum_below) / above;
    double between = below * above * (mean_below - mean_above) * (mean_below - mean_above);
    if (between > best) best = between, best_cut = cut;
  }
  return float(best_cut) + 0.5f;
}

// A point given in whitened coordinates z about the centroid c: p = c + U z, U = Sigma^(1/2).
struct Whitening {
  float cx = 0, cy = 0;
  float u00 = 1, u01 = 0, u11 = 1;  // U is symmetric
  float px(float zx, float zy) const { return cx + u00 * zx + u01 * zy; }
  float py(float zx, float zy) const { return cy + u01 * zx + u11 * zy; }
};

// Normalised correlation of the points mirrored about the line at `angle` (whitened space)
// that passes `offset` across from the centroid; the points lie within kReach of the line
// across and of the centroid along it.
float symmetry_score(const float* blurred, const Whitening& w, float angle, float offset) {
  const float ca = std::cos(angle), sa = std::sin(angle);  // across = (ca, sa), along = (-sa, ca)
  double sl = 0, sr = 0, sll = 0, srr = 0, slr = 0;
  for (int j = 0; j < kAlong; ++j) {
    const float v = kReach * (2.0f * (float(j) + 0.5f) / kAlong - 1.0f);
    for (int i = 0; i < kAcross; ++i) {
      const float u = kReach * (float(i) + 0.5f) / kAcross;
      const float lx = (offset - u) * ca - v * sa, ly = (offset - u) * sa + v * ca;
      const float rx = (offset + u) * ca - v * sa, ry = (offset + u) * sa + v * ca;
      const float l = sample_bilinear(blurred, kThumbSide, w.px(lx, ly), w.py(lx, ly));
      const float r = sample_bilinear(blurred, kThumbSide, w.px(rx, ry), w.py(rx, ry));
      sl += l, sr += r, sll += double(l) * l, srr += double(r) * r, slr += double(l) * r;
    }
  }
  const double n = kAcross * kAlong;
  double cov = slr - sl * sr / n, var_l = sll - sl * sl / n, var_r = srr - sr * sr / n;
  return var_l > 1e-9 && var_r > 1e-9 ? float(cov / std::sqrt(var_l * var_r)) : 0.0f;
}

// Steps 2-4 of the header: the object's frame, or the whole-thumbnail fallback.
CopyPose find_pose(const std::vector<float>& thumb, const std::vector<float>& blurred) {
  CopyPose pose;
  pose.origin_x = pose.origin_y = 0.5f * kThumbSide;
  const float uniform = kThumbSide / std::sqrt(12.0f);  // a uniform square's spread
  pose.frame = {uniform, 0, 0, uniform};
  const float threshold = otsu_threshold(thumb);
  double count = 0, sx = 0, sy = 0;
  for (int y = 0; y < kThumbSide; ++y)
    for (int x = 0; x < kThumbSide; ++x)
      if (thumb[size_t(y) * kThumbSide + x] > threshold) count += 1, sx += x + 0.5, sy += y + 0.5;
  const double pixels = double(kThumbSide) * kThumbSide;
  if (count < 0.02 * pixels || count > 0.98 * pixels) return pose;
  // Moments weighted by the grey level above the background's mean: a zoom changes the share of
  // background and so Otsu's cut, which would move the mask's edge; the weights do not move
  // (brightness and contrast scale them all alike).
  double background = 0, below = 0;
  for (float v : thumb)
    if (v <= threshold) background += v, below += 1;
  background = below > 0 ? background / below : 0;
  double mass = 0, mx = 0, my = 0;
  for (int y = 0; y < kThumbSide; ++y)
    for (int x = 0; x < kThumbSide; ++x) {
      const double weight = std::max(0.0, double(thumb[size_t(y) * kThumbSide + x]) - background);
      mass += weight, mx += weight * (x + 0.5), my += weight * (y + 0.5);
    }
  if (!(mass > 0)) return pose;
  const double cx = mx / mass, cy = my / mass;
  double vxx = 0, vxy = 0, vyy = 0;
  for (int y = 0; y < kThumbSide; ++y)
    for (int x = 0; x < kThumbSide; ++x) {
      const double weight = std::max(0.0, double(thumb[size_t(y) * kThumbSide + x]) - background);
      const double dx = x + 0.5 - cx, dy = y + 0.5 - cy;
      vxx += weight * dx * dx, vxy += weight * dx * dy, vyy += weight * dy * dy;
    }
  vxx = vxx / mass + 1.0 / 12, vxy /= mass, vyy = vyy / mass + 1.0 / 12;  // + a pixel's own spread
  // U = Sigma^(1/2) = R diag(sqrt l1, sqrt l2) R^T from the eigen decomposition of the 2x2 Sigma.
  const double half_trace = 0.5 * (vxx + vyy), gap = std::sqrt(0.25 * (vxx - vyy) * (vxx - vyy) + vxy * vxy);
  const double l1 = half_trace + gap, l2 = std::max(half_trace - gap, 1e-6),
               theta = 0.5 * std::atan2(2 * vxy, vxx - vyy);
  const double c = std::cos(theta), s = std::sin(theta), r1 = std::sqrt(l1), r2 = std::sqrt(l2);
  Whitening w;
  w.cx = float(cx), w.cy = float(cy);
  w.u00 = float(c * c * r1 + s * s * r2);
  w.u01 = float(c * s * (r1 - r2));
  w.u11 = float(s * s * r1 + c * c * r2);
  // Axis: coarse angles through the centroid, then finer angles and offsets across.
  const float degree = kPi / 180.0f;
  float best_angle = 0, best_offset = 0, best = -2;
  for (int step = -kCoarseSteps; step <= kCoarseSteps; ++step) {
    const float score = symmetry_score(blurred.data(), w, 2.0f * step * degree, 0);
    if (score > best) best = score, best_angle = 2.0f * step * degree;
  }
  const float coarse_angle = best_angle;
  for (int step = -4; step <= 4; ++step)
    for (int shift = -2; shift <= 2; ++shift) {
      const float angle = coarse_angle + 0.5f * step * degree, offset = 0.05f * shift;
      const float score = symmetry_score(blurred.data(), w, angle, offset);
      if (score > best) best = score, best_angle = angle, best_offset = offset;
    }
  // Frame: origin on the axis level with the centroid; F = U R(angle) (whitened units).
  const float ca = std::cos(best_angle), sa = std::sin(best_angle);
  pose.origin_x = w.px(best_offset * ca, best_offset * sa);
  pose.origin_y = w.py(best_offset * ca, best_offset * sa);
  pose.frame = {w.u00 * ca + w.u01 * sa, -w.u00 * sa + w.u01 * ca,  // (across, along) columns
                w.u01 * ca + w.u11 * sa, -w.u01 * sa + w.u11 * ca};
  pose.angle = std::atan2(-pose.frame[1], pose.frame[3]);  // along = (-sin, cos) in the thumbnail
  pose.symmetry = best;
  pose.has_object = true;
  return pose;
}

}  // namespace

float sample_bilinear(const float* image, int side, float x, float y) {
  float fx = std::clamp(x - 0.5f, 0.0f, float(side - 1)), fy = std::clamp(y - 0.5f, 0.0f, float(side - 1));
  int x0 = std::min(int(fx), side - 2), y0 = std::min(int(fy), side - 2);
  float ax = fx - float(x0), ay = fy - float(y0);
  const float* p = image + size_t(y0) * side + x0;
  float top = p[0] + ax * (p[1] - p[0]), bottom = p[side] + ax * (p[side + 1] - p[side]);
  return top + ay * (bottom - top);
}

std::vector<float> blur_square(const std::vector<float>& image, int side, float sigma) {
  ALZ_CHECK(image.size() == size_t(side) * side && side >= 2, "blur_square: image is not " << side << "x" << side);
  const int radius = std::max(1, int(std::ceil(3.0f * sigma)));
  std::vector<float> kernel(size_t(2 * radius + 1));
  float total = 0;
  for (int k = -radius; k <= radius; ++k)
    total += kernel[size_t(k + radius)] = std::exp(-0.5f * k * k / (sigma * sigma));
  for (float& k : kernel) k /= total;
  std::vector<float> rows(image.size()), out(image.size());
  for (int y = 0; y < side; ++y)
    for (int x = 0; x < side; ++x) {
      float sum = 0;
      for (int k = -radius; k <= radius; ++k)
        sum += kernel[size_t(k + radius)] * image[size_t(y) * side + std::clamp(x + k, 0, side - 1)];
      rows[size_t(y) * side + x] = sum;
    }
  for (int y = 0; y < side; ++y)
    for (int x = 0; x < side; ++x) {
      float sum = 0;
      for (int k = -radius; k <= radius; ++k)
        sum += kernel[size_t(k + radius)] * rows[size_t(std::clamp(y + k, 0, side - 1)) * side + x];
      out[size_t(y) * side + x] = sum;
    }
  return out;
}

CopySignature copy_signature(const Image& image) {
  CopySignature sig;
  sig.height = image.height;
  sig.width = image.width;
  std::vector<double> grey = grey_thumbnail(image, kThumbSide);
  std::vector<float> thumb(grey.begin(), grey.end());
  sig.thumb.resize(thumb.size());
  for (size_t i = 0; i < thumb.size(); ++i) sig.thumb[i] = uint8_t(std::clamp(std::lround(thumb[i]), 0L, 255L));
  // From here on the stored (rounded) thumbnail, so that the finder sees what the pose saw.
  for (size_t i = 0; i < thumb.size(); ++i) thumb[i] = sig.thumb[i];
  auto [low, high] = std::minmax_element(thumb.begin(), thumb.end());
  if (*high - *low < 4.0f) {
    sig.flat = true;
    return sig;
  }
  std::vector<float> blurred = blur_square(thumb, kThumbSide, kBlurSigma);
  sig.pose = find_pose(thumb, blurred);

  // Descriptor grid (step 5), then zero mean and unit length.
  const CopyPose& p = sig.pose;
  double sum = 0;
  for (int j = 0; j < kGrid; ++j) {
    const float v = kGridReach * (2.0f * (float(j) + 0.5f) / kGrid - 1.0f);
    for (int i = 0; i < kGrid; ++i) {
      const float u = kGridReach * (2.0f * (float(i) + 0.5f) / kGrid - 1.0f);
      const float value = sample_bilinear(blurred.data(), kThumbSide, p.origin_x + p.frame[0] * u + p.frame[1] * v,
                                          p.origin_y + p.frame[2] * u + p.frame[3] * v);
      sig.fine[size_t(j) * kGrid + i] = value;
      sum += value;
    }
  }
  const float mean = float(sum / (kGrid * kGrid));
  double norm = 0;
  for (float& value : sig.fine) value -= mean, norm += double(value) * value;
  if (norm < 1e-6) {
    sig.flat = true;
    return sig;
  }
  for (float& value : sig.fine) value = float(value / std::sqrt(norm));

  return sig;
}

}  // namespace alz::data
