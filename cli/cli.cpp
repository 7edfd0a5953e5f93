// The `alz` command table and dispatch (cli/cli.h), shared by cli/main.cpp and the tests:
// an exception from a subcommand becomes "alz <name>: <message>" on stderr and exit code 1; a
// usage error (CLI::ParseError) exit code 2; an unknown command names the closest one.
// Tested in tests/test_cli_usage.cpp.
#include "cli/cli.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "cli/usage.h"

namespace alz::cli {

namespace {

struct Command {
  const char* name;
  int (*run)(int, char**);
  const char* help;
};

const Command kCommands[] = {
    {"info", info, "devices found, library versions, model summaries and parameter counts"},
    {"synth", synth, "write synthetic brain-MRI phantom slices in the Kaggle V2 layout"},
    {"audit", audit, "audit a dataset: layout, counts, unreadable files, duplicates, leakage"},
    {"train", train, "train a ResNetV2 (default: the phantom set), with checkpoints and a report"},
    {"cv", cv, "cross-validate by subject: K models on subject-disjoint folds, mean ± std of the metrics"},
    {"eval", eval, "evaluate a checkpoint: macro-F1, balanced accuracy, per-class, confusion, ROC-AUC"},
    {"predict", predict, "predict the class and probabilities of images"},
    {"explain", explain, "Grad-CAM: overlays and maps of where the model looked for a class"},
    {"convert", convert, "convert a Keras file (.h5, .weights.h5, .keras) to an alz checkpoint"},
    {"export", export_model, "write a model for Keras (.h5, .weights.h5, .keras)"},
    {"version", version, "version, commit, build type, CUDA libraries and the GPUs found (also --version)"},
};

void print_usage(FILE* out) {
  std::fprintf(out, "usage: alz <command> [options]\n\ncommands:\n");
  for (const Command& command : kCommands) std::fprintf(out, "  %-8s %s\n", command.name, command.help);
  std::fprintf(out,
               "\n`alz <command> --help` lists a command's options and their defaults.\n"
               "Exit status: 0 success, 1 the command failed (the message says why), 2 usage error.\n");
}

}  // namespace

int run(int argc, char** argv) {
  if (argc < 2) {
    print_usage(stderr);
    return 2;
  }
  std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    print_usage(stdout);
    return 0;
  }
  if (name == "--version") name = "version";
  for (const Command& command : kCommands) {
    if (name != command.name) continue;
    std::string program = "alz " + name;
    std::vector<char*> args(argv + 1, argv + argc);
    args[0] = program.data();
    try {
      return command.run(static_cast<int>(args.size()), args.data());
    } catch (const CLI::ParseError& error) {  // a flag's value found wrong after parsing
      std::fflush(stdout);
      std::fprintf(stderr, "alz %s: %s\n", command.name, error.what());
      return kUsageError;
    } catch (const std::exception& error) {
      std::fflush(stdout);
      std::string message = error.what();
      std::fprintf(stderr, "alz %s: %s\n", command.name, message.c_str());
      return 1;
    }
  }
  std::vector<std::string> names;
  for (const Command& command : kCommands) names.push_back(command.name);
  if (name.rfind("-", 0) == 0) {
    names = {"--help", "--version"};
    std::string closest = closest_name(name, names);
    std::fprintf(stderr, "alz: unknown option '%s'%s\n", name.c_str(),
                 closest.empty() ? "; see 'alz --help'" : (" (did you mean '" + closest + "'?)").c_str());
    return kUsageError;
  }
  std::string closest = closest_name(name, names);
  std::fprintf(
      stderr, "alz: unknown command '%s'%s\n", name.c_str(),
      closest.empty() ? "; see 'alz --help' for the commands" : (" (did you mean 'alz " + closest + "'?)").c_str());
  return kUsageError;
}

}  // namespace alz::cli
