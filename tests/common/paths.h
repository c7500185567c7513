// Where tests find the shared references and the built program.
#pragma once
#include <string>

namespace ponder::test {

// ../shared beside the checkout (models, goldens); set at configure time.
inline std::string shared_dir() {
    return PONDER_SHARED_DIR;
}
inline std::string model_path(const std::string& file) {
    return shared_dir() + "/models/" + file;
}
inline std::string golden_path(const std::string& rel) {
    return shared_dir() + "/golden/" + rel;
}
inline std::string source_dir() {
    return PONDER_SOURCE_DIR;
}
inline std::string binary_dir() {
    return PONDER_BINARY_DIR;
}
inline std::string cli_path() {
    return PONDER_CLI_PATH;
}

}  // namespace ponder::test
