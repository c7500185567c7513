// Edge cases: empty and invalid input, a 10 MB input in bounded memory, NFC, errors for
// unknown vocabularies, special-token handling, end-of-generation ids, streaming.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <chrono>
#include <random>
#include <thread>

#include "core/error.h"
#include "gguf/gguf_writer.h"
#include "tokenizer/unicode.h"
#include "tokenizer_fixtures.h"

namespace ponder::test {
namespace {

const Tokenizer& vocab(const char* name) {
    return tokenizer_for(vocab_path(name));
}

// AddressSanitizer's quarantine holds freed memory, so peak RSS says nothing there.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

long max_rss_kib() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

// About `bytes` of English-like text: the corpus's Latin-script cases, repeated with a
// counter so that words vary.
std::string big_text(size_t bytes) {
    std::string base;
    for (const auto& c : corpus_cases())
        if (tok::is_valid_utf8(c)) base += c + "\n";
    std::string out;
    out.reserve(bytes + base.size());
    for (size_t i = 0; out.size() < bytes; ++i) out += base + std::to_string(i) + " ";
    return out;
}

TEST(TokenizerUnit, EmptyInputGivesNoIds) {
    for (const auto& name : golden_vocab_names()) {
        const Tokenizer& t = tokenizer_for(vocab_path(name));
        EXPECT_TRUE(t.encode("", false, false).empty()) << name;
        std::vector<int32_t> expect;
        if (t.add_bos()) expect.push_back(t.bos_id());
        if (t.add_eos()) expect.push_back(t.eos_id());
        EXPECT_EQ(t.encode("", true, true), expect) << name;
        EXPECT_EQ(t.decode({}, true), "");
    }
}

TEST(TokenizerUnit, InvalidUtf8NeverCrashes) {
    std::mt19937 rng(42);
    const std::vector<std::string> fixed = {"\xff",
                                            "\xc3",
                                            "a\xe2\x82",
                                            "\xed\xa0\x80",
                                            "\xf4\x90\x80\x80",
                                            "\xc0\x80",
                                            "\x80\x80x",
                                            std::string("nul\0byte", 8)};
    for (const auto& name : golden_vocab_names()) {
        const Tokenizer& t = tokenizer_for(vocab_path(name));
        std::vector<std::string> inputs = fixed;
        for (int k = 0; k < 50; ++k) {
            std::string s(rng() % 40, '\0');
            for (auto& c : s) c = static_cast<char>(rng());
            inputs.push_back(s);
        }
        for (const auto& s : inputs) {
            const auto ids = t.encode(s, true, true);
            for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < t.n_vocab()) << name;
            const std::string back = t.decode(t.encode(s, false, false), false);
            if (t.model_name() == "llama") {
                EXPECT_EQ(back, s) << name << ": SentencePiece byte fallback keeps every byte";
            } else {
                // llama.cpp reads each byte that starts no complete sequence as U+FFFD.
                EXPECT_EQ(back, tok::sanitize_utf8(s)) << name;
                EXPECT_TRUE(tok::is_valid_utf8(back)) << name;
            }
        }
    }
}

TEST(TokenizerUnit, InvalidByteIsReadAsReplacementCharacter) {
    const Tokenizer& t = vocab("ggml-vocab-qwen2");
    EXPECT_EQ(t.encode("ab\xff"
                       "cd",
                       false, false),
              t.encode("ab\xEF\xBF\xBD"
                       "cd",
                       false, false));
}

TEST(TokenizerUnit, TenMegabytesInBoundedMemory) {
    const std::string text = big_text(10u << 20);
    for (const char* name : {"ggml-vocab-qwen2", "ggml-vocab-llama-spm"}) {
        const Tokenizer& t = vocab(name);
        const long before = max_rss_kib();
        const auto t0 = std::chrono::steady_clock::now();
        const auto ids = t.encode(text, false, false);
        const double s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const long grown_mib = (max_rss_kib() - before) / 1024;
        std::printf("%s: 10 MiB -> %zu ids in %.2f s, peak RSS grew %ld MiB\n", name, ids.size(), s,
                    grown_mib);
        EXPECT_GT(ids.size(), text.size() / 16);
        // The ids themselves take about 4 bytes per 4 bytes of text; anything quadratic or a
        // per-byte heap of the whole input would show as hundreds of MiB.
        if (!kSanitized) {
            EXPECT_LT(grown_mib, 200) << name;
        }
        EXPECT_EQ(t.decode(ids, false), text) << name;
    }
}

TEST(TokenizerUnit, LongSingleWordMergesInLogLinearTime) {
    // One pre-token of 1 MiB: merging must not be quadratic in the word length.
    const std::string word(1u << 20, 'a');
    for (const char* name : {"ggml-vocab-qwen2", "ggml-vocab-gpt-2", "ggml-vocab-llama-spm"}) {
        const Tokenizer& t = vocab(name);
        const auto ids = t.encode(word, false, false);
        EXPECT_EQ(t.decode(ids, false), word) << name;
        EXPECT_LT(ids.size(), word.size() / 2) << name;
    }
}

TEST(TokenizerUnit, QwenNormalizesToNfcOthersDoNot) {
    const std::string composed = "caf\xC3\xA9 na\xC3\xAFve";      // é, ï precomposed
    const std::string decomposed = "cafe\xCC\x81 nai\xCC\x88ve";  // e + U+0301, i + U+0308
    const Tokenizer& qwen = vocab("ggml-vocab-qwen2");
    EXPECT_EQ(qwen.encode(decomposed, false, false), qwen.encode(composed, false, false));
    const Tokenizer& gpt2 = vocab("ggml-vocab-gpt-2");
    EXPECT_NE(gpt2.encode(decomposed, false, false), gpt2.encode(composed, false, false));
}

TEST(TokenizerUnit, NfcAlgorithm) {
    EXPECT_EQ(tok::nfc("e\xCC\x81"), "\xC3\xA9");
    // Hangul L + V + T composes algorithmically to one syllable (U+AC01).
    EXPECT_EQ(tok::nfc("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8"), "\xEA\xB0\x81");
    // Canonical reordering: dot below (ccc 220) before dot above (ccc 230); both compose
    // with 's' into U+1E69.
    EXPECT_EQ(tok::nfc("s\xCC\x87\xCC\xA3"), "\xE1\xB9\xA9");
    // Singleton decomposition: U+212B ANGSTROM SIGN -> U+00C5.
    EXPECT_EQ(tok::nfc("\xE2\x84\xAB"), "\xC3\x85");
    const std::string ascii = "plain ascii text";
    EXPECT_EQ(tok::nfc(ascii), ascii);
}

std::unique_ptr<GgufFile> with_changes(const std::string& src, std::vector<uint8_t>& storage,
                                       const std::function<void(GgufWriter&)>& change) {
    auto f = GgufFile::open(src);
    GgufWriter w;
    for (const auto& kv : f->metadata()) w.set_value(kv.key, kv.value);
    change(w);
    storage = w.write_to_memory();
    return GgufFile::from_memory(storage.data(), storage.size(), "edited.gguf");
}

TEST(TokenizerUnit, UnknownPreTokenizerIsAnErrorListingKnownOnes) {
    std::vector<uint8_t> bytes;
    auto f = with_changes(vocab_path("ggml-vocab-qwen2"), bytes,
                          [](GgufWriter& w) { w.set_string("tokenizer.ggml.pre", "no-such-pre"); });
    try {
        Tokenizer::from_gguf(*f);
        FAIL() << "expected Error";
    } catch (const Error& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find("edited.gguf"), std::string::npos) << m;
        EXPECT_NE(m.find("no-such-pre"), std::string::npos) << m;
        for (const char* known : {"qwen2", "llama-bpe", "deepseek-v3", "smollm", "gpt-2"})
            EXPECT_NE(m.find(known), std::string::npos) << m;
    }
}

