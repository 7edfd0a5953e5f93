// A small SVG plotting kit for the run report: line charts (panels side by side, axes with
// "nice" ticks, labels, a legend) and a heat map with numbers in the cells.
//
// Output is one <svg> element (no XML declaration, no ids, no scripts, no external references),
// so the same text can be written as a .svg file (prefix kSvgXmlDeclaration) or inlined in
// HTML. Text widths are estimated (kCharWidth * font size per character): there are no font
// metrics, so layouts leave generous room.
//
// Ticks: nice_ticks(lo, hi, n) picks a step of 1, 2, 2.5 or 5 times a power of ten so that
// about n ticks cover [lo, hi], and returns the multiples of the step inside the widened range.
//
// Tested through tests/test_report.cpp:
//   cmake --build build --target test_report && build/tests/test_report
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace alz::train::svg {

inline constexpr const char* kSvgXmlDeclaration = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
inline constexpr double kCharWidth = 0.6;  // estimated glyph width / font size (sans-serif)

// &, <, >, " and ' as entities: safe in XML/HTML text and in quoted attributes.
std::string escape_xml(std::string_view text);

// A number for display: at most `digits` significant digits, no trailing zeros ("0.25", "1e-05").
std::string format_number(double value, int digits = 4);

struct Ticks {
  double lo = 0.0, hi = 1.0;   // the axis range (covers the data, ends on ticks)
  std::vector<double> values;  // ascending, inside [lo, hi]
};
Ticks nice_ticks(double lo, double hi, int target_count = 5, bool integers_only = false);

struct Series {
  std::string name;
  std::string color;         // any SVG colour, e.g. "#1f77b4"
  std::vector<double> x, y;  // equal sizes; NaN y leaves a gap
  bool dashed = false;
};

struct Panel {
  std::string title, x_label, y_label;
  std::vector<Series> series;
  bool x_integers = false;  // integer ticks (epochs)
  double y_floor = -1e300;  // the y range is clamped to [y_floor, y_ceiling]
  double y_ceiling = 1e300;
};

// Panels side by side, each panel_width x panel_height pixels (legend included). A panel
// without finite points says "no data".
std::string line_chart(const std::vector<Panel>& panels, int panel_width = 480, int panel_height = 360);

// A K_rows x K_cols heat map: cell colour from `shade` in [0, 1] (white to dark blue), the text
// `cell_text` in each cell, row labels on the left, column labels below (rotated when long),
// axis titles, a chart title and a colour bar. The cell vectors are row-major (rows, cols).
struct HeatMap {
  std::string title, row_title, col_title;
  std::string scale_title;  // beside the colour bar (0 to 1)
  std::vector<std::string> row_labels, col_labels;
  std::vector<std::string> cell_text;     // (rows, cols)
  std::vector<std::string> cell_subtext;  // (rows, cols), smaller second line; may be empty
  std::vector<double> shade;              // (rows, cols) in [0, 1]
};
std::string heat_map(const HeatMap& map);

}  // namespace alz::train::svg
