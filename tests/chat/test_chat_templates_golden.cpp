// Every chat template in ../shared/golden/chat-templates/ renders every case of its golden
// file byte for byte as Python Jinja2 did, or fails with the error Jinja2 raised.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "chat/chat_template.h"
#include "common/paths.h"
#include "core/error.h"

namespace {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

std::string read_file(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// The golden files were rendered with strftime_now fixed to 26 Jul 2024 (shared/DESIGN.md).
std::tm golden_clock() {
    std::tm t{};
    t.tm_year = 2024 - 1900;
    t.tm_mon = 6;
    t.tm_mday = 26;
    t.tm_wday = 5;
    t.tm_yday = 207;
    return t;
}

TEST(ChatTemplatesGolden, EveryTemplateEveryCase) {
    const fs::path dir = ponder::test::golden_path("chat-templates");
    const ojson cases = ojson::parse(read_file(dir / "cases.json"));
    ASSERT_TRUE(cases.is_object());
    size_t n_templates = 0, n_outputs = 0, n_errors = 0;
    std::vector<fs::path> templates;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().extension() == ".jinja") templates.push_back(e.path());
    std::sort(templates.begin(), templates.end());
    for (const auto& path : templates) {
        SCOPED_TRACE(path.filename().string());
        fs::path golden_file = path;
        golden_file.replace_extension(".json");
        ASSERT_TRUE(fs::exists(golden_file));
        const ojson golden = ojson::parse(read_file(golden_file));
        ASSERT_TRUE(golden.contains("renders"));
        ponder::ChatTemplate tmpl(read_file(path), path.stem().string());
        ++n_templates;
        for (const auto& [case_name, expected] : golden["renders"].items()) {
            SCOPED_TRACE(case_name);
            ASSERT_TRUE(cases.contains(case_name));
            ponder::ChatRenderInput in;
            ponder::chat_input_from_json(cases[case_name], in, case_name);
            in.bos_token = "<s>";
            in.eos_token = "</s>";
            in.clock = golden_clock;
            if (expected.contains("output")) {
                std::string got;
                try {
                    got = tmpl.render(in);
                } catch (const ponder::Error& e) {
                    ADD_FAILURE() << "render failed: " << e.what();
                    continue;
                }
                EXPECT_EQ(got, expected["output"].get<std::string>());
                ++n_outputs;
            } else {
                ASSERT_TRUE(expected.contains("error"));
                const std::string want = expected["error"].get<std::string>();
                try {
                    std::string got = tmpl.render(in);
                    ADD_FAILURE() << "expected error '" << want << "', rendered:\n" << got;
                } catch (const ponder::Error& e) {
                    EXPECT_NE(std::string(e.what()).find(want), std::string::npos)
                        << "error was: " << e.what();
                    EXPECT_NE(std::string(e.what()).find(path.stem().string()), std::string::npos)
                        << "error does not name the template: " << e.what();
                }
                ++n_errors;
            }
        }
    }
    EXPECT_GE(n_templates, 1u);
    EXPECT_GE(n_outputs + n_errors, n_templates);
    std::printf("templates %zu, outputs %zu, errors %zu\n", n_templates, n_outputs, n_errors);
}

}  // namespace
