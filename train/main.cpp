// alz: train, evaluate and run a Keras-style ResNetV2 on brain MRI slices.
//   alz info | synth | audit ... ; `alz <command> --help` for each command's flags.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "train/cli.h"

namespace {

struct Command {
  const char* name;
  int (*run)(int, char**);
  const char* help;
};

const Command kCommands[] = {
    {"info", alz::cli::info, "devices found, library versions, model summaries and parameter counts"},
    {"synth", alz::cli::synth, "write synthetic brain-MRI phantom slices in the Kaggle V2 layout"},
    {"audit", alz::cli::audit, "audit a dataset: layout, counts, unreadable files, duplicates, leakage"},
    {"train", alz::cli::train, "train a ResNetV2 (default: the phantom set), with checkpoints and a report"},
    {"eval", alz::cli::eval, "evaluate a checkpoint: macro-F1, balanced accuracy, per-class, confusion, ROC-AUC"},
    {"predict", alz::cli::predict, "predict the class and probabilities of images"},
};

void print_usage(FILE* out) {
  std::fprintf(out, "usage: alz <command> [options]\n\ncommands:\n");
  for (const Command& command : kCommands) std::fprintf(out, "  %-8s %s\n", command.name, command.help);
  std::fprintf(out, "\n`alz <command> --help` lists a command's options.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    print_usage(stderr);
    return 2;
  }
  std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    print_usage(stdout);
    return 0;
  }
  for (const Command& command : kCommands) {
    if (name != command.name) continue;
    std::string program = "alz " + name;
    argv[1] = program.data();
    try {
      return command.run(argc - 1, argv + 1);
    } catch (const std::exception& error) {
      std::fprintf(stderr, "alz %s: %s\n", command.name, error.what());
      return 1;
    }
  }
  std::fprintf(stderr, "alz: unknown command '%s'\n\n", name.c_str());
  print_usage(stderr);
  return 2;
}
