// SHA-256 against the FIPS 180-4 / NIST example vectors, and the pure parts of the resolver:
// model names, quant labels, file choice, listing parsing.
#include <gtest/gtest.h>

#include <fstream>

#include "common/paths.h"
#include "core/error.h"
#include "hub/hub_resolver.h"
#include "hub/sha256.h"
#include "hub/temp_dir.h"

namespace ponder::hub {
namespace {

TEST(HubSha256, FipsExampleVectors) {
    // The example messages published with FIPS 180-4 (NIST CSRC "SHA256.pdf" examples).
    EXPECT_EQ(sha256_hex("abc"),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    EXPECT_EQ(sha256_hex(std::string(1000000, 'a')),
              "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(HubSha256, StreamingMatchesOneShotAtEveryBlockBoundary) {
    const std::string data = test::random_bytes(1000, 7);
    for (size_t n : {0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000}) {
        const std::string msg = data.substr(0, n);
        for (size_t chunk : {1, 3, 64, 100}) {
            Sha256 h;
            for (size_t i = 0; i < msg.size(); i += chunk) h.update(msg.substr(i, chunk));
            EXPECT_EQ(h.finish_hex(), sha256_hex(msg)) << n << " bytes in chunks of " << chunk;
        }
    }
}

TEST(HubSha256, FileDigestMatchesTheSharedReadme) {
    // ../shared/README.md states the digest of stories260K.gguf; read it from there.
    std::ifstream in(test::shared_dir() + "/README.md");
    ASSERT_TRUE(in);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // The first 64-hex-digit word after "sha256" (std::regex trips a GCC 12 warning under ASan).
    std::string digest;
    for (size_t at = text.find("sha256"); at != std::string::npos && digest.empty();
         at = text.find("sha256", at + 1)) {
        size_t i = at + 6;
        while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
        if (looks_like_sha256(text.substr(i, 64))) digest = text.substr(i, 64);
    }
    ASSERT_FALSE(digest.empty());
    EXPECT_EQ(sha256_file_hex(test::model_path("stories260K.gguf")), digest);
    EXPECT_THROW(sha256_file_hex("/nonexistent/x.gguf"), Error);
}

TEST(HubSha256, DigestShape) {
    EXPECT_TRUE(looks_like_sha256(sha256_hex("x")));
    EXPECT_FALSE(looks_like_sha256("abc"));
    EXPECT_FALSE(looks_like_sha256(std::string(64, 'g')));
}

TEST(HubResolver, ModelNames) {
    const ModelRef a = parse_model_ref("Qwen3-0.6B");
    EXPECT_EQ(a.alias, "qwen3-0.6b");
    EXPECT_EQ(a.repo, find_curated("qwen3-0.6b")->repo);
    EXPECT_TRUE(a.quant.empty());
    const ModelRef b = parse_model_ref("owner/repo-GGUF:q4_k_m");
    EXPECT_EQ(b.repo, "owner/repo-GGUF");
    EXPECT_EQ(b.quant, "q4_k_m");
    EXPECT_TRUE(b.alias.empty());
    EXPECT_EQ(parse_model_ref("https://huggingface.co/owner/repo").repo, "owner/repo");
    EXPECT_EQ(parse_model_ref("smollm2-360m:Q4_K_M").quant, "Q4_K_M");
    for (const char* bad : {"nonsense", "a/b/c", "../x", "owner/..", "owner/repo:", "/x", ""})
        EXPECT_THROW(parse_model_ref(bad), Error) << bad;
    // Every curated entry is a valid repo with a GGUF file whose quant is recognised.
    for (const auto& c : curated_models()) {
        EXPECT_EQ(parse_model_ref(c.repo).repo, c.repo);
        EXPECT_FALSE(quant_label(c.file).empty()) << c.file;
    }
}

TEST(HubResolver, QuantLabels) {
    EXPECT_EQ(quant_label("Qwen3-0.6B-Q8_0.gguf"), "Q8_0");
    EXPECT_EQ(quant_label("smollm2-360m-instruct-q4_k_m.gguf"), "Q4_K_M");
    EXPECT_EQ(quant_label("Llama-3.2-1B-Instruct-IQ4_XS.gguf"), "IQ4_XS");
    EXPECT_EQ(quant_label("model.BF16.gguf"), "BF16");
    EXPECT_EQ(quant_label("sub/dir/x-f16.gguf"), "F16");
    EXPECT_EQ(quant_label("Qwen3-0.6B.gguf"), "");
}

std::vector<RepoFile> files(std::initializer_list<const char*> names) {
    std::vector<RepoFile> out;
    for (const char* n : names) out.push_back({n, 0, ""});
    return out;
}

std::string error_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

TEST(HubResolver, PicksTheRequestedOrDefaultFile) {
    const auto fs = files({"README.md", "m-Q8_0.gguf", "m-Q4_K_M.gguf", "m-Q4_K_S.gguf",
                           "m-Q4_0.gguf", "mmproj-m-f16.gguf", "big-Q4_K_M-00001-of-00002.gguf"});
    EXPECT_EQ(pick_gguf(fs, "", "o/r").name, "m-Q4_K_M.gguf");
    EXPECT_EQ(pick_gguf(fs, "q8_0", "o/r").name, "m-Q8_0.gguf");
    EXPECT_EQ(pick_gguf(fs, "Q4_K_S", "o/r").name, "m-Q4_K_S.gguf");
    EXPECT_EQ(pick_gguf(files({"x-Q8_0.gguf", "x-Q4_0.gguf"}), "", "o/r").name, "x-Q4_0.gguf");
    EXPECT_EQ(pick_gguf(files({"only.gguf"}), "", "o/r").name, "only.gguf");
    // No match: the message lists what there is.
    const std::string none = error_of([&] { pick_gguf(fs, "Q2_K", "o/r"); });
    EXPECT_NE(none.find("Q2_K"), std::string::npos) << none;
    EXPECT_NE(none.find("Q4_K_M"), std::string::npos) << none;
    EXPECT_NE(none.find("Q8_0"), std::string::npos) << none;
    EXPECT_EQ(none.find("mmproj"), std::string::npos) << none;
    // A prefix of two labels is ambiguous.
    EXPECT_NE(error_of([&] { pick_gguf(fs, "Q4_K", "o/r"); }).find("several"), std::string::npos);
    // No single-file GGUF at all.
    EXPECT_NE(
        error_of([&] { pick_gguf(files({"a-00001-of-00002.gguf"}), "", "o/r"); }).find("split"),
        std::string::npos);
    EXPECT_THROW(pick_gguf(files({"README.md"}), "", "o/r"), Error);
    EXPECT_THROW(pick_gguf(files({"a.gguf", "b.gguf"}), "", "o/r"), Error);
}

TEST(HubResolver, ParsesTheListing) {
    const std::string sha = sha256_hex("x");
    const auto got = parse_repo_listing(
        R"({"id":"o/r","siblings":[{"rfilename":"a.gguf","size":5,"lfs":{"sha256":")" + sha +
            R"(","size":5}},{"rfilename":"README.md"}]})",
        "o/r");
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].name, "a.gguf");
    EXPECT_EQ(got[0].size, 5u);
    EXPECT_EQ(got[0].sha256, sha);
    EXPECT_EQ(got[1].sha256, "");
    for (const char* bad : {"", "[]", "{}", R"({"siblings":{}})", R"({"siblings":[{}]})",
                            R"({"siblings":[{"rfilename":"../x.gguf"}]})",
                            R"({"siblings":[{"rfilename":"/etc/x.gguf"}]})", "{\"siblings\":["})
        EXPECT_THROW(parse_repo_listing(bad, "o/r"), Error) << bad;
}

TEST(HubResolver, FileUrls) {
    EXPECT_EQ(file_url("http://h", "o/r", "a b+.gguf"), "http://h/o/r/resolve/main/a%20b%2B.gguf");
    EXPECT_EQ(file_url("http://h", "o/r", "d/x.gguf"), "http://h/o/r/resolve/main/d/x.gguf");
}

}  // namespace
}  // namespace ponder::hub
