// What the copy finder (data/copy_match.h) keeps of each image: a small grey thumbnail and the
// image's "pose" (where its object lies, how it is turned, how large it is) with a descriptor
// sampled in that pose, so that two images related by a mirror, a rotation, a zoom, a resize to
// another aspect, a shift or a brightness/contrast change get nearly the same descriptor.
//
// How (every step on the thumbnail, in thumbnail pixels, pixel i's centre at i + 0.5):
//   1. thumbnail: the image in grey, area-averaged to kThumbSide x kThumbSide (data/phash.h).
//      Every image is stretched to a square, so a copy that was only resized to another size or
//      aspect ratio has the same thumbnail as its original.
//   2. object: the grey levels above the background's mean (the pixels below Otsu's threshold)
//      weigh each pixel; their centroid c and covariance Sigma. Weights, unlike a mask's edge,
//      do not move when a zoom changes the share of background (and so Otsu's cut), and
//      brightness and contrast scale them all alike.
//   3. axis: whiten the object (z = Sigma^(-1/2) (p - c)): any affine map of the image (a
//      rotation of a non-square image stretched to the square thumbnail is one, with shear)
//      becomes a rotation or reflection there, so a mirror-symmetric head stays orthogonally
//      symmetric. The axis is the line in the whitened picture about which the thumbnail
//      (blurred, sigma 1.2 px) is most mirror-symmetric: the normalised correlation of points
//      on either side, searched over angles -44..44 degrees (2 degree steps, then 0.5) and
//      small offsets. An axial brain slice is bilaterally symmetric, so the axis turns with the
//      picture. (Searched in the thumbnail itself, the axis of a sheared, nearly round head
//      swung by 10 degrees and more.)
//   4. frame: origin on the axis level with the centroid, frame = Sigma^(1/2) R(axis): whitened
//      units across and along the axis (this undoes zoom, aspect, shear and shift).
//   5. descriptor: the blurred thumbnail sampled on a kGrid x kGrid grid over +-2.2 whitened units
//      of the frame, minus its mean, scaled to unit length (`fine`). A left-right mirror of the
//      image mirrors the grid about the axis (column i <-> kGrid - 1 - i), so the finder
//      (data/copy_match.h) scores plain and mirrored matches from the same grids.
// An image with no object (fewer than 2% or more than 98% of pixels above Otsu's threshold) or
// no contrast uses the whole thumbnail as its frame, unturned.
//
// Tested in tests/test_copy_match.cpp:
//   cmake --build build --target test_copy_match && build/tests/test_copy_match
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "data/image.h"

namespace alz::data {

constexpr int kThumbSide = 64;  // thumbnail side in pixels
constexpr int kGrid = 16;       // descriptor grid side

// The frame found in step 4: frame coordinates (u across the axis, v along it, in whitened
// units) give the thumbnail point
//   p = origin + frame (u, v),   frame = (2, 2) row-major, columns across and along,
// frame = Sigma^(1/2) R(angle_w), with Sigma the object's covariance and angle_w the axis in
// the whitened picture. At angle 0 the axis points down the picture.
struct CopyPose {
  float origin_x = 0, origin_y = 0;        // thumbnail pixels
  std::array<float, 4> frame{1, 0, 0, 1};  // thumbnail pixels per whitened unit
  float angle = 0;          // radians, the axis in the thumbnail; positive turns it clockwise as displayed
  float symmetry = 0;       // correlation of the two sides at the axis, -1..1
  bool has_object = false;  // false: the whole-thumbnail fallback frame
};

struct CopySignature {
  int height = 0, width = 0;   // of the image
  std::vector<uint8_t> thumb;  // (kThumbSide, kThumbSide) grey
  CopyPose pose;
  std::array<float, kGrid * kGrid> fine{};  // (kGrid along, kGrid across), unit length
  bool flat = false;                        // no contrast: never matched
};

CopySignature copy_signature(const Image& image);

// Gaussian blur of a (side, side) float image with the given sigma (pixels), edges clamped.
std::vector<float> blur_square(const std::vector<float>& image, int side, float sigma);

// Bilinear sample of a (side, side) image at continuous (x, y) (pixel i's centre at i + 0.5),
// clamped to the edge pixels.
float sample_bilinear(const float* image, int side, float x, float y);

}  // namespace alz::data
