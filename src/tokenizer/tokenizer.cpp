// Tokenizer: construction, special-token partitioning, encode and decode.
#include "tokenizer/tokenizer.h"

#include <algorithm>

#include "core/error.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"

namespace ponder {

using tok::ModelKind;

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

std::unique_ptr<Tokenizer> Tokenizer::from_gguf(const GgufFile& f) {
    auto impl = std::make_unique<Impl>();
    const std::string_view model = f.get_string_or("tokenizer.ggml.model", "");
    if (model.empty()) fail(f.path(), ": tokenizer.ggml.model is missing (no vocabulary)");
    bool pre_adds_bos = false;
    if (model == "gpt2") {
        const std::string_view pre = f.get_string_or("tokenizer.ggml.pre", "");
        impl->pre = tok::find_pre_tokenizer(pre);
        if (!impl->pre)
            fail(f.path(), ": tokenizer.ggml.pre = '", pre,
                 "' is not a known pre-tokenizer; known: ", tok::known_pre_tokenizers());
        pre_adds_bos = impl->pre->adds_bos;
    } else if (model != "llama") {
        fail(f.path(), ": tokenizer.ggml.model = '", model,
             "' is not supported; known: llama (SentencePiece), gpt2 (byte-level BPE)");
    }
    impl->vocab = tok::load_vocab(f, pre_adds_bos);
    if (impl->vocab.kind == ModelKind::ByteLevelBpe)
        impl->bpe = std::make_unique<tok::BpeModel>(impl->vocab, f, *impl->pre);
    else
        impl->spm = std::make_unique<tok::SpmModel>(impl->vocab);

    // Piece table, as shown with specials.
    const tok::Vocab& v = impl->vocab;
    impl->pieces.resize(static_cast<size_t>(v.size()));
    for (int32_t id = 0; id < v.size(); ++id) {
        const std::string_view text = v.text(id);
        std::string& p = impl->pieces[static_cast<size_t>(id)];
        switch (v.attrs[id]) {
            case TokenAttr::Control:
            case TokenAttr::Unknown:
            case TokenAttr::UserDefined:
                p.assign(text);
                break;
            case TokenAttr::Unused:
                break;
            case TokenAttr::Byte:
                if (v.kind == ModelKind::SentencePiece && text.size() == 6 &&
                    text.substr(0, 3) == "<0x") {
                    p.assign(1, static_cast<char>(
                                    std::stoi(std::string(text.substr(3, 2)), nullptr, 16)));
                }
                break;
            case TokenAttr::Normal:
                if (v.kind == ModelKind::SentencePiece) {
                    for (size_t i = 0; i < text.size();) {
                        if (text.compare(i, 3, "\xE2\x96\x81") == 0) {
                            p += ' ';
                            i += 3;
                        } else {
                            p += text[i++];
                        }
                    }
                } else {
                    // Byte-level alphabet back to bytes; a character outside the alphabet
                    // (malformed vocabulary) is kept as its UTF-8.
                    for (size_t i = 0; i < text.size();) {
                        const size_t len = std::min(
                            tok::utf8_seq_len(static_cast<uint8_t>(text[i])), text.size() - i);
                        uint32_t cp = static_cast<uint8_t>(text[i]);
                        if (len == 2)
                            cp = ((cp & 0x1Fu) << 6) | (static_cast<uint8_t>(text[i + 1]) & 0x3Fu);
                        const int b = len <= 2 ? tok::cp_to_byte(cp) : -1;
                        if (b >= 0)
                            p += static_cast<char>(b);
                        else
                            p.append(text.substr(i, len));
                        i += len;
                    }
                }
                break;
        }
    }
    return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(impl)));
}

void Tokenizer::Impl::check_id(int32_t id) const {
    if (id < 0 || id >= vocab.size())
        fail("token id ", id, " is outside the vocabulary [0, ", vocab.size(), ") of ", vocab.path);
}

std::string_view Tokenizer::Impl::piece(int32_t id, bool show_special) const {
    check_id(id);
    const TokenAttr a = vocab.attrs[id];
    if (!show_special && (a == TokenAttr::Control || a == TokenAttr::Unknown)) return {};
    return pieces[static_cast<size_t>(id)];
}

void Tokenizer::Impl::append_decoded(int32_t id, bool show_special, bool first, bool& strip_pending,
                                     std::string& out) const {
    std::string_view p = piece(id, show_special);
    if (strip_pending) {
        if (first && id == vocab.bos) {
            // A hidden BOS passes the strip on to the next piece; a shown one keeps the
            // space after it ("<s> Hello"), as llama.cpp and Hugging Face print it.
            out += p;
            if (!p.empty()) strip_pending = false;
            return;
        }
        if (!p.empty() && p[0] == ' ') p.remove_prefix(1);
        strip_pending = false;
    }
    out += p;
}

