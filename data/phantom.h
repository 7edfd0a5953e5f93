// Synthetic "phantom" axial T1 brain-MRI slices, written in the Kaggle V2 folder layout.
//
// Each phantom subject has an anatomy (head shape, gyral pattern, ventricle and hippocampus
// sizes) and an atrophy severity in [0, 1] drawn from its class's distribution; the
// distributions of neighbouring classes overlap:
//   NonDemented 0.12 < VeryMildDemented 0.32 < MildDemented 0.52 < ModerateDemented 0.74
//   (means; standard deviation about 0.11 each, clipped to [0, 1]).
// Severity is the ONLY thing the class changes: it widens the sulci and the Sylvian fissures,
// enlarges the lateral and third ventricles, opens the gap between brain and skull, thins the
// cortex and shrinks the hippocampi. Nuisances (shift, rotation, scale, bias field, contrast,
// Rician noise) are drawn per scan and per slice, and every image is rescaled to a mean
// brightness drawn independently of the class, so global brightness carries no label.
//
// Layout written by write_phantom_dataset (class order alphabetical, as Keras):
//   DIR/train/<class>/<group>_<slice>.jpg, DIR/val/<class>/<group>_<slice>.jpg,
//   DIR/manifest.csv  with columns path,label,group (path relative to DIR).
// A subject's slices all go to one split, so the phantom set itself does not leak subjects.
// Only folders that receive images are created (a class with count 0 has none).
//
// Deterministic: every random number comes from splitmix64 streams keyed by (seed, subject,
// slice); no std:: distributions. Images are rendered in parallel (OpenMP), each from its own
// stream, so the bytes never depend on the thread count.
//
// Tested in tests/test_phantom.cpp:
//   cmake --build build --target test_phantom && build/tests/test_phantom
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "data/image.h"

namespace alz::data {

constexpr int kPhantomClassCount = 4;
// Alphabetical, the label order of the whole project.
extern const std::array<const char*, kPhantomClassCount> kPhantomClassNames;
// Rank of each class (in kPhantomClassNames order) by severity: Non 0, VeryMild 1, Mild 2, Moderate 3.
extern const std::array<int, kPhantomClassCount> kPhantomSeverityRank;

// Counts of the real V2 originals (896 / 64 / 3200 / 2240) scaled to 1,500 images.
constexpr std::array<int64_t, kPhantomClassCount> kPhantomDefaultCounts = {210, 15, 750, 525};

// Everything drawn once per subject.
struct PhantomSubject {
  uint64_t seed = 0;   // the subject's own stream
  int label = 0;       // index into kPhantomClassNames
  float severity = 0;  // atrophy in [0, 1]
  // Anatomy.
  float head_scale = 1, head_aspect = 1;
  std::array<float, 6> shape_amp{}, shape_phase{};  // outline harmonics k = 2..7
  float ventricle_size = 1, ventricle_flare = 1, hippocampus_size = 1;
  float z_first = 0, z_step = 0.1f;  // slice levels: z_first + i * z_step, around the ventricle bodies
  // Scan-level nuisances, shared by the subject's slices.
  float shift_x = 0, shift_y = 0, rotation = 0, scale = 1;
  float gamma = 1, noise_sigma = 0.02f, mean_target = 0.27f;
  std::array<float, 5> bias{};  // bias field coefficients (x, y, xy, x^2, y^2)
};

// Draws a subject of class `label` from the dataset seed and the subject number.
PhantomSubject draw_phantom_subject(uint64_t seed, int64_t subject_id, int label);

// Renders slice `slice` of `subject` as a (height, width, 1) grey image.
Image render_phantom_slice(const PhantomSubject& subject, int slice, int height, int width);

struct PhantomSpec {
  std::string out_dir;
  std::array<int64_t, kPhantomClassCount> counts = kPhantomDefaultCounts;  // per class, train + val
  int height = 208, width = 176;
  uint64_t seed = 0;
  // Of each class's count, rounded, but at least 1 image on each side when the class has 2 or
  // more (data/dataset.h refuses a split missing a class). Whole subjects go to val first.
  double val_fraction = 0.2;
  int slices_per_subject = 4;
  int jpeg_quality = 92;
};

struct PhantomSample {
  std::string split;  // "train" or "val"
  std::string path;   // relative to the output folder, '/' separated
  int label = 0;
  std::string group;  // subject id, e.g. "subj00012"
  int64_t subject_id = 0;
  int slice = 0;
};

// The deterministic list of samples a spec produces (nothing is written).
std::vector<PhantomSample> plan_phantom_dataset(const PhantomSpec& spec);

// Renders and writes every sample of the plan and the manifest; returns the plan. Throws
// alz::Error for a bad spec or an unwritable folder.
std::vector<PhantomSample> write_phantom_dataset(const PhantomSpec& spec);

// A grey contact sheet: `per_class` slices of each class (one row per class, in severity order,
// NonDemented first), each rendered at (height, width), with a 4-pixel border.
Image phantom_contact_sheet(uint64_t seed, int per_class, int height, int width);

}  // namespace alz::data
