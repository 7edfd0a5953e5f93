// Tests of train/report.h and train/svg_chart.h: the report files are written atomically into
// the run folder, the SVGs and the HTML are well-formed XML (checked by a small checker below,
// itself tested on broken inputs), the HTML inlines both pictures and shows the leakage warning
// first, text is escaped, the JSON-lines helpers round-trip, and ticks are "nice". The honest
// report: the headline from the best epoch with the last beside it, run metadata and resolved
// settings, small-support and one-class warnings, the gallery grouped by confusion cell with
// embedded thumbnails (and the overlay hook), ROC and PR curves, best_predictions.json, and a
// page without any external reference. (The curve points are checked in tests/test_metrics.cpp.)
//
//   cmake --build build --target test_report && ./build/tests/test_report
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include "core/error.h"
#include "data/image.h"
#include "support/compare.h"
#include "train/report.h"
#include "train/svg_chart.h"

namespace alz::train {
namespace {

namespace fs = std::filesystem;
const double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

size_t count_of(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// A small well-formedness check: one root element, tags nest and match, attributes are
// name="value" without '<', every '&' starts an entity; <?...?>, <!DOCTYPE ...> and comments
// are skipped. Not a full XML parser, but it catches what a string-building bug produces.
::testing::AssertionResult well_formed_xml(const std::string& text) {
  std::vector<std::string> open;
  int roots = 0;
  auto fail = [&](size_t at, const std::string& why) {
    return ::testing::AssertionFailure() << why << " at offset " << at << ": '" << text.substr(at, 60) << "'";
  };
  auto is_name = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == ':' || c == '.';
  };
  for (size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (c == '&') {
      const size_t semi = text.find(';', i);
      if (semi == std::string::npos || semi - i > 10) return fail(i, "bare '&'");
      const std::string entity = text.substr(i + 1, semi - i - 1);
      const bool numeric = entity.size() > 1 && entity[0] == '#';
      if (!numeric && entity != "amp" && entity != "lt" && entity != "gt" && entity != "quot" && entity != "apos")
        return fail(i, "unknown entity");
      i = semi + 1;
      continue;
    }
    if (c != '<') {
      if (open.empty() && !std::isspace(static_cast<unsigned char>(c))) return fail(i, "text outside the root element");
      ++i;
      continue;
    }
    if (text.compare(i, 4, "<!--") == 0) {
      const size_t end = text.find("-->", i);
      if (end == std::string::npos) return fail(i, "unterminated comment");
      i = end + 3;
      continue;
    }
    if (text.compare(i, 2, "<?") == 0 || text.compare(i, 2, "<!") == 0) {
      const size_t end = text.find('>', i);
      if (end == std::string::npos) return fail(i, "unterminated declaration");
      i = end + 1;
      continue;
    }
    const bool closing = i + 1 < text.size() && text[i + 1] == '/';
    size_t j = i + (closing ? 2 : 1);
    const size_t name_start = j;
    while (j < text.size() && is_name(text[j])) ++j;
    const std::string name = text.substr(name_start, j - name_start);
    if (name.empty()) return fail(i, "tag without a name");
    if (closing) {
      while (j < text.size() && std::isspace(static_cast<unsigned char>(text[j]))) ++j;
      if (j >= text.size() || text[j] != '>') return fail(i, "malformed closing tag");
      if (open.empty() || open.back() != name)
        return fail(i, "closing tag does not match '" + (open.empty() ? "" : open.back()) + "'");
      open.pop_back();
      i = j + 1;
      continue;
    }
    bool self_closing = false;
    while (true) {  // attributes
      while (j < text.size() && std::isspace(static_cast<unsigned char>(text[j]))) ++j;
      if (j >= text.size()) return fail(i, "unterminated tag");
      if (text[j] == '>') break;
      if (text.compare(j, 2, "/>") == 0) {
        self_closing = true;
        ++j;
        break;
      }
      const size_t attr_start = j;
      while (j < text.size() && is_name(text[j])) ++j;
      if (j == attr_start || j + 1 >= text.size() || text[j] != '=' || (text[j + 1] != '"' && text[j + 1] != '\''))
        return fail(j, "malformed attribute");
      const char quote = text[j + 1];
      const size_t end = text.find(quote, j + 2);
      if (end == std::string::npos) return fail(j, "unterminated attribute value");
      const std::string value = text.substr(j + 2, end - j - 2);
      if (value.find('<') != std::string::npos) return fail(j, "'<' in an attribute value");
      const auto nested = well_formed_xml("<v>" + value + "</v>");  // entities inside the value
      if (!nested) return fail(j, "bad attribute value");
      j = end + 1;
    }
    if (open.empty()) ++roots;
    if (roots > 1) return fail(i, "more than one root element");
    if (!self_closing) open.push_back(name);
    i = j + 1;
  }
  if (!open.empty()) return ::testing::AssertionFailure() << "unclosed <" << open.back() << ">";
  if (roots != 1) return ::testing::AssertionFailure() << "no root element";
  return ::testing::AssertionSuccess();
}

TEST(XmlCheck, AcceptsGoodAndRejectsBrokenDocuments) {
  EXPECT_TRUE(
      well_formed_xml("<?xml version=\"1.0\"?>\n<svg a=\"1\"><g><rect x='2'/></g><text>a &amp; b</text></svg>\n"));
  EXPECT_TRUE(well_formed_xml("<!DOCTYPE html>\n<html><body><p>&#9888; x &gt; y</p></body></html>"));
  EXPECT_FALSE(well_formed_xml("<svg><g></svg>"));                 // mismatched
  EXPECT_FALSE(well_formed_xml("<svg><g>"));                       // unclosed
  EXPECT_FALSE(well_formed_xml("<svg>a & b</svg>"));               // bare ampersand
  EXPECT_FALSE(well_formed_xml("<svg x=1></svg>"));                // unquoted attribute
  EXPECT_FALSE(well_formed_xml("<svg x=\"<\"></svg>"));            // '<' in a value
  EXPECT_FALSE(well_formed_xml("<svg></svg><svg></svg>"));         // two roots
  EXPECT_FALSE(well_formed_xml("<svg><text>a < b</text></svg>"));  // raw '<'
}

// 30 epochs of a plausible run; epoch 4 has no validation.
std::vector<EpochRecord> synthetic_history() {
  std::vector<EpochRecord> history;
  for (int e = 1; e <= 30; ++e) {
    const double t = static_cast<double>(e);
    EpochRecord r;
    r.epoch = e;
    r.train_loss = 1.3 * std::exp(-t / 8.0) + 0.05;
    r.train_accuracy = 0.98 - 0.55 * std::exp(-t / 6.0);
    r.val_loss = 1.2 * std::exp(-t / 10.0) + 0.35 + 0.01 * std::max(0.0, t - 15.0);
    r.val_accuracy = 0.86 - 0.45 * std::exp(-t / 7.0);
    r.val_balanced_accuracy = r.val_accuracy - 0.12 + 0.01 * std::sin(t);
    r.val_macro_f1 = r.val_accuracy - 0.16 + 0.015 * std::cos(t);
    r.learning_rate = 1e-3 * 0.5 * (1.0 + std::cos(3.14159265358979 * (t - 1) / 30.0));
    r.images_per_second = 412.0 + 3.0 * std::sin(t);
    if (e == 4) r.val_loss = r.val_accuracy = r.val_balanced_accuracy = r.val_macro_f1 = kNaN;
    history.push_back(r);
  }
  return history;
}

// Confusion matrix of the Kaggle validation split's class sizes (896 / 64 / 3200 / 2240).
Metrics synthetic_metrics(const std::vector<std::string>& names) {
  const std::vector<std::vector<int>> confusion{
      {610, 8, 120, 158}, {9, 31, 14, 10}, {60, 2, 2890, 248}, {170, 5, 420, 1645}};
  std::vector<double> probs;
  std::vector<int> labels;
  int sample = 0;
  for (int t = 0; t < 4; ++t)
    for (int p = 0; p < 4; ++p)
      for (int n = 0; n < confusion[t][p]; ++n, ++sample) {
        const double top = 0.4 + 0.5 * ((sample * 37) % 100) / 100.0;
        for (int k = 0; k < 4; ++k) probs.push_back(k == p ? top : (1.0 - top) / 3.0);
        labels.push_back(t);
      }
  return compute_metrics(probs, labels, names, 0.612);
}

ReportInputs synthetic_inputs() {
  ReportInputs in;
  in.title = "alz training run: resnet152v2 on phantom slices";
  in.generated_at = "2024-06-11 14:03:00";
  in.config = {{"model", "resnet152v2"},
               {"epochs", "30"},
               {"batch_size", "32"},
               {"optimizer", "adam"},
               {"learning_rate", "0.001 (cosine)"},
               {"seed", "1234"},
               {"data", "data/phantom <v2> & co"}};
  in.dataset_summary =
      "layout: Kaggle V2 (data/train, data/val)\nclasses: MildDemented, ModerateDemented, NonDemented, "
      "VeryMildDemented\ntrain: 33984 images\nval:   6400 images";
  in.leakage_warning =
      "The training split holds augmented copies of the validation images (Kaggle V2 layout): "
      "validation scores overstate what the model does on new subjects.";
  in.history = synthetic_history();
  in.evaluation = synthetic_metrics({"MildDemented", "ModerateDemented", "NonDemented", "VeryMildDemented"});
  in.evaluation_label = "validation, best epoch (27)";
  return in;
}

TEST(Report, WritesWellFormedFilesIntoTheRunFolder) {
  const std::string dir = test::fresh_temp_dir("report_full");
  const ReportInputs in = synthetic_inputs();
  const ReportPaths paths = write_report(dir, in);
  EXPECT_EQ(paths.curves_svg, (fs::path(dir) / "curves.svg").string());
  EXPECT_EQ(paths.confusion_svg, (fs::path(dir) / "confusion_matrix.svg").string());
  EXPECT_EQ(paths.html, (fs::path(dir) / "report.html").string());
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"confusion_matrix.svg", "curves.svg", "report.html"}));  // no temp files

  const std::string curves = read_text(paths.curves_svg), confusion = read_text(paths.confusion_svg);
  const std::string html = read_text(paths.html);
  EXPECT_TRUE(well_formed_xml(curves));
  EXPECT_TRUE(well_formed_xml(confusion));
  EXPECT_TRUE(well_formed_xml(html));
  EXPECT_EQ(curves.rfind(svg::kSvgXmlDeclaration, 0), 0u);

  // The pictures: every legend entry, axis label, class name and count.
  for (const char* needle : {"Loss", "Accuracy and macro-F1", "epoch", "train accuracy", "val macro-F1",
                             "val balanced accuracy", "validation"})
    EXPECT_NE(curves.find(needle), std::string::npos) << needle;
  EXPECT_EQ(count_of(curves, "<path "), 6u);  // two loss series + four score series
  for (const char* needle : {"MildDemented", "VeryMildDemented", ">2890<", ">31<", "true class", "predicted class"})
    EXPECT_NE(confusion.find(needle), std::string::npos) << needle;

  // The HTML: self-contained, both pictures inlined verbatim, the warning first.
  EXPECT_NE(html.find(render_curves_svg(in.history)), std::string::npos);
  EXPECT_NE(html.find(render_confusion_svg(*in.evaluation)), std::string::npos);
  EXPECT_NE(html.find(render_learning_rate_svg(in.history)), std::string::npos);
  EXPECT_EQ(count_of(html, "<svg "), 3u);
  for (const char* banned : {"<script", "<link", "src=", "href=", "url(", "@import"})
    EXPECT_EQ(html.find(banned), std::string::npos) << banned;
  const size_t warning = html.find("validation scores overstate what the model does on new subjects");
  ASSERT_NE(warning, std::string::npos);
  EXPECT_NE(html.find("class=\"warning\""), std::string::npos);
  const size_t config = html.find("<h2>Configuration</h2>"), dataset = html.find("<h2>Dataset</h2>");
  const size_t macro_f1 = html.find(">Macro-F1<"), balanced = html.find(">Balanced accuracy<");
  const size_t accuracy = html.find(">Accuracy<"), auc = html.find(">ROC-AUC (macro)<");
  const size_t matrix = html.find("<h2>Confusion matrix</h2>"), curves_at = html.find("<h2>Training curves</h2>");
  const size_t epochs = html.find("<h2>Per epoch</h2>");
  for (size_t at : {config, dataset, macro_f1, balanced, accuracy, auc, matrix, curves_at, epochs})
    ASSERT_NE(at, std::string::npos);
  EXPECT_LT(warning, config);
  EXPECT_LT(config, dataset);
  EXPECT_LT(dataset, macro_f1);
  EXPECT_LT(macro_f1, balanced);
  EXPECT_LT(balanced, accuracy);
  EXPECT_LT(accuracy, auc);
  EXPECT_LT(auc, matrix);
  EXPECT_LT(matrix, curves_at);
  EXPECT_LT(curves_at, epochs);
  EXPECT_NE(html.find("data/phantom &lt;v2&gt; &amp; co"), std::string::npos);  // escaped
  EXPECT_NE(html.find(dir), std::string::npos);                                 // run folder shown
  EXPECT_EQ(count_of(html, "<tr class=\"best\">"), 1u);
  EXPECT_EQ(count_of(html, "<tr><td class=\"num\">") + 1, in.history.size());
}

