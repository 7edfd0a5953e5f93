// The command-line conventions every `alz` command follows (each builds a CLI11 app):
//   - exit codes: 0 success, 1 the command failed (a bad file, a run folder it will not
//     overwrite, ...), 2 a usage error (cli/cli.h);
//   - a usage error is one line on stderr, "alz <command>: <what>", naming the flag, and for a
//     misspelled flag, command or choice the closest known name ("did you mean '--epochs'?");
//   - `--help` shows every option's default, and flags by their names alone.
//
//   CLI::App app{"Train a ResNetV2", "alz train"};
//   use_conventions(app);                          // before the options are added
//   app.add_option("--epochs", epochs, "epochs");
//   if (std::optional<int> code = parse_command_line(app, argc, argv)) return *code;
//
// Tested in tests/test_cli_usage.cpp:
//   cmake --build build -j2 --target test_cli_usage && ctest --test-dir build -R CliUsage
#pragma once
#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace alz::cli {

inline constexpr int kUsageError = 2;

// The number of single-character insertions, deletions, substitutions and swaps of two
// neighbours that turn `a` into `b` (optimal string alignment distance).
size_t edit_distance(std::string_view a, std::string_view b);

// The name of `known` that `typed` most likely misspells: the closest by edit_distance when
// the distance is small for the length (at most 1 for short names, 2 from 5 characters, a third
// of the length beyond), else the only name `typed` is a prefix of; "" when none.
std::string closest_name(const std::string& typed, const std::vector<std::string>& known);

// Shows defaults in --help and flags without CLI11's "{false}" marks. Call before adding options.
void use_conventions(CLI::App& app);

// Parses the command line. Returns std::nullopt when the command should run; otherwise the exit
// code, after printing the help (0) or a one-line usage error (kUsageError).
std::optional<int> parse_command_line(CLI::App& app, int argc, char** argv);

// The one-line text of a usage error that CLI11 raised while parsing `argv` with `app`: an
// unknown flag first (with the closest known one), then a missing value, a value not among the
// choices (with the closest choice), unexpected arguments, or CLI11's own message.
std::string describe_usage_error(const CLI::App& app, const CLI::Error& error, int argc, char** argv);

}  // namespace alz::cli
