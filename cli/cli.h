// The `alz` command-line program: one function per subcommand, each in its own file
// cli/<name>.cpp, dispatched by cli/main.cpp. Each takes the arguments after the
// subcommand name (argv[0] is "alz <name>"), prints errors as "alz <name>: <message>" on
// stderr and returns the process exit code (0 success, 1 user error, 2 usage error). The
// conventions every command follows (one-line usage errors with "did you mean", defaults in
// --help) are in cli/usage.h.
#pragma once
#include <string>

namespace alz::cli {

// Dispatches `alz <command> ...` (argv[0] is the program): the exit code of the command; an
// exception is printed as "alz <command>: <message>" and gives 1; usage errors give 2 (an
// unknown command names the closest one). `alz --version` is `alz version`.
int run(int argc, char** argv);

int info(int argc, char** argv);          // devices, versions, model summaries   (cli/info.cpp)
int synth(int argc, char** argv);         // phantom MRI slices in the Kaggle layout (cli/synth.cpp)
int audit(int argc, char** argv);         // dataset audit: layout, counts, duplicates, leakage (cli/audit.cpp)
int train(int argc, char** argv);         // train, validate, checkpoint, report (cli/train.cpp)
int cv(int argc, char** argv);            // cross-validation by subject: K folds, mean ± std (cli/cv.cpp)
int eval(int argc, char** argv);          // metrics of a checkpoint on a dataset split (cli/eval.cpp)
int predict(int argc, char** argv);       // class and probabilities per image (cli/predict.cpp)
int explain(int argc, char** argv);       // Grad-CAM overlays and maps per image (cli/explain.cpp)
int convert(int argc, char** argv);       // Keras file -> alz checkpoint (cli/convert.cpp)
int export_model(int argc, char** argv);  // alz model -> Keras files (cli/export.cpp)
int version(int argc, char** argv);       // version, commit, build type, CUDA libraries, GPUs (cli/version.cpp)

// What `alz version` prints: several lines, each ending in a newline.
std::string version_text();

}  // namespace alz::cli