TEST(Report, WithoutEvaluationOrHistory) {
  const std::string dir = test::fresh_temp_dir("report_empty");
  ReportInputs in;
  in.dataset_summary = "a <tiny> set";
  const ReportPaths paths = write_report(dir, in);
  EXPECT_TRUE(paths.confusion_svg.empty());
  EXPECT_FALSE(fs::exists(fs::path(dir) / "confusion_matrix.svg"));
  const std::string html = read_text(paths.html), curves = read_text(paths.curves_svg);
  EXPECT_TRUE(well_formed_xml(html));
  EXPECT_TRUE(well_formed_xml(curves));
  EXPECT_EQ(html.find("class=\"warning\""), std::string::npos);  // no warning given, no box
  EXPECT_NE(html.find("No evaluation yet."), std::string::npos);
  EXPECT_NE(html.find("a &lt;tiny&gt; set"), std::string::npos);
  EXPECT_EQ(count_of(curves, "no data"), 2u);
  EXPECT_THROW(write_report((fs::path(dir) / "missing").string(), in), Error);
}

TEST(Report, NamesAreEscapedInThePictures) {
  Metrics m = compute_metrics(std::vector<double>{0.9, 0.1, 0.3, 0.7, 0.6, 0.4}, std::vector<int>{0, 1, 1},
                              {"a<b", "\"c\" & 'd'"});
  const std::string svg_text = render_confusion_svg(m);
  EXPECT_TRUE(well_formed_xml(svg_text));
  EXPECT_NE(svg_text.find("a&lt;b"), std::string::npos);
  EXPECT_NE(svg_text.find("&quot;c&quot; &amp; &#39;d&#39;"), std::string::npos);
  EXPECT_EQ(svg::escape_xml("x\x01y<"), "xy&lt;");  // control characters are not allowed in XML
}

