#include "core/dtype.h"

#include <array>
#include <cassert>
#include <cctype>

namespace ponder {
namespace {

struct Entry {
    uint32_t id;
    DTypeTraits traits;
};

// Block geometry of every type id that GGUF files use (from the GGUF specification).
constexpr std::array kTypes = {
    Entry{0, {"F32", 1, 4, false, true}},         Entry{1, {"F16", 1, 2, false, true}},
    Entry{2, {"Q4_0", 32, 18, true, true}},       Entry{3, {"Q4_1", 32, 20, true, true}},
    Entry{6, {"Q5_0", 32, 22, true, true}},       Entry{7, {"Q5_1", 32, 24, true, true}},
    Entry{8, {"Q8_0", 32, 34, true, true}},       Entry{9, {"Q8_1", 32, 36, true, false}},
    Entry{10, {"Q2_K", 256, 84, true, true}},     Entry{11, {"Q3_K", 256, 110, true, true}},
    Entry{12, {"Q4_K", 256, 144, true, true}},    Entry{13, {"Q5_K", 256, 176, true, true}},
    Entry{14, {"Q6_K", 256, 210, true, true}},    Entry{15, {"Q8_K", 256, 292, true, true}},
    Entry{16, {"IQ2_XXS", 256, 66, true, false}}, Entry{17, {"IQ2_XS", 256, 74, true, false}},
    Entry{18, {"IQ3_XXS", 256, 98, true, false}}, Entry{19, {"IQ1_S", 256, 50, true, false}},
    Entry{20, {"IQ4_NL", 32, 18, true, false}},   Entry{21, {"IQ3_S", 256, 110, true, false}},
    Entry{22, {"IQ2_S", 256, 82, true, false}},   Entry{23, {"IQ4_XS", 256, 136, true, false}},
    Entry{24, {"I8", 1, 1, false, false}},        Entry{25, {"I16", 1, 2, false, false}},
    Entry{26, {"I32", 1, 4, false, false}},       Entry{27, {"I64", 1, 8, false, false}},
    Entry{28, {"F64", 1, 8, false, false}},       Entry{29, {"IQ1_M", 256, 56, true, false}},
    Entry{30, {"BF16", 1, 2, false, true}},       Entry{34, {"TQ1_0", 256, 54, true, false}},
    Entry{35, {"TQ2_0", 256, 66, true, false}},   Entry{39, {"MXFP4", 32, 17, true, false}},
};

}  // namespace

std::optional<DTypeTraits> dtype_traits_of(uint32_t id) {
    for (const auto& e : kTypes)
        if (e.id == id) return e.traits;
    return std::nullopt;
}

const DTypeTraits& dtype_traits(DType t) {
    for (const auto& e : kTypes)
        if (e.id == uint32_t(t)) return e.traits;
    assert(false && "invalid DType");
    return kTypes[0].traits;
}

std::optional<DType> dtype_from_name(std::string_view name) {
    for (const auto& e : kTypes) {
        if (e.traits.name.size() != name.size()) continue;
        bool eq = true;
        for (size_t i = 0; i < name.size() && eq; ++i)
            eq = std::toupper(static_cast<unsigned char>(name[i])) == e.traits.name[i];
        if (eq) return DType(e.id);
    }
    return std::nullopt;
}

}  // namespace ponder