TEST(TokenizerUnit, UnknownModelAndMissingKeysAreErrors) {
    std::vector<uint8_t> bytes;
    auto f1 = with_changes(vocab_path("ggml-vocab-gpt-2"), bytes,
                           [](GgufWriter& w) { w.set_string("tokenizer.ggml.model", "t5x"); });
    EXPECT_THROW(Tokenizer::from_gguf(*f1), Error);
    std::vector<uint8_t> bytes2;
    auto f2 = with_changes(vocab_path("ggml-vocab-gpt-2"), bytes2,
                           [](GgufWriter& w) { w.remove("tokenizer.ggml.merges"); });
    EXPECT_THROW(Tokenizer::from_gguf(*f2), Error);
    std::vector<uint8_t> bytes3;
    auto f3 = with_changes(vocab_path("ggml-vocab-llama-spm"), bytes3, [](GgufWriter& w) {
        w.set_array_f32("tokenizer.ggml.scores", {1.0f, 2.0f});
    });
    EXPECT_THROW(Tokenizer::from_gguf(*f3), Error);
}

TEST(TokenizerUnit, SpecialTokensOnlyWhenAsked) {
    const Tokenizer& t = vocab("ggml-vocab-qwen2");
    const auto im_start = t.find_token("<|im_start|>");
    ASSERT_TRUE(im_start);
    EXPECT_EQ(t.attr(*im_start), TokenAttr::Control);
    const auto parsed = t.encode("<|im_start|>user", false, true);
    ASSERT_FALSE(parsed.empty());
    EXPECT_EQ(parsed.front(), *im_start);
    const auto plain = t.encode("<|im_start|>user", false, false);
    for (int32_t id : plain) EXPECT_NE(id, *im_start);
    // Shown only on request when decoding.
    EXPECT_EQ(t.decode(parsed, true), "<|im_start|>user");
    EXPECT_EQ(t.decode(parsed, false), "user");
    EXPECT_EQ(t.token_to_piece(*im_start, false), "");
    EXPECT_THROW(t.token_to_piece(t.n_vocab(), true), Error);
    EXPECT_THROW(t.token_to_piece(-1, true), Error);
}

