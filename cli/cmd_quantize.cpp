// ponder quantize IN OUT TYPE: converts an F32/F16/BF16 GGUF model to TYPE.
#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "core/dtype.h"
#include "model/quantize.h"

namespace ponder::cli {
namespace {

struct QuantizeOptions {
    std::string in, out, type;
};

void add_quantize(CLI::App& app) {
    auto opt = std::make_shared<QuantizeOptions>();
    auto* cmd =
        app.add_subcommand("quantize", "Convert an F32/F16/BF16 GGUF model to another type");
    cmd->add_option("input", opt->in, "GGUF model to read (F32, F16 or BF16 tensors)")->required();
    cmd->add_option("output", opt->out, "GGUF file to write")->required();
    cmd->add_option("type", opt->type, "Target type: " + quant_target_names())->required();
    cmd->callback([opt] {
        quantize_model_file(opt->in, opt->out, opt->type,
                            [](size_t i, size_t n, std::string_view name, DType from, DType to) {
                                std::fprintf(stderr, "[%4zu/%zu] %-40.*s %-5s -> %s\n", i + 1, n,
                                             int(name.size()), name.data(),
                                             std::string(dtype_name(from)).c_str(),
                                             std::string(dtype_name(to)).c_str());
                            });
        std::fprintf(stderr, "wrote %s\n", opt->out.c_str());
    });
}

const Registrar reg_quantize("quantize", 95, add_quantize);

}  // namespace
}  // namespace ponder::cli
