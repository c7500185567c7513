// Downloads and pulls against a loopback fake of the hub (fake_hub.h): full download with the
// redirect and SHA-256 check, resume after a cut connection, corrupted data, 404/401, disk full,
// cancellation, and that nothing half-downloaded is ever listed or resolved.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "core/error.h"
#include "hub/fake_hub.h"
#include "hub/http_download.h"
#include "hub/hub_resolver.h"
#include "hub/model_cache.h"
#include "hub/model_ref.h"
#include "hub/pull.h"
#include "hub/sha256.h"
#include "hub/temp_dir.h"

namespace ponder::hub {
namespace {
namespace fs = std::filesystem;
using test::FakeHub;
using test::TempDir;

constexpr size_t kSize = 300 * 1024;

class HubDownload : public ::testing::Test {
  protected:
    void SetUp() override {
        ::unsetenv("HF_TOKEN");
        content_ = test::random_bytes(kSize, 1);
        sha_ = hub_.add("acme/tiny-GGUF", "tiny-Q8_0.gguf", content_);
        hub_.add("acme/tiny-GGUF", "tiny-Q4_K_M.gguf", test::random_bytes(kSize / 2, 2));
        hub_.add("acme/tiny-GGUF", "README.md", "# tiny\n", /*lfs=*/false);
    }

    PullOptions opts() const {
        PullOptions o;
        o.endpoint = hub_.endpoint();
        o.home = home_.path();
        o.retry_delay_ms = 0;
        o.stall_timeout_s = 5;
        return o;
    }

    DownloadRequest request(const std::string& file, const std::string& dest) const {
        DownloadRequest r;
        r.url = file_url(hub_.endpoint(), "acme/tiny-GGUF", file);
        r.dest = dest;
        r.what = "acme/tiny-GGUF/" + file;
        r.retry_delay_ms = 0;
        r.stall_timeout_s = 5;
        return r;
    }

    static std::string error_of(const std::function<void()>& fn) {
        try {
            fn();
        } catch (const Error& e) {
            return e.what();
        }
        ADD_FAILURE() << "expected an Error";
        return "";
    }

