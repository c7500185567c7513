// Run-time kernel dispatch (DESIGN rule 4): one table of kernel functions per ISA level,
// filled once; the entry points in kernels.h call through the table of the active level.
//
// An ISA file (`x86/*_avx2.cpp`, `x86/*_avx512.cpp`, `arm/*_neon.cpp`, compiled with its flags
// alone) exposes a `register_*` function that fills the slots it implements; slots left empty fall
// back to the scalar reference (src/kernels/ref/), which defines correct.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "kernels/kernels.h"

namespace ponder::kernels {

// Levels of one architecture are ordered (Scalar < Avx2 < Avx512 on x86-64, Scalar < Neon on
// aarch64); levels of the other architecture are never supported, so compare levels only
// through isa_supported(), not with `<`.
enum class Isa { Scalar = 0, Avx2 = 1, Avx512 = 2, Neon = 3 };

std::string_view isa_name(Isa isa);
// The best level this CPU supports among those this build has kernels for.
Isa best_isa();
// Whether this CPU and build can run the kernels of `isa`; and all such levels, lowest first.
bool isa_supported(Isa isa);
std::vector<Isa> supported_isas();
// best_isa(), or the lower level PONDER_ISA names (scalar|avx2|avx512|neon). An unknown name,
// or a level the CPU cannot run, fails with a message naming what the CPU supports.
Isa active_isa();
// Tests and benchmarks: make `isa` the active level (it must be supported).
void set_active_isa(Isa isa);

// Converts one token's activations (n floats) into a row of the gemm kernel's activation
// format, bit-identical to the reference rounding (kernels/ref/dot_ref.h).
using QuantizeFn = void (*)(const float* x, int64_t n, uint8_t* out);
// y[t * ldy + r] = dot(weight row r, activation row t) for r in [r0, r1), t in [0, n_tokens).
// w: the weight matrix (w_row_bytes per row); acts: n_tokens rows of act_row_bytes.
using GemmFn = void (*)(const uint8_t* w, size_t w_row_bytes, const uint8_t* acts,
                        size_t act_row_bytes, int64_t n_cols, int64_t n_tokens, int64_t r0,
                        int64_t r1, float* y, int64_t ldy);

struct GemmKernel {
    // Activation row layout: F32, F16, BF16, Q8_0 (BlockQ8_0), Q8_1 (BlockQ8_1: d, s = fp16(d *
    // sum q)) or Q8_K (BlockQ8_K with bsums); row_size(act_type, n_cols) bytes per token.
    DType act_type = DType::F32;
    QuantizeFn quantize = nullptr;
    GemmFn gemm = nullptr;  // null: the reference matmul is used for this weight type
};

using RmsNormFn = void (*)(const float* x, const float* weight, float* y, int64_t n, int64_t n_rows,
                           float eps);
using RopeFn = void (*)(float* x, int n_heads, int head_dim, int n_rot, bool neox, const float* cs);
using SwigluFn = void (*)(const float* g, const float* u, float* a, int64_t n);
struct AttentionRows;
struct KvHeadView;
// The three steps of attention (kernels.h attention_scores, attention_exp, attention_values).
struct AttentionSteps {
    void (*scores)(const AttentionRows& rows, const KvHeadView& kv, const int32_t* cells,
                   int32_t j0, int32_t j1, int head_dim, float scale, float* sc, size_t ld,
                   float* row_max) = nullptr;
    double (*exp)(float* e, int32_t n, float mx) = nullptr;
    void (*values)(const AttentionRows& rows, const KvHeadView& kv, const int32_t* cells,
                   int32_t j0, int32_t j1, int head_dim, float* sc, size_t ld, const float* inv,
                   float* part) = nullptr;
};
// kernels.h `attention` with the given steps: every span of the job in order.
void attention_in_steps(const AttentionSteps& steps, const AttentionRows& rows,
                        const KvHeadView& kv, const int32_t* cells, int head_dim, float scale,
                        float* scratch);

constexpr size_t kMaxDTypeId = 40;

struct KernelTable {
    Isa isa = Isa::Scalar;
    std::array<GemmKernel, kMaxDTypeId> gemm{};  // indexed by the weight's DType id
    // Q4_0 weights in the Q4_0x8 layout (kernels/repack.h); null at levels without one (the
    // model then keeps the row-major layout).
    GemmKernel gemm_q4_0x8{};
    // Q8_0 / Q5_0 / Q4_K / Q6_K weights in the Q8_0x16 / Q5_0x16 / Q4_Kx16 / Q6_Kx16 layouts;
    // likewise null where none.
    GemmKernel gemm_q8_0x16{};
    GemmKernel gemm_q5_0x16{};
    GemmKernel gemm_q4_kx16{};
    GemmKernel gemm_q6_kx16{};
    RmsNormFn rms_norm = nullptr;
    RopeFn rope = nullptr;
    SwigluFn swiglu = nullptr;
    // n floats -> n halves (round to nearest even, bit-identical to f32_to_fp16, NaN and inf
    // included): the F16 KV cache store. Null: ref::store_kv_row.
    QuantizeFn to_f16 = nullptr;
    AttentionSteps attention{};

