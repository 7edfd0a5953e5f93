// SVG line charts and heat maps for the run report (see train/svg_chart.h).
// Tested through tests/test_report.cpp.
#include "train/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace alz::train::svg {
namespace {

constexpr const char* kAxisColor = "#333333";
constexpr const char* kGridColor = "#e3e3e3";
constexpr const char* kFont = "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\"";

// Coordinates with one decimal: enough for pixels, short text.
std::string px(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

double text_width(std::string_view text, double font_size) {
  return kCharWidth * font_size * static_cast<double>(text.size());
}

void text(std::ostringstream& out, double x, double y, std::string_view content, double size,
          const char* anchor = "middle", const std::string& extra = "") {
  out << "<text x=\"" << px(x) << "\" y=\"" << px(y) << "\" font-size=\"" << px(size) << "\" text-anchor=\"" << anchor
      << "\"" << (extra.empty() ? "" : " " + extra) << ">" << escape_xml(content) << "</text>\n";
}

void line(std::ostringstream& out, double x1, double y1, double x2, double y2, const char* color, double width = 1.0) {
  out << "<line x1=\"" << px(x1) << "\" y1=\"" << px(y1) << "\" x2=\"" << px(x2) << "\" y2=\"" << px(y2)
      << "\" stroke=\"" << color << "\" stroke-width=\"" << px(width) << "\"/>\n";
}

// Legend entries laid out in rows no wider than `width`: returns each entry's (row, x offset).
struct LegendSlot {
  int row;
  double x;
};
constexpr double kLegendFont = 12.0;
constexpr double kLegendRowHeight = 18.0;
std::vector<LegendSlot> legend_layout(const std::vector<Series>& series, double width) {
  std::vector<LegendSlot> slots;
  int row = 0;
  double x = 0.0;
  for (const Series& s : series) {
    const double entry = 30.0 + text_width(s.name, kLegendFont) + 14.0;
    if (x > 0.0 && x + entry > width) {
      ++row;
      x = 0.0;
    }
    slots.push_back({row, x});
    x += entry;
  }
  return slots;
}

void draw_panel(std::ostringstream& out, const Panel& panel, double x0, double width, double height) {
  const std::vector<LegendSlot> slots = legend_layout(panel.series, width - 80.0);
  const int legend_rows = slots.empty() ? 0 : slots.back().row + 1;
  const double left = x0 + 70.0, right = x0 + width - 20.0, top = 44.0;
  const double bottom = height - 52.0 - legend_rows * kLegendRowHeight;

  out << "<rect x=\"" << px(x0) << "\" y=\"0\" width=\"" << px(width) << "\" height=\"" << px(height)
      << "\" fill=\"#ffffff\"/>\n";
  text(out, x0 + width / 2, 24, panel.title, 15, "middle", "font-weight=\"bold\"");

  // Data ranges over finite points.
  double x_min = INFINITY, x_max = -INFINITY, y_min = INFINITY, y_max = -INFINITY;
  for (const Series& s : panel.series) {
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      x_min = std::min(x_min, s.x[i]);
      x_max = std::max(x_max, s.x[i]);
      y_min = std::min(y_min, s.y[i]);
      y_max = std::max(y_max, s.y[i]);
    }
  }
  if (!std::isfinite(x_min)) {
    out << "<rect x=\"" << px(left) << "\" y=\"" << px(top) << "\" width=\"" << px(right - left) << "\" height=\""
        << px(bottom - top) << "\" fill=\"none\" stroke=\"" << kGridColor << "\"/>\n";
    text(out, (left + right) / 2, (top + bottom) / 2, "no data", 14, "middle", "fill=\"#888888\"");
    return;
  }
  const double y_pad = y_max > y_min ? 0.05 * (y_max - y_min) : 0.0;
  const Ticks xt = nice_ticks(x_min, x_max, 6, panel.x_integers);
  Ticks yt = nice_ticks(std::max(panel.y_floor, y_min - y_pad), std::min(panel.y_ceiling, y_max + y_pad), 5);
  yt.lo = std::max(yt.lo, panel.y_floor);
  yt.hi = std::min(yt.hi, panel.y_ceiling);
  std::erase_if(yt.values, [&](double v) { return v < yt.lo || v > yt.hi; });
  if (!(yt.hi > yt.lo)) yt.hi = yt.lo + 1.0;  // cannot happen with a sane floor/ceiling; stay finite

  auto sx = [&](double x) { return left + (x - xt.lo) / (xt.hi - xt.lo) * (right - left); };
  // Values outside [y_floor, y_ceiling] (a score below 0, say) are drawn on the axis's edge.
  auto sy = [&](double y) { return bottom - (std::clamp(y, yt.lo, yt.hi) - yt.lo) / (yt.hi - yt.lo) * (bottom - top); };

  // Grid, ticks and tick labels.
  for (double v : yt.values) {
    line(out, left, sy(v), right, sy(v), kGridColor);
    line(out, left - 5, sy(v), left, sy(v), kAxisColor);
    text(out, left - 8, sy(v) + 4, format_number(v), 12, "end");
  }
  for (double v : xt.values) {
    line(out, sx(v), top, sx(v), bottom, kGridColor);
    line(out, sx(v), bottom, sx(v), bottom + 5, kAxisColor);
    text(out, sx(v), bottom + 19, format_number(v), 12);
  }
  line(out, left, bottom, right, bottom, kAxisColor, 1.2);
  line(out, left, top, left, bottom, kAxisColor, 1.2);
  text(out, (left + right) / 2, bottom + 38, panel.x_label, 13);
  const double y_mid = (top + bottom) / 2;
  text(out, x0 + 18, y_mid, panel.y_label, 13, "middle",
       "transform=\"rotate(-90 " + px(x0 + 18) + " " + px(y_mid) + ")\"");

  // Series: polylines broken at missing values, markers when the points are few.
  for (const Series& s : panel.series) {
    std::string path;
    bool pen_down = false;
    size_t points = 0;
    std::ostringstream markers;
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) {
        pen_down = false;
        continue;
      }
      path += (pen_down ? " L" : " M") + px(sx(s.x[i])) + " " + px(sy(s.y[i]));
      pen_down = true;
      ++points;
      markers << "<circle cx=\"" << px(sx(s.x[i])) << "\" cy=\"" << px(sy(s.y[i])) << "\" r=\"2.8\" fill=\"" << s.color
              << "\"/>\n";
    }
    if (path.empty()) continue;
    out << "<path d=\"" << path.substr(1) << "\" fill=\"none\" stroke=\"" << s.color
        << "\" stroke-width=\"2\" stroke-linejoin=\"round\"" << (s.dashed ? " stroke-dasharray=\"6 4\"" : "") << "/>\n";
    if (points <= 40) out << markers.str();
  }

  // Legend below the x-axis label.
  const double legend_top = bottom + 52.0;
  for (size_t i = 0; i < slots.size(); ++i) {
    const Series& s = panel.series[i];
    const double lx = left + slots[i].x, ly = legend_top + slots[i].row * kLegendRowHeight;
    out << "<line x1=\"" << px(lx) << "\" y1=\"" << px(ly) << "\" x2=\"" << px(lx + 24) << "\" y2=\"" << px(ly)
        << "\" stroke=\"" << s.color << "\" stroke-width=\"2.5\"" << (s.dashed ? " stroke-dasharray=\"6 4\"" : "")
        << "/>\n";
    text(out, lx + 30, ly + 4, s.name, kLegendFont, "start");
  }
}

