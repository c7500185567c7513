// A plain reference forward pass, written for clarity and independent of the engine's model
// code: it reads the GGUF keys and tensors itself, dequantizes every weight to float, and
// recomputes full causal attention over the whole sequence in double precision.
#pragma once
#include <cmath>
#include <string>
#include <vector>

#include "core/fp16.h"
#include "core/quant.h"
#include "gguf/gguf.h"

namespace ponder::test {

class ReferenceModel {
  public:
    explicit ReferenceModel(const GgufFile& f) : f_(f) {
        arch_ = std::string(f.get_string("general.architecture"));
        const std::string a = arch_ + ".";
        n_embd_ = int(f.get_int(a + "embedding_length"));
        n_layer_ = int(f.get_int(a + "block_count"));
        n_head_ = int(f.get_int(a + "attention.head_count"));
        n_kv_ = int(f.get_int_or(a + "attention.head_count_kv", n_head_));
        hd_ = int(f.get_int_or(a + "attention.key_length", n_embd_ / n_head_));
        n_rot_ = int(f.get_int_or(a + "rope.dimension_count", hd_));
        base_ = f.get_float_or(a + "rope.freq_base", 10000.0);
        eps_ = f.get_float_or(a + "attention.layer_norm_rms_epsilon", 1e-5);
        neox_ = arch_ != "llama";
        emb_ = load("token_embd.weight");
        n_vocab_ = int(f.find_tensor("token_embd.weight")->ne[1]);
        out_ = f.find_tensor("output.weight") ? load("output.weight") : emb_;
        if (f.find_tensor("rope_freqs.weight")) freqs_ = load("rope_freqs.weight");
    }

    int n_vocab() const { return n_vocab_; }

    // Logits [n_vocab] after the last of `tokens`.
    std::vector<float> logits(const std::vector<int32_t>& tokens) const {
        const int T = int(tokens.size()), E = n_embd_;
        std::vector<std::vector<double>> x(T, std::vector<double>(E));
        for (int t = 0; t < T; ++t)
            for (int i = 0; i < E; ++i) x[t][i] = emb_[size_t(tokens[t]) * E + i];
        for (int l = 0; l < n_layer_; ++l) {
            const std::string p = "blk." + std::to_string(l) + ".";
            const auto wq = load(p + "attn_q.weight"), wk = load(p + "attn_k.weight"),
                       wv = load(p + "attn_v.weight"), wo = load(p + "attn_output.weight");
            const auto bq = opt(p + "attn_q.bias"), bk = opt(p + "attn_k.bias"),
                       bv = opt(p + "attn_v.bias");
            const auto qn = opt(p + "attn_q_norm.weight"), kn = opt(p + "attn_k_norm.weight");
            std::vector<std::vector<double>> q(T), k(T), v(T);
            for (int t = 0; t < T; ++t) {
                const auto h = norm(x[t], load(p + "attn_norm.weight"));
                q[t] = matvec(wq, round_acts(p + "attn_q.weight", h), bq);
                k[t] = matvec(wk, round_acts(p + "attn_k.weight", h), bk);
                v[t] = matvec(wv, round_acts(p + "attn_v.weight", h), bv);
                if (!qn.empty()) {
                    for (int hh = 0; hh < n_head_; ++hh) norm_slice(q[t], hh * hd_, qn);
                    for (int hh = 0; hh < n_kv_; ++hh) norm_slice(k[t], hh * hd_, kn);
                }
                rotate(q[t], n_head_, t);
                rotate(k[t], n_kv_, t);
                // The cache holds K and V in half precision; attention multiplies them by the
                // query and by the probabilities rounded to half as well.
                for (auto& e : q[t]) e = half(e);
                for (auto& e : k[t]) e = half(e);
                for (auto& e : v[t]) e = half(e);
            }
            for (int t = 0; t < T; ++t) {
                std::vector<double> att(size_t(n_head_) * hd_, 0.0);
                for (int hh = 0; hh < n_head_; ++hh) {
                    const int kh = hh / (n_head_ / n_kv_);
                    std::vector<double> s(t + 1);
                    double mx = -1e300;
                    for (int j = 0; j <= t; ++j) {
                        double d = 0;
                        for (int i = 0; i < hd_; ++i) d += q[t][hh * hd_ + i] * k[j][kh * hd_ + i];
                        s[j] = d / std::sqrt(double(hd_));
                        mx = std::max(mx, s[j]);
                    }
                    double sum = 0;
                    for (auto& e : s) sum += e = std::exp(e - mx);
                    for (int j = 0; j <= t; ++j)
                        for (int i = 0; i < hd_; ++i)
                            att[hh * hd_ + i] += half(s[j] / sum) * v[j][kh * hd_ + i];
                }
                const auto o = matvec(wo, round_acts(p + "attn_output.weight", att), {});
                for (int i = 0; i < E; ++i) x[t][i] += o[i];
            }
            const auto wg = load(p + "ffn_gate.weight"), wu = load(p + "ffn_up.weight"),
                       wd = load(p + "ffn_down.weight");
            for (int t = 0; t < T; ++t) {
                const auto h = norm(x[t], load(p + "ffn_norm.weight"));
                auto g = matvec(wg, round_acts(p + "ffn_gate.weight", h), {});
                const auto u = matvec(wu, round_acts(p + "ffn_up.weight", h), {});
                for (size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1 + std::exp(-g[i])) * u[i];
                const auto d = matvec(wd, round_acts(p + "ffn_down.weight", g), {});
                for (int i = 0; i < E; ++i) x[t][i] += d[i];
            }
        }
        const auto h = norm(x[T - 1], load("output_norm.weight"));
        const auto lg = matvec(
            out_,
            round_acts(f_.find_tensor("output.weight") ? "output.weight" : "token_embd.weight", h),
            {});
        return std::vector<float>(lg.begin(), lg.end());
    }

