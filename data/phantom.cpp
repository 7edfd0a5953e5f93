// Phantom axial T1 brain slices: anatomy drawn per subject, rendered analytically per pixel.
// See data/phantom.h for the model; tests in tests/test_phantom.cpp.
//
// Geometry is in reference pixels of a 208x176 (H x W) image, x to the right, y down
// (posterior), origin at the head centre; an image of another size scales it by
// min(H / 208, W / 176). Going inward from the head outline: scalp, outer table, diploe,
// inner table, CSF gap, then the brain: cortex (grey) lining the outer surface and every sulcus,
// white matter beneath, deep grey nuclei, ventricles, hippocampi. Soft edges (smoothstep over
// about one pixel) stand in for partial-volume blur.
#include "data/phantom.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"

namespace alz::data {

const std::array<const char*, kPhantomClassCount> kPhantomClassNames = {"MildDemented", "ModerateDemented",
                                                                        "NonDemented", "VeryMildDemented"};
const std::array<int, kPhantomClassCount> kPhantomSeverityRank = {2, 3, 0, 1};

namespace {

constexpr float kPi = 3.14159265358979f;
constexpr float kRefHeight = 208.0f, kRefWidth = 176.0f;
// Mean and spread of each class's severity (alphabetical class order).
constexpr std::array<float, kPhantomClassCount> kSeverityMean = {0.52f, 0.74f, 0.12f, 0.32f};
constexpr float kSeveritySpread = 0.11f;
// Tissue intensities before contrast, bias and noise.
constexpr float kScalp = 0.80f, kBone = 0.07f, kMarrow = 0.60f, kCsf = 0.09f;
constexpr float kGrey = 0.50f, kWhite = 0.80f, kDeepGrey = 0.63f;

uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// splitmix64 stream; normals are Irwin-Hall sums (plain arithmetic, identical everywhere).
class Stream {
 public:
  explicit Stream(uint64_t key) : state_(mix64(key ^ 0x6A09E667F3BCC909ull)) {}
  uint64_t next() { return mix64(state_ += 0x9E3779B97F4A7C15ull); }
  float uniform(float low, float high) { return low + (high - low) * float(next() >> 40) * (1.0f / 16777216.0f); }
  float normal(float mean, float sd) {
    float sum = 0;
    for (int i = 0; i < 12; ++i) sum += uniform(0, 1);
    return mean + sd * (sum - 6.0f);
  }

 private:
  uint64_t state_;
};

float smoothstep(float edge0, float edge1, float x) {
  float t = std::clamp((x - edge0) / (edge1 - edge0), 0.0f, 1.0f);
  return t * t * (3.0f - 2.0f * t);
}
float lerp(float a, float b, float t) { return a + (b - a) * t; }
// Soft step at `edge` about one pixel wide.
float step_at(float edge, float x) { return smoothstep(edge - 0.6f, edge + 0.6f, x); }
float wrap_angle(float a) {
  while (a > kPi) a -= 2 * kPi;
  while (a <= -kPi) a += 2 * kPi;
  return a;
}

// Value noise in [-1, 1] on a lattice of `cell` pixels, smooth between lattice points.
class NoiseGrid {
 public:
  NoiseGrid(Stream& stream, int height, int width, float cell)
      : cell_(cell), cols_(int(width / cell) + 3), rows_(int(height / cell) + 3), values_(size_t(cols_) * rows_) {
    for (float& v : values_) v = stream.uniform(-1, 1);
  }
  float at(float y, float x) const {
    float gx = std::clamp(x / cell_, 0.0f, float(cols_ - 2)), gy = std::clamp(y / cell_, 0.0f, float(rows_ - 2));
    int ix = std::min(int(gx), cols_ - 2), iy = std::min(int(gy), rows_ - 2);
    float tx = smoothstep(0, 1, gx - ix), ty = smoothstep(0, 1, gy - iy);
    const float* row = &values_[size_t(iy) * cols_ + ix];
    float top = lerp(row[0], row[1], tx), bottom = lerp(row[cols_], row[cols_ + 1], tx);
    return lerp(top, bottom, ty);
  }