// White -> mid blue -> dark blue, a sequential scale that prints well.
std::string shade_color(double t) {
  t = std::clamp(std::isfinite(t) ? t : 0.0, 0.0, 1.0);
  const double stops[3][3] = {{247, 251, 255}, {107, 174, 214}, {8, 48, 107}};
  const int seg = t < 0.5 ? 0 : 1;
  const double u = t < 0.5 ? t / 0.5 : (t - 0.5) / 0.5;
  char buf[16];
  int rgb[3];
  for (int c = 0; c < 3; ++c)
    rgb[c] = static_cast<int>(std::lround(stops[seg][c] + u * (stops[seg + 1][c] - stops[seg][c])));
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
  return buf;
}

}  // namespace

std::string escape_xml(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        // Control characters other than tab/newline are not allowed in XML 1.0: drop them.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t' && c != '\r') break;
        out += c;
    }
  }
  return out;
}

std::string format_number(double value, int digits) {
  if (std::isnan(value)) return "-";
  if (value == 0.0) return "0";  // also turns -0 into 0
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*g", digits, value);
  return buf;
}

Ticks nice_ticks(double lo, double hi, int target_count, bool integers_only) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) lo = 0.0, hi = 1.0;
  if (hi < lo) std::swap(lo, hi);
  if (hi == lo) {
    const double half = integers_only ? 1.0 : std::max(std::fabs(lo) * 0.1, 0.5);
    lo -= half;
    hi += half;
  }
  target_count = std::max(target_count, 2);
  const double raw = (hi - lo) / target_count;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = 10.0 * magnitude;
  for (double m : {1.0, 2.0, 2.5, 5.0}) {
    if (integers_only && m == 2.5 && magnitude < 10.0) continue;  // 2.5 is not an integer step here
    if (m * magnitude >= raw) {
      step = m * magnitude;
      break;
    }
  }
  if (integers_only) step = std::max(1.0, std::round(step));
  // Tick k is k * step; with a step below 1 it is computed as (k * step * 10^d) / 10^d, an exact
  // integer-or-half divided by a power of ten, so 3 x 0.2 prints and compares as 0.6.
  const double scale = step < 1.0 ? std::pow(10.0, std::ceil(-std::log10(step)) + 1.0) : 1.0;
  const double scaled_step = std::round(step * scale * 2.0) / 2.0;
  auto tick = [&](double k) { return k * scaled_step / scale; };
  Ticks t;
  const double first = std::floor(lo / step + 1e-9), last = std::ceil(hi / step - 1e-9);
  for (double k = first; k <= last + 0.5; k += 1.0) t.values.push_back(k == 0.0 ? 0.0 : tick(k));
  t.lo = t.values.front();
  t.hi = t.values.back();
  return t;
}

