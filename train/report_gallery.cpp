// The gallery of misclassified validation slices (train/report_gallery.h): group the best
// epoch's mistakes by confusion cell, make PNG thumbnails, embed them as base64 data URIs.
// Tested in tests/test_report.cpp.
#include "train/report_gallery.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>

#include "core/error.h"
#include "data/image.h"
#include "data/resize.h"
#include "train/svg_chart.h"

namespace alz::train {
namespace {

std::string h(std::string_view text) { return svg::escape_xml(text); }

std::string percent(float p) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * static_cast<double>(p));
  return buf;
}

bool is_grey(const data::Image& image) {
  for (size_t i = 0; i + 2 < image.pixels.size(); i += 3)
    if (image.pixels[i] != image.pixels[i + 1] || image.pixels[i] != image.pixels[i + 2]) return false;
  return true;
}

void picture(std::ostringstream& out, const std::vector<uint8_t>& png, const std::string& alt) {
  out << "<img src=\"data:image/png;base64," << base64_encode(png) << "\" alt=\"" << h(alt) << "\"/>";
}

}  // namespace

std::string base64_encode(std::span<const uint8_t> bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t left = std::min<size_t>(3, bytes.size() - i);
    uint32_t v = uint32_t{bytes[i]} << 16;  // 24 bits, then four 6-bit digits
    if (left > 1) v |= uint32_t{bytes[i + 1]} << 8;
    if (left > 2) v |= bytes[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += left > 1 ? kAlphabet[(v >> 6) & 63] : '=';
    out += left > 2 ? kAlphabet[v & 63] : '=';
  }
  return out;
}

std::vector<uint8_t> thumbnail_png(const std::string& path, int size) {
  ALZ_CHECK(size >= 1, path << ": thumbnail size " << size << " is not positive");
  const data::Image image = data::decode_image_file(path);  // (H, W, 3)
  const double scale = static_cast<double>(size) / std::max(image.height, image.width);
  const int height = std::max(1, static_cast<int>(std::lround(image.height * scale)));
  const int width = std::max(1, static_cast<int>(std::lround(image.width * scale)));
  const data::FloatImage resized = data::resize_image(image, height, width, data::ResizeMethod::Keras);
  data::Image thumb(height, width, 3);
  for (size_t i = 0; i < resized.pixels.size(); ++i)
    thumb.pixels[i] = static_cast<uint8_t>(std::clamp(std::lround(resized.pixels[i]), 0L, 255L));
  return data::encode_png(is_grey(thumb) ? data::to_grey(thumb) : thumb);
}

std::vector<GalleryCell> build_gallery(const BestPredictions& p, const GalleryOptions& options) {
  const size_t k = p.class_names.size();
  std::map<std::pair<int, int>, GalleryCell> cells;  // ordered row-major
  for (int64_t i = 0; i < p.count(); ++i) {
    const int truth = p.labels[static_cast<size_t>(i)], predicted = p.predicted(i);
    if (truth == predicted) continue;
    GalleryCell& cell = cells[{truth, predicted}];
    cell.true_class = truth;
    cell.predicted_class = predicted;
    ++cell.count;
    GalleryEntry entry;
    entry.path = p.paths[static_cast<size_t>(i)];
    entry.true_class = truth;
    entry.predicted_class = predicted;
    entry.probs.assign(p.probs.begin() + i * k, p.probs.begin() + (i + 1) * k);
    cell.entries.push_back(std::move(entry));
  }
  std::vector<GalleryCell> out;
  for (auto& [key, cell] : cells) {
    std::stable_sort(cell.entries.begin(), cell.entries.end(), [](const GalleryEntry& a, const GalleryEntry& b) {
      const float pa = a.probs[static_cast<size_t>(a.predicted_class)];
      const float pb = b.probs[static_cast<size_t>(b.predicted_class)];
      return pa != pb ? pa > pb : a.path < b.path;
    });
    if (cell.entries.size() > static_cast<size_t>(std::max(options.max_per_cell, 0)))
      cell.entries.resize(static_cast<size_t>(std::max(options.max_per_cell, 0)));
    if (options.load_thumbnails) {
      for (GalleryEntry& entry : cell.entries) {
        try {
          entry.thumbnail_png = thumbnail_png(entry.path, options.thumbnail_size);
        } catch (const Error& error) {
          entry.thumbnail_error = error.what();
        }
      }
    }
    out.push_back(std::move(cell));
  }
  return out;
}

std::string render_gallery_html(const std::vector<GalleryCell>& cells, const std::vector<std::string>& class_names) {
  auto name = [&](int c) {
    return c >= 0 && static_cast<size_t>(c) < class_names.size() ? class_names[c] : std::to_string(c);
  };
  std::ostringstream out;
  out << "<h2>Misclassified validation slices (best epoch)</h2>\n";
  if (cells.empty()) {
    out << "<p class=\"note\">No validation image was misclassified.</p>\n";
    return out.str();
  }
  out << "<p class=\"note\">Grouped by confusion cell; in each cell the most confident mistakes first. Under each "
         "slice: its file and the probability of every class (<b>bold</b>: predicted, <u>underlined</u>: true).</p>\n";
  for (const GalleryCell& cell : cells) {
    out << "<h3>true " << h(name(cell.true_class)) << " &#8594; predicted " << h(name(cell.predicted_class)) << " ("
        << cell.count << (cell.count == 1 ? " image" : " images");
    if (static_cast<int64_t>(cell.entries.size()) < cell.count) out << ", showing " << cell.entries.size();
    out << ")</h3>\n<div class=\"gallery\">\n";
    for (const GalleryEntry& e : cell.entries) {
      const std::string file = std::filesystem::path(e.path).filename().string();
      out << "<div class=\"slice\"><div class=\"pictures\">";
      if (!e.thumbnail_png.empty())
        picture(out, e.thumbnail_png, file);
      else
        out << "<div class=\"missing\">" << h(e.thumbnail_error.empty() ? "no thumbnail" : e.thumbnail_error)
            << "</div>";
      if (!e.overlay_png.empty()) {
        out << "<div class=\"overlay\">";
        picture(out, e.overlay_png, e.overlay_caption.empty() ? "explanation of " + file : e.overlay_caption);
        if (!e.overlay_caption.empty()) out << "<div class=\"caption\">" << h(e.overlay_caption) << "</div>";
        out << "</div>";
      }
      out << "</div>\n<div class=\"file\" title=\"" << h(e.path) << "\">" << h(file)
          << "</div>\n<table class=\"probs\">";
      for (size_t c = 0; c < e.probs.size(); ++c) {
        const bool predicted = static_cast<int>(c) == e.predicted_class, truth = static_cast<int>(c) == e.true_class;
        std::string cls = h(name(static_cast<int>(c))), value = percent(e.probs[c]);
        if (truth) cls = "<u>" + cls + "</u>";
        if (predicted) cls = "<b>" + cls + "</b>", value = "<b>" + value + "</b>";
        out << "<tr><td>" << cls << "</td><td class=\"num\">" << value << "</td></tr>";
      }
      out << "</table></div>\n";
    }
    out << "</div>\n";
  }
  return out.str();
}

}  // namespace alz::train