 private:
  float cell_;
  int cols_, rows_;
  std::vector<float> values_;
};

// A sulcus: a wiggly radial cleft from the brain surface down to `depth`, CSF inside.
struct Sulcus {
  float angle, depth, half_width, wiggle_amp, wiggle_freq, wiggle_phase;
};

// An ellipse (centre, radii, rotation) drawn with a soft edge.
struct Ellipse {
  float cx = 0, cy = 0, rx = 1, ry = 1, c = 1, s = 0, soft = 0.6f;
  Ellipse() = default;
  Ellipse(float cx_, float cy_, float rx_, float ry_, float angle, float soft_ = 0.6f)
      : cx(cx_), cy(cy_), rx(rx_), ry(ry_), c(std::cos(angle)), s(std::sin(angle)), soft(soft_) {}
  float mask(float x, float y) const {
    float dx = x - cx, dy = y - cy, reach = std::max(rx, ry) + soft + 0.5f;
    if (std::fabs(dx) > reach || std::fabs(dy) > reach) return 0.0f;
    float u = (c * dx + s * dy) / rx, v = (-s * dx + c * dy) / ry;
    float e = std::sqrt(u * u + v * v);
    return 1.0f - smoothstep(-soft, soft, (e - 1.0f) * std::min(rx, ry));
  }
};

// Everything that fixes one slice's picture, in reference pixels.
struct SliceModel {
  float ax, ay;                 // head semi-axes
  std::array<float, 6> hc, hs;  // outline harmonics k = 2..7: hc cos(k t) - hs sin(k t)
  float csf_gap, cortex;        // brain-to-skull CSF gap; cortical thickness
  std::vector<Sulcus> sulci;    // sorted by angle
  std::vector<float> sulcus_angles;
  std::array<Sulcus, 4> fissures;  // interhemispheric (front, back), Sylvian (right, left)
  float vent_y0, vent_y1, vent_ym, vent_h, vent_flare, vent_width, septum;  // lateral ventricles
  std::array<Ellipse, 7> grey_nuclei;  // caudates, thalami, putamina (deep grey), third ventricle (CSF)
  std::array<Ellipse, 6> hippo;        // per side: hippocampus, temporal horn, medial CSF
  float hippo_weight;
};

SliceModel build_slice(const PhantomSubject& subject, int slice) {
  Stream stream(subject.seed ^ mix64(0x51CE + uint64_t(slice)));
  const float s = subject.severity;
  const float z = subject.z_first + subject.z_step * float(slice);
  const float size = subject.head_scale * (1.0f - 0.25f * z * z);
  SliceModel m;
  m.ax = 70.0f * size / subject.head_aspect;
  m.ay = 89.0f * size * subject.head_aspect;
  for (size_t k = 0; k < m.hc.size(); ++k) {
    m.hc[k] = subject.shape_amp[k] * std::cos(subject.shape_phase[k]);
    m.hs[k] = subject.shape_amp[k] * std::sin(subject.shape_phase[k]);
  }
  m.csf_gap = 0.8f + 3.4f * s;
  m.cortex = 3.4f - 1.0f * s;
  const float k = size;  // positions of inner structures scale with the head

  // Regular sulci, skipping the midline where the interhemispheric fissure lies.
  int count = 40 + int(stream.next() % 9);
  float offset = stream.uniform(0, 2 * kPi);
  for (int i = 0; i < count; ++i) {
    float angle = wrap_angle(offset + 2 * kPi * (float(i) + stream.uniform(-0.3f, 0.3f)) / float(count));
    float depth = stream.uniform(0, 1) < 0.25f ? stream.uniform(2.5f, 5.0f) : stream.uniform(5.0f, 15.0f);
    Sulcus sulcus{angle,
                  depth * k,
                  (0.25f + 1.5f * s) * stream.uniform(0.7f, 1.3f),
                  stream.uniform(0.4f, 1.6f),
                  stream.uniform(0.3f, 0.8f),
                  stream.uniform(0, 2 * kPi)};
    if (std::fabs(std::fabs(angle) - kPi / 2) < 0.10f) continue;
    m.sulci.push_back(sulcus);
  }
  std::sort(m.sulci.begin(), m.sulci.end(), [](const Sulcus& a, const Sulcus& b) { return a.angle < b.angle; });
  for (const Sulcus& sulcus : m.sulci) m.sulcus_angles.push_back(sulcus.angle);
  float inter = 0.45f + 1.4f * s, sylvian = 0.6f + 3.0f * s;
  m.fissures = {
      Sulcus{-kPi / 2, 34.0f * k, inter, 0.3f, 0.5f, stream.uniform(0, 6)},
      Sulcus{kPi / 2, 30.0f * k, inter, 0.3f, 0.5f, stream.uniform(0, 6)},
      Sulcus{-0.25f + stream.uniform(-0.08f, 0.08f), 24.0f * k, sylvian, 1.5f, 0.3f, stream.uniform(0, 6)},
      Sulcus{-(kPi - 0.25f) + stream.uniform(-0.08f, 0.08f), 24.0f * k, sylvian, 1.5f, 0.3f, stream.uniform(0, 6)}};

  // Lateral ventricles: two capsules along x = +-(septum + width + flare * ((y - ym) / h)^2).
  float level = 1.0f - 0.3f * std::fabs(z);
  m.vent_y0 = -30.0f * k * level * (1.0f + 0.15f * s);
  m.vent_y1 = 24.0f * k * level * (1.0f + 0.15f * s);
  m.vent_ym = -3.0f * k;
  m.vent_h = 27.0f * k;
  m.vent_flare = 5.0f * k * subject.ventricle_flare;
  m.vent_width = 1.7f * k * subject.ventricle_size * (1.0f + 1.6f * s) * level;
  m.septum = 1.4f * k;
  float third = 0.5f + 2.0f * s;
  m.grey_nuclei = {Ellipse{11.5f * k, -15.0f * k, 3.6f * k, 7.0f * k, -0.2f, 1.5f},
                   Ellipse{-11.5f * k, -15.0f * k, 3.6f * k, 7.0f * k, 0.2f, 1.5f},
                   Ellipse{8.5f * k, 9.0f * k, 6.0f * k, 9.0f * k, 0.1f, 2.0f},
                   Ellipse{-8.5f * k, 9.0f * k, 6.0f * k, 9.0f * k, -0.1f, 2.0f},
                   Ellipse{23.0f * k, -3.0f * k, 4.2f * k, 11.0f * k, -0.25f, 1.5f},
                   Ellipse{-23.0f * k, -3.0f * k, 4.2f * k, 11.0f * k, 0.25f, 1.5f},
                   Ellipse{0.0f, 8.0f * k, third, 8.0f * k, 0.0f}};

  // Hippocampi in the medial temporal lobes, seen on the lower slices; the temporal horn lies
  // lateral to each, CSF of the choroidal fissure medial.
  float hs = subject.hippocampus_size * (1.0f - 0.35f * s);
  float horn = 0.2f + 2.4f * s, medial = 0.15f + 2.0f * s;
  for (int side = 0; side < 2; ++side) {
    float sign = side == 0 ? 1.0f : -1.0f, rot = sign * 0.4f;
    float cx = sign * 27.0f * k, cy = 22.0f * k, rx = 4.3f * k * hs, ry = 10.0f * k * hs;
    float nx = std::cos(rot), ny = std::sin(rot);  // the ellipse's own x axis
    m.hippo[3 * side] = Ellipse{cx, cy, rx, ry, rot};
    m.hippo[3 * side + 1] = Ellipse{cx + sign * nx * (rx + horn), cy + sign * ny * (rx + horn), horn, 9.0f * k, rot};
    m.hippo[3 * side + 2] =
        Ellipse{cx - sign * nx * (rx + medial), cy - sign * ny * (rx + medial), medial, 10.0f * k, rot};
  }
  m.hippo_weight = 1.0f - smoothstep(-0.1f, 0.3f, z);
  return m;
}

// Distance (pixels) from (r, theta, depth below the brain surface) to a sulcus's CSF, <= 0 inside,
// and the soft CSF fraction there.
float sulcus_distance(const Sulcus& sulcus, float r, float theta, float depth, float& csf) {
  float t = std::max(depth, 0.0f);
  float straight = wrap_angle(theta - sulcus.angle) * r;
  // Far from the cleft (beyond wiggle, width and any cortex) nothing here depends on it.
  if (std::fabs(straight) > sulcus.wiggle_amp + sulcus.half_width + 8.0f) return 1e9f;
  float lateral = straight - sulcus.wiggle_amp * std::sin(sulcus.wiggle_freq * t + sulcus.wiggle_phase);
  float along = t > sulcus.depth ? t - sulcus.depth : 0.0f;
  float dist = std::sqrt(lateral * lateral + along * along);
  float half = sulcus.half_width * (1.0f - 0.4f * std::min(t / sulcus.depth, 1.0f)) + 0.15f;
  float d = dist - half;
  csf = std::max(csf, 1.0f - step_at(0.0f, d));
  return d;
}

// Raw intensity (before bias, contrast and noise) at reference coordinates (x, y);
// `texture` in [-1, 1] varies the cortical thickness.
float tissue_at(const SliceModel& m, float x, float y, float texture) {
  float r = std::sqrt(x * x + y * y);
  float c = r > 1e-6f ? x / r : 1.0f, s = r > 1e-6f ? y / r : 0.0f;
  // Head outline: an egg-shaped ellipse (wider at the back) with smooth harmonics.
  float ax = m.ax * (1.0f + 0.05f * s);
  float radius = 1.0f / std::sqrt((c / ax) * (c / ax) + (s / m.ay) * (s / m.ay));
  float ck = c, sk = s, wobble = 0;
  for (int k = 2; k <= 7; ++k) {  // cos(k theta), sin(k theta) by rotation
    float next_c = ck * c - sk * s, next_s = sk * c + ck * s;
    ck = next_c, sk = next_s;
    wobble += m.hc[size_t(k - 2)] * ck - m.hs[size_t(k - 2)] * sk;
  }
  radius *= 1.0f + wobble;
  float h = radius - r;  // depth below the scalp surface
  if (h < -1.5f) return 0.0f;
  float v = step_at(0.0f, h) * kScalp;
  v = lerp(v, kBone, step_at(2.6f, h));
  v = lerp(v, kMarrow, step_at(3.8f, h));
  v = lerp(v, kBone, step_at(5.6f, h));
  v = lerp(v, kCsf, step_at(6.8f, h));
  float d = h - 6.8f - m.csf_gap;  // depth below the brain surface
  if (d < -1.0f) return v;

  float theta = std::atan2(y, x), csf = 0;
  float to_csf = d;
  int n = int(m.sulci.size());
  int upper = int(std::upper_bound(m.sulcus_angles.begin(), m.sulcus_angles.end(), theta) - m.sulcus_angles.begin());
  for (int i = upper - 2; i <= upper + 1; ++i)
    to_csf = std::min(to_csf, sulcus_distance(m.sulci[size_t(((i % n) + n) % n)], r, theta, d, csf));
  for (const Sulcus& fissure : m.fissures) to_csf = std::min(to_csf, sulcus_distance(fissure, r, theta, d, csf));
  float thickness = m.cortex * (1.0f + 0.18f * texture);
  float brain = lerp(kGrey, kWhite, smoothstep(thickness - 0.7f, thickness + 0.7f, to_csf));

  // Deep grey nuclei, then the ventricles and the medial temporal structures.
  for (int i = 0; i < 6; ++i)
    brain = lerp(brain, i < 4 ? kDeepGrey : kDeepGrey - 0.04f, m.grey_nuclei[size_t(i)].mask(x, y));
  float deep_csf = m.grey_nuclei[6].mask(x, y);
  if (y > m.vent_y0 - 8.0f && y < m.vent_y1 + 8.0f) {
    float yc = std::clamp(y, m.vent_y0, m.vent_y1);
    float t = (yc - m.vent_y0) / (m.vent_y1 - m.vent_y0);
    float width = m.vent_width * (0.6f + 0.9f * std::exp(-((t - 0.16f) / 0.12f) * ((t - 0.16f) / 0.12f)) +
                                  0.8f * std::exp(-((t - 0.85f) / 0.12f) * ((t - 0.85f) / 0.12f)));
    float q = (yc - m.vent_ym) / m.vent_h;
    float centre = m.septum + width + m.vent_flare * q * q;
    float slope = 2.0f * m.vent_flare * q / m.vent_h;
    float lateral = (std::fabs(x) - centre) / std::sqrt(1.0f + slope * slope);
    float along = y - yc;
    float dist = std::sqrt(lateral * lateral + along * along) - width;
    deep_csf = std::max(deep_csf, 1.0f - step_at(0.0f, dist));
  }
  if (m.hippo_weight > 0.0f) {
    for (int side = 0; side < 2; ++side) {
      brain = lerp(brain, kGrey + 0.03f, m.hippo_weight * m.hippo[size_t(3 * side)].mask(x, y));
      float horn = std::max(m.hippo[size_t(3 * side + 1)].mask(x, y), m.hippo[size_t(3 * side + 2)].mask(x, y));
      deep_csf = std::max(deep_csf, m.hippo_weight * horn);
    }
  }
  brain = lerp(brain, kCsf, std::max(csf, deep_csf));
  return lerp(v, brain, step_at(0.0f, d));
}

}  // namespace

PhantomSubject draw_phantom_subject(uint64_t seed, int64_t subject_id, int label) {
  ALZ_CHECK(label >= 0 && label < kPhantomClassCount, "phantom: class index " << label << " out of range");
  PhantomSubject p;
  p.seed = mix64(seed * 0x9E3779B97F4A7C15ull + mix64(uint64_t(subject_id) + 1));
  p.label = label;
  Stream stream(p.seed);
  p.severity = std::clamp(stream.normal(kSeverityMean[size_t(label)], kSeveritySpread), 0.0f, 1.0f);
  p.head_scale = std::clamp(stream.normal(1.0f, 0.035f), 0.9f, 1.1f);
  p.head_aspect = stream.uniform(0.97f, 1.03f);
  for (size_t k = 0; k < p.shape_amp.size(); ++k) {
    p.shape_amp[k] = stream.uniform(0.0f, 0.016f) / float(k + 1);
    p.shape_phase[k] = stream.uniform(0, 2 * kPi);
  }
  p.ventricle_size = std::exp(std::clamp(stream.normal(0.0f, 0.18f), -0.45f, 0.45f));
  p.ventricle_flare = stream.uniform(0.7f, 1.3f);
  p.hippocampus_size = std::exp(std::clamp(stream.normal(0.0f, 0.08f), -0.2f, 0.2f));
  p.z_first = stream.uniform(-0.45f, -0.1f);
  p.z_step = stream.uniform(0.08f, 0.14f);
  p.shift_x = stream.uniform(-6, 6);
  p.shift_y = stream.uniform(-6, 6);
  p.rotation = std::clamp(stream.normal(0.0f, 0.07f), -0.18f, 0.18f);
  p.scale = stream.uniform(0.92f, 1.04f);
  p.gamma = stream.uniform(0.8f, 1.25f);
  p.noise_sigma = stream.uniform(0.008f, 0.03f);
  p.mean_target = stream.uniform(0.20f, 0.34f);
  for (float& b : p.bias) b = stream.uniform(-0.08f, 0.08f);
  return p;
}

Image render_phantom_slice(const PhantomSubject& subject, int slice, int height, int width) {
  ALZ_CHECK(height >= 16 && width >= 16 && height <= 8192 && width <= 8192,
            "phantom: image size " << height << "x" << width << " out of range (16..8192)");
  SliceModel model = build_slice(subject, slice);
  Stream stream(subject.seed ^ mix64(0xF00D + uint64_t(slice)));
  // Per-slice jitter on top of the scan's pose and brightness.
  float unit = std::min(float(height) / kRefHeight, float(width) / kRefWidth);
  float shift_x = (subject.shift_x + stream.uniform(-1.5f, 1.5f)) * unit;
  float shift_y = (subject.shift_y + stream.uniform(-1.5f, 1.5f)) * unit;
  float rotation = subject.rotation + stream.uniform(-0.02f, 0.02f);
  float scale = subject.scale * stream.uniform(0.98f, 1.02f) * unit;
  float mean_target = subject.mean_target * stream.uniform(0.95f, 1.05f);
  NoiseGrid fine(stream, height, width, 3.0f * unit), coarse(stream, height, width, 11.0f * unit);
  NoiseGrid thickness(stream, height, width, 7.0f * unit);
  uint64_t noise_key = stream.next();

  std::vector<float> value(size_t(height) * width);
  float cr = std::cos(rotation), sr = std::sin(rotation);
  double total = 0;
  for (int i = 0; i < height; ++i) {
    for (int j = 0; j < width; ++j) {
      float px = float(j) + 0.5f - 0.5f * float(width) - shift_x, py = float(i) + 0.5f - 0.5f * float(height) - shift_y;
      float x = (cr * px + sr * py) / scale, y = (-sr * px + cr * py) / scale;
      float v = tissue_at(model, x, y, thickness.at(float(i), float(j)));
      v *= 1.0f + 0.05f * fine.at(float(i), float(j)) + 0.05f * coarse.at(float(i), float(j));
      float xn = 2.0f * float(j) / float(width) - 1.0f, yn = 2.0f * float(i) / float(height) - 1.0f;
      const auto& b = subject.bias;
      v *= 1.0f + b[0] * xn + b[1] * yn + b[2] * xn * yn + b[3] * xn * xn + b[4] * yn * yn;
      v = std::pow(std::max(v, 0.0f), subject.gamma);
      // Rician noise: the magnitude of the signal plus complex Gaussian noise.
      uint64_t bits_a = mix64(noise_key + uint64_t(i) * uint64_t(width) + uint64_t(j));
      uint64_t bits_b = mix64(bits_a ^ 0xA5A5A5A5A5A5A5A5ull);
      auto irwin_hall = [](uint64_t bits) {  // 4 uniforms of 16 bits: mean 2, variance 1/3
        float sum = 0;
        for (int q = 0; q < 4; ++q) sum += float((bits >> (16 * q)) & 0xFFFF) * (1.0f / 65536.0f);
        return (sum - 2.0f) * 1.7320508f;
      };
      float re = v + subject.noise_sigma * irwin_hall(bits_a), im = subject.noise_sigma * irwin_hall(bits_b);
      v = std::sqrt(re * re + im * im);
      value[size_t(i) * width + j] = v;
      total += v;
    }
  }
  // Mean brightness set to a level drawn independently of the class.
  float gain = mean_target / float(std::max(total / double(value.size()), 1e-6));
  Image image(height, width, 1);
  for (size_t p = 0; p < value.size(); ++p)
    image.pixels[p] = uint8_t(std::clamp(std::lround(value[p] * gain * 255.0f), 0L, 255L));
  return image;
}

std::vector<PhantomSample> plan_phantom_dataset(const PhantomSpec& spec) {
  ALZ_CHECK(spec.val_fraction >= 0.0 && spec.val_fraction < 1.0,
            "phantom: val fraction " << spec.val_fraction << " must be in [0, 1)");
  ALZ_CHECK(spec.slices_per_subject >= 1, "phantom: slices per subject must be >= 1");
  int64_t total = 0;
  for (int64_t count : spec.counts) {
    ALZ_CHECK(count >= 0 && count <= 1000000, "phantom: class count " << count << " out of range (0..1000000)");
    total += count;
  }
  ALZ_CHECK(total > 0, "phantom: all class counts are zero");
  std::vector<PhantomSample> plan;
  for (int label = 0; label < kPhantomClassCount; ++label) {
    int64_t count = spec.counts[size_t(label)];
    // As stratified_split: round(count * f), but at least 1 on each side when count >= 2.
    int64_t val = std::llround(double(count) * spec.val_fraction);
    if (count >= 2 && spec.val_fraction > 0) val = std::clamp<int64_t>(val, 1, count - 1);
    int64_t subject = 0;
    for (const char* split : {"val", "train"}) {
      int64_t remaining = std::string(split) == "val" ? val : count - val;
      while (remaining > 0) {
        int64_t id = int64_t(label) * 1000000 + subject++;
        char group[32];
        std::snprintf(group, sizeof group, "subj%07lld", static_cast<long long>(id));
        int slices = int(std::min<int64_t>(remaining, spec.slices_per_subject));
        for (int slice = 0; slice < slices; ++slice) {
          char name[64];
          std::snprintf(name, sizeof name, "%s_%02d.jpg", group, slice);
          plan.push_back(PhantomSample{split, std::string(split) + "/" + kPhantomClassNames[size_t(label)] + "/" + name,
                                       label, group, id, slice});
        }
        remaining -= slices;
      }
    }
  }
  return plan;
}

std::vector<PhantomSample> write_phantom_dataset(const PhantomSpec& spec) {
  ALZ_CHECK(!spec.out_dir.empty(), "phantom: no output folder given");
  std::vector<PhantomSample> plan = plan_phantom_dataset(spec);
  namespace fs = std::filesystem;
  const fs::path root(spec.out_dir);
  std::error_code error;
  for (const PhantomSample& sample : plan) {  // only folders that get images
    fs::create_directories((root / sample.path).parent_path(), error);
    ALZ_CHECK(!error, spec.out_dir << ": cannot create the folder of " << sample.path << ": " << error.message());
  }
  std::string first_error;
  const int64_t n = int64_t(plan.size());
#pragma omp parallel for schedule(dynamic, 4)
  for (int64_t i = 0; i < n; ++i) {
    const PhantomSample& sample = plan[size_t(i)];
    try {
      PhantomSubject subject = draw_phantom_subject(spec.seed, sample.subject_id, sample.label);
      Image image = render_phantom_slice(subject, sample.slice, spec.height, spec.width);
      write_jpeg((root / sample.path).string(), image, spec.jpeg_quality);
    } catch (const std::exception& e) {
#pragma omp critical(alz_phantom_error)
      if (first_error.empty()) first_error = e.what();
    }
  }
  ALZ_CHECK(first_error.empty(), first_error);
  const std::string manifest = (root / "manifest.csv").string();
  std::ostringstream out;
  out << "path,label,group\n";
  for (const PhantomSample& sample : plan)
    out << sample.path << ',' << kPhantomClassNames[size_t(sample.label)] << ',' << sample.group << '\n';
  write_file_atomic(manifest, out.str());
  return plan;
}

Image phantom_contact_sheet(uint64_t seed, int per_class, int height, int width) {
  ALZ_CHECK(per_class >= 1 && per_class <= 64,
            "phantom: contact sheet per-class count " << per_class << " out of range (1..64)");
  constexpr int kBorder = 4;
  Image sheet(kPhantomClassCount * (height + kBorder) + kBorder, per_class * (width + kBorder) + kBorder, 1);
  std::fill(sheet.pixels.begin(), sheet.pixels.end(), uint8_t(255));
  for (int label = 0; label < kPhantomClassCount; ++label) {
    int row = kPhantomSeverityRank[size_t(label)];
    for (int col = 0; col < per_class; ++col) {
      PhantomSubject subject = draw_phantom_subject(seed, int64_t(label) * 1000000 + col, label);
      Image tile = render_phantom_slice(subject, col % 4, height, width);
      for (int y = 0; y < height; ++y)
        std::copy_n(&tile.pixels[size_t(y) * width], width,
                    &sheet.at(kBorder + row * (height + kBorder) + y, kBorder + col * (width + kBorder), 0));
    }
  }
  return sheet;
}

}  // namespace alz::data
