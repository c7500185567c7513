// The pre-tokenizer table and the PCRE2 regex cascade.
#include "tokenizer/pretokenizer.h"

#include <pcre2.h>

#include "core/error.h"
#include "tokenizer/unicode.h"

namespace ponder::tok {
namespace {

// GPT-2's word pattern (contractions, letters, digits, other symbols, trailing spaces).
constexpr std::string_view kGpt2 =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";
// Llama 3's pattern: case-insensitive contractions, digits in groups of up to three.
constexpr std::string_view kLlama3 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Qwen2's pattern: as Llama 3's but one digit per word.
constexpr std::string_view kQwen2 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// StarCoder / SmolLM: digits split first, then GPT-2's pattern.
constexpr std::string_view kDigit = R"(\p{N})";
// CJK ideographs, Hangul and the blocks between, as DeepSeek's tokenizers group them.
constexpr std::string_view kDeepseekCjk =
    R"([\x{4E00}-\x{9FA5}\x{800}-\x{4E00}\x{AC00}-\x{D7FF}]+)";
// DeepSeek LLM's cased-letter ranges (from its tokenizer.json).
constexpr std::string_view kDeepseekLetters =
    R"(\s?[A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}\x{1C4}-\x{293})"
    R"(\x{295}-\x{2AF}\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386}\x{388}-\x{38A})"
    R"(\x{38C}\x{38E}-\x{3A1}\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F}\x{531}-\x{556})"
    R"(\x{10A0}-\x{10C5}\x{13A0}-\x{13F5}\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF})"
    R"(\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D})"
    R"(\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B}\x{1F5D})"
    R"(\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4})"
    R"(\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4})"
    R"(\x{1FF6}-\x{1FFC}\x{2102}\x{2107}\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124})"
    R"(\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F})"
    R"(\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4})"
    R"(\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}\x{A722}-\x{A76F})"
    R"(\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06}\x{FB13}-\x{FB17})"
    R"(\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F}\x{104B0}-\x{104D3})"
    R"(\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2}\x{118A0}-\x{118DF})"
    R"(\x{1E900}-\x{1E943}]+)";

const std::vector<PreTokenizerSpec>& specs() {
    static const std::vector<PreTokenizerSpec> table = [] {
        std::vector<PreTokenizerSpec> t;
        // llama.cpp's fallback cascade for files that name no known pre-tokenizer.
        t.push_back(
            {"default", {R"([\p{P}\$\+<=>\^~\|]+)", kGpt2, R"(\p{N}+)", "[0-9][0-9][0-9]"}});
        t.push_back({"gpt-2", {kGpt2}});
        t.push_back({"gpt2", {kGpt2}});
        for (auto n : {"llama3", "llama-v3", "llama-bpe", "falcon3"})
            t.push_back({n, {kLlama3}, false, true, true});
        for (auto n : {"qwen2", "deepseek-r1-qwen"}) t.push_back({n, {kQwen2}, true});
        t.push_back(
            {"deepseek-llm",
             {"[\\r\\n]", kDeepseekLetters,
              R"(\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+)",
              R"(\s+\z)", kDeepseekCjk, R"(\p{N}+)"}});
        t.push_back(
            {"deepseek-coder", {"[\\r\\n]", R"(\s?\p{L}+)", R"(\s?\p{P}+)", kDeepseekCjk, kDigit}});
        t.push_back(
            {"deepseek-v3",
             {R"(\p{N}{1,3})", R"([\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+)",
              R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}});
        for (auto n : {"smollm", "starcoder", "refact", "codeshell"})
            t.push_back({n, {kDigit, kGpt2}});
        return t;
    }();
    return table;
}

}  // namespace

const PreTokenizerSpec* find_pre_tokenizer(std::string_view name) {
    if (name.empty()) name = "default";
    for (const auto& s : specs())
        if (s.name == name) return &s;
    return nullptr;
}

std::string known_pre_tokenizers() {
    std::string r;
    for (const auto& s : specs()) {
        if (!r.empty()) r += ", ";
        r += s.name;
    }
    return r;
}

struct PreTokenizer::Compiled {
    pcre2_code* code = nullptr;
    ~Compiled() { pcre2_code_free(code); }
};

PreTokenizer::PreTokenizer(const PreTokenizerSpec& spec, const std::string& path)
    : spec_(spec), path_(path) {
    for (auto re : spec.regexes) {
        int err = 0;
        PCRE2_SIZE err_off = 0;
        auto c = std::make_unique<Compiled>();
        c->code =
            pcre2_compile(reinterpret_cast<PCRE2_SPTR>(re.data()), re.size(),
                          PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &err, &err_off, nullptr);
        if (!c->code) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(err, msg, sizeof msg);
            fail(path, ": pre-tokenizer '", spec.name, "': regex rejected by PCRE2 at offset ",
                 err_off, ": ", reinterpret_cast<const char*>(msg));
        }
        // JIT is an optimization: where it is unavailable pcre2_match interprets.
        pcre2_jit_compile(c->code, PCRE2_JIT_COMPLETE);
        regexes_.push_back(std::move(c));
    }
}

PreTokenizer::~PreTokenizer() = default;

namespace {

struct MatchData {
    pcre2_match_data* md;
    MatchData() : md(pcre2_match_data_create(1, nullptr)) {
        if (!md) throw std::bad_alloc();
    }
    ~MatchData() { pcre2_match_data_free(md); }
};

}  // namespace

void PreTokenizer::split_level(std::string_view text, size_t level, const Sink& sink) const {
    if (level == regexes_.size()) {
        sink.fn(sink.ctx, text);
        return;
    }
    // One match block per thread and level: recursion into deeper levels never clobbers it.
    thread_local std::vector<std::unique_ptr<MatchData>> tl_md;
    while (tl_md.size() <= level) tl_md.push_back(std::make_unique<MatchData>());
    pcre2_match_data* md = tl_md[level]->md;
    const pcre2_code* code = regexes_[level]->code;
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());

    size_t pos = 0, gap = 0;
    while (pos < text.size()) {
        const int rc =
            pcre2_match(code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, md, nullptr);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            fail(path_, ": pre-tokenizer '", spec_.name, "': PCRE2 match failed at byte ", pos,
                 " of a ", text.size(), "-byte piece: ", reinterpret_cast<const char*>(msg));
        }
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
        const size_t s = ov[0], e = ov[1];
        if (e <= s) {  // empty match: step over one character and search again
            pos = s + utf8_seq_len(static_cast<uint8_t>(text[s < text.size() ? s : 0]));
            continue;
        }
        if (s > gap) split_level(text.substr(gap, s - gap), level + 1, sink);
        split_level(text.substr(s, e - s), level + 1, sink);
        gap = pos = e;
    }
    if (gap < text.size()) split_level(text.substr(gap), level + 1, sink);
}

}  // namespace ponder::tok
