// The `alz` command-line program: one function per subcommand, each in its own file
// cli/<name>.cpp, dispatched by cli/main.cpp. Each takes the arguments after the
// subcommand name (argv[0] is "alz <name>"), prints errors as "alz <name>: <message>" on
// stderr and returns the process exit code (0 success, 1 user error, 2 usage error).
#pragma once

namespace alz::cli {

// Dispatches `alz <command> ...` (argv[0] is the program): the exit code of the command; an
// exception is printed as "alz <command>: <message>" and gives 1; usage errors give 2.
int run(int argc, char** argv);

int info(int argc, char** argv);          // devices, versions, model summaries   (cli/info.cpp)
int synth(int argc, char** argv);         // phantom MRI slices in the Kaggle layout (cli/synth.cpp)
int audit(int argc, char** argv);         // dataset audit: layout, counts, duplicates, leakage (cli/audit.cpp)
int train(int argc, char** argv);         // train, validate, checkpoint, report (cli/train.cpp)
int eval(int argc, char** argv);          // metrics of a checkpoint on a dataset split (cli/eval.cpp)
int predict(int argc, char** argv);       // class and probabilities per image (cli/predict.cpp)
int convert(int argc, char** argv);       // Keras file -> alz checkpoint (cli/convert.cpp)
int export_model(int argc, char** argv);  // alz model -> Keras files (cli/export.cpp)

}  // namespace alz::cli
