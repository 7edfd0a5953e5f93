// The copy finder: which query images are augmented copies of which reference images, and by
// what transform. A copy may be mirrored, rotated, zoomed (crop and resize), resized to another
// size or aspect ratio, shifted, and changed in brightness and contrast, alone or combined, and
// re-encoded as JPEG.
//
// How, per query (every image reduced once to a data/copy_signature.h signature):
//   0. centre every pose-normalised 16x16 grid (`fine`) on the references' mean grid, made
//      mirror-symmetric, and scale it to unit length (center_grids, centered_fine);
//   1. candidates: the `candidates` (64) references whose centred grids, pooled to 8x8, have the
//      largest dot product with the query's, plain or mirrored (split into mirror-symmetric and
//      antisymmetric halves, a mirror negates the antisymmetric one: one pass scores both);
//   2. rescore them on the full centred grids (their cosine, plain or mirrored);
//   3. register the best `registrations` (6) of them whose fine score reaches `min_fine`
//      (data/copy_register.h: affine + gain/bias from the poses' starting map) and accept the
//      first whose high-pass detail correlation reaches `min_detail` and whose plain correlation
//      reaches `min_correlation` over at least `min_overlap` of the query.
// Each query gets at most one reference. The candidate search costs 64 multiply-adds per pair of
// images; a registration about a millisecond.
//
// estimate_copy_transform turns the fitted map back into the augmentation's terms, in the
// original's pixels: mirror (a negative determinant), rotation, zoom (1 / the map's scale),
// shift (where the copy's centre comes from, as a fraction of the original's width and height),
// resize (the two images' sizes differ), brightness (the ratio of mean grey levels over the
// overlap) and contrast (the fitted gain over that ratio). describe_copy_transform lists the
// parts that are clearly present, e.g. "mirror + rotate -8.0 deg + zoom 1.10x + brightness +15%".
//
// Measured by bench/bench_audit_copies.cpp; tested in tests/test_copy_match.cpp:
//   cmake --build build --target test_copy_match && build/tests/test_copy_match
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "data/copy_register.h"
#include "data/copy_signature.h"

namespace alz::data {

struct CopyMatchOptions {
  int candidates = 64;            // pooled-grid candidates per query
  int registrations = 6;          // at most this many registered per query
  float min_fine = 0.30f;         // centred score a candidate needs to be registered
  double min_detail = 0.86;       // high-pass correlation after registration
  double min_correlation = 0.95;  // plain correlation after registration
  double min_overlap = 0.5;       // share of the query's thumbnail inside the reference
};

// The transform that makes the query from the reference, as an augmentation would state it.
struct CopyTransformEstimate {
  bool mirror = false;
  double rotation_degrees = 0;      // positive turns the picture clockwise as displayed
  double zoom = 1;                  // > 1: the copy shows an enlarged crop
  double shift_x = 0, shift_y = 0;  // fractions of the original's width and height
  bool resized = false;
  int from_height = 0, from_width = 0, to_height = 0, to_width = 0;
  double brightness = 0, contrast = 0;  // relative, 0.15 = +15 %
};

struct CopyMatch {
  int64_t reference = 0, query = 0;  // indices into the two signature lists
  float fine = 0;
  Alignment alignment;
  CopyTransformEstimate transform;
};

// Flat signatures are never matched. Throws alz::Error for options out of range.
std::vector<CopyMatch> find_copies(std::span<const CopySignature> references, std::span<const CopySignature> queries,
                                   const CopyMatchOptions& options = {});

// The starting map (query thumbnail -> reference thumbnail) from the two poses.
Affine pose_affine(const CopyPose& reference, const CopyPose& query, bool mirror);
// Cosine of the two fine grids, the reference's mirrored about its axis when `mirror`.
float fine_score(const CopySignature& reference, const CopySignature& query, bool mirror);

// The references' mean grid (made mirror-symmetric), and a grid minus that mean, unit length:
// every head shares its outline, so raw grids of different slices score about 0.98; centred,
// what sets a slice apart decides the score.
struct CenteredGrids {
  std::array<float, kGrid * kGrid> mean{};
};
CenteredGrids center_grids(std::span<const CopySignature> references);
std::array<float, kGrid * kGrid> centered_fine(const CopySignature& signature, const CenteredGrids& center);

CopyTransformEstimate estimate_copy_transform(const CopySignature& reference, const CopySignature& query,
                                              const Alignment& alignment);
std::string describe_copy_transform(const CopyTransformEstimate& transform);

}  // namespace alz::data