    const GemmKernel& gemm_for(DType t) const { return gemm[static_cast<size_t>(t)]; }
    const GemmKernel& gemm_for(DType t, Layout l) const {
        switch (l) {
            case Layout::Q4_0x8:
                return gemm_q4_0x8;
            case Layout::Q8_0x16:
                return gemm_q8_0x16;
            case Layout::Q5_0x16:
                return gemm_q5_0x16;
            case Layout::Q4_Kx16:
                return gemm_q4_kx16;
            case Layout::Q6_Kx16:
                return gemm_q6_kx16;
            case Layout::RowMajor:
                break;
        }
        return gemm_for(t);
    }
    GemmKernel& gemm_for(DType t) { return gemm[static_cast<size_t>(t)]; }
};

// The table of a supported level, and of the active one.
const KernelTable& kernel_table(Isa isa);
const KernelTable& active_kernels();

// Registration functions of the ISA files (x86-64 builds only). Each fills its own slots;
// the AVX-512 table starts as a copy of the AVX2 one.
#if defined(__x86_64__)
void register_gemm_q8_avx2(
    KernelTable& t);  // x86/gemm_q8_avx2.cpp: F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1
// x86/gemm_q8_avxvnni.cpp: the AVX2 level's Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 kernels with AVX-VNNI,
// registered into that level's table on CPUs that have it.
void register_gemm_q8_avxvnni(KernelTable& t);
void register_gemm_q8_avx512(KernelTable& t);  // x86/gemm_q8_avx512.cpp
void register_gemm_kquants_avx2(
    KernelTable& t);  // x86/gemm_kquants_avx2.cpp: Q4_K Q5_K Q6_K (Q2_K Q3_K)
// x86/gemm_kquants_avxvnni.cpp: the same with AVX-VNNI, on CPUs that have it.
void register_gemm_kquants_avxvnni(KernelTable& t);
void register_gemm_kquants_avx512(KernelTable& t);  // x86/gemm_kquants_avx512.cpp
// x86/gemm_kquants_x16_avx512.cpp: the Q4_Kx16 / Q6_Kx16 slots; after the row-major K-quants.
void register_gemm_kquants_x16_avx512(KernelTable& t);
void register_ops_avx2(KernelTable& t);    // x86/ops_avx2.cpp: rms_norm rope swiglu attention
void register_ops_avx512(KernelTable& t);  // x86/ops_avx512.cpp
// x86/gemm_amx.cpp: prompts (16 tokens or more) of the Q4_0x8, Q8_0x16, Q5_0x16 layouts with AMX
// tiles, the AVX-512 kernels' bits; registered over the AVX-512 level's kernels (which it keeps
// for tails and decode) when amx_enabled().
void register_gemm_amx(KernelTable& t);
// Asks Linux for the AMX tile state (once per process); false where the kernel refuses.
bool amx_request_permission();
#endif
// Whether the AVX-512 level uses AMX: the CPU has AMX-INT8, PONDER_AMX is not 0 and the OS
// granted the tile state. False on other architectures.
bool amx_enabled();
// What the kernels in use are, for benchmark reports: the active level's name, with "+amx"
// where that level runs prompts on AMX ("avx512+amx", "avx2", "neon", ...).
std::string active_kernels_name();
// aarch64 builds: the NEON table starts as a copy of the scalar one.
#if defined(__aarch64__)
// arm/gemm_neon.cpp: F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1
void register_gemm_neon(KernelTable& t);
// arm/gemm_kquants_neon.cpp: Q4_K Q5_K Q6_K
void register_gemm_kquants_neon(KernelTable& t);
// arm/ops_neon.cpp: swiglu rms_norm rope, the F16 KV store, attention
void register_ops_neon(KernelTable& t);
#endif

}  // namespace ponder::kernels
