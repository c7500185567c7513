// The model cache (list, rm, stray files), resolve_model_path for paths and names, and the
// `ponder pull` / `list` / `rm` / `info NAME` commands end to end against the loopback fake hub.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/paths.h"
#include "core/error.h"
#include "gguf/gguf.h"
#include "hub/fake_hub.h"
#include "hub/hub_resolver.h"
#include "hub/model_cache.h"
#include "hub/model_ref.h"
#include "hub/pull.h"
#include "hub/temp_dir.h"

namespace ponder::hub {
namespace {
namespace fs = std::filesystem;

const char* kRepo = "acme/tiny-llama-GGUF";

class HubCache : public ::testing::Test {
  protected:
    void SetUp() override {
        ::unsetenv("HF_TOKEN");
        q8_ = test::read_file(test::model_path("tiny-llama-Q8_0.gguf"));
        q4_ = test::read_file(test::model_path("tiny-llama-Q4_K_M.gguf"));
        ASSERT_FALSE(q8_.empty());
        ASSERT_FALSE(q4_.empty());
        hub_.add(kRepo, "tiny-llama-Q8_0.gguf", q8_);
        hub_.add(kRepo, "tiny-llama-Q4_K_M.gguf", q4_);
    }
    PullOptions opts() const {
        PullOptions o;
        o.endpoint = hub_.endpoint();
        o.home = home_.path();
        o.retry_delay_ms = 0;
        o.stall_timeout_s = 5;
        return o;
    }
    std::string error_of(const std::function<void()>& fn) {
        try {
            fn();
        } catch (const Error& e) {
            return e.what();
        }
        ADD_FAILURE() << "expected an Error";
        return "";
    }

