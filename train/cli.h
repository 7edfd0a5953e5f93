// The `alz` command-line program: one function per subcommand, each in its own file
// train/cli_<name>.cpp, dispatched by train/main.cpp. Each takes the arguments after the
// subcommand name (argv[0] is "alz <name>"), prints errors as "alz <name>: <message>" on
// stderr and returns the process exit code (0 success, 1 user error, 2 usage error).
#pragma once

namespace alz::cli {

int info(int argc, char** argv);   // devices, versions, model summaries   (train/cli_info.cpp)
int synth(int argc, char** argv);  // phantom MRI slices in the Kaggle layout (train/cli_synth.cpp)
int audit(int argc, char** argv);  // dataset audit: layout, counts, duplicates, leakage (train/cli_audit.cpp)

}  // namespace alz::cli
