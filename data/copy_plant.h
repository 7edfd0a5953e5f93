// Augmented copies with known transforms, planted into a dataset to measure the copy finder
// (data/copy_match.h): what tests/test_copy_match.cpp and bench/bench_audit_copies.cpp use.
//
// apply_copy_transform makes a copy the way augmentation pipelines do, in this order:
//   1. geometry in the original's pixels, about its centre (data/augment.h's warp: bilinear,
//      nearest-edge fill): mirror left-right, rotate, zoom (> 1 crops the central 1/zoom and
//      enlarges it), shift by fractions of the width and height;
//   2. resize to another size (any aspect ratio), bilinear as Keras (data/resize.h);
//   3. photometry: v' = (1 + brightness) * (mean + (1 + contrast) * (v - mean)), clamped and
//      rounded, where mean is the image's mean (brightness scales every value, as Keras's
//      brightness_range and PIL's ImageEnhance.Brightness; contrast scales the distances from
//      the mean, as PIL's ImageEnhance.Contrast).
// The copy has the input's channel count; planting writes it as a 3-channel JPEG.
//
// copy_kind_transform draws the transform of one planted copy of a named kind from a seed
// (splitmix64; the same seed gives the same transform everywhere). The kinds and their ranges:
//   mirror        mirrored
//   rotate5       rotated by an angle of magnitude 1..5 degrees, either sign
//   rotate10      5..10 degrees
//   rotate15      10..15 degrees
//   zoom          zoom 1.05..1.25
//   resize        resized to 180x180 or 200x190 (another aspect ratio)
//   shift         shifted by 3..10 % of the side on each axis, either sign
//   brightness    brightness +-(5..25) %
//   contrast      contrast +-(5..25) %
//   combined      mirrored half the time, rotated -15..15 degrees, zoom 1..1.25, shifted up to
//                 +-6 % on each axis, resized to 180x180 or 200x190, brightness and contrast
//                 each -25..25 %
//
// Tested in tests/test_copy_match.cpp:
//   cmake --build build --target test_copy_match && build/tests/test_copy_match
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/image.h"

namespace alz::data {

struct CopyTransform {
  bool mirror = false;
  float rotation_degrees = 0;          // positive turns the picture clockwise as displayed
  float zoom = 1;                      // >= 1 crops and enlarges; < 1 shrinks with the edges filled
  float shift_x = 0, shift_y = 0;      // fractions of the width and height; positive right, down
  int height = 0, width = 0;           // output size; 0: the input's
  float brightness = 0, contrast = 0;  // relative changes, -0.25 = -25 %
};

// Throws alz::Error for an empty image, a zoom <= 0, an output side outside 1..8192, or a
// brightness or contrast at or below -100 %.
Image apply_copy_transform(const Image& image, const CopyTransform& transform);

// "mirror", "rotate5", ... as in the header.
const std::vector<std::string>& copy_kinds();
// Throws alz::Error for an unknown kind.
CopyTransform copy_kind_transform(const std::string& kind, uint64_t seed);

}  // namespace alz::data
