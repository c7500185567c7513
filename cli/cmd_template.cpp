// ponder template (-m MODEL | --template FILE) --case CASE.json [--bos B] [--eos E]:
// prints the prompt a chat template renders for a conversation, exactly (no newline added).
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "chat/chat_template.h"
#include "cli/commands.h"
#include "core/error.h"
#include "gguf/gguf.h"

namespace ponder::cli {
namespace {

struct TemplateOptions {
    std::string model;
    std::string template_file;
    std::string case_file;
    std::string bos, eos;
    bool bos_set = false, eos_set = false;
};

std::string read_text_file(const std::string& path, const char* what) {
    std::ifstream f(path, std::ios::binary);
    if (!f) fail("cannot open ", what, " '", path, "'");
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// The text of vocabulary token `id_key` (e.g. tokenizer.ggml.bos_token_id), or "" if absent.
std::string special_token_text(const GgufFile& f, const char* id_key) {
    const GgufValue* id = f.find(id_key);
    if (!id) return "";
    const int64_t i = f.get_int(id_key);
    const GgufValue* toks = f.find("tokenizer.ggml.tokens");
    if (!toks || !toks->is_array() || toks->elem_type != GgufType::STRING)
        fail(f.path(), ": tokenizer.ggml.tokens missing or not an array of strings");
    if (i < 0 || uint64_t(i) >= toks->strings.size())
        fail(f.path(), ": ", id_key, " = ", i, " is outside the vocabulary of ",
             toks->strings.size(), " tokens");
    return std::string(toks->strings[size_t(i)]);
}

void run_template(const TemplateOptions& o) {
    if (o.model.empty() == o.template_file.empty())
        fail("template: give exactly one of -m MODEL or --template FILE");
    ChatRenderInput in;
    std::string source, name;
    if (!o.model.empty()) {
        auto f = GgufFile::open(o.model);
        const GgufValue* t = f->find("tokenizer.chat_template");
        if (!t) fail(o.model, ": the model has no tokenizer.chat_template");
        source = std::string(f->get_string("tokenizer.chat_template"));
        name = o.model;
        in.bos_token = special_token_text(*f, "tokenizer.ggml.bos_token_id");
        in.eos_token = special_token_text(*f, "tokenizer.ggml.eos_token_id");
    } else {
        source = read_text_file(o.template_file, "template");
        name = o.template_file;
    }
    if (o.bos_set) in.bos_token = o.bos;
    if (o.eos_set) in.eos_token = o.eos;
    const std::string case_text = read_text_file(o.case_file, "case file");
    nlohmann::ordered_json j;
    try {
        j = nlohmann::ordered_json::parse(case_text);
    } catch (const nlohmann::json::exception& e) {
        fail(o.case_file, ": invalid JSON: ", e.what());
    }
    chat_input_from_json(j, in, o.case_file);
    ChatTemplate tmpl(std::move(source), std::move(name));
    const std::string out = tmpl.render(in);
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
}

void add_template(CLI::App& app) {
    auto opt = std::make_shared<TemplateOptions>();
    auto* cmd = app.add_subcommand("template", "Render a chat template for a conversation");
    cmd->add_option("-m,--model", opt->model, "GGUF model whose tokenizer.chat_template to use");
    cmd->add_option("--template", opt->template_file, "Jinja template file");
    cmd->add_option("--case", opt->case_file, "JSON: messages, add_generation_prompt, tools, extra")
        ->required();
    cmd->add_option("--bos", opt->bos, "bos_token text (default: the model's, or <s>)");
    cmd->add_option("--eos", opt->eos, "eos_token text (default: the model's, or </s>)");
    cmd->callback([opt, cmd] {
        opt->bos_set = cmd->count("--bos") > 0;
        opt->eos_set = cmd->count("--eos") > 0;
        run_template(*opt);
    });
}

const Registrar reg_template("template", 60, add_template);

}  // namespace
}  // namespace ponder::cli
