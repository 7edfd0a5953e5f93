// Affine + gain/bias registration of two thumbnails by Gauss-Newton. See data/copy_register.h;
// tests in tests/test_copy_match.cpp.
#include "data/copy_register.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "data/copy_signature.h"

namespace alz::data {

namespace {

constexpr float kFitSigma = 1.0f;     // blur of both images while fitting, in pixels of the level
constexpr float kDetailSigma = 2.0f;  // high-pass = thumbnail - blur(kDetailSigma)
constexpr double kMinOverlap = 1.0 / 3.0;

// One pyramid level: the blurred reference and its gradients, the blurred query.
struct Level {
  int side = 0;
  std::vector<float> reference, gradient_x, gradient_y, query;
};

std::vector<float> halve(const std::vector<float>& image, int side) {  // 2x2 averages
  const int half = side / 2;
  std::vector<float> out(size_t(half) * half);
  for (int y = 0; y < half; ++y)
    for (int x = 0; x < half; ++x) {
      const float* p = &image[size_t(2 * y) * side + 2 * x];
      out[size_t(y) * half + x] = 0.25f * (p[0] + p[1] + p[side] + p[side + 1]);
    }
  return out;
}

Level make_level(const std::vector<float>& reference, const std::vector<float>& query, int side) {
  Level level;
  level.side = side;
  level.reference = blur_square(reference, side, kFitSigma);
  level.query = blur_square(query, side, kFitSigma);
  level.gradient_x.resize(level.reference.size());
  level.gradient_y.resize(level.reference.size());
  const std::vector<float>& r = level.reference;
  for (int y = 0; y < side; ++y)
    for (int x = 0; x < side; ++x) {
      int xl = std::max(x - 1, 0), xr = std::min(x + 1, side - 1), yu = std::max(y - 1, 0),
          yd = std::min(y + 1, side - 1);
      level.gradient_x[size_t(y) * side + x] = (r[size_t(y) * side + xr] - r[size_t(y) * side + xl]) / float(xr - xl);
      level.gradient_y[size_t(y) * side + x] = (r[size_t(yd) * side + x] - r[size_t(yu) * side + x]) / float(yd - yu);
    }
  return level;
}

// Solves the symmetric positive (semi-)definite n x n system h d = g in place (Cholesky with a
// small ridge); false when it is singular.
bool solve(std::array<double, 64>& h, std::array<double, 8>& g, int n) {
  for (int i = 0; i < n; ++i) h[size_t(i) * n + i] += 1e-9 * (1.0 + h[size_t(i) * n + i]);
  for (int j = 0; j < n; ++j) {
    double d = h[size_t(j) * n + j];
    for (int k = 0; k < j; ++k) d -= h[size_t(j) * n + k] * h[size_t(j) * n + k];
    if (!(d > 1e-12)) return false;
    d = std::sqrt(d);
    h[size_t(j) * n + j] = d;
    for (int i = j + 1; i < n; ++i) {
      double s = h[size_t(i) * n + j];
      for (int k = 0; k < j; ++k) s -= h[size_t(i) * n + k] * h[size_t(j) * n + k];
      h[size_t(i) * n + j] = s / d;
    }
  }
  for (int i = 0; i < n; ++i) {  // L y = g
    double s = g[size_t(i)];
    for (int k = 0; k < i; ++k) s -= h[size_t(i) * n + k] * g[size_t(k)];
    g[size_t(i)] = s / h[size_t(i) * n + i];
  }
  for (int i = n - 1; i >= 0; --i) {  // L^T d = y
    double s = g[size_t(i)];
    for (int k = i + 1; k < n; ++k) s -= h[size_t(k) * n + i] * g[size_t(k)];
    g[size_t(i)] = s / h[size_t(i) * n + i];
  }
  return true;
}

// Gauss-Newton on one level; `m`, gain, bias in that level's pixels. Returns false on failure.
bool fit_level(const Level& level, Affine& m, double& gain, double& bias, int max_iterations, int& iterations) {
  const int side = level.side;
  const double inside_low = 1.0, inside_high = side - 1.0;
  for (int iteration = 0; iteration < max_iterations; ++iteration) {
    ++iterations;
    std::array<double, 64> h{};
    std::array<double, 8> g{};
    int64_t used = 0;
    for (int y = 0; y < side; ++y) {
      const double py = y + 0.5;
      for (int x = 0; x < side; ++x) {
        const double px = x + 0.5;
        const double xr = m[0] * px + m[1] * py + m[2], yr = m[3] * px + m[4] * py + m[5];
        if (xr < inside_low || xr > inside_high || yr < inside_low || yr > inside_high) continue;
        const float r = sample_bilinear(level.reference.data(), side, float(xr), float(yr));
        const float gx = sample_bilinear(level.gradient_x.data(), side, float(xr), float(yr));
        const float gy = sample_bilinear(level.gradient_y.data(), side, float(xr), float(yr));
        const double e = level.query[size_t(y) * side + x] - (gain * r + bias);
        const double j[8] = {gain * gx * px, gain * gx * py, gain * gx, gain * gy * px,
                             gain * gy * py, gain * gy,      r,         1.0};
        for (int a = 0; a < 8; ++a) {
          g[size_t(a)] += j[a] * e;
          for (int b = 0; b <= a; ++b) h[size_t(a) * 8 + b] += j[a] * j[b];
        }
        ++used;
      }
    }
    if (double(used) < kMinOverlap * side * side) return false;
    for (int a = 0; a < 8; ++a)
      for (int b = a + 1; b < 8; ++b) h[size_t(a) * 8 + b] = h[size_t(b) * 8 + a];
    if (!solve(h, g, 8)) return false;
    for (int k = 0; k < 6; ++k) m[size_t(k)] += g[size_t(k)];
    gain += g[6];
    bias += g[7];
    if (!(std::fabs(gain) > 1e-3) || !std::isfinite(bias)) return false;
    // Largest move of a corner of the query, in pixels of this level.
    double move = 0;
    for (double cy : {0.0, double(side)})
      for (double cx : {0.0, double(side)})
        move = std::max(move, std::hypot(g[0] * cx + g[1] * cy + g[2], g[3] * cx + g[4] * cy + g[5]));
    if (move < 0.01) break;
  }
  return true;
}

double correlation(const std::vector<double>& a, const std::vector<double>& b) {
  double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
  const double n = double(a.size());
  for (size_t i = 0; i < a.size(); ++i)
    sa += a[i], sb += b[i], saa += a[i] * a[i], sbb += b[i] * b[i], sab += a[i] * b[i];
  double cov = sab - sa * sb / n, va = saa - sa * sa / n, vb = sbb - sb * sb / n;
  return va > 1e-9 && vb > 1e-9 ? cov / std::sqrt(va * vb) : 0.0;
}

}  // namespace

Affine invert_affine(const Affine& m) {
  const double det = m[0] * m[4] - m[1] * m[3];
  ALZ_CHECK(std::fabs(det) > 1e-12, "invert_affine: singular map");
  Affine inv{};
  inv[0] = m[4] / det, inv[1] = -m[1] / det, inv[3] = -m[3] / det, inv[4] = m[0] / det;
  inv[2] = -(inv[0] * m[2] + inv[1] * m[5]);
  inv[5] = -(inv[3] * m[2] + inv[4] * m[5]);
  return inv;
}

Alignment align_thumbnails(const std::vector<uint8_t>& reference, const std::vector<uint8_t>& query,
                           const Affine& start) {
  constexpr int side = kThumbSide;
  ALZ_CHECK(reference.size() == size_t(side) * side && query.size() == size_t(side) * side,
            "align_thumbnails: thumbnails must be " << side << "x" << side);
  std::vector<float> ref(reference.begin(), reference.end()), qry(query.begin(), query.end());
  Alignment out;
  Affine m = start;
  double gain = 1, bias = 0;
  // Coarse level: continuous coordinates halve, so the translation halves.
  Affine half_m = m;
  half_m[2] *= 0.5, half_m[5] *= 0.5;
  if (!fit_level(make_level(halve(ref, side), halve(qry, side), side / 2), half_m, gain, bias, 20, out.iterations))
    return out;
  m = half_m;
  m[2] *= 2, m[5] *= 2;
  if (!fit_level(make_level(ref, qry, side), m, gain, bias, 10, out.iterations)) return out;
  out.affine = m;
  out.gain = gain;
  out.bias = bias;

  // Scores on the unblurred thumbnails and their high-pass images.
  std::vector<float> ref_blur = blur_square(ref, side, kDetailSigma), qry_blur = blur_square(qry, side, kDetailSigma);
  std::vector<double> q, r, qd, rd;
  for (int y = 0; y < side; ++y)
    for (int x = 0; x < side; ++x) {
      const double px = x + 0.5, py = y + 0.5;
      const double xr = m[0] * px + m[1] * py + m[2], yr = m[3] * px + m[4] * py + m[5];
      if (xr < 1.0 || xr > side - 1.0 || yr < 1.0 || yr > side - 1.0) continue;
      const float rv = sample_bilinear(ref.data(), side, float(xr), float(yr));
      q.push_back(qry[size_t(y) * side + x]);
      r.push_back(rv);
      qd.push_back(qry[size_t(y) * side + x] - qry_blur[size_t(y) * side + x]);
      rd.push_back(rv - sample_bilinear(ref_blur.data(), side, float(xr), float(yr)));
    }
  out.overlap = double(q.size()) / (side * side);
  if (out.overlap < kMinOverlap) return out;
  out.correlation = correlation(q, r);
  out.detail = correlation(qd, rd);
  double sq = 0, sr = 0;
  for (size_t i = 0; i < q.size(); ++i) sq += q[i], sr += r[i];
  out.query_mean = sq / double(q.size());
  out.reference_mean = sr / double(q.size());
  out.ok = true;
  return out;
}

}  // namespace alz::data