TEST(Report, CurvesBreakAtMissingValues) {
  std::vector<EpochRecord> history = synthetic_history();
  const std::string svg_text = render_curves_svg(history);
  // Validation series have a gap at epoch 4: a second "M" starts a new piece of each of the 4.
  size_t pieces = 0;
  for (size_t at = svg_text.find("<path d=\""); at != std::string::npos; at = svg_text.find("<path d=\"", at + 1))
    pieces += count_of(svg_text.substr(at, svg_text.find('"', at + 9) - at), "M");
  EXPECT_EQ(pieces, 2u + 4u * 2u);
  history.resize(1);  // one epoch: markers, no crash on a single x value
  EXPECT_TRUE(well_formed_xml(render_curves_svg(history)));
}

TEST(Files, JsonLinesAppendAndReadBack) {
  const std::string dir = test::fresh_temp_dir("jsonl");
  const std::string path = (fs::path(dir) / "metrics.jsonl").string();
  const std::vector<EpochRecord> history = synthetic_history();
  for (int e = 0; e < 5; ++e) append_jsonl(path, epoch_to_json(history[static_cast<size_t>(e)]));
  const std::string text = read_text(path);
  EXPECT_EQ(count_of(text, "\n"), 5u);
  EXPECT_EQ(text.back(), '\n');
  std::vector<nlohmann::json> records = read_jsonl(path);
  ASSERT_EQ(records.size(), 5u);
  for (int e = 0; e < 5; ++e) {
    const EpochRecord back = epoch_from_json(records[static_cast<size_t>(e)]);
    const EpochRecord& want = history[static_cast<size_t>(e)];
    EXPECT_EQ(back.epoch, want.epoch);
    ALZ_EXPECT_CLOSE((std::vector<double>{back.train_loss, back.val_loss, back.val_macro_f1, back.learning_rate,
                                          back.images_per_second}),
                     (std::vector<double>{want.train_loss, want.val_loss, want.val_macro_f1, want.learning_rate,
                                          want.images_per_second}),
                     (test::Tolerance{0.0, 1e-15}));  // JSON numbers round-trip to the last bit (NaN via null)
  }
  EXPECT_TRUE(records[3]["val_loss"].is_null());  // epoch 4 had no validation
  EXPECT_THROW(epoch_from_json(nlohmann::json{{"train_loss", 1.0}}), Error);

  { std::ofstream(path, std::ios::app) << "{\"epoch\": 6, \"train_lo"; }  // a write cut short
  EXPECT_EQ(read_jsonl(path).size(), 5u);
  { std::ofstream(path, std::ios::app) << "\n{\"epoch\": 7}\n"; }  // now the torn line is in the middle
  EXPECT_THROW(read_jsonl(path), Error);
  EXPECT_THROW(read_jsonl((fs::path(dir) / "missing.jsonl").string()), Error);
}