std::string line_chart(const std::vector<Panel>& panels, int panel_width, int panel_height) {
  const double width = static_cast<double>(panel_width) * static_cast<double>(std::max<size_t>(panels.size(), 1));
  std::ostringstream out;
  out << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << px(width) << "\" height=\"" << panel_height
      << "\" viewBox=\"0 0 " << px(width) << " " << panel_height << "\" " << kFont << " fill=\"#222222\">\n";
  for (size_t p = 0; p < panels.size(); ++p)
    draw_panel(out, panels[p], static_cast<double>(p) * panel_width, panel_width, panel_height);
  out << "</svg>\n";
  return out.str();
}

std::string heat_map(const HeatMap& map) {
  const size_t rows = map.row_labels.size(), cols = map.col_labels.size();
  const double cell = std::clamp(440.0 / static_cast<double>(std::max<size_t>({rows, cols, 1})), 36.0, 110.0);
  const double label_font = 13.0;
  const double count_font = std::clamp(cell * 0.2, 10.0, 18.0);
  double row_label_width = 0.0, col_label_width = 0.0;
  for (const std::string& s : map.row_labels) row_label_width = std::max(row_label_width, text_width(s, label_font));
  for (const std::string& s : map.col_labels) col_label_width = std::max(col_label_width, text_width(s, label_font));

  // Column labels: horizontal when they fit a cell, else rotated by 40 degrees.
  const bool rotate = col_label_width > cell - 6.0;
  constexpr double kAngle = 40.0 * 3.14159265358979323846 / 180.0;
  const double col_label_height = rotate ? col_label_width * std::sin(kAngle) + label_font : label_font + 4.0;
  const double left = 34.0 + row_label_width + 12.0;
  const double top = 48.0;
  const double grid_w = cell * static_cast<double>(cols), grid_h = cell * static_cast<double>(rows);
  // Rotated labels lean left of their column, so the first may need room left of the grid.
  const double lean = rotate ? col_label_width * std::cos(kAngle) - cell / 2 : 0.0;
  const double shift = std::max(0.0, lean - (left - 10.0));
  const double x0 = left + shift;
  const double bar_x = x0 + grid_w + 22.0;
  const double width = bar_x + 14.0 + 62.0;
  const double height = top + grid_h + 10.0 + col_label_height + 34.0;

  std::ostringstream out;
  out << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << px(width) << "\" height=\"" << px(height)
      << "\" viewBox=\"0 0 " << px(width) << " " << px(height) << "\" " << kFont << " fill=\"#222222\">\n";
  out << "<rect x=\"0\" y=\"0\" width=\"" << px(width) << "\" height=\"" << px(height) << "\" fill=\"#ffffff\"/>\n";
  text(out, x0 + grid_w / 2, 26, map.title, 15, "middle", "font-weight=\"bold\"");

  for (size_t i = 0; i < rows; ++i) {
    for (size_t j = 0; j < cols; ++j) {
      const size_t at = i * cols + j;
      const double shade = at < map.shade.size() ? map.shade[at] : 0.0;
      const double cx = x0 + cell * j, cy = top + cell * i;
      out << "<rect x=\"" << px(cx) << "\" y=\"" << px(cy) << "\" width=\"" << px(cell) << "\" height=\"" << px(cell)
          << "\" fill=\"" << shade_color(shade) << "\" stroke=\"#ffffff\" stroke-width=\"1\"/>\n";
      const std::string fill = std::string("fill=\"") + (shade > 0.55 ? "#ffffff" : "#111111") + "\"";
      const bool sub = at < map.cell_subtext.size() && !map.cell_subtext[at].empty();
      const double mid = cy + cell / 2;
      if (at < map.cell_text.size())
        text(out, cx + cell / 2, sub ? mid - 2 : mid + count_font * 0.35, map.cell_text[at], count_font, "middle",
             fill + " font-weight=\"bold\"");
      if (sub)
        text(out, cx + cell / 2, mid + count_font * 0.85, map.cell_subtext[at], count_font * 0.7, "middle", fill);
    }
  }
  out << "<rect x=\"" << px(x0) << "\" y=\"" << px(top) << "\" width=\"" << px(grid_w) << "\" height=\"" << px(grid_h)
      << "\" fill=\"none\" stroke=\"" << kAxisColor << "\"/>\n";

  for (size_t i = 0; i < rows; ++i)
    text(out, x0 - 8, top + cell * i + cell / 2 + 4, map.row_labels[i], label_font, "end");
  const double col_y = top + grid_h + 16.0;
  for (size_t j = 0; j < cols; ++j) {
    const double cx = x0 + cell * j + cell / 2;
    if (rotate)
      text(out, cx + 4, col_y - 4, map.col_labels[j], label_font, "end",
           "transform=\"rotate(-40 " + px(cx + 4) + " " + px(col_y - 4) + ")\"");
    else
      text(out, cx, col_y, map.col_labels[j], label_font);
  }
  text(out, x0 + grid_w / 2, top + grid_h + 10.0 + col_label_height + 20.0, map.col_title, 13, "middle",
       "font-weight=\"bold\"");
  const double y_mid = top + grid_h / 2;
  text(out, 16, y_mid, map.row_title, 13, "middle",
       "font-weight=\"bold\" transform=\"rotate(-90 16 " + px(y_mid) + ")\"");

  // Colour bar: 0 at the bottom, 1 at the top.
  constexpr int kSteps = 24;
  for (int s = 0; s < kSteps; ++s) {
    const double y = top + grid_h * (kSteps - 1 - s) / kSteps;
    out << "<rect x=\"" << px(bar_x) << "\" y=\"" << px(y) << "\" width=\"14\" height=\"" << px(grid_h / kSteps + 0.5)
        << "\" fill=\"" << shade_color((s + 0.5) / kSteps) << "\"/>\n";
  }
  out << "<rect x=\"" << px(bar_x) << "\" y=\"" << px(top) << "\" width=\"14\" height=\"" << px(grid_h)
      << "\" fill=\"none\" stroke=\"" << kAxisColor << "\" stroke-width=\"0.8\"/>\n";
  for (double v : {0.0, 0.5, 1.0}) {
    const double y = top + grid_h * (1.0 - v);
    line(out, bar_x + 14, y, bar_x + 18, y, kAxisColor);
    text(out, bar_x + 21, y + 4, format_number(v), 11, "start");
  }
  if (!map.scale_title.empty()) {
    const double tx = bar_x + 50.0;
    text(out, tx, top + grid_h / 2, map.scale_title, 12, "middle",
         "fill=\"#555555\" transform=\"rotate(90 " + px(tx) + " " + px(top + grid_h / 2) + ")\"");
  }
  out << "</svg>\n";
  return out.str();
}

}  // namespace alz::train::svg
