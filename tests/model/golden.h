// Reads ../shared/golden/models/<model>.json (produced by llama.cpp, greedy).
#pragma once
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/paths.h"
#include "core/dtype.h"

namespace ponder::test {

struct GoldenCase {
    std::string prompt;
    std::vector<int32_t> prompt_ids;
    std::vector<std::pair<int32_t, float>> top8;
    std::vector<float> logits;  // all first-step logits, when the golden has them
    std::vector<int32_t> greedy_ids;
    std::vector<float> margins;
};

struct GoldenModel {
    std::string model_file;
    std::vector<GoldenCase> cases;
};

inline GoldenModel load_golden(const std::string& name) {
    std::ifstream in(golden_path("models/" + name + ".json"));
    const auto j = nlohmann::json::parse(in);
    GoldenModel g;
    g.model_file = j["model"].get<std::string>();
    for (const auto& c : j["cases"]) {
        GoldenCase gc;
        gc.prompt = c["prompt"].get<std::string>();
        gc.prompt_ids = c["prompt_ids"].get<std::vector<int32_t>>();
        for (const auto& p : c["first_step_top8"])
            gc.top8.emplace_back(p[0].get<int32_t>(), p[1].get<float>());
        if (c.contains("first_step_logits"))
            gc.logits = c["first_step_logits"].get<std::vector<float>>();
        gc.greedy_ids = c["greedy_ids"].get<std::vector<int32_t>>();
        gc.margins = c["greedy_margins"].get<std::vector<float>>();
        g.cases.push_back(std::move(gc));
    }
    return g;
}

// Names of every golden model file (without .json), sorted.
inline std::vector<std::string> golden_model_names() {
    std::vector<std::string> out;
    for (auto& e : std::filesystem::directory_iterator(golden_path("models")))
        if (e.path().extension() == ".json") out.push_back(e.path().stem().string());
    std::sort(out.begin(), out.end());
    return out;
}

// The tolerance: 0.01 for float files, 0.05 for quantized ones (decided by the
// weight types present in the file).
inline float golden_tolerance(bool quantized) {
    return quantized ? 0.05f : 0.01f;
}

}  // namespace ponder::test