TEST(SvgChart, NiceTicksCoverTheRangeWithRoundSteps) {
  struct Case {
    double lo, hi;
    int count;
    bool integers;
  };
  for (const Case& c : {Case{0.0, 1.0, 5, false}, Case{0.37, 0.93, 5, false}, Case{1, 30, 6, true}, Case{1, 1, 6, true},
                        Case{0.05, 1.4, 5, false}, Case{-3.2, 7.9, 5, false}, Case{1e-4, 1e-3, 4, false},
                        Case{0.5, 0.5, 5, false}, Case{1, 3, 6, true}}) {
    const svg::Ticks t = svg::nice_ticks(c.lo, c.hi, c.count, c.integers);
    ASSERT_GE(t.values.size(), 2u) << c.lo << " " << c.hi;
    EXPECT_LE(t.values.size(), static_cast<size_t>(2 * c.count + 2)) << c.lo << " " << c.hi;
    EXPECT_LE(t.lo, std::min(c.lo, c.hi));
    EXPECT_GE(t.hi, std::max(c.lo, c.hi));
    EXPECT_DOUBLE_EQ(t.values.front(), t.lo);
    EXPECT_DOUBLE_EQ(t.values.back(), t.hi);
    const double step = t.values[1] - t.values[0];
    const double mantissa = step / std::pow(10.0, std::floor(std::log10(step) + 1e-9));
    EXPECT_TRUE(std::fabs(mantissa - 1) < 1e-6 || std::fabs(mantissa - 2) < 1e-6 || std::fabs(mantissa - 2.5) < 1e-6 ||
                std::fabs(mantissa - 5) < 1e-6)
        << "step " << step;
    for (size_t i = 1; i < t.values.size(); ++i)
      EXPECT_NEAR(t.values[i] - t.values[i - 1], step, step * 1e-9);  // evenly spaced up to rounding
    if (c.integers) {
      for (double v : t.values) EXPECT_EQ(v, std::round(v));
    }
  }
  const svg::Ticks unit = svg::nice_ticks(0.0, 1.0, 5);
  EXPECT_EQ(unit.values, (std::vector<double>{0.0, 0.2, 0.4, 0.6, 0.8, 1.0}));  // not 0.6000000000000001
  EXPECT_EQ(svg::format_number(0.30000000000000004), "0.3");
  EXPECT_EQ(svg::format_number(-0.0), "0");
  EXPECT_EQ(svg::format_number(2.5e-5), "2.5e-05");
}

