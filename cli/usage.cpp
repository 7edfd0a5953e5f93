// The command-line conventions of every `alz` command (cli/usage.h): one-line usage errors
// with "did you mean", exit code 2, defaults in --help.
#include "cli/usage.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <regex>
#include <sstream>

namespace alz::cli {

size_t edit_distance(std::string_view a, std::string_view b) {
  // d[i][j]: the distance between the first i characters of a and the first j of b.
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1, 0));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t substitute = d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, substitute});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);  // two neighbours swapped
    }
  }
  return d[a.size()][b.size()];
}

namespace {

std::string_view without_dashes(std::string_view name) {
  while (!name.empty() && name.front() == '-') name.remove_prefix(1);
  return name;
}

}  // namespace

std::string closest_name(const std::string& typed, const std::vector<std::string>& known) {
  const std::string_view bare = without_dashes(typed);
  if (bare.empty()) return "";
  const size_t allowed = bare.size() < 5 ? 1 : std::max<size_t>(2, bare.size() / 3);
  std::string best;
  size_t best_distance = allowed + 1;
  for (const std::string& name : known) {
    size_t distance = edit_distance(bare, without_dashes(name));
    if (distance < best_distance) {
      best = name;
      best_distance = distance;
    }
  }
  if (!best.empty()) return best;
  std::vector<std::string> extensions;  // `typed` cut short: --init for --init-from
  for (const std::string& name : known)
    if (bare.size() >= 3 && without_dashes(name).substr(0, bare.size()) == bare) extensions.push_back(name);
  return extensions.size() == 1 ? extensions.front() : "";
}

namespace {

// CLI11's help, but a flag shows its names only: "--no-augment", not "--no-augment{false}".
class Formatter : public CLI::Formatter {
 public:
  std::string make_option_name(const CLI::Option* option, bool is_positional) const override {
    std::string name = CLI::Formatter::make_option_name(option, is_positional);
    static const std::regex flag_value(R"(\{[^}]*\})");
    return std::regex_replace(name, flag_value, "");
  }
};

bool is_number(const std::string& text) {
  char* end = nullptr;
  std::strtod(text.c_str(), &end);
  return !text.empty() && end == text.c_str() + text.size();
}

struct KnownNames {
  std::vector<std::string> longs;   // "--epochs"
  std::vector<std::string> shorts;  // "-h"
};

KnownNames known_names(const CLI::App& app) {
  KnownNames names;
  for (const CLI::Option* option : app.get_options()) {
    for (const std::string& name : option->get_lnames()) names.longs.push_back("--" + name);
    for (const std::string& name : option->get_snames()) names.shorts.push_back("-" + name);
  }
  return names;
}

// The first argument that looks like a flag but names none of the app's, with the closest
// known flag (may be ""); false when every flag is known.
bool find_unknown_flag(const CLI::App& app, int argc, char** argv, std::string& unknown, std::string& suggestion) {
  const KnownNames names = known_names(app);
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") break;  // everything after is positional
    if (arg.size() < 2 || arg[0] != '-' || is_number(arg)) continue;
    if (arg[1] == '-') {
      const std::string name = arg.substr(0, arg.find('='));
      if (std::find(names.longs.begin(), names.longs.end(), name) != names.longs.end()) continue;
      unknown = name;
      suggestion = closest_name(name, names.longs);
      return true;
    }
    if (arg.size() == 2 && std::find(names.shorts.begin(), names.shorts.end(), arg) != names.shorts.end()) continue;
    unknown = arg.substr(0, arg.find('='));
    // "-epochs": a long name with one dash.
    suggestion = closest_name(unknown, arg.size() == 2 ? names.shorts : names.longs);
    return true;
  }
  return false;
}

std::string one_line(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

}  // namespace

void use_conventions(CLI::App& app) {
  app.option_defaults()->always_capture_default();
  app.formatter(std::make_shared<Formatter>());
}

std::string describe_usage_error(const CLI::App& app, const CLI::Error& error, int argc, char** argv) {
  const std::string help = "; see '" + app.get_name() + " --help'";
  std::string unknown, suggestion;
  if (find_unknown_flag(app, argc, argv, unknown, suggestion))
    return "unknown option '" + unknown + "'" + (suggestion.empty() ? help : " (did you mean '" + suggestion + "'?)");

  const std::string what = one_line(error.what());
  std::smatch match;
  // ArgumentMismatch: "--epochs: 1 required INT:INT in [0 - 100000] missing"
  static const std::regex missing_value(R"(^(\S+): [0-9]+ required (.*) missing$)");
  if (std::regex_match(what, match, missing_value)) return match[1].str() + " needs a value" + help;
  // IsMember: "--optimizer: adamx not in {adam,adamw,sgd}"
  static const std::regex not_a_choice(R"(^(\S+): (.*) not in \{(.*)\}$)");
  if (std::regex_match(what, match, not_a_choice)) {
    std::vector<std::string> choices;
    std::string list;
    std::stringstream stream(match[3].str());
    for (std::string choice; std::getline(stream, choice, ',');) {
      choices.push_back(choice);
      list += (list.empty() ? "" : ", ") + choice;
    }
    std::string text = match[1].str() + ": '" + match[2].str() + "' is not one of " + list;
    std::string closest = closest_name(match[2].str(), choices);
    return closest.empty() ? text : text + " (did you mean '" + closest + "'?)";
  }
  if (dynamic_cast<const CLI::ExtrasError*>(&error)) {
    std::vector<std::string> extras = app.remaining();
    std::string text = extras.size() == 1 ? "unexpected argument" : "unexpected arguments";
    for (const std::string& extra : extras) text += " '" + extra + "'";
    return text + help;
  }
  return what;
}

std::optional<int> parse_command_line(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& done) {  // --help
    return app.exit(done);
  } catch (const CLI::ParseError& error) {
    std::fflush(stdout);
    std::fprintf(stderr, "%s: %s\n", app.get_name().c_str(), describe_usage_error(app, error, argc, argv).c_str());
    return kUsageError;
  }
  return std::nullopt;
}

}  // namespace alz::cli
