// Each subcommand lives in cli/cmd_<name>.cpp and registers itself on the app from main.cpp.
#pragma once
#include <CLI/CLI.hpp>

namespace ponder::cli {

void register_info(CLI::App& app);

}  // namespace ponder::cli