// ---------------------------------------------------------------- the honest report

std::string four_decimals(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", v);
  return buf;
}

// Three classes, nine validation images (files written into `dir`, the last one missing):
//   A: A A B B C     B: B A     C: C C
// mistakes by cell: (A,B) two (p[B] 0.7 then 0.6), (A,C) one, (B,A) one (its file missing).
BestPredictions small_predictions(const std::string& dir) {
  BestPredictions p;
  p.epoch = 6;
  p.class_names = {"A", "B", "C"};
  p.labels = {0, 0, 0, 0, 0, 1, 1, 2, 2};
  p.probs = {0.8f, 0.1f, 0.1f, 0.7f, 0.2f, 0.1f, 0.3f, 0.6f, 0.1f, 0.2f, 0.7f, 0.1f, 0.2f, 0.2f,
             0.6f, 0.1f, 0.8f, 0.1f, 0.5f, 0.4f, 0.1f, 0.1f, 0.1f, 0.8f, 0.2f, 0.1f, 0.7f};
  for (int i = 0; i < 9; ++i) {
    const std::string path = (fs::path(dir) / ("slice" + std::to_string(i) + ".png")).string();
    p.paths.push_back(path);
    if (i == 6) continue;  // never written: its thumbnail fails
    data::Image image(40, 30, 3);
    for (size_t j = 0; j < image.pixels.size(); ++j) image.pixels[j] = static_cast<uint8_t>((j / 3 * 7 + i * 13) % 256);
    data::write_png(path, image);
  }
  return p;
}

// The last epoch: everything predicted A, worse than the best epoch.
Metrics collapsed_last_epoch() {
  std::vector<double> probs;
  for (int i = 0; i < 9; ++i) probs.insert(probs.end(), {0.9, 0.05, 0.05});
  return compute_metrics(probs, std::vector<int>{0, 0, 0, 0, 0, 1, 1, 2, 2}, {"A", "B", "C"}, 1.5);
}

