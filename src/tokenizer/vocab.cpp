// Vocabulary loading: tokens, scores, types, special ids and flags with llama.cpp's defaults.
#include "tokenizer/vocab.h"

#include <algorithm>
#include <cstdio>

#include "core/error.h"
#include "gguf/gguf.h"

namespace ponder::tok {
namespace {

// GGUF token types (llama.cpp's llama_token_type).
TokenAttr attr_from_type(int64_t t) {
    switch (t) {
        case 2:
            return TokenAttr::Unknown;
        case 3:
            return TokenAttr::Control;
        case 4:
            return TokenAttr::UserDefined;
        case 5:
            return TokenAttr::Unused;
        case 6:
            return TokenAttr::Byte;
        default:
            return TokenAttr::Normal;  // 1 = normal, 0 = undefined
    }
}

// Texts that end a turn in the chat formats we know; they become end-of-generation tokens
// and are forced to Control (llama.cpp does the same, as files often mark them otherwise).
constexpr std::string_view kEogTexts[] = {"<|eot_id|>",    "<|im_end|>", "<|end|>", "<end_of_turn>",
                                          "<|endoftext|>", "<|eom_id|>", "<EOT>"};
// The end-of-turn token when the file names none, in order of preference.
constexpr std::string_view kEotTexts[] = {"<|eot_id|>",
                                          "<|im_end|>",
                                          "<|end|>",
                                          "<end_of_turn>",
                                          "<|endoftext|>",
                                          "<EOT>",
                                          "<\xEF\xBD\x9C"
                                          "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>"};
// Fill-in-the-middle tokens: forced to Control; pad/repo/file-separator also end generation.
constexpr std::string_view kFimControlTexts[] = {"<|fim_prefix|>",
                                                 "<fim-prefix>",
                                                 "<PRE>",
                                                 "<|fim_suffix|>",
                                                 "<fim-suffix>",
                                                 "<SUF>",
                                                 "<|fim_middle|>",
                                                 "<fim-middle>",
                                                 "<MID>",
                                                 "<\xEF\xBD\x9C"
                                                 "fim\xE2\x96\x81"
                                                 "begin\xEF\xBD\x9C>",
                                                 "<\xEF\xBD\x9C"
                                                 "fim\xE2\x96\x81hole\xEF\xBD\x9C>",
                                                 "<\xEF\xBD\x9C"
                                                 "fim\xE2\x96\x81"
                                                 "end\xEF\xBD\x9C>"};
constexpr std::string_view kFimEogTexts[] = {"<|fim_pad|>",  "<fim-pad>",     "<PAD>",
                                             "<|fim_repo|>", "<|repo_name|>", "<fim-repo>",
                                             "<REPO>",       "<|file_sep|>"};

int32_t read_id(const GgufFile& f, std::string_view key, int32_t def, int32_t n_vocab) {
    if (!f.find(key)) return def;
    const int64_t v = f.get_int(key);
    // Converters write -1 (often as uint32 0xFFFFFFFF) for "no such token".
    if (v == -1 || v == 0xFFFFFFFFll) return -1;
    if (v < 0 || v >= n_vocab) {
        // llama.cpp keeps its default for an out-of-range id; we refuse the file instead of
        // guessing, because a wrong BOS silently changes every prompt.
        fail(f.path(), ": ", key, " = ", v, " is outside the vocabulary [0, ", n_vocab, ")");
    }
    return static_cast<int32_t>(v);
}

}  // namespace

Vocab load_vocab(const GgufFile& f, bool pre_adds_bos) {
    Vocab v;
    v.path = f.path();
    v.model_name = std::string(f.get_string("tokenizer.ggml.model"));
    v.pre_name = std::string(f.get_string_or("tokenizer.ggml.pre", ""));
    v.kind = v.model_name == "llama" ? ModelKind::SentencePiece : ModelKind::ByteLevelBpe;

    const GgufValue& tokens = f.get_array("tokenizer.ggml.tokens");
    if (tokens.elem_type != GgufType::STRING)
        fail(f.path(), ": tokenizer.ggml.tokens holds ", gguf_type_name(tokens.elem_type),
             ", expected strings");
    const size_t n = tokens.strings.size();
    if (n == 0) fail(f.path(), ": tokenizer.ggml.tokens is empty");
    if (n > static_cast<size_t>(INT32_MAX / 2))
        fail(f.path(), ": tokenizer.ggml.tokens has ", n, " entries, limit ", INT32_MAX / 2);
    const int32_t n_vocab = static_cast<int32_t>(n);

    auto check_len = [&](const char* key, const GgufValue& a) {
        if (a.count != n)
            fail(f.path(), ": ", key, " has ", a.count, " entries but the vocabulary has ", n);
        if (a.elem_type == GgufType::STRING || a.elem_type == GgufType::ARRAY)
            fail(f.path(), ": ", key, " holds ", gguf_type_name(a.elem_type), ", expected numbers");
    };

    size_t total = 0;
    for (auto s : tokens.strings) total += s.size();
    if (total > UINT32_MAX) fail(f.path(), ": tokenizer.ggml.tokens text exceeds 4 GiB");
    v.arena.reserve(total);
    v.offsets.reserve(n + 1);
    for (auto s : tokens.strings) {
        v.offsets.push_back(static_cast<uint32_t>(v.arena.size()));
        v.arena.insert(v.arena.end(), s.begin(), s.end());
    }
    v.offsets.push_back(static_cast<uint32_t>(v.arena.size()));

    v.scores.assign(n, 0.0f);
    if (const GgufValue* sc = f.find("tokenizer.ggml.scores")) {
        check_len("tokenizer.ggml.scores", *sc);
        for (size_t i = 0; i < n; ++i) v.scores[i] = static_cast<float>(sc->array_number(i));
    }
    v.attrs.assign(n, TokenAttr::Normal);
    if (const GgufValue* ty = f.find("tokenizer.ggml.token_type")) {
        check_len("tokenizer.ggml.token_type", *ty);
        for (size_t i = 0; i < n; ++i) v.attrs[i] = attr_from_type(ty->array_int(i));
    }
    v.index.reserve(n);
    for (int32_t i = 0; i < n_vocab; ++i) v.index[v.text(i)] = i;

    // Family defaults (llama.cpp): SentencePiece has <unk>=0, <s>=1, </s>=2 and adds BOS.
    if (v.kind == ModelKind::SentencePiece) {
        v.add_space_prefix = true;
        v.add_bos = true;
        if (n_vocab > 2) {
            v.unk = 0;
            v.bos = 1;
            v.eos = 2;
        }
    } else {
        v.add_bos = pre_adds_bos;
    }
    v.add_space_prefix = f.get_bool_or("tokenizer.ggml.add_space_prefix", v.add_space_prefix);
    v.bos = read_id(f, "tokenizer.ggml.bos_token_id", v.bos, n_vocab);
    v.eos = read_id(f, "tokenizer.ggml.eos_token_id", v.eos, n_vocab);
    v.unk = read_id(f, "tokenizer.ggml.unknown_token_id", v.unk, n_vocab);
    v.eot = read_id(f, "tokenizer.ggml.eot_token_id", -1, n_vocab);
    v.eom = read_id(f, "tokenizer.ggml.eom_token_id", -1, n_vocab);
    v.pad = read_id(f, "tokenizer.ggml.padding_token_id", -1, n_vocab);
    v.add_bos = f.get_bool_or("tokenizer.ggml.add_bos_token", v.add_bos);
    v.add_eos = f.get_bool_or("tokenizer.ggml.add_eos_token", v.add_eos);
    if (v.add_bos && v.bos < 0)
        fail(f.path(), ": tokenizer.ggml.add_bos_token is set but there is no BOS token");
    if (v.add_eos && v.eos < 0)
        fail(f.path(), ": tokenizer.ggml.add_eos_token is set but there is no EOS token");

    auto force_control = [&](int32_t id) {
        if (id >= 0) v.attrs[id] = TokenAttr::Control;
    };
    if (v.eot < 0) {
        for (auto t : kEotTexts) {
            if (int32_t id = v.find(t); id >= 0) {
                v.eot = id;
                force_control(id);
                break;
            }
        }
    }
    if (v.eom < 0) {
        v.eom = v.find("<|eom_id|>");
        force_control(v.eom);
    }
    for (auto t : kFimControlTexts) force_control(v.find(t));
    std::vector<int32_t> eog;
    for (auto t : kFimEogTexts) {
        if (int32_t id = v.find(t); id >= 0) {
            force_control(id);
            eog.push_back(id);
        }
    }
    for (auto t : kEogTexts) {
        if (int32_t id = v.find(t); id >= 0) {
            force_control(id);
            eog.push_back(id);
        }
    }
    for (int32_t id : {v.eos, v.eot, v.eom})
        if (id >= 0) eog.push_back(id);
    std::sort(eog.begin(), eog.end());
    eog.erase(std::unique(eog.begin(), eog.end()), eog.end());
    v.eog = std::move(eog);

    for (int32_t id = 0; id < n_vocab; ++id) {
        const TokenAttr a = v.attrs[id];
        if ((a == TokenAttr::Control || a == TokenAttr::UserDefined || a == TokenAttr::Unknown) &&
            !v.text(id).empty())
            v.specials.push_back(id);
    }
    std::stable_sort(v.specials.begin(), v.specials.end(),
                     [&](int32_t a, int32_t b) { return v.text(a).size() > v.text(b).size(); });

    v.byte_tokens.fill(-1);
    if (v.kind == ModelKind::SentencePiece) {
        for (int b = 0; b < 256; ++b) {
            char name[8];
            std::snprintf(name, sizeof name, "<0x%02X>", b);
            v.byte_tokens[b] = v.find(name);
        }
    }
    return v;
}

}  // namespace ponder::tok
