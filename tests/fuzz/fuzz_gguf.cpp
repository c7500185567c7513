// libFuzzer target for the GGUF reader: parses arbitrary bytes with GgufFile::from_memory and,
// when they parse, reads every metadata value, every array element, every tensor's bytes and
// the model summary `ponder info` builds. The only acceptable failure is ponder::Error; any
// crash, sanitizer report or other exception is a bug.
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "gguf/gguf.h"
#include "model/model_summary.h"

namespace {

volatile uint64_t g_sink;  // keeps the reads below from being optimized away

void touch_value(const ponder::GgufValue& v) {
    uint64_t h = v.u64 ^ uint64_t(v.i64) ^ uint64_t(v.str.size());
    for (char ch : v.str) h += uint8_t(ch);
    if (v.is_array()) {
        for (auto s : v.strings)
            if (!s.empty()) h += uint8_t(s.front()) + uint8_t(s.back());
        for (const auto& item : v.items) touch_value(item);
        if (v.raw) {
            for (uint64_t i = 0; i < v.count; ++i) {
                const double x = v.array_number(i);
                uint64_t bits;
                std::memcpy(&bits, &x, sizeof bits);
                h += bits;
                try {
                    h += uint64_t(v.array_int(i));
                } catch (const ponder::Error&) {
                    // NaN or out-of-range floats are refused, by contract
                }
            }
        }
    }
    g_sink = g_sink + h;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // An exact-size copy, so that any read past the end is caught by AddressSanitizer.
    std::vector<uint8_t> copy(data, data + size);
    try {
        auto f = ponder::GgufFile::from_memory(copy.data(), copy.size(), "fuzz.gguf");
        for (const auto& kv : f->metadata()) {
            touch_value(kv.value);
            if (f->find(kv.key) != &kv.value) __builtin_trap();  // the index agrees
        }
        for (const auto& t : f->tensors()) {
            if (f->find_tensor(t.name) != &t) __builtin_trap();
            uint64_t h = uint64_t(t.n_elements()) + t.shape_str().size();
            if (t.nbytes) h += t.data[0] + t.data[t.nbytes - 1];
            g_sink = g_sink + h;
        }
        try {
            const ponder::ModelSummary s = ponder::summarize_model(*f);
            g_sink = g_sink + s.n_params + s.vocab_size;
        } catch (const ponder::Error&) {
            // metadata of the wrong type for a known key
        }
    } catch (const ponder::Error&) {
        // a rejected file: the expected outcome for most inputs
    }
    return 0;
}
