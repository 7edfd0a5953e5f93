// The copy finder (data/copy_match.h) on planted copies of phantom slices: every kind of copy
// of data/copy_plant.h is found with its own original, no pair joins two different subjects,
// and the estimated transform agrees with the planted one.
//   cmake --build build --target test_copy_match && build/tests/test_copy_match
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/copy_match.h"
#include "data/copy_plant.h"
#include "data/image.h"
#include "data/phantom.h"
#include "support/compare.h"

namespace alz::data {
namespace {

constexpr int kSubjects = 16, kSlices = 2, kPerKind = 4;

// A JPEG round trip through a file, as the audit sees images.
Image jpeg_round_trip(const Image& image, int quality, const std::string& path) {
  write_jpeg(path, image, quality);
  return decode_image_file(path);
}

struct PlantedSet {
  std::vector<CopySignature> originals, queries;  // queries: negatives first, then copies
  std::vector<int> query_subject, query_source;   // source: index into originals, -1 negative
  std::vector<std::string> query_kind;
};

// Originals: slices of subjects 0..kSubjects-1; negatives: slices of kSubjects more subjects;
// copies: kPerKind of each kind, of originals picked in turn, JPEG quality 75..95.
const PlantedSet& planted_set() {
  static const PlantedSet set = [] {
    PlantedSet s;
    const std::string dir = test::fresh_temp_dir("copy_match");
    std::vector<Image> saved;
    for (int subject = 0; subject < 2 * kSubjects; ++subject)
      for (int slice = 0; slice < kSlices; ++slice) {
        PhantomSubject drawn = draw_phantom_subject(21, subject, subject % 4);
        Image image = jpeg_round_trip(render_phantom_slice(drawn, slice, 208, 176), 92, dir + "/plain.jpg");
        if (subject < kSubjects) {
          s.originals.push_back(copy_signature(image));
          saved.push_back(image);
        } else {
          s.queries.push_back(copy_signature(image));
          s.query_subject.push_back(subject);
          s.query_source.push_back(-1);
          s.query_kind.push_back("negative");
        }
      }
    int next = 0;
    for (const std::string& kind : copy_kinds())
      for (int n = 0; n < kPerKind; ++n, ++next) {
        const int source = (next * 7) % int(saved.size());
        Image copy = apply_copy_transform(saved[size_t(source)], copy_kind_transform(kind, uint64_t(100 + next)));
        s.queries.push_back(copy_signature(jpeg_round_trip(copy, 75 + next % 21, dir + "/copy.jpg")));
        s.query_subject.push_back(source / kSlices);
        s.query_source.push_back(source);
        s.query_kind.push_back(kind);
      }
    return s;
  }();
  return set;
}

TEST(CopyMatch, FindsEveryKindOfPlantedCopy) {
  const PlantedSet& s = planted_set();
  std::map<std::string, int> found;
  for (const CopyMatch& m : find_copies(s.originals, s.queries))
    if (s.query_source[size_t(m.query)] == int(m.reference)) ++found[s.query_kind[size_t(m.query)]];
  int total = 0;
  for (const std::string& kind : copy_kinds()) {
    // At most one miss per kind: JPEG and float rounding differ a little between platforms.
    EXPECT_GE(found[kind], kPerKind - 1) << kind;
    total += found[kind];
  }
  // Fewer than 38 of 40 means the finder lost recall.
  EXPECT_GE(total, int(copy_kinds().size()) * kPerKind - 2);
}

TEST(CopyMatch, NoPairJoinsDifferentSubjects) {
  const PlantedSet& s = planted_set();
  for (const CopyMatch& m : find_copies(s.originals, s.queries)) {
    const int original_subject = int(m.reference) / kSlices;
    EXPECT_EQ(original_subject, s.query_subject[size_t(m.query)])
        << s.query_kind[size_t(m.query)] << " query " << m.query << " paired with original " << m.reference
        << " (detail " << m.alignment.detail << ")";
  }
}

// The hard end of each range, where the candidate step used to lose the original: rotations of
// 10-15 degrees either way, zooms of 1.2-1.25 (the outline cropped), and all of it combined
// with a mirror, a resize and a shift; the negatives stay unpaired.
TEST(CopyMatch, FindsStronglyRotatedZoomedAndCombinedCopies) {
  const PlantedSet& s = planted_set();
  const std::string dir = test::fresh_temp_dir("copy_match_hard");
  std::vector<Image> saved;  // the originals again, as planted_set saved them
  for (int subject = 0; subject < kSubjects; ++subject)
    for (int slice = 0; slice < kSlices; ++slice)
      saved.push_back(
          jpeg_round_trip(render_phantom_slice(draw_phantom_subject(21, subject, subject % 4), slice, 208, 176), 92,
                          dir + "/plain.jpg"));
  std::vector<CopySignature> queries(s.queries.begin(), s.queries.begin() + kSubjects * kSlices);  // negatives
  std::vector<int> source(queries.size(), -1);
  std::vector<std::string> kind(queries.size(), "negative");
  constexpr int kEach = 8;
  for (int n = 0; n < kEach; ++n) {
    const float sign = n % 2 ? -1.0f : 1.0f;
    CopyTransform rotate, zoom, combined;
    rotate.rotation_degrees = sign * (10.0f + 5.0f * float(n) / (kEach - 1));
    zoom.zoom = 1.2f + 0.05f * float(n) / (kEach - 1);
    combined.mirror = n % 3 == 0;
    combined.rotation_degrees = -sign * (12.0f + float(n % 4));
    combined.zoom = 1.15f + 0.1f * float(n) / (kEach - 1);
    combined.shift_x = 0.04f * sign, combined.shift_y = -0.03f;
    combined.height = n % 2 ? 180 : 190, combined.width = n % 2 ? 180 : 200;
    combined.brightness = 0.2f * sign, combined.contrast = -0.15f;
    const std::pair<const char*, CopyTransform> planted[] = {
        {"rotate", rotate}, {"zoom", zoom}, {"combined", combined}};
    for (const auto& [name, transform] : planted) {
      const int from = (n * 5 + int(source.size())) % int(saved.size());
      Image copy = apply_copy_transform(saved[size_t(from)], transform);
      queries.push_back(copy_signature(jpeg_round_trip(copy, 80 + n, dir + "/copy.jpg")));
      source.push_back(from);
      kind.push_back(name);
    }
  }
  std::map<std::string, int> found;
  for (const CopyMatch& m : find_copies(s.originals, queries)) {
    EXPECT_EQ(int(m.reference), source[size_t(m.query)]) << kind[size_t(m.query)] << " query " << m.query;
    if (source[size_t(m.query)] == int(m.reference)) ++found[kind[size_t(m.query)]];
  }
  for (const char* name : {"rotate", "zoom", "combined"}) EXPECT_EQ(found[name], kEach) << name;
}

TEST(CopyMatch, EstimatesThePlantedTransform) {
  const std::string dir = test::fresh_temp_dir("copy_match_estimate");
  Image original =
      jpeg_round_trip(render_phantom_slice(draw_phantom_subject(5, 3, 1), 1, 208, 176), 92, dir + "/original.jpg");
  CopyTransform t;
  t.mirror = true;
  t.rotation_degrees = 8;
  t.zoom = 1.1f;
  t.height = 180, t.width = 180;
  t.brightness = 0.15f;
  Image copy = jpeg_round_trip(apply_copy_transform(original, t), 85, dir + "/copy.jpg");
  std::vector<CopySignature> originals = {copy_signature(original)}, queries = {copy_signature(copy)};
  std::vector<CopyMatch> matches = find_copies(originals, queries);
  ASSERT_EQ(matches.size(), 1u);
  const CopyTransformEstimate& e = matches[0].transform;
  EXPECT_TRUE(e.mirror);
  EXPECT_NEAR(e.rotation_degrees, 8.0, 1.5);  // thumbnails of 64 px: about a degree
  EXPECT_NEAR(e.zoom, 1.1, 0.04);
  EXPECT_NEAR(e.brightness, 0.15, 0.05);  // mean ratio over the overlap, after clamping
  EXPECT_TRUE(e.resized);
  EXPECT_EQ(e.to_height, 180);
  EXPECT_EQ(e.from_width, 176);
  const std::string text = describe_copy_transform(e);
  EXPECT_NE(text.find("mirror"), std::string::npos) << text;
  EXPECT_NE(text.find("rotate +"), std::string::npos) << text;
  EXPECT_NE(text.find("zoom 1.1"), std::string::npos) << text;
  EXPECT_NE(text.find("resize 176x208->180x180"), std::string::npos) << text;
  EXPECT_NE(text.find("brightness +1"), std::string::npos) << text;

  // Turned the other way, without the mirror: the sign follows.
  CopyTransform turn;
  turn.rotation_degrees = -10;
  queries = {copy_signature(jpeg_round_trip(apply_copy_transform(original, turn), 90, dir + "/turn.jpg"))};
  matches = find_copies(originals, queries);
  ASSERT_EQ(matches.size(), 1u);
  EXPECT_FALSE(matches[0].transform.mirror);
  EXPECT_NEAR(matches[0].transform.rotation_degrees, -10.0, 1.5);
  EXPECT_NEAR(matches[0].transform.zoom, 1.0, 0.03);
}

TEST(CopyMatch, PlantingIsSeededAndChecksItsInput) {
  const CopyTransform a = copy_kind_transform("combined", 7), b = copy_kind_transform("combined", 7);
  EXPECT_EQ(a.rotation_degrees, b.rotation_degrees);
  EXPECT_EQ(a.zoom, b.zoom);
  EXPECT_NE(copy_kind_transform("combined", 8).rotation_degrees, a.rotation_degrees);
  EXPECT_GE(std::abs(copy_kind_transform("rotate15", 3).rotation_degrees), 10.0f);
  EXPECT_THROW(copy_kind_transform("sheared", 1), Error);
  CopyTransform bad;
  bad.zoom = 0;
  EXPECT_THROW(apply_copy_transform(Image(8, 8, 1), bad), Error);
  EXPECT_THROW(apply_copy_transform(Image{}, CopyTransform{}), Error);
  CopyMatchOptions options;
  options.registrations = 0;
  std::vector<CopySignature> none;
  EXPECT_THROW(find_copies(none, none, options), Error);
}

}  // namespace
}  // namespace alz::data
