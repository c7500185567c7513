// What `-m MODEL` means for every command: a path, or the name of a model in the local cache.
#pragma once
#include <string>

namespace ponder {

// Returns `name_or_path` unchanged when it is an existing regular file. Otherwise a cached
// model name (curated short name, "owner/repo", "owner/repo:QUANT" or the file name; see
// hub::ModelCache::find) resolves to the cached file's path under $PONDER_HOME. Otherwise
// throws Error saying it is neither a file nor a cached model and suggesting
// `ponder pull NAME`. Never touches the network; never returns a .partial download.
std::string resolve_model_path(const std::string& name_or_path);

// The same against an explicit cache home (tests, tools).
std::string resolve_model_path(const std::string& name_or_path, const std::string& cache_home);

}  // namespace ponder
