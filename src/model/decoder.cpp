#include "model/decoder.h"

#include <algorithm>
#include <atomic>
#include <cmath>

#include "core/error.h"
#include "core/fp16.h"
#include "core/profile.h"
#include "core/quant.h"

namespace ponder {
namespace {

constexpr int32_t kMaxHeadDim = 1024;

int32_t positive_key(const GgufFile& f, const std::string& key, int64_t def = -1) {
    const GgufValue* v = f.find(key);
    if (!v && def >= 0) return int32_t(def);
    if (!v) fail(f.path(), ": missing metadata key '", key, "'");
    if (v->is_array())
        fail(f.path(), ": metadata key '", key, "' is a per-layer array (unsupported)");
    const int64_t x = f.get_int(key);
    if (x <= 0 || x > (int64_t(1) << 30))
        fail(f.path(), ": metadata key '", key, "' has invalid value ", x);
    return int32_t(x);
}

const GgufTensorInfo& tensor(const GgufFile& f, const std::string& name) {
    const GgufTensorInfo* t = f.find_tensor(name);
    if (!t) fail(f.path(), ": missing tensor '", name, "'");
    return *t;
}

kernels::Matrix matrix(const GgufFile& f, const std::string& name, int64_t n_cols, int64_t n_rows) {
    const GgufTensorInfo& t = tensor(f, name);
    if (t.n_dims != 2 || t.ne[0] != n_cols || t.ne[1] != n_rows)
        fail(f.path(), ": tensor '", name, "' has shape ", t.shape_str(), ", expected [", n_cols,
             ", ", n_rows, "]");
    if (!dtype_traits(t.type).supported || t.type == DType::Q8_K)
        fail(f.path(), ": tensor '", name, "' has type ", dtype_name(t.type),
             ", which ponder cannot compute with yet");
    return {t.type, t.ne[0], t.ne[1], t.data, row_size(t.type, t.ne[0])};
}

std::vector<float> vec(const GgufFile& f, const std::string& name, int64_t n) {
    const GgufTensorInfo& t = tensor(f, name);
    if (t.n_elements() != n)
        fail(f.path(), ": tensor '", name, "' has shape ", t.shape_str(), ", expected ", n,
             " elements");
    std::vector<float> out(static_cast<size_t>(n));
    dequantize_row(t.type, t.data, out.data(), n);
    return out;
}

void grow(std::vector<float>& b, size_t n) {
    if (b.size() < n) b.resize(n);
}

void add_bias(float* y, const std::vector<float>& b, int64_t n_tokens) {
    if (b.empty()) return;
    const size_t n = b.size();
    for (int64_t t = 0; t < n_tokens; ++t)
        for (size_t i = 0; i < n; ++i) y[size_t(t) * n + i] += b[i];
}

}  // namespace

HParams read_decoder_hparams(const GgufFile& f, const std::string& arch) {
    HParams hp;
    hp.arch = arch;
    const std::string a = arch + ".";
    hp.n_embd = positive_key(f, a + "embedding_length");
    hp.n_layer = positive_key(f, a + "block_count");
    hp.n_head = positive_key(f, a + "attention.head_count");
    hp.n_head_kv = positive_key(f, a + "attention.head_count_kv", hp.n_head);
    hp.n_ff = positive_key(f, a + "feed_forward_length");
    hp.n_ctx_train = positive_key(f, a + "context_length", 4096);
    if (hp.n_embd % hp.n_head != 0 && !f.find(a + "attention.key_length"))
        fail(f.path(), ": embedding_length ", hp.n_embd, " is not a multiple of head_count ",
             hp.n_head, " and attention.key_length is absent");
    hp.head_dim = positive_key(f, a + "attention.key_length", hp.n_embd / hp.n_head);
    const int32_t vlen = positive_key(f, a + "attention.value_length", hp.head_dim);
    if (vlen != hp.head_dim)
        fail(f.path(), ": attention.value_length ", vlen, " differs from key_length ", hp.head_dim,
             " (unsupported)");
    if (hp.head_dim > kMaxHeadDim)
        fail(f.path(), ": head size ", hp.head_dim, " exceeds the supported ", kMaxHeadDim);
    if (hp.n_head % hp.n_head_kv != 0)
        fail(f.path(), ": head_count ", hp.n_head, " is not a multiple of head_count_kv ",
             hp.n_head_kv);
    hp.n_rot = positive_key(f, a + "rope.dimension_count", hp.head_dim);
    if (hp.n_rot > hp.head_dim || hp.n_rot % 2 != 0)
        fail(f.path(), ": rope.dimension_count ", hp.n_rot, " must be even and <= head size ",
             hp.head_dim);
    hp.rope_base = float(f.get_float_or(a + "rope.freq_base", 10000.0));
    hp.rms_eps = float(f.get_float_or(a + "attention.layer_norm_rms_epsilon", 1e-5));
    const std::string scaling(f.get_string_or(a + "rope.scaling.type", "none"));
    if (scaling == "linear") {
        const double factor = f.get_float_or(a + "rope.scaling.factor", 1.0);
        if (factor > 0) hp.rope_scale = float(factor);
    } else if (scaling != "none" && scaling != "") {
        fail(f.path(), ": rope scaling type '", scaling, "' is not supported (none, linear)");
    }
    if (!(hp.rope_base > 0) || !(hp.rms_eps > 0) || !(hp.rms_eps < 1))
        fail(f.path(), ": invalid rope.freq_base ", hp.rope_base, " or rms epsilon ", hp.rms_eps);
    const GgufTensorInfo& emb = tensor(f, "token_embd.weight");
    hp.n_vocab = int32_t(emb.ne[1]);
    return hp;
}

ModelWeights bind_decoder(const GgufFile& f, const HParams& hp) {
    ModelWeights w;
    w.token_embd = matrix(f, "token_embd.weight", hp.n_embd, hp.n_vocab);
    w.output_norm = vec(f, "output_norm.weight", hp.n_embd);
    w.output = f.find_tensor("output.weight") ? matrix(f, "output.weight", hp.n_embd, hp.n_vocab)
                                              : w.token_embd;
    if (f.find_tensor("rope_freqs.weight"))
        w.rope_freqs = vec(f, "rope_freqs.weight", hp.n_rot / 2);
    w.layers.resize(size_t(hp.n_layer));
    for (int32_t l = 0; l < hp.n_layer; ++l) {
        const std::string p = cat("blk.", l, ".");
        LayerWeights& L = w.layers[size_t(l)];
        L.attn_norm = vec(f, p + "attn_norm.weight", hp.n_embd);
        L.wq = matrix(f, p + "attn_q.weight", hp.n_embd, hp.q_dim());
        L.wk = matrix(f, p + "attn_k.weight", hp.n_embd, hp.kv_dim());
        L.wv = matrix(f, p + "attn_v.weight", hp.n_embd, hp.kv_dim());
        L.wo = matrix(f, p + "attn_output.weight", hp.q_dim(), hp.n_embd);
        if (hp.qkv_bias) {
            L.bq = vec(f, p + "attn_q.bias", hp.q_dim());
            L.bk = vec(f, p + "attn_k.bias", hp.kv_dim());
            L.bv = vec(f, p + "attn_v.bias", hp.kv_dim());
        }
        if (hp.qk_norm) {
            L.q_norm = vec(f, p + "attn_q_norm.weight", hp.head_dim);
            L.k_norm = vec(f, p + "attn_k_norm.weight", hp.head_dim);
        }
        L.ffn_norm = vec(f, p + "ffn_norm.weight", hp.n_embd);
        L.w_gate = matrix(f, p + "ffn_gate.weight", hp.n_embd, hp.n_ff);
        L.w_up = matrix(f, p + "ffn_up.weight", hp.n_embd, hp.n_ff);
        L.w_down = matrix(f, p + "ffn_down.weight", hp.n_ff, hp.n_embd);
    }
    return w;
}

namespace {

// Groups the batch's query rows into attention jobs: each job holds up to kMaxAttentionRows
// rows (token, head) of consecutive tokens of one sequence whose heads share one KV head, so
// the kernel loads each K/V row once for all of them. Sorted by cost (visible cells), longest
// first: late tokens of a causal prompt see the most cells.
void build_attention_jobs(const HParams& hp, const ForwardBatch& b, const KvCache& kv,
                          ForwardScratch& s) {
    const int64_t T = int64_t(b.tokens.size());
    const int hd = hp.head_dim;
    const int64_t Q = hp.q_dim();
    const int group = hp.n_head / hp.n_head_kv;
    constexpr int kMax = kernels::kMaxAttentionRows;
    s.attn_jobs.clear();
    for (int64_t t0 = 0; t0 < T;) {
        // [t0, t1): a run of tokens of one sequence.
        const int32_t seq = b.seq[size_t(t0)];
        int64_t t1 = t0 + 1;
        while (t1 < T && b.seq[size_t(t1)] == seq) ++t1;
        const int32_t* cells = kv.cells(seq).data();
        for (int32_t kvh = 0; kvh < hp.n_head_kv; ++kvh) {
            ForwardScratch::AttnJob job;
            job.kv_head = kvh;
            job.cells = cells;
            for (int64_t t = t0; t < t1; ++t) {
                const int32_t n = kv.n_visible(seq, b.pos[size_t(t)]);
                // A token's heads stay in one job when they fit (group <= kMax).
                if (job.rows.n_rows > 0 && (job.rows.n_rows + std::min(group, kMax) > kMax)) {
                    s.attn_jobs.push_back(job);
                    job.rows = {};
                    job.cost = 0;
                }
                for (int g = 0; g < group; ++g) {
                    if (job.rows.n_rows == kMax) {
                        s.attn_jobs.push_back(job);
                        job.rows = {};
                        job.cost = 0;
                    }
                    const int64_t h = int64_t(kvh) * group + g;
                    auto& r = job.rows;
                    r.q[r.n_rows] = s.q.data() + t * Q + h * hd;
                    r.out[r.n_rows] = s.att.data() + t * Q + h * hd;
                    r.n_vis[r.n_rows] = n;
                    ++r.n_rows;
                    job.cost += n;
                }
            }
            if (job.rows.n_rows > 0) s.attn_jobs.push_back(job);
        }
        t0 = t1;
    }
    std::stable_sort(s.attn_jobs.begin(), s.attn_jobs.end(),
                     [](const auto& a, const auto& c) { return a.cost > c.cost; });
}

// Whether the pool's threads would wait on whole jobs: a greedy schedule of the jobs (longest
// first) over nth threads finishes more than 10% after an even share of the work. Jobs of
// fewer than two spans are not worth cutting.
bool split_attention(const std::vector<ForwardScratch::AttnJob>& jobs, int nth) {
    if (nth <= 1 || jobs.empty()) return false;
    int32_t longest = 0;
    for (const auto& j : jobs)
        for (int r = 0; r < j.rows.n_rows; ++r) longest = std::max(longest, j.rows.n_vis[r]);
    if (longest < 2 * kernels::kAttentionSpan) return false;
    std::vector<int64_t> load(size_t(nth), 0);
    int64_t total = 0;
    for (const auto& j : jobs) {  // sorted by cost, longest first
        *std::min_element(load.begin(), load.end()) += j.cost;
        total += j.cost;
    }
    const int64_t makespan = *std::max_element(load.begin(), load.end());
    return makespan * 10 * nth > total * 11;
}

}  // namespace

void decoder_forward(const HParams& hp, const ModelWeights& w, const ForwardBatch& b, KvCache& kv,
                     ForwardScratch& s, ThreadPool& pool, float* logits) {
    const int64_t T = int64_t(b.tokens.size());
    const int64_t E = hp.n_embd, Q = hp.q_dim(), KV = hp.kv_dim(), F = hp.n_ff;
    const int hd = hp.head_dim;
    grow(s.x, size_t(T * E));
    grow(s.h, size_t(T * E));
    grow(s.q, size_t(T * Q));
    grow(s.k, size_t(T * KV));
    grow(s.v, size_t(T * KV));
    grow(s.att, size_t(T * Q));
    grow(s.o, size_t(T * E));
    grow(s.g, size_t(T * F));
    grow(s.u, size_t(T * F));
    grow(s.scores, size_t(pool.size()) * kernels::attention_scratch_floats(
                                             kernels::kMaxAttentionRows, kv.n_cells(), hd));
    const size_t scratch_per_thread =
        kernels::attention_scratch_floats(kernels::kMaxAttentionRows, kv.n_cells(), hd);

    using profile::Stage;
    profile::Laps laps;
    for (int64_t t = 0; t < T; ++t) {
        const int32_t id = b.tokens[size_t(t)];
        if (id < 0 || id >= hp.n_vocab)
            fail("token id ", id, " outside the vocabulary (", hp.n_vocab, ")");
        kernels::matrix_row(w.token_embd, id, s.x.data() + t * E);
    }
    const float* freq = w.rope_freqs.empty() ? nullptr : w.rope_freqs.data();
    // The rotation angles depend on the position only: computed once for all layers.
    const int n_rot = hp.n_rot;
    grow(s.rope_cs, size_t(T * n_rot));
    pool.run(
        [&](int ith, int nth) {
            int64_t t0, t1;
            ThreadPool::split(T, ith, nth, t0, t1);
            for (int64_t t = t0; t < t1; ++t) {
                const float p = hp.rope_scale == 1.0f ? float(b.pos[size_t(t)])
                                                      : float(b.pos[size_t(t)]) / hp.rope_scale;
                kernels::rope_cos_sin(p, n_rot, hp.rope_base, freq, s.rope_cs.data() + t * n_rot);
            }
        },
        T * n_rot * 32);
    const float scale = 1.0f / std::sqrt(float(hd));
    const int group = hp.n_head / hp.n_head_kv;
    build_attention_jobs(hp, b, kv, s);
    s.attn_split = split_attention(s.attn_jobs, pool.size());
    int64_t attn_work = 0;
    for (const auto& j : s.attn_jobs) attn_work += j.cost * hd;
    (void)group;
    laps.lap(Stage::Embed);

    for (int32_t l = 0; l < hp.n_layer; ++l) {
        const LayerWeights& L = w.layers[size_t(l)];
        // Attention block.
        kernels::rms_norm(s.x.data(), L.attn_norm.data(), s.h.data(), E, T, hp.rms_eps);
        laps.lap(Stage::Norm);
        {
            const kernels::Matrix* ws[] = {&L.wq, &L.wk, &L.wv};
            float* ys[] = {s.q.data(), s.k.data(), s.v.data()};
            kernels::matmul_shared_input(3, ws, s.h.data(), T, ys, pool);
        }
        add_bias(s.q.data(), L.bq, T);
        add_bias(s.k.data(), L.bk, T);
        add_bias(s.v.data(), L.bv, T);
        laps.lap(Stage::Qkv);
        if (hp.qk_norm) {
            kernels::rms_norm(s.q.data(), L.q_norm.data(), s.q.data(), hd, T * hp.n_head,
                              hp.rms_eps);
            kernels::rms_norm(s.k.data(), L.k_norm.data(), s.k.data(), hd, T * hp.n_head_kv,
                              hp.rms_eps);
            laps.lap(Stage::Norm);
        }
        // Rotate q and k and store k and v in the cache, token by token (a prompt's tokens
        // split over the pool).
        pool.run(
            [&](int ith, int nth) {
                int64_t t0, t1;
                ThreadPool::split(T, ith, nth, t0, t1);
                for (int64_t t = t0; t < t1; ++t) {
                    const float* cs = s.rope_cs.data() + t * n_rot;
                    kernels::rope(s.q.data() + t * Q, hp.n_head, hd, n_rot, hp.rope_neox, cs);
                    kernels::rope(s.k.data() + t * KV, hp.n_head_kv, hd, n_rot, hp.rope_neox, cs);
                    const int32_t c = b.cells[size_t(t)];
                    for (int32_t h = 0; h < hp.n_head_kv; ++h) {
                        kernels::store_kv_row(kv.type(), s.k.data() + t * KV + h * hd, hd,
                                              kv.k(l, h, c));
                        kernels::store_kv_row(kv.type(), s.v.data() + t * KV + h * hd, hd,
                                              kv.v(l, h, c));
                    }
                }
            },
            T * (Q + 2 * KV) * 4);
        laps.lap(Stage::Rope);
        if (s.attn_split) {
            s.split_jobs.clear();
            for (const auto& j : s.attn_jobs)
                s.split_jobs.push_back({j.rows, kv.head(l, j.kv_head), j.cells});
            kernels::attention_split(s.split_jobs.data(), s.split_jobs.size(), hd, scale, pool,
                                     s.split_buf);
        } else {
            // Jobs are sorted longest first; threads take the next one from a shared counter.
            std::atomic<size_t> next{0};
            pool.run(
                [&](int ith, int) {
                    float* sc = s.scores.data() + size_t(ith) * scratch_per_thread;
                    for (size_t i = next.fetch_add(1); i < s.attn_jobs.size();
                         i = next.fetch_add(1)) {
                        const auto& j = s.attn_jobs[i];
                        kernels::attention(j.rows, kv.head(l, j.kv_head), j.cells, hd, scale, sc);
                    }
                },
                attn_work);
        }
        laps.lap(Stage::Attention);
        kernels::matmul(L.wo, s.att.data(), T, s.o.data(), pool);
        laps.lap(Stage::AttnOut);
        for (int64_t i = 0; i < T * E; ++i) s.x[size_t(i)] += s.o[size_t(i)];
        laps.lap(Stage::Residual);
        // MLP block.
        kernels::rms_norm(s.x.data(), L.ffn_norm.data(), s.h.data(), E, T, hp.rms_eps);
        laps.lap(Stage::Norm);
        {
            const kernels::Matrix* ws[] = {&L.w_gate, &L.w_up};
            float* ys[] = {s.g.data(), s.u.data()};
            kernels::matmul_shared_input(2, ws, s.h.data(), T, ys, pool);
        }
        laps.lap(Stage::GateUp);
        kernels::swiglu(s.g.data(), s.u.data(), s.g.data(), T * F, pool);
        laps.lap(Stage::Swiglu);
        kernels::matmul(L.w_down, s.g.data(), T, s.o.data(), pool);
        laps.lap(Stage::Down);
        for (int64_t i = 0; i < T * E; ++i) s.x[size_t(i)] += s.o[size_t(i)];
        laps.lap(Stage::Residual);
    }
    // Logits only for the rows asked for.
    const int64_t n_out = int64_t(b.out_rows.size());
    if (n_out == 0) return;
    grow(s.out_x, size_t(n_out * E));
    for (int64_t r = 0; r < n_out; ++r)
        std::copy_n(s.x.data() + int64_t(b.out_rows[size_t(r)]) * E, E, s.out_x.data() + r * E);
    kernels::rms_norm(s.out_x.data(), w.output_norm.data(), s.out_x.data(), E, n_out, hp.rms_eps);
    laps.lap(Stage::Norm);
    kernels::matmul(w.output, s.out_x.data(), n_out, logits, pool);
    laps.lap(Stage::Logits);
}

}  // namespace ponder

namespace ponder {

HParams DecoderArchitecture::read_hparams(const GgufFile& f) const {
    HParams hp = read_decoder_hparams(f, name_);
    hp.rope_neox = traits_.rope_neox;
    hp.qkv_bias = traits_.qkv_bias;
    hp.qk_norm = traits_.qk_norm;
    return hp;
}

ModelWeights DecoderArchitecture::bind(const GgufFile& f, const HParams& hp) const {
    return bind_decoder(f, hp);
}

void DecoderArchitecture::forward(const HParams& hp, const ModelWeights& w, const ForwardBatch& b,
                                  KvCache& kv, ForwardScratch& s, ThreadPool& pool,
                                  float* logits) const {
    decoder_forward(hp, w, b, kv, s, pool, logits);
}

}  // namespace ponder