TEST(HonestReport, HeadlineIsTheBestEpochWhenTheLastIsWorse) {
  const std::string dir = test::fresh_temp_dir("report_best_last");
  const BestPredictions best = small_predictions(dir);
  const Metrics last = collapsed_last_epoch();
  ASSERT_GT(best.metrics().macro_f1, last.macro_f1);
  ReportInputs in;
  choose_evaluations(in, best, last, 8);
  ASSERT_TRUE(in.evaluation && in.last_evaluation && in.predictions);
  EXPECT_EQ(in.evaluation->macro_f1, best.metrics().macro_f1);
  EXPECT_EQ(in.evaluation->confusion_matrix, (std::vector<std::vector<int64_t>>{{2, 2, 1}, {1, 1, 0}, {0, 0, 2}}));
  EXPECT_EQ(in.evaluation_label, "validation, best epoch 6");
  EXPECT_EQ(in.last_evaluation_label, "last epoch 8");
  const std::string html = render_report_html(in);
  EXPECT_TRUE(well_formed_xml(html));
  // The first (headline) card is the best epoch's macro-F1; the last epoch's is beside it.
  const std::string card_start = "<div class=\"label\">Macro-F1</div><div class=\"value\">";
  const size_t card = html.find(card_start);
  ASSERT_NE(card, std::string::npos);
  EXPECT_EQ(html.substr(card + card_start.size(), 7), four_decimals(best.metrics().macro_f1) + "<");
  EXPECT_NE(html.find("last epoch 8: " + four_decimals(last.macro_f1), card), std::string::npos);
  EXPECT_NE(html.find("<h2>Headline metrics (validation, best epoch 6)</h2>"), std::string::npos);
  EXPECT_EQ(count_of(html, "Confusion matrix</text>"), 2u);  // best and last side by side

  // Without the best epoch's predictions (an older run folder) the last epoch is shown as such.
  ReportInputs old;
  choose_evaluations(old, std::nullopt, last, 8);
  EXPECT_EQ(old.evaluation->macro_f1, last.macro_f1);
  EXPECT_EQ(old.evaluation_label, "validation, epoch 8");
  EXPECT_FALSE(old.last_evaluation || old.predictions || old.show_gallery);
}

TEST(HonestReport, MetadataIsPresentAndSettingsAreResolved) {
  const RunMetadata m = new_run_metadata("cpu");
  EXPECT_EQ(m.device, "cpu");
  EXPECT_FALSE(m.device_name.empty());
  EXPECT_FALSE(m.alz_version.empty());
  EXPECT_FALSE(m.alz_commit.empty());
  EXPECT_EQ(m.alz_version, alz_version());
  EXPECT_EQ(m.started_at.size(), std::string("2026-11-29 19:51:04 UTC").size());
  const std::string dir = test::fresh_temp_dir("report_metadata");
  EXPECT_FALSE(read_run_metadata(dir));
  RunMetadata written = m;
  written.elapsed_seconds = 3725.0;
  written.processes = 2;
  write_run_metadata(dir, written);
  ASSERT_TRUE(read_run_metadata(dir));
  EXPECT_EQ(*read_run_metadata(dir), written);

  const nlohmann::json config = {
      {"data", ""}, {"device", "auto"}, {"precision", "tf32"}, {"model", "resnetv2-small"}, {"class_weights", "auto"}};
  const auto rows = resolved_settings(config, "cpu", "phantom/manifest.csv");
  std::map<std::string, std::string> by_key(rows.begin(), rows.end());
  EXPECT_EQ(by_key["device"], "cpu (asked: auto)");
  EXPECT_EQ(by_key["precision"].rfind("fp32", 0), 0u);
  EXPECT_EQ(by_key["data"].rfind("phantom/manifest.csv", 0), 0u);
  EXPECT_EQ(by_key["model"], "resnetv2-small");
  EXPECT_EQ(by_key["class_weights"], "auto: inverse class frequency");
  const auto gpu_rows = resolved_settings(config, "cuda:0", "phantom/manifest.csv");
  using Settings = std::map<std::string, std::string>;
  EXPECT_EQ(Settings(gpu_rows.begin(), gpu_rows.end())["precision"], "tf32");

  ReportInputs in;
  in.metadata = written;
  in.config = rows;
  const std::string html = render_report_html(in);
  EXPECT_TRUE(well_formed_xml(html));
  for (const std::string& needle : {std::string("<h2>Run</h2>"), m.alz_version, svg::escape_xml(m.alz_commit),
                                    std::string("1 h 02 min 05 s over 2 processes"), m.started_at})
    EXPECT_NE(html.find(needle), std::string::npos) << needle;
  EXPECT_EQ(html.find("<td>auto</td>"), std::string::npos);
  EXPECT_EQ(html.find("<td>tf32</td>"), std::string::npos);
  EXPECT_EQ(html.find("<td></td>"), std::string::npos);  // no empty setting
}

