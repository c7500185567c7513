// Subcommands register themselves: each cli/cmd_<name>.cpp defines
//   static const ponder::cli::Registrar reg("name", ORDER, [](CLI::App& app) { ... });
// and main.cpp adds every registered command in ORDER. No shared list to edit.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace ponder::cli {

struct CommandEntry {
    std::string name;
    int order;  // position in `ponder --help`
    std::function<void(CLI::App&)> add;
};

inline std::vector<CommandEntry>& command_registry() {
    static std::vector<CommandEntry> r;
    return r;
}

struct Registrar {
    Registrar(std::string name, int order, std::function<void(CLI::App&)> add) {
        command_registry().push_back({std::move(name), order, std::move(add)});
    }
};

}  // namespace ponder::cli