  private:
    // Activations are rounded to the format the weight type is defined to be multiplied with
    // (the GGUF runtime convention): F16/BF16 for those weights, Q8_0 for the 32-element
    // formats, Q8_K for the K formats; F32 stays exact.
    static double half(double v) { return fp16_to_f32(f32_to_fp16(float(v))); }
    static DType act_type(DType w) {
        switch (w) {
            case DType::F32:
                return DType::F32;
            case DType::F16:
                return DType::F16;
            case DType::BF16:
                return DType::BF16;
            case DType::Q4_0:
            case DType::Q4_1:
            case DType::Q5_0:
            case DType::Q5_1:
            case DType::Q8_0:
                return DType::Q8_0;
            default:
                return DType::Q8_K;
        }
    }
    std::vector<double> round_acts(const std::string& weight, const std::vector<double>& x) const {
        const DType at = act_type(f_.find_tensor(weight)->type);
        if (at == DType::F32) return x;
        std::vector<float> xf(x.begin(), x.end());
        std::vector<uint8_t> q(row_size(at, int64_t(xf.size())));
        quantize_row(at, xf.data(), q.data(), int64_t(xf.size()));
        dequantize_row(at, q.data(), xf.data(), int64_t(xf.size()));
        return std::vector<double>(xf.begin(), xf.end());
    }

    std::vector<float> load(const std::string& name) const {
        const GgufTensorInfo* t = f_.find_tensor(name);
        if (!t) throw std::runtime_error("reference: missing " + name);
        std::vector<float> out(size_t(t->n_elements()));
        const int64_t row = t->ne[0];
        const size_t rb = row_size(t->type, row);
        for (int64_t r = 0; r < t->n_rows(); ++r)
            dequantize_row(t->type, t->data + size_t(r) * rb, out.data() + r * row, row);
        return out;
    }
    std::vector<float> opt(const std::string& name) const {
        return f_.find_tensor(name) ? load(name) : std::vector<float>{};
    }
    std::vector<double> norm(const std::vector<double>& x, const std::vector<float>& w) const {
        double ss = 0;
        for (double v : x) ss += v * v;
        const double s = 1.0 / std::sqrt(ss / double(x.size()) + eps_);
        std::vector<double> y(x.size());
        for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * s * w[i];
        return y;
    }
    void norm_slice(std::vector<double>& x, int off, const std::vector<float>& w) const {
        std::vector<double> s(x.begin() + off, x.begin() + off + hd_);
        s = norm(s, w);
        std::copy(s.begin(), s.end(), x.begin() + off);
    }
    // y = W x (+ b); W is [rows][cols] with cols = x.size().
    static std::vector<double> matvec(const std::vector<float>& w, const std::vector<double>& x,
                                      const std::vector<float>& b) {
        const size_t cols = x.size(), rows = w.size() / cols;
        std::vector<double> y(rows);
        for (size_t r = 0; r < rows; ++r) {
            double acc = b.empty() ? 0.0 : b[r];
            for (size_t c = 0; c < cols; ++c) acc += double(w[r * cols + c]) * x[c];
            y[r] = acc;
        }
        return y;
    }
    void rotate(std::vector<double>& x, int heads, int pos) const {
        for (int hh = 0; hh < heads; ++hh)
            for (int i = 0; i < n_rot_ / 2; ++i) {
                double theta = pos * std::pow(base_, -2.0 * i / n_rot_);
                if (!freqs_.empty()) theta /= freqs_[i];
                const int a = hh * hd_ + (neox_ ? i : 2 * i);
                const int b = hh * hd_ + (neox_ ? i + n_rot_ / 2 : 2 * i + 1);
                const double xa = x[a], xb = x[b];
                x[a] = xa * std::cos(theta) - xb * std::sin(theta);
                x[b] = xa * std::sin(theta) + xb * std::cos(theta);
            }
    }

    const GgufFile& f_;
    std::string arch_;
    int n_embd_, n_layer_, n_head_, n_kv_, hd_, n_rot_, n_vocab_;
    double base_, eps_;
    bool neox_;
    std::vector<float> emb_, out_, freqs_;
};

}  // namespace ponder::test
