// Every golden vocabulary against every corpus case: ids without specials, ids with BOS/EOS
// and special tokens, round trips, streaming decode; and the prompt ids of the model goldens.
#include <gtest/gtest.h>

#include <cstdio>

#include "tokenizer_fixtures.h"

namespace ponder::test {
namespace {

std::string show_ids(const std::vector<int32_t>& ids) {
    std::string s = "[";
    for (size_t i = 0; i < ids.size(); ++i) s += (i ? ", " : "") + std::to_string(ids[i]);
    return s + "]";
}

TEST(TokenizerGolden, CorpusMatchesEveryVocabulary) {
    const auto names = golden_vocab_names();
    ASSERT_FALSE(names.empty()) << "no vocabularies under " << golden_path("tokenizer/vocab");
    const auto cases = corpus_cases();
    ASSERT_GT(cases.size(), 1u);
    for (const auto& name : names) {
        const auto golden = golden_cases(golden_path("tokenizer/" + name + ".jsonl"));
        ASSERT_EQ(golden.size(), cases.size()) << name << ": case count differs from corpus";
        const Tokenizer& t = tokenizer_for(vocab_path(name));
        size_t ok_plain = 0, ok_special = 0;
        for (size_t i = 0; i < cases.size(); ++i) {
            ASSERT_EQ(golden[i].text, cases[i]) << name << " case " << i << ": corpus split";
            const auto plain = t.encode(cases[i], false, false);
            const auto special = t.encode(cases[i], true, true);
            EXPECT_EQ(plain, golden[i].ids)
                << name << " case " << i << " (plain): got " << show_ids(plain);
            EXPECT_EQ(special, golden[i].ids_with_specials)
                << name << " case " << i << " (specials): got " << show_ids(special);
            ok_plain += plain == golden[i].ids;
            ok_special += special == golden[i].ids_with_specials;
        }
        std::printf("%-28s ids %zu/%zu  ids_with_specials %zu/%zu\n", name.c_str(), ok_plain,
                    cases.size(), ok_special, cases.size());
    }
}

// decode(encode(x)) == x whenever the ids hold no <unk>, and a StreamDecoder fed one id at a
// time yields the same bytes as decode().
TEST(TokenizerGolden, RoundTripAndStreaming) {
    const auto cases = corpus_cases();
    for (const auto& name : golden_vocab_names()) {
        const Tokenizer& t = tokenizer_for(vocab_path(name));
        size_t round_trips = 0;
        for (size_t i = 0; i < cases.size(); ++i) {
            for (bool specials : {false, true}) {
                const auto ids = t.encode(cases[i], specials, specials);
                bool representable = true;
                for (int32_t id : ids)
                    if (t.attr(id) == TokenAttr::Unknown) representable = false;
                const std::string decoded = t.decode(ids, specials);
                if (!specials && representable) {
                    EXPECT_EQ(decoded, cases[i]) << name << " case " << i;
                    round_trips += decoded == cases[i];
                }
                for (bool show : {false, true}) {
                    StreamDecoder sd(t, show);
                    std::string streamed;
                    for (int32_t id : ids) {
                        const std::string part = sd.push(id);
                        streamed += part;
                    }
                    streamed += sd.flush();
                    EXPECT_EQ(streamed, t.decode(ids, show)) << name << " case " << i;
                }
            }
        }
        std::printf("%-28s round trips %zu/%zu\n", name.c_str(), round_trips, cases.size());
    }
}

// The prompt ids llama.cpp fed each model (BOS per metadata, specials parsed).
TEST(TokenizerGolden, ModelPromptIds) {
    const std::string dir = golden_path("models");
    ASSERT_TRUE(std::filesystem::is_directory(dir));
    size_t files = 0, prompts = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
        if (e.path().extension() != ".json") continue;
        const auto j = nlohmann::json::parse(read_file_bytes(e.path().string()));
        const std::string model = model_path(j.at("model").get<std::string>());
        ASSERT_TRUE(std::filesystem::exists(model)) << model;
        const Tokenizer& t = tokenizer_for(model);
        for (const auto& c : j.at("cases")) {
            const auto expect = c.at("prompt_ids").get<std::vector<int32_t>>();
            const auto got = t.encode(c.at("prompt").get<std::string>(), true, true);
            EXPECT_EQ(got, expect) << e.path().filename() << ": " << c.at("prompt");
            ++prompts;
        }
        ++files;
    }
    EXPECT_GT(files, 0u);
    std::printf("model prompt ids: %zu prompts in %zu files\n", prompts, files);
}

}  // namespace
}  // namespace ponder::test
