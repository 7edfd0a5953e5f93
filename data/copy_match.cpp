// Candidate search, registration and transform estimates of the copy finder. See
// data/copy_match.h; tests in tests/test_copy_match.cpp.
#include "data/copy_match.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/error.h"

namespace alz::data {

namespace {

constexpr double kPiD = 3.14159265358979323846;

struct Candidate {
  float score = -2;
  int64_t reference = -1;
  bool mirror = false;
};

// Keeps the k best candidates, best first (k is small: insertion).
void offer(std::vector<Candidate>& best, const Candidate& c) {
  if (c.score <= best.back().score) return;
  size_t at = best.size() - 1;
  while (at > 0 && best[at - 1].score < c.score) {
    best[at] = best[at - 1];
    --at;
  }
  best[at] = c;
}

}  // namespace

Affine pose_affine(const CopyPose& r, const CopyPose& q, bool mirror) {
  // A query point with frame coordinates (u, v) is the reference point with (+-u, v):
  //   p_r = o_r + Fr diag(+-1, 1) Fq^-1 (p_q - o_q).
  const double det = double(q.frame[0]) * q.frame[3] - double(q.frame[1]) * q.frame[2];
  const double i00 = q.frame[3] / det, i01 = -q.frame[1] / det, i10 = -q.frame[2] / det, i11 = q.frame[0] / det;
  const double sign = mirror ? -1.0 : 1.0;
  const double m00 = r.frame[0] * sign, m01 = r.frame[1], m10 = r.frame[2] * sign, m11 = r.frame[3];
  Affine a{};
  a[0] = m00 * i00 + m01 * i10;
  a[1] = m00 * i01 + m01 * i11;
  a[3] = m10 * i00 + m11 * i10;
  a[4] = m10 * i01 + m11 * i11;
  a[2] = r.origin_x - (a[0] * q.origin_x + a[1] * q.origin_y);
  a[5] = r.origin_y - (a[3] * q.origin_x + a[4] * q.origin_y);
  return a;
}

float fine_score(const CopySignature& r, const CopySignature& q, bool mirror) {
  float s = 0;
  for (int j = 0; j < kGrid; ++j)
    for (int i = 0; i < kGrid; ++i)
      s += q.fine[size_t(j) * kGrid + i] * r.fine[size_t(j) * kGrid + size_t(mirror ? kGrid - 1 - i : i)];
  return s;
}

CenteredGrids center_grids(std::span<const CopySignature> references) {
  CenteredGrids c;
  c.mean.fill(0);
  int64_t used = 0;
  for (const CopySignature& r : references)
    if (!r.flat) {
      ++used;
      for (size_t k = 0; k < c.mean.size(); ++k) c.mean[k] += r.fine[k];
    }
  if (used == 0) return c;
  std::array<float, kGrid* kGrid> sum = c.mean;
  for (int j = 0; j < kGrid; ++j)  // mirror-symmetric, so that mirrored matches stay comparable
    for (int i = 0; i < kGrid; ++i)
      c.mean[size_t(j) * kGrid + i] =
          0.5f * (sum[size_t(j) * kGrid + i] + sum[size_t(j) * kGrid + size_t(kGrid - 1 - i)]) / float(used);
  return c;
}

std::array<float, kGrid * kGrid> centered_fine(const CopySignature& s, const CenteredGrids& c) {
  std::array<float, kGrid * kGrid> out;
  double norm = 0;
  for (size_t k = 0; k < out.size(); ++k) {
    out[k] = s.fine[k] - c.mean[k];
    norm += double(out[k]) * out[k];
  }
  const float scale = norm > 1e-12 ? float(1.0 / std::sqrt(norm)) : 0.0f;
  for (float& v : out) v *= scale;
  return out;
}

namespace {

// The centred grid pooled to (kPool, kPool), split into its mirror-symmetric and antisymmetric
// halves (kPool * kPool / 2 values each): plain score S.S' + A.A', mirrored S.S' - A.A'.
constexpr int kPool = 8, kHalf = kPool * kPool / 2;
void pooled_halves(const std::array<float, kGrid * kGrid>& g, float* sym, float* anti) {
  float pooled[kPool * kPool];
  const int f = kGrid / kPool;
  for (int y = 0; y < kPool; ++y)
    for (int x = 0; x < kPool; ++x) {
      float s = 0;
      for (int dy = 0; dy < f; ++dy)
        for (int dx = 0; dx < f; ++dx) s += g[size_t(y * f + dy) * kGrid + size_t(x * f + dx)];
      pooled[y * kPool + x] = s;
    }
  for (int y = 0; y < kPool; ++y)
    for (int x = 0; x < kPool / 2; ++x) {
      float a = pooled[y * kPool + x], b = pooled[y * kPool + kPool - 1 - x];
      sym[y * kPool / 2 + x] = 0.5f * (a + b);
      anti[y * kPool / 2 + x] = 0.5f * (a - b);
    }
}

float centered_score(const std::array<float, kGrid * kGrid>& r, const std::array<float, kGrid * kGrid>& q,
                     bool mirror) {
  float s = 0;
  for (int j = 0; j < kGrid; ++j)
    for (int i = 0; i < kGrid; ++i)
      s += q[size_t(j) * kGrid + i] * r[size_t(j) * kGrid + size_t(mirror ? kGrid - 1 - i : i)];
  return s;
}

}  // namespace

std::vector<CopyMatch> find_copies(std::span<const CopySignature> references, std::span<const CopySignature> queries,
                                   const CopyMatchOptions& options) {
  ALZ_CHECK(options.candidates >= 1 && options.candidates <= 256,
            "find_copies: candidates " << options.candidates << " out of range (1..256)");
  ALZ_CHECK(options.registrations >= 1 && options.registrations <= options.candidates,
            "find_copies: registrations " << options.registrations << " out of range (1..candidates)");
  ALZ_CHECK(options.min_detail >= -1 && options.min_detail <= 1 && options.min_correlation >= -1 &&
                options.min_correlation <= 1 && options.min_overlap >= 0 && options.min_overlap <= 1,
            "find_copies: thresholds out of range");
  // Grids centred on the references' mean (what every head shares), pooled halves in one block.
  const CenteredGrids center = center_grids(references);
  std::vector<int64_t> usable;
  std::vector<std::array<float, kGrid * kGrid>> grids;
  std::vector<float> sym, anti;
  for (size_t r = 0; r < references.size(); ++r)
    if (!references[r].flat) {
      usable.push_back(int64_t(r));
      grids.push_back(centered_fine(references[r], center));
      sym.resize(sym.size() + kHalf);
      anti.resize(anti.size() + kHalf);
      pooled_halves(grids.back(), &sym[sym.size() - kHalf], &anti[anti.size() - kHalf]);
    }
  if (usable.empty()) return {};
  std::vector<CopyMatch> found(queries.size());
  std::vector<char> accepted(queries.size(), 0);
  const int64_t nq = int64_t(queries.size());
  const int k = std::min<int>(options.candidates, int(usable.size()) * 2);
#pragma omp parallel for schedule(dynamic, 16)
  for (int64_t qi = 0; qi < nq; ++qi) {
    const CopySignature& q = queries[size_t(qi)];
    if (q.flat) continue;
    const std::array<float, kGrid* kGrid> qg = centered_fine(q, center);
    float qs[kHalf], qa[kHalf];
    pooled_halves(qg, qs, qa);
    std::vector<Candidate> best(static_cast<size_t>(k));
    for (size_t u = 0; u < usable.size(); ++u) {
      const float *rs = &sym[u * kHalf], *ra = &anti[u * kHalf];
      float even = 0, odd = 0;
      for (int d = 0; d < kHalf; ++d) even += rs[d] * qs[d], odd += ra[d] * qa[d];
      offer(best, {even + odd, int64_t(u), false});
      offer(best, {even - odd, int64_t(u), true});
    }
    for (Candidate& c : best)
      if (c.reference >= 0) c.score = centered_score(grids[size_t(c.reference)], qg, c.mirror);
    std::stable_sort(best.begin(), best.end(),
                     [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
    int tried = 0;
    for (const Candidate& c : best) {
      if (c.reference < 0 || c.score < options.min_fine || tried >= options.registrations) break;
      ++tried;
      const int64_t ref = usable[size_t(c.reference)];
      const CopySignature& r = references[size_t(ref)];
      Alignment a = align_thumbnails(r.thumb, q.thumb, pose_affine(r.pose, q.pose, c.mirror));
      if (!a.ok || a.detail < options.min_detail || a.correlation < options.min_correlation ||
          a.overlap < options.min_overlap)
        continue;
      CopyMatch& m = found[size_t(qi)];
      m.reference = ref;
      m.query = qi;
      m.fine = c.score;
      m.alignment = a;
      m.transform = estimate_copy_transform(r, q, a);
      accepted[size_t(qi)] = 1;
      break;
    }
  }
  std::vector<CopyMatch> out;
  for (size_t i = 0; i < found.size(); ++i)
    if (accepted[i]) out.push_back(found[i]);
  return out;
}

CopyTransformEstimate estimate_copy_transform(const CopySignature& reference, const CopySignature& query,
                                              const Alignment& alignment) {
  CopyTransformEstimate t;
  t.from_height = reference.height, t.from_width = reference.width;
  t.to_height = query.height, t.to_width = query.width;
  t.resized = t.from_height != t.to_height || t.from_width != t.to_width;
  // Both thumbnails stretch their image to a square, so in the original's pixels the map from
  // the copy (resized back to the original's size) to the original is L = S A S^-1 with
  // S = diag(W / side, H / side), and its translation S t.
  const Affine& m = alignment.affine;
  const double sx = double(reference.width) / kThumbSide, sy = double(reference.height) / kThumbSide;
  double l00 = m[0], l01 = m[1] * sx / sy, l10 = m[3] * sy / sx, l11 = m[4];
  const double tx = m[2] * sx, ty = m[5] * sy;
  // The copy's centre c comes from the original's point L c + t; a warp about the centre with a
  // shift s maps it from c - L s, so s = L^-1 (c - (L c + t)).
  const double cx = 0.5 * reference.width, cy = 0.5 * reference.height;
  const double px = l00 * cx + l01 * cy + tx - cx, py = l10 * cx + l11 * cy + ty - cy;
  const double det = l00 * l11 - l01 * l10;
  if (std::fabs(det) > 1e-9) {
    t.shift_x = -(l11 * px - l01 * py) / det / reference.width;
    t.shift_y = -(-l10 * px + l00 * py) / det / reference.height;
  }
  t.mirror = det < 0;
  if (t.mirror) l00 = -l00, l01 = -l01;  // the copy mirrors the original first: F L remains
  t.zoom = 1.0 / std::sqrt(std::fabs(det));
  // L ~ R(phi) / zoom maps the copy onto the original; the copy is the original turned by -phi.
  t.rotation_degrees = -std::atan2(l10 - l01, l00 + l11) * 180.0 / kPiD;
  if (alignment.reference_mean > 1e-6) {
    const double ratio = alignment.query_mean / alignment.reference_mean;
    t.brightness = ratio - 1;
    t.contrast = std::fabs(ratio) > 1e-6 ? alignment.gain / ratio - 1 : 0;
  }
  return t;
}

std::string describe_copy_transform(const CopyTransformEstimate& t) {
  std::string out;
  char buffer[96];
  auto add = [&](const char* part) { out += (out.empty() ? "" : " + ") + std::string(part); };
  if (t.mirror) add("mirror");
  if (std::fabs(t.rotation_degrees) >= 1.0) {
    std::snprintf(buffer, sizeof buffer, "rotate %+.1f deg", t.rotation_degrees);
    add(buffer);
  }
  if (std::fabs(t.zoom - 1) >= 0.03) {
    std::snprintf(buffer, sizeof buffer, "zoom %.2fx", t.zoom);
    add(buffer);
  }
  if (std::hypot(t.shift_x, t.shift_y) >= 0.02) {
    std::snprintf(buffer, sizeof buffer, "shift %+.0f%%,%+.0f%%", 100 * t.shift_x, 100 * t.shift_y);
    add(buffer);
  }
  if (t.resized) {
    std::snprintf(buffer, sizeof buffer, "resize %dx%d->%dx%d", t.from_width, t.from_height, t.to_width, t.to_height);
    add(buffer);
  }
  if (std::fabs(t.brightness) >= 0.03) {
    std::snprintf(buffer, sizeof buffer, "brightness %+.0f%%", 100 * t.brightness);
    add(buffer);
  }
  if (std::fabs(t.contrast) >= 0.03) {
    std::snprintf(buffer, sizeof buffer, "contrast %+.0f%%", 100 * t.contrast);
    add(buffer);
  }
  return out.empty() ? "same picture, re-encoded" : out;
}

}  // namespace alz::data
