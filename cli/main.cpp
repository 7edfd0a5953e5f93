// alz: train, evaluate and run a Keras-style ResNetV2 on brain MRI slices.
//   alz info | synth | audit | train | eval | predict ... ; `alz <command> --help` for each.
#include "cli/cli.h"

int main(int argc, char** argv) { return alz::cli::run(argc, argv); }