TEST(TokenizerUnit, EndOfGenerationIds) {
    struct Want {
        const char* vocab;
        const char* token;
    };
    for (const auto& w :
         {Want{"ggml-vocab-qwen2", "<|im_end|>"}, Want{"ggml-vocab-qwen2", "<|endoftext|>"},
          Want{"ggml-vocab-llama3", "<|eot_id|>"}, Want{"ggml-vocab-llama3", "<|end_of_text|>"},
          Want{"ggml-vocab-gpt-2", "<|endoftext|>"}}) {
        const Tokenizer& t = vocab(w.vocab);
        const auto id = t.find_token(w.token);
        ASSERT_TRUE(id) << w.vocab << " " << w.token;
        EXPECT_TRUE(t.is_eog(*id)) << w.vocab << " " << w.token;
    }
    const Tokenizer& q = vocab("ggml-vocab-qwen2");
    EXPECT_TRUE(q.is_eog(q.eos_id()));
    EXPECT_FALSE(q.is_eog(*q.find_token("<|im_start|>")));
    EXPECT_EQ(q.bos_id(), -1);
    EXPECT_TRUE(std::is_sorted(q.eog_ids().begin(), q.eog_ids().end()));
}

TEST(TokenizerUnit, SentencePiecePieces) {
    const Tokenizer& t = vocab("ggml-vocab-llama-spm");
    const auto nl = t.find_token("<0x0A>");
    ASSERT_TRUE(nl);
    EXPECT_EQ(t.attr(*nl), TokenAttr::Byte);
    EXPECT_EQ(t.token_to_piece(*nl, false), "\n");
    const auto hello = t.find_token("\xE2\x96\x81Hello");
    ASSERT_TRUE(hello);
    EXPECT_EQ(t.token_to_piece(*hello, false), " Hello");
    EXPECT_EQ(t.token_to_piece(t.bos_id(), false), "");
    EXPECT_EQ(t.token_to_piece(t.bos_id(), true), "<s>");
    // BOS then text: the prefixed space is removed from the first piece after BOS.
    EXPECT_EQ(t.decode(t.encode("Hello", true, false), false), "Hello");
}

TEST(TokenizerUnit, StreamingHoldsIncompleteUtf8) {
    // An emoji that the Llama 2 vocabulary spells with byte tokens: pushes emit nothing until
    // the last byte of the character arrives.
    const Tokenizer& t = vocab("ggml-vocab-llama-spm");
    const std::string emoji = "\xF0\x9F\xA6\x99";  // U+1F999
    const auto ids = t.encode(emoji, false, false);
    StreamDecoder sd(t, false);
    std::string all;
    size_t nonempty = 0;
    for (int32_t id : ids) {
        const std::string part = sd.push(id);
        if (!part.empty()) {
            ++nonempty;
            EXPECT_TRUE(tok::is_valid_utf8(part));
        }
        all += part;
    }
    EXPECT_EQ(sd.flush(), "");
    EXPECT_EQ(all, emoji);
    EXPECT_LE(nonempty, 1u);
    // A truncated sequence comes back raw from flush().
    StreamDecoder sd2(t, false);
    const auto partial = t.find_token("<0xF0>");
    ASSERT_TRUE(partial);
    EXPECT_EQ(sd2.push(*partial), "");
    EXPECT_EQ(sd2.flush(), "\xF0");
}

TEST(TokenizerUnit, ConcurrentEncodeAgrees) {
    const Tokenizer& t = vocab("ggml-vocab-qwen2");
    const std::string text = big_text(200000);
    const auto expect = t.encode(text, false, false);
    std::vector<std::vector<int32_t>> got(4);
    std::vector<std::thread> th;
    for (auto& g : got) th.emplace_back([&] { g = t.encode(text, false, false); });
    for (auto& x : th) x.join();
    for (const auto& g : got) EXPECT_EQ(g, expect);
}

}  // namespace
}  // namespace ponder::test