    FakeHub hub_;
    TempDir home_;
    TempDir work_;
    std::string content_;
    std::string sha_;
};

TEST_F(HubDownload, FullDownloadFollowsTheRedirectAndVerifies) {
    const std::string dest = work_ / "x.gguf";
    std::vector<DownloadProgress> seen;
    auto req = request("tiny-Q8_0.gguf", dest);
    req.progress = [&](const DownloadProgress& p) {
        seen.push_back(p);
        return true;
    };
    const DownloadResult r = download_file(req);
    EXPECT_EQ(test::read_file(dest), content_);
    EXPECT_EQ(r.size, kSize);
    EXPECT_EQ(r.sha256, sha_);
    EXPECT_TRUE(r.sha256_checked);
    EXPECT_EQ(r.resumed_from, 0u);
    EXPECT_FALSE(fs::exists(partial_path(dest)));
    // The resolve URL answered 302 and the CDN served the bytes.
    const auto reqs = hub_.requests();
    ASSERT_EQ(reqs.size(), 2u);
    EXPECT_EQ(reqs[0].status, 302);
    EXPECT_EQ(reqs[1].path, "/cdn/" + sha_);
    EXPECT_EQ(reqs[1].status, 200);
    EXPECT_EQ(reqs[1].headers.count("range"), 0u);
    // Progress ends with a final report of every byte.
    ASSERT_FALSE(seen.empty());
    EXPECT_TRUE(seen.back().done);
    EXPECT_EQ(seen.back().bytes_done, kSize);
    EXPECT_EQ(seen.back().bytes_total, kSize);
}

TEST_F(HubDownload, PullResumesAfterTheServerCutsTheConnection) {
    const size_t cut = 100000;
    hub_.with_file("acme/tiny-GGUF", "tiny-Q8_0.gguf", [&](test::FakeFile& f) {
        f.cut_after = cut;
        f.cuts_left = 1;
    });
    auto o = opts();
    o.max_attempts = 1;
    const std::string msg = error_of([&] { pull_model("acme/tiny-GGUF:Q8_0", o); });
    EXPECT_NE(msg.find("network"), std::string::npos) << msg;
    EXPECT_NE(msg.find("resume"), std::string::npos) << msg;

    // The interrupted download is kept as .partial but is neither listed nor resolved.
    const ModelCache cache(home_.path());
    const std::string dest = cache.model_path("acme/tiny-GGUF", "tiny-Q8_0.gguf");
    ASSERT_TRUE(fs::exists(partial_path(dest)));
    EXPECT_EQ(fs::file_size(partial_path(dest)), cut);
    EXPECT_FALSE(fs::exists(dest));
    EXPECT_TRUE(cache.list().empty());
    EXPECT_THROW(resolve_model_path("acme/tiny-GGUF:Q8_0", home_.path()), Error);
    EXPECT_THROW(resolve_model_path("tiny-Q8_0.gguf", home_.path()), Error);

    // The second pull asks for the rest and ends with the right file.
    hub_.clear_requests();
    const PullResult r = pull_model("acme/tiny-GGUF:Q8_0", o);
    EXPECT_FALSE(r.already_cached);
    EXPECT_EQ(r.download.resumed_from, cut);
    EXPECT_TRUE(r.download.sha256_checked);
    EXPECT_EQ(test::read_file(dest), content_);
    EXPECT_FALSE(fs::exists(partial_path(dest)));
    const auto reqs = hub_.requests();
    ASSERT_FALSE(reqs.empty());
    EXPECT_EQ(reqs.back().headers.at("range"), "bytes=" + std::to_string(cut) + "-");
    EXPECT_EQ(reqs.back().status, 206);
    EXPECT_EQ(resolve_model_path("acme/tiny-GGUF:Q8_0", home_.path()), dest);
}

TEST_F(HubDownload, RetriesWithinOneCallResumeTheTransfer) {
    hub_.with_file("acme/tiny-GGUF", "tiny-Q8_0.gguf", [&](test::FakeFile& f) {
        f.cut_after = 4096;
        f.cuts_left = 2;
    });
    const std::string dest = work_ / "x.gguf";
    const DownloadResult r = download_file(request("tiny-Q8_0.gguf", dest));
    EXPECT_EQ(r.attempts, 3);
    EXPECT_EQ(test::read_file(dest), content_);
    EXPECT_EQ(hub_.requests().back().headers.at("range"), "bytes=8192-");
}

TEST_F(HubDownload, ServerIgnoringTheRangeRestartsFromZero) {
    hub_.with_file("acme/tiny-GGUF", "tiny-Q8_0.gguf",
                   [&](test::FakeFile& f) { f.ignore_range = true; });
    const std::string dest = work_ / "x.gguf";
    test::write_file(partial_path(dest), "stale bytes from another file");
    const DownloadResult r = download_file(request("tiny-Q8_0.gguf", dest));
    EXPECT_EQ(test::read_file(dest), content_);
    EXPECT_EQ(r.sha256, sha_);
}

TEST_F(HubDownload, CorruptedBytesAreRejectedAndNotInstalled) {
    hub_.with_file("acme/tiny-GGUF", "tiny-Q8_0.gguf",
                   [&](test::FakeFile& f) { f.corrupt = true; });
    const std::string msg = error_of([&] { pull_model("acme/tiny-GGUF:Q8_0", opts()); });
    EXPECT_NE(msg.find("corrupted"), std::string::npos) << msg;
    EXPECT_NE(msg.find(sha_), std::string::npos) << msg;
    const ModelCache cache(home_.path());
    const std::string dest = cache.model_path("acme/tiny-GGUF", "tiny-Q8_0.gguf");
    EXPECT_FALSE(fs::exists(dest));
    EXPECT_FALSE(fs::exists(partial_path(dest)));
    EXPECT_TRUE(cache.list().empty());

    // Same with the digest taken only from the hub's X-Linked-Etag header (no listing).
    const std::string d2 = work_ / "y.gguf";
    EXPECT_NE(error_of([&] { download_file(request("tiny-Q8_0.gguf", d2)); }).find("SHA-256"),
              std::string::npos);
    EXPECT_FALSE(fs::exists(d2));
}

TEST_F(HubDownload, NotFoundNamesTheRepoAndFile) {
    std::string msg = error_of([&] { pull_model("acme/missing-GGUF", opts()); });
    EXPECT_NE(msg.find("404"), std::string::npos) << msg;
    EXPECT_NE(msg.find("acme/missing-GGUF"), std::string::npos) << msg;
    msg = error_of([&] { download_file(request("nope-Q4_0.gguf", work_ / "n.gguf")); });
    EXPECT_NE(msg.find("404"), std::string::npos) << msg;
    EXPECT_NE(msg.find("acme/tiny-GGUF/nope-Q4_0.gguf"), std::string::npos) << msg;
    EXPECT_FALSE(fs::exists(work_ / "n.gguf"));
    // A quant the repo does not have lists the ones it has.
    msg = error_of([&] { pull_model("acme/tiny-GGUF:Q2_K", opts()); });
    EXPECT_NE(msg.find("Q4_K_M"), std::string::npos) << msg;
    EXPECT_NE(msg.find("Q8_0"), std::string::npos) << msg;
}

TEST_F(HubDownload, GatedRepoNeedsTheToken) {
    hub_.add("acme/gated-GGUF", "g-Q4_0.gguf", content_);
    hub_.set_gated("acme/gated-GGUF", true);
    std::string msg = error_of([&] { pull_model("acme/gated-GGUF", opts()); });
    EXPECT_NE(msg.find("401"), std::string::npos) << msg;
    EXPECT_NE(msg.find("HF_TOKEN"), std::string::npos) << msg;
    auto req = request("g-Q4_0.gguf", work_ / "g.gguf");
    req.url = file_url(hub_.endpoint(), "acme/gated-GGUF", "g-Q4_0.gguf");
    msg = error_of([&] { download_file(req); });
    EXPECT_NE(msg.find("HF_TOKEN"), std::string::npos) << msg;

    auto o = opts();
    o.token = "wrong";
    msg = error_of([&] { pull_model("acme/gated-GGUF", o); });
    EXPECT_NE(msg.find("rejected"), std::string::npos) << msg;

    o.token = hub_.token;
    const PullResult r = pull_model("acme/gated-GGUF", o);
    EXPECT_EQ(test::read_file(r.model.path), content_);
}

TEST_F(HubDownload, DiskFullIsReportedAndNothingIsInstalled) {
    if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
    const std::string dest = work_ / "full.gguf";
    // Every write to the partial file fails with ENOSPC.
    fs::create_symlink("/dev/full", partial_path(dest));
    const std::string msg = error_of([&] { download_file(request("tiny-Q8_0.gguf", dest)); });
    EXPECT_NE(msg.find("disk full"), std::string::npos) << msg;
    EXPECT_NE(msg.find("ENOSPC"), std::string::npos) << msg;
    EXPECT_FALSE(fs::exists(dest));
}

TEST_F(HubDownload, CancelledDownloadKeepsThePartialForLater) {
    const std::string dest = work_ / "c.gguf";
    auto req = request("tiny-Q8_0.gguf", dest);
    req.progress = [](const DownloadProgress&) { return false; };
    const std::string msg = error_of([&] { download_file(req); });
    EXPECT_NE(msg.find("cancelled"), std::string::npos) << msg;
    EXPECT_FALSE(fs::exists(dest));
    req.progress = nullptr;
    EXPECT_EQ(download_file(req).sha256, sha_);
    EXPECT_EQ(test::read_file(dest), content_);
}

TEST_F(HubDownload, PlainFileWithoutPublishedDigestStillChecksItsSize) {
    const std::string dest = work_ / "README.md";
    const DownloadResult r = download_file(request("README.md", dest));
    EXPECT_FALSE(r.sha256_checked);
    EXPECT_EQ(r.sha256, sha256_hex(test::read_file(dest)));
    EXPECT_EQ(test::read_file(dest), "# tiny\n");
}

TEST_F(HubDownload, PullIsIdempotentAndForceDownloadsAgain) {
    const PullResult a = pull_model("acme/tiny-GGUF", opts());  // default quant: Q4_K_M
    EXPECT_EQ(a.model.file, "tiny-Q4_K_M.gguf");
    EXPECT_EQ(a.model.quant, "Q4_K_M");
    EXPECT_TRUE(a.model.sha256_checked);
    hub_.clear_requests();
    const PullResult b = pull_model("acme/tiny-GGUF:q4_k_m", opts());
    EXPECT_TRUE(b.already_cached);
    EXPECT_EQ(b.model.path, a.model.path);
    for (const auto& r : hub_.requests()) EXPECT_EQ(r.path.find("/cdn/"), std::string::npos);
    auto o = opts();
    o.force = true;
    const PullResult c = pull_model("acme/tiny-GGUF", o);
    EXPECT_FALSE(c.already_cached);
    EXPECT_EQ(c.model.sha256, a.model.sha256);
}

}  // namespace
}  // namespace ponder::hub