TEST(HonestReport, WarnsAboutSmallClassesAndOneClassPredictions) {
  // The demo's phantom split: ModerateDemented has 11 training and 4 validation images.
  const ClassBalance balance{
      {"MildDemented", "ModerateDemented", "NonDemented", "VeryMildDemented"}, {166, 11, 598, 420}, {44, 4, 152, 105}};
  const std::vector<std::string> small = small_support_warnings(balance);
  ASSERT_EQ(small.size(), 1u);
  EXPECT_NE(small[0].find("ModerateDemented has only 11 training and 4 validation images"), std::string::npos);
  EXPECT_NE(small[0].find("25 points"), std::string::npos);                         // one image of four
  EXPECT_TRUE(small_support_warnings({{"a", "b"}, {500, 500}, {20, 20}}).empty());  // the thresholds are "below"

  // 19 of 20 predictions are class 0 (95 %): a warning; 18 of 20 (90 %) is not more than 90 %.
  auto predicting_zero = [](int zeros) {
    std::vector<double> probs;
    std::vector<int> labels;
    for (int i = 0; i < 20; ++i) {
      probs.insert(probs.end(),
                   i < zeros ? std::initializer_list<double>{0.8, 0.2} : std::initializer_list<double>{0.3, 0.7});
      labels.push_back(i % 2);
    }
    return compute_metrics(probs, labels, {"Non", "Mild"});
  };
  const std::optional<std::string> dominant = dominant_class_warning(predicting_zero(19), "best epoch 3");
  ASSERT_TRUE(dominant);
  EXPECT_NE(dominant->find("At best epoch 3 the model predicts Non for 19 of 20 validation images (95 %)"),
            std::string::npos);
  EXPECT_FALSE(dominant_class_warning(predicting_zero(18), "x"));

  // On the page: one box with every warning, the last epoch's collapse included.
  const std::string dir = test::fresh_temp_dir("report_warnings");
  ReportInputs in;
  in.class_balance = balance;
  choose_evaluations(in, small_predictions(dir), collapsed_last_epoch(), 8, GalleryOptions{8, 32, false});
  const std::vector<std::string> all = report_warnings(in);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_NE(all[1].find("At last epoch 8 the model predicts A for 9 of 9"), std::string::npos);
  const std::string html = render_report_html(in);
  EXPECT_EQ(count_of(html, "class=\"cautions\""), 1u);
  EXPECT_NE(html.find(svg::escape_xml(all[0])), std::string::npos);
  EXPECT_NE(html.find(svg::escape_xml(all[1])), std::string::npos);
  EXPECT_NE(html.find("&#9888; small support"), std::string::npos);  // in the class balance table
}

TEST(HonestReport, GalleryGroupsMistakesByConfusionCell) {
  const std::string dir = test::fresh_temp_dir("report_gallery");
  const BestPredictions p = small_predictions(dir);
  const std::vector<GalleryCell> cells = build_gallery(p, GalleryOptions{8, 24, true});
  ASSERT_EQ(cells.size(), 3u);
  EXPECT_EQ((std::vector<int>{cells[0].true_class, cells[0].predicted_class, cells[1].true_class,
                              cells[1].predicted_class, cells[2].true_class, cells[2].predicted_class}),
            (std::vector<int>{0, 1, 0, 2, 1, 0}));
  EXPECT_EQ((std::vector<int64_t>{cells[0].count, cells[1].count, cells[2].count}), (std::vector<int64_t>{2, 1, 1}));
  ASSERT_EQ(cells[0].entries.size(), 2u);
  EXPECT_EQ(cells[0].entries[0].path, p.paths[3]);  // p[B] 0.7: the more confident mistake first
  EXPECT_EQ(cells[0].entries[1].path, p.paths[2]);
  EXPECT_EQ(cells[0].entries[0].probs, (std::vector<float>{0.2f, 0.7f, 0.1f}));
  // Thumbnails: PNG, the longer side 24 (40x30 -> 24x18); the missing file says why.
  const std::vector<uint8_t>& png = cells[0].entries[0].thumbnail_png;
  ASSERT_GT(png.size(), 8u);
  const data::Image thumb = data::decode_image_memory(png.data(), png.size(), "thumbnail");
  EXPECT_EQ(thumb.height, 24);
  EXPECT_EQ(thumb.width, 18);
  EXPECT_TRUE(cells[2].entries[0].thumbnail_png.empty());
  EXPECT_NE(cells[2].entries[0].thumbnail_error.find("slice6.png"), std::string::npos);

  // At most max_per_cell entries; the count stays.
  const std::vector<GalleryCell> one = build_gallery(p, GalleryOptions{1, 24, false});
  EXPECT_EQ(one[0].entries.size(), 1u);
  EXPECT_EQ(one[0].count, 2);
  EXPECT_TRUE(one[0].entries[0].thumbnail_png.empty());
  const std::string html = render_gallery_html(one, p.class_names);
  EXPECT_NE(html.find("true A &#8594; predicted B (2 images, showing 1)"), std::string::npos);

  // The overlay hook: a picture beside the thumbnail when given, nothing otherwise.
  std::vector<GalleryCell> with_overlay = cells;
  const std::string plain = render_gallery_html(with_overlay, p.class_names);
  with_overlay[0].entries[0].overlay_png = png;
  with_overlay[0].entries[0].overlay_caption = "Grad-CAM, B";
  const std::string overlaid = render_gallery_html(with_overlay, p.class_names);
  EXPECT_EQ(count_of(overlaid, "<img "), count_of(plain, "<img ") + 1);
  EXPECT_EQ(count_of(plain, "<img "), 3u);  // three thumbnails decoded, one missing
  EXPECT_NE(overlaid.find("<div class=\"caption\">Grad-CAM, B</div>"), std::string::npos);
  EXPECT_EQ(plain.find("class=\"overlay\""), std::string::npos);
}

