// The `ponder` program: one binary, one subcommand per file in cli/.
#include <algorithm>
#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "core/error.h"

int main(int argc, char** argv) {
    CLI::App app{"ponder: fast local inference for small open-weight reasoning models"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "ponder 0.1.0");
    auto& cmds = ponder::cli::command_registry();
    std::sort(cmds.begin(), cmds.end(),
              [](const auto& a, const auto& b) { return a.order < b.order; });
    for (const auto& c : cmds) c.add(app);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    } catch (const ponder::Error& e) {
        std::fprintf(stderr, "ponder: error: %s\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "ponder: internal error: %s\n", e.what());
        return 2;
    }
    return 0;
}
