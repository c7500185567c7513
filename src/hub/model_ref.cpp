#include "hub/model_ref.h"

#include <filesystem>
#include <system_error>

#include "core/error.h"
#include "hub/model_cache.h"

namespace ponder {

std::string resolve_model_path(const std::string& name_or_path) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(name_or_path, ec)) return name_or_path;
    return resolve_model_path(name_or_path, hub::ModelCache::default_home());
}

std::string resolve_model_path(const std::string& name_or_path, const std::string& cache_home) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(name_or_path, ec)) return name_or_path;
    if (std::filesystem::is_directory(name_or_path, ec))
        fail("'", name_or_path, "' is a directory, not a GGUF model file");
    // An explicit path (absolute, ./ or ../) that does not exist is a missing file; a bare
    // .gguf name may be a cached file's name, and is a missing file only if it is not one.
    const bool explicit_path = name_or_path.starts_with("/") || name_or_path.starts_with("./") ||
                               name_or_path.starts_with("../");
    const hub::ModelCache cache(cache_home);
    const auto found = explicit_path ? std::vector<hub::CachedModel>{} : cache.find(name_or_path);
    if (found.empty() && (explicit_path || name_or_path.ends_with(".gguf")))
        fail(name_or_path, ": cannot open: No such file or directory");
    if (found.size() == 1) return found[0].path;
    if (found.size() > 1) {
        std::string names;
        for (const auto& m : found) names += (names.empty() ? "" : ", ") + m.display_name();
        fail("'", name_or_path, "' matches several cached models (", names, "); name one of them");
    }
    fail("'", name_or_path, "' is neither a file nor a cached model (cache: ", cache.home(),
         "); run `ponder pull ", name_or_path, "` to download it, or `ponder list` to see ",
         "the cached models");
}

}  // namespace ponder
