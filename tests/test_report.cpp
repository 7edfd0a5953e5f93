// Tests of train/report.h and train/svg_chart.h: the report files are written atomically into
// the run folder, the SVGs and the HTML are well-formed XML (checked by a small checker below,
// itself tested on broken inputs), the HTML inlines both pictures and shows the leakage warning
// first, text is escaped, the JSON-lines helpers round-trip, and ticks are "nice".
//
//   cmake --build build --target test_report && ./build/tests/test_report
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "core/error.h"
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
  EXPECT_EQ(count_of(html, "<svg "), 2u);
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

}  // namespace
}  // namespace alz::train
