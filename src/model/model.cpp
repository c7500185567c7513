#include "model/model.h"

#include <sys/mman.h>

#include "core/error.h"

namespace ponder {

std::unique_ptr<Model> Model::from_file(std::shared_ptr<const GgufFile> file) {
    auto m = std::make_unique<Model>();
    m->file_ = std::move(file);
    const GgufFile& f = *m->file_;
    const std::string arch(f.get_string_or("general.architecture", ""));
    if (arch.empty()) fail(f.path(), ": missing metadata key 'general.architecture'");
    m->arch_ = &find_architecture(arch);
    m->hp_ = m->arch_->read_hparams(f);
    m->w_ = m->arch_->bind(f, m->hp_);
    return m;
}

std::unique_ptr<Model> Model::load(const std::string& path, const Progress& progress,
                                   bool prefetch) {
    std::shared_ptr<const GgufFile> f = GgufFile::open(path);
    if (progress && !progress(0.0f)) fail(path, ": loading cancelled");
    auto m = from_file(f);
    const size_t size = f->file_size();
    if (prefetch && size > 0) {
        const size_t page = 4096, step = size_t(64) << 20;
        madvise(const_cast<uint8_t*>(f->bytes()), size, MADV_WILLNEED);
        volatile uint8_t sink = 0;
        for (size_t off = 0; off < size; off += step) {
            const size_t end = std::min(size, off + step);
            for (size_t p = off; p < end; p += page) sink = sink + f->bytes()[p];
            if (progress && !progress(float(end) / float(size))) fail(path, ": loading cancelled");
        }
    }
    if (progress && !progress(1.0f)) fail(path, ": loading cancelled");
    return m;
}

uint64_t Model::weight_bytes() const {
    auto mb = [](const kernels::Matrix& m) { return uint64_t(m.row_bytes) * uint64_t(m.n_rows); };
    uint64_t total = mb(w_.output);
    for (const auto& L : w_.layers)
        total +=
            mb(L.wq) + mb(L.wk) + mb(L.wv) + mb(L.wo) + mb(L.w_gate) + mb(L.w_up) + mb(L.w_down);
    return total;
}

}  // namespace ponder