TEST(HonestReport, Base64MatchesTheRfcExamples) {
  auto b64 = [](const std::string& text) {
    return base64_encode(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  };
  EXPECT_EQ(b64(""), "");
  EXPECT_EQ(b64("f"), "Zg==");
  EXPECT_EQ(b64("fo"), "Zm8=");
  EXPECT_EQ(b64("foo"), "Zm9v");
  EXPECT_EQ(b64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode(std::vector<uint8_t>{0xfb, 0xff}), "+/8=");
}

TEST(HonestReport, BestPredictionsRoundTripAndDamageIsNamed) {
  const std::string dir = test::fresh_temp_dir("report_predictions");
  EXPECT_FALSE(read_best_predictions(dir));
  const BestPredictions p = small_predictions(dir);
  write_best_predictions(dir, p);
  const std::optional<BestPredictions> back = read_best_predictions(dir);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->epoch, 6);
  EXPECT_EQ(back->paths, p.paths);
  EXPECT_EQ(back->labels, p.labels);
  EXPECT_EQ(back->probs, p.probs);  // floats round-trip through JSON exactly
  EXPECT_EQ(back->metrics().macro_f1, p.metrics().macro_f1);
  const std::string path = (fs::path(dir) / kBestPredictionsFile).string();
  {
    std::ofstream(path)
        << R"({"epoch": 2, "class_names": ["a", "b"], "samples": [{"path": "x", "label": 5, "probs": [0.5, 0.5]}]})";
  }
  EXPECT_NE(test::error_message([&] { read_best_predictions(dir); }).find(path), std::string::npos);
  { std::ofstream(path) << "{\"epoch\": 2, \"class"; }
  EXPECT_NE(test::error_message([&] { read_best_predictions(dir); }).find("not valid JSON"), std::string::npos);
}

TEST(HonestReport, FullPageIsSelfContained) {
  const std::string dir = test::fresh_temp_dir("report_self_contained");
  ReportInputs in = synthetic_inputs();
  in.metadata = new_run_metadata("cpu");
  in.class_balance = ClassBalance{{"A", "B", "C"}, {100, 60, 80}, {5, 2, 2}};
  choose_evaluations(in, small_predictions(dir), collapsed_last_epoch(), 30, GalleryOptions{8, 48, true});
  in.gallery[0].entries[0].overlay_png = in.gallery[0].entries[0].thumbnail_png;
  const ReportPaths paths = write_report(dir, in);
  EXPECT_EQ(paths.roc_pr_svg, (fs::path(dir) / "roc_pr.svg").string());
  const std::string html = read_text(paths.html), roc_pr = read_text(paths.roc_pr_svg);
  EXPECT_TRUE(well_formed_xml(html));
  EXPECT_TRUE(well_formed_xml(roc_pr));
  for (const char* needle :
       {"ROC (one-vs-rest)", "Precision-recall (one-vs-rest)", "false positive rate", "chance", "A (AUC ", "C (AP "})
    EXPECT_NE(roc_pr.find(needle), std::string::npos) << needle;
  EXPECT_NE(html.find(render_roc_pr_svg(*in.predictions)), std::string::npos);
  // Every src is an embedded picture; nothing is fetched from elsewhere.
  EXPECT_EQ(count_of(html, "src=\""), count_of(html, "src=\"data:image/png;base64,"));
  EXPECT_EQ(count_of(html, "<img "), 4u);  // three thumbnails and one overlay
  for (const char* banned : {"<script", "<link", "href=", "url(", "@import", "<iframe", "<object", "<embed"})
    EXPECT_EQ(html.find(banned), std::string::npos) << banned;
  const size_t headline = html.find("<h2>Headline metrics"), curves = html.find("<h2>ROC and precision-recall");
  const size_t gallery = html.find("<h2>Misclassified validation slices");
  ASSERT_NE(curves, std::string::npos);
  ASSERT_NE(gallery, std::string::npos);
  EXPECT_LT(headline, curves);
  EXPECT_LT(curves, gallery);
}

}  // namespace
}  // namespace alz::train
