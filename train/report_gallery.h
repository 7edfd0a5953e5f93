// The report's gallery of misclassified validation slices: the best epoch's mistakes grouped
// by confusion cell (true class, predicted class), each with a thumbnail, its class
// probabilities and, when given, an explanation overlay. Images are embedded in the page as
// base64 PNG data URIs, so report.html stays one self-contained file.
//
//   std::vector<GalleryCell> cells = build_gallery(best_predictions);  // decodes thumbnails
//   ... fill cells[c].entries[e].overlay_png ...                       // optional (see below)
//   inputs.gallery = std::move(cells);  write_report(run_dir, inputs);
//
// The overlay hook: GalleryEntry::overlay_png holds the PNG bytes of a picture of the same
// slice drawn beside the thumbnail (a Grad-CAM heat map over the slice, say, for the predicted
// class), with overlay_caption under it. build_gallery leaves both empty and the page then
// shows the thumbnail alone; a caller that can explain predictions fills them between
// build_gallery and write_report (GalleryEntry::path and predicted_class say which image and
// which class). Any size works; the page draws it at the thumbnail's height.
//
// Tested in tests/test_report.cpp:
//   cmake --build build --target test_report && build/tests/test_report
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "train/report_run.h"

namespace alz::train {

struct GalleryEntry {
  std::string path;  // the validation image
  int true_class = 0, predicted_class = 0;
  std::vector<float> probs;            // (K) the best epoch's probabilities
  std::vector<uint8_t> thumbnail_png;  // empty when the image could not be read
  std::string thumbnail_error;         // then: why (shown instead of the picture)
  std::vector<uint8_t> overlay_png;    // optional explanation overlay (the hook above)
  std::string overlay_caption;         // e.g. "Grad-CAM, ModerateDemented"
};

struct GalleryCell {
  int true_class = 0, predicted_class = 0;  // true != predicted
  int64_t count = 0;                        // mistakes in this cell (entries may show fewer)
  std::vector<GalleryEntry> entries;        // the most confident mistakes first
};

struct GalleryOptions {
  int max_per_cell = 8;         // entries kept per cell (the page stays a few MB at most)
  int thumbnail_size = 112;     // the longer side of a thumbnail, in pixels
  bool load_thumbnails = true;  // false: no image is read (entries without thumbnails)
};

// Every misclassified sample of `p`, grouped by (true, predicted) cell, the cells in row-major
// order (true class, then predicted class), the entries of a cell by decreasing probability of
// the predicted class (then by path). An image that cannot be decoded gets thumbnail_error.
std::vector<GalleryCell> build_gallery(const BestPredictions& p, const GalleryOptions& options = {});

// A thumbnail of the image file: decoded, the longer side resized to `size` (Keras bilinear),
// grey when the image is grey, PNG-encoded. Throws alz::Error "<path>: <reason>".
std::vector<uint8_t> thumbnail_png(const std::string& path, int size);

// RFC 4648 base64 with padding.
std::string base64_encode(std::span<const uint8_t> bytes);

// The gallery section of report.html (an <h2> and one block per cell).
std::string render_gallery_html(const std::vector<GalleryCell>& cells, const std::vector<std::string>& class_names);

}  // namespace alz::train