namespace {

// A piece of the input: raw text [off, off + len) or one special token.
struct Fragment {
    int32_t token;  // -1 for raw text
    size_t off, len;
};

// Splits raw fragments around every occurrence of each special token, longest token first
// (llama.cpp's order). Control and unknown tokens only when parse_special; user-defined
// tokens always.
std::vector<Fragment> partition(const tok::Vocab& v, std::string_view text, bool parse_special) {
    std::vector<Fragment> frags{{-1, 0, text.size()}};
    std::vector<Fragment> next;
    for (int32_t id : v.specials) {
        const TokenAttr a = v.attrs[id];
        if (!parse_special && (a == TokenAttr::Control || a == TokenAttr::Unknown)) continue;
        const std::string_view st = v.text(id);
        bool any = false;
        for (const Fragment& fr : frags)
            if (fr.token < 0 && text.substr(fr.off, fr.len).find(st) != std::string_view::npos) {
                any = true;
                break;
            }
        if (!any) continue;
        next.clear();
        for (const Fragment& fr : frags) {
            if (fr.token >= 0) {
                next.push_back(fr);
                continue;
            }
            const std::string_view raw = text.substr(fr.off, fr.len);
            size_t pos = 0;
            for (size_t m = raw.find(st); m != std::string_view::npos; m = raw.find(st, pos)) {
                if (m > pos) next.push_back({-1, fr.off + pos, m - pos});
                next.push_back({id, 0, 0});
                pos = m + st.size();
            }
            if (pos < raw.size()) next.push_back({-1, fr.off + pos, raw.size() - pos});
        }
        frags.swap(next);
    }
    return frags;
}

}  // namespace

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special,
                                       bool parse_special) const {
    const tok::Vocab& v = impl_->vocab;
    std::vector<int32_t> out;
    out.reserve(text.size() / 3 + 2);
    if (add_special && v.add_bos) out.push_back(v.bos);
    if (!text.empty()) {
        const std::vector<Fragment> frags = partition(v, text, parse_special);
        bool prev_special = true;  // SentencePiece: prefix a space to text after a special
        std::string escaped;
        for (const Fragment& fr : frags) {
            if (fr.token >= 0) {
                out.push_back(fr.token);
                prev_special = true;
                continue;
            }
            const std::string_view raw = text.substr(fr.off, fr.len);
            if (impl_->bpe) {
                impl_->bpe->encode(raw, out);
            } else {
                escaped.clear();
                escaped.reserve(raw.size() * 3 + 3);
                if (v.add_space_prefix && prev_special) escaped += "\xE2\x96\x81";
                for (char c : raw) {
                    if (c == ' ')
                        escaped += "\xE2\x96\x81";
                    else
                        escaped += c;
                }
                impl_->spm->encode(escaped, out);
            }
            prev_special = false;
        }
    }
    if (add_special && v.add_eos) out.push_back(v.eos);
    return out;
}

std::string Tokenizer::token_to_piece(int32_t id, bool show_special) const {
    return std::string(impl_->piece(id, show_special));
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool show_special) const {
    std::string out;
    bool strip = impl_->vocab.add_space_prefix;
    for (size_t i = 0; i < ids.size(); ++i)
        impl_->append_decoded(ids[i], show_special, i == 0, strip, out);
    return out;
}

int32_t Tokenizer::n_vocab() const {
    return impl_->vocab.size();
}
int32_t Tokenizer::bos_id() const {
    return impl_->vocab.bos;
}
int32_t Tokenizer::eos_id() const {
    return impl_->vocab.eos;
}
bool Tokenizer::add_bos() const {
    return impl_->vocab.add_bos;
}
bool Tokenizer::add_eos() const {
    return impl_->vocab.add_eos;
}
bool Tokenizer::is_eog(int32_t id) const {
    const auto& e = impl_->vocab.eog;
    return std::binary_search(e.begin(), e.end(), id);
}
const std::vector<int32_t>& Tokenizer::eog_ids() const {
    return impl_->vocab.eog;
}
TokenAttr Tokenizer::attr(int32_t id) const {
    impl_->check_id(id);
    return impl_->vocab.attrs[id];
}
std::string_view Tokenizer::token_text(int32_t id) const {
    impl_->check_id(id);
    return impl_->vocab.text(id);
}
std::optional<int32_t> Tokenizer::find_token(std::string_view text) const {
    const int32_t id = impl_->vocab.find(text);
    if (id < 0) return std::nullopt;
    return id;
}
std::string_view Tokenizer::model_name() const {
    return impl_->vocab.model_name;
}
std::string_view Tokenizer::pre_name() const {
    return impl_->pre ? impl_->pre->name : std::string_view{};
}

// ---- streaming ------------------------------------------------------------------------------

StreamDecoder::StreamDecoder(const Tokenizer& t, bool show_special)
    : tok_(t), show_special_(show_special), strip_pending_(t.impl().vocab.add_space_prefix) {}

std::string StreamDecoder::push(int32_t id) {
    tok_.impl().append_decoded(id, show_special_, first_, strip_pending_, pending_);
    first_ = false;
    const size_t n = tok::utf8_emittable_prefix(pending_);
    std::string out = pending_.substr(0, n);
    pending_.erase(0, n);
    return out;
}

std::string StreamDecoder::flush() {
    std::string out;
    out.swap(pending_);
    first_ = true;
    strip_pending_ = tok_.impl().vocab.add_space_prefix;
    return out;
}

}  // namespace ponder