    test::FakeHub hub_;
    test::TempDir home_;
    std::string q8_, q4_;
};

TEST_F(HubCache, ListResolveAndRemove) {
    const PullResult a = pull_model(std::string(kRepo) + ":Q8_0", opts());
    const PullResult b = pull_model(kRepo, opts());  // default quant
    EXPECT_EQ(b.model.quant, "Q4_K_M");
    const ModelCache cache(home_.path());

    // Stray files that must never count as cached models.
    const fs::path dir = fs::path(a.model.path).parent_path();
    test::write_file((dir / "half-Q2_K.gguf.partial").string(), q8_.substr(0, 1000));
    test::write_file(
        (dir / "half-Q2_K.gguf.partial.manifest.json").string(),
        R"({"repo":"acme/tiny-llama-GGUF","file":"half-Q2_K.gguf.partial","size":1000})");
    test::write_file((dir / "bad-Q3_K.gguf").string(), "x");
    test::write_file((dir / "bad-Q3_K.gguf.manifest.json").string(), "{not json");
    test::write_file((dir / "short-Q5_0.gguf").string(), "xy");
    test::write_file((dir / "short-Q5_0.gguf.manifest.json").string(),
                     R"({"repo":"acme/tiny-llama-GGUF","file":"short-Q5_0.gguf","size":99})");

    const auto models = cache.list();
    ASSERT_EQ(models.size(), 2u);
    EXPECT_EQ(models[0].display_name(), std::string(kRepo) + ":Q4_K_M");
    EXPECT_EQ(models[1].display_name(), std::string(kRepo) + ":Q8_0");
    EXPECT_EQ(models[1].size, q8_.size());
    EXPECT_TRUE(models[1].sha256_checked);
    EXPECT_FALSE(models[1].downloaded_at.empty());

    // Paths are returned as they are; names resolve to the cached files.
    const std::string shared = test::model_path("stories260K.gguf");
    EXPECT_EQ(resolve_model_path(shared, home_.path()), shared);
    EXPECT_EQ(resolve_model_path(std::string(kRepo) + ":q8_0", home_.path()), a.model.path);
    EXPECT_EQ(resolve_model_path(kRepo, home_.path()), b.model.path);
    EXPECT_EQ(resolve_model_path("tiny-llama-Q8_0.gguf", home_.path()), a.model.path);
    EXPECT_EQ(test::read_file(resolve_model_path("ACME/Tiny-Llama-GGUF:Q4_K_M", home_.path())),
              q4_);
    for (const char* stray : {"half-Q2_K.gguf", "half-Q2_K.gguf.partial", "bad-Q3_K.gguf",
                              "short-Q5_0.gguf", "acme/tiny-llama-GGUF:Q5_0"}) {
        EXPECT_THROW(resolve_model_path(stray, home_.path()), Error) << stray;
    }
    const std::string msg = error_of([&] { resolve_model_path("acme/other", home_.path()); });
    EXPECT_NE(msg.find("neither a file nor a cached model"), std::string::npos) << msg;
    EXPECT_NE(msg.find("ponder pull acme/other"), std::string::npos) << msg;
    EXPECT_NE(error_of([&] { resolve_model_path(home_.path(), home_.path()); }).find("directory"),
              std::string::npos);

    cache.remove(models[1]);
    EXPECT_FALSE(fs::exists(a.model.path));
    ASSERT_EQ(cache.list().size(), 1u);
    EXPECT_THROW(resolve_model_path(std::string(kRepo) + ":Q8_0", home_.path()), Error);
    // The remaining Q4_K_M is now what the bare repo name means.
    EXPECT_EQ(resolve_model_path(kRepo, home_.path()), b.model.path);
}

TEST_F(HubCache, CuratedShortNamesPullAndResolve) {
    const CuratedModel* c = find_curated("smollm2-360m");
    ASSERT_NE(c, nullptr);
    hub_.add(c->repo, c->file, q8_);
    const PullResult r = pull_model("smollm2-360m", opts());
    EXPECT_EQ(r.model.alias, "smollm2-360m");
    EXPECT_EQ(r.model.file, c->file);
    EXPECT_TRUE(r.model.sha256_checked);  // from X-Linked-Etag: no listing was read
    for (const auto& q : hub_.requests()) EXPECT_EQ(q.path.find("/api/"), std::string::npos);
    const ModelCache cache(home_.path());
    ASSERT_EQ(cache.list().size(), 1u);
    EXPECT_EQ(cache.list()[0].display_name(), "smollm2-360m");
    EXPECT_EQ(resolve_model_path("smollm2-360m", home_.path()), r.model.path);
    EXPECT_EQ(resolve_model_path("SmolLM2-360M", home_.path()), r.model.path);
    EXPECT_EQ(resolve_model_path(c->repo, home_.path()), r.model.path);
    EXPECT_THROW(resolve_model_path("qwen3-0.6b", home_.path()), Error);
}

// Runs the built `ponder` with the fake hub and the temp cache; returns the exit status.
struct CliRun {
    int status = -1;
    std::string out, err;
};

CliRun ponder(const test::FakeHub& hub, const test::TempDir& home, const std::string& args) {
    const std::string err_file = home / "stderr.txt";
    const std::string cmd = "env -u HF_TOKEN PONDER_HF_ENDPOINT='" + hub.endpoint() +
                            "' PONDER_HOME='" + home.path() + "' '" + test::cli_path() + "' " +
                            args + " 2>'" + err_file + "'";
    CliRun r;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) return r;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
    const int st = ::pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r.err = test::read_file(err_file);
    return r;
}

TEST_F(HubCache, CliPullListInfoRm) {
    CliRun r = ponder(hub_, home_, std::string("pull ") + kRepo + " --quant Q8_0");
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("pulled"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("verified"), std::string::npos) << r.out;
    EXPECT_NE(r.err.find("100.0%"), std::string::npos) << r.err;  // plain progress lines

    r = ponder(hub_, home_, "list --json");
    ASSERT_EQ(r.status, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j.size(), 1u);
    EXPECT_EQ(j[0]["name"], std::string(kRepo) + ":Q8_0");
    EXPECT_EQ(j[0]["size"], q8_.size());
    const std::string path = j[0]["path"];
    EXPECT_EQ(test::read_file(path), q8_);
    const auto f = GgufFile::open(test::model_path("tiny-llama-Q8_0.gguf"));
    EXPECT_EQ(j[0]["architecture"], std::string(f->get_string("general.architecture")));

    r = ponder(hub_, home_, "list");
    EXPECT_EQ(r.status, 0);
    EXPECT_NE(r.out.find(std::string(kRepo) + ":Q8_0"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(path), std::string::npos) << r.out;

    r = ponder(hub_, home_, std::string("info ") + kRepo + ":Q8_0 --json");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["path"], path);

    r = ponder(hub_, home_, std::string("pull ") + kRepo + ":Q8_0");
    EXPECT_EQ(r.status, 0);
    EXPECT_NE(r.out.find("already cached"), std::string::npos) << r.out;

    r = ponder(hub_, home_, std::string("rm ") + kRepo + ":Q8_0");
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_FALSE(fs::exists(path));
    r = ponder(hub_, home_, "list --json");
    EXPECT_EQ(nlohmann::json::parse(r.out).size(), 0u);

    r = ponder(hub_, home_, "rm acme/none");
    EXPECT_EQ(r.status, 1);
    r = ponder(hub_, home_, "pull acme/missing-GGUF");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("ponder: error:"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("404"), std::string::npos) << r.err;
    r = ponder(hub_, home_, "info no-such-model");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("ponder pull no-such-model"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ponder::hub
