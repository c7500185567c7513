// The `ponder` program: one binary, one subcommand per file in cli/.
#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "core/error.h"

int main(int argc, char** argv) {
    CLI::App app{"ponder: fast local inference for small open-weight reasoning models"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "ponder 0.1.0");
    ponder::cli::register_info(app);
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
