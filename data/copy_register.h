// Registration of two thumbnails (data/copy_signature.h): the affine map and the brightness
// gain and offset that best turn one into the other, and how well they then agree.
//
// Model, for every pixel x of the query thumbnail whose image A x + t falls inside the
// reference thumbnail (the "overlap"):
//   query(x) ~= gain * reference(A x + t) + bias
// A (2x2) and t take mirror, rotation, zoom, aspect change, shear and shift; gain and bias take
// brightness and contrast. The 8 parameters minimise the sum of squared differences by
// Gauss-Newton (Lucas-Kanade, forward additive, with the photometric parameters in the same
// normal equations), first on 32x32 halves of the thumbnails, then on the 64x64 thumbnails,
// both blurred (sigma 1 px) so that a start a few pixels off still converges. Pixels that map
// outside the reference (what a zoom cropped away, a rotation's corners) are left out, so crops
// and fills do not pull the fit.
//
// Scores after the fit, over the overlap of the unblurred thumbnails:
//   correlation  normalised correlation of query and warped reference (1: equal up to gain and
//                bias). High for any two brain slices once their outlines are aligned.
//   detail       the same for the high-pass images (thumbnail minus its blur at sigma 2 px):
//                sulci, ventricles, texture. A copy keeps them (about 0.8 and up on JPEG
//                phantoms); a different slice, even of a head of the same shape, does not
//                (below about 0.4).
//   overlap      share of the query's pixels that map inside the reference.
//
// Tested in tests/test_copy_match.cpp:
//   cmake --build build --target test_copy_match && build/tests/test_copy_match
#pragma once
#include <array>
#include <cstdint>
#include <vector>

namespace alz::data {

// Affine map of thumbnail pixels, query -> reference:
//   x_ref = m[0] x + m[1] y + m[2],  y_ref = m[3] x + m[4] y + m[5].
using Affine = std::array<double, 6>;

struct Alignment {
  Affine affine{};
  double gain = 1, bias = 0;
  double correlation = 0, detail = 0, overlap = 0;
  double reference_mean = 0, query_mean = 0;  // over the overlap, 0..255 (reference warped)
  int iterations = 0;
  bool ok = false;  // false: the fit diverged or the overlap fell below a third
};

// Both thumbnails (side, side) grey, side kThumbSide; `start` from the two images' poses.
Alignment align_thumbnails(const std::vector<uint8_t>& reference, const std::vector<uint8_t>& query,
                           const Affine& start);

// The inverse map (reference -> query). Throws alz::Error for a singular map.
Affine invert_affine(const Affine& m);

}  // namespace alz::data
