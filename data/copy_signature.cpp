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
constexpr float kGridReach = 2.2f;        // the grid spans +-kGridReach spreads of the frame
constexpr int kAcross = 10, kAlong = 20;  // symmetry-test points: per side across, along the axis

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

// Normalised correlation of the points mirrored about the line through `origin` at `angle`;
// the points lie within reach_across of the line and reach_along of the origin along it.
float symmetry_score(const float* blurred, float ox, float oy, float angle, float reach_across, float reach_along) {
  const float ca = std::cos(angle), sa = std::sin(angle);  // across = (ca, sa), along = (-sa, ca)
  double sl = 0, sr = 0, sll = 0, srr = 0, slr = 0;
  for (int j = 0; j < kAlong; ++j) {
    float v = reach_along * (2.0f * (float(j) + 0.5f) / kAlong - 1.0f);
    for (int i = 0; i < kAcross; ++i) {
      float u = reach_across * (float(i) + 0.5f) / kAcross;
      float l = sample_bilinear(blurred, kThumbSide, ox - u * ca - v * sa, oy - u * sa + v * ca);
      float r = sample_bilinear(blurred, kThumbSide, ox + u * ca - v * sa, oy + u * sa + v * ca);
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
  pose.spread_across = pose.spread_along = kThumbSide / std::sqrt(12.0f);  // a uniform square's
  const float threshold = otsu_threshold(thumb);
  double count = 0, sx = 0, sy = 0;
  for (int y = 0; y < kThumbSide; ++y)
    for (int x = 0; x < kThumbSide; ++x)
      if (thumb[size_t(y) * kThumbSide + x] > threshold) count += 1, sx += x + 0.5, sy += y + 0.5;
  const double pixels = double(kThumbSide) * kThumbSide;
  if (count < 0.02 * pixels || count > 0.98 * pixels) return pose;
  const float cx = float(sx / count), cy = float(sy / count);
  double vxx = 0, vyy = 0;
  for (int y = 0; y < kThumbSide; ++y)
    for (int x = 0; x < kThumbSide; ++x)
      if (thumb[size_t(y) * kThumbSide + x] > threshold) {
        vxx += (x + 0.5 - cx) * (x + 0.5 - cx);
        vyy += (y + 0.5 - cy) * (y + 0.5 - cy);
      }
  const float reach_across = 2.0f * float(std::sqrt(vxx / count)), reach_along = 2.0f * float(std::sqrt(vyy / count));
  // Axis: coarse angles through the centroid, then finer angles and offsets across.
  const float degree = kPi / 180.0f;
  float best_angle = 0, best_offset = 0, best = -2;
  for (int step = -15; step <= 15; ++step) {
    float score = symmetry_score(blurred.data(), cx, cy, 2.0f * step * degree, reach_across, reach_along);
    if (score > best) best = score, best_angle = 2.0f * step * degree;
  }
  const float coarse_angle = best_angle;
  for (int step = -4; step <= 4; ++step)
    for (int shift = -2; shift <= 2; ++shift) {
      float angle = coarse_angle + 0.5f * step * degree, offset = 0.75f * shift;
      float score = symmetry_score(blurred.data(), cx + offset * std::cos(angle), cy + offset * std::sin(angle), angle,
                                   reach_across, reach_along);
      if (score > best) best = score, best_angle = angle, best_offset = offset;
    }
  // Frame: the origin on the axis level with the centroid; spreads of the object across and along.
  const float ca = std::cos(best_angle), sa = std::sin(best_angle);
  const float ox = cx + best_offset * ca, oy = cy + best_offset * sa;
  double su = 0, suu = 0, sv = 0, svv = 0;
  for (int y = 0; y < kThumbSide; ++y)
    for (int x = 0; x < kThumbSide; ++x)
      if (thumb[size_t(y) * kThumbSide + x] > threshold) {
        double dx = x + 0.5 - ox, dy = y + 0.5 - oy;
        double u = ca * dx + sa * dy, v = -sa * dx + ca * dy;
        su += u, suu += u * u, sv += v, svv += v * v;
      }
  pose.origin_x = ox - float(sv / count) * sa;  // move along the axis to the centroid's level
  pose.origin_y = oy + float(sv / count) * ca;
  pose.angle = best_angle;
  pose.spread_across = std::max(0.5f, float(std::sqrt(suu / count)));  // about the axis itself
  pose.spread_along = std::max(0.5f, float(std::sqrt(std::max(0.0, svv / count - (sv / count) * (sv / count)))));
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
  const float ca = std::cos(p.angle), sa = std::sin(p.angle);
  double sum = 0;
  for (int j = 0; j < kGrid; ++j) {
    float v = kGridReach * p.spread_along * (2.0f * (float(j) + 0.5f) / kGrid - 1.0f);
    for (int i = 0; i < kGrid; ++i) {
      float u = kGridReach * p.spread_across * (2.0f * (float(i) + 0.5f) / kGrid - 1.0f);
      float value =
          sample_bilinear(blurred.data(), kThumbSide, p.origin_x + u * ca - v * sa, p.origin_y + u * sa + v * ca);
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
