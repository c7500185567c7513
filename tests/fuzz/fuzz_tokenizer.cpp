// Fuzz target: arbitrary bytes into encode / decode / streaming decode of real vocabularies.
//
// Byte 0 picks the vocabulary and the flags; the rest is the text. The vocabularies are
// loaded once from ../shared (or $PONDER_SHARED_DIR); when they are absent every input is
// accepted without work, so the target still builds and replays anywhere. Invariants that
// fail trap: ids in range, streaming == decode, SentencePiece byte-exact round trip, and
// byte-level BPE round trip up to llama.cpp's U+FFFD reading of invalid bytes.
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace {

struct Loaded {
    std::vector<std::unique_ptr<ponder::Tokenizer>> toks;
};

const Loaded& loaded() {
    static const Loaded l = [] {
        Loaded r;
        namespace fs = std::filesystem;
        fs::path shared;
        if (const char* env = std::getenv("PONDER_SHARED_DIR")) shared = env;
        if (shared.empty())
            shared = fs::path(__FILE__).parent_path() / ".." / ".." / ".." / "shared";
        for (const char* name : {"ggml-vocab-qwen2", "ggml-vocab-llama-spm", "ggml-vocab-llama3"}) {
            const fs::path p =
                shared / "golden" / "tokenizer" / "vocab" / (std::string(name) + ".gguf");
            std::error_code ec;
            if (!fs::exists(p, ec)) continue;
            try {
                auto f = ponder::GgufFile::open(p.string());
                r.toks.push_back(ponder::Tokenizer::from_gguf(*f));
            } catch (...) {
            }
        }
        return r;
    }();
    return l;
}

void check(bool ok) {
    if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const Loaded& l = loaded();
    if (l.toks.empty() || size == 0) return 0;
    const uint8_t sel = data[0];
    const ponder::Tokenizer& t = *l.toks[sel % l.toks.size()];
    const bool add_special = sel & 0x10, parse_special = sel & 0x20, show = sel & 0x40;
    const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);

    const auto ids = t.encode(text, add_special, parse_special);
    for (int32_t id : ids) check(id >= 0 && id < t.n_vocab());
    const std::string decoded = t.decode(ids, show);
    ponder::StreamDecoder sd(t, show);
    std::string streamed;
    for (int32_t id : ids) streamed += sd.push(id);
    streamed += sd.flush();
    check(streamed == decoded);
    if (!add_special && !parse_special && !show) {
        const auto plain = t.decode(t.encode(text, false, false), false);
        if (t.model_name() == "llama") {
            // SentencePiece writes spaces as U+2581, so a literal U+2581 in the input comes
            // back as a space (as in the reference); everything else is byte-exact.
            std::string expect(text);
            for (size_t p = 0; (p = expect.find("\xE2\x96\x81", p)) != std::string::npos;)
                expect.replace(p, 3, " ");
            check(plain == expect);
        } else if (t.pre_name() != "qwen2")  // Qwen2 also normalizes to NFC
            check(plain == ponder::tok::sanitize_utf8(text));
    }
    // The same bytes read as token ids (possibly invalid ones, which must throw Error).
    std::vector<int32_t> raw;
    for (size_t i = 1; i + 4 <= size; i += 4) {
        int32_t v;
        __builtin_memcpy(&v, data + i, 4);
        raw.push_back(v % (t.n_vocab() + 2));
    }
    try {
        (void)t.decode(raw, show);
    } catch (const std::exception&) {
    }
    return 0;
}
