#include "model/model.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/error.h"
#include "core/quant_blocks.h"
#include "core/thread_pool.h"
#include "kernels/dispatch.h"
#include "kernels/repack.h"

namespace ponder {

std::unique_ptr<Model> Model::bind_file(std::shared_ptr<const GgufFile> file) {
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

std::unique_ptr<Model> Model::from_file(std::shared_ptr<const GgufFile> file) {
    auto m = bind_file(std::move(file));
    m->repack_weights();
    return m;
}

std::unique_ptr<Model> Model::load(const std::string& path, const Progress& progress,
                                   bool prefetch) {
    std::shared_ptr<const GgufFile> f = GgufFile::open(path);
    if (progress && !progress(0.0f)) fail(path, ": loading cancelled");
    auto m = bind_file(f);
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
    // After the prefetch, which would otherwise read back the pages repacking releases.
    m->repack_weights();
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

namespace ponder {

void Model::repack_weights() {
    const char* env = std::getenv("PONDER_REPACK");
    if (env && std::string_view(env) == "0") return;
    const kernels::KernelTable& kt = kernels::active_kernels();
    // The layout a row-major matrix is repacked into at this level (RowMajor: none): one the
    // active level has a kernel for, and whose row groups the matrix fills.
    auto target = [&](const kernels::Matrix& m) {
        if (m.layout != kernels::Layout::RowMajor || m.n_cols % kQK != 0 || m.n_rows == 0)
            return kernels::Layout::RowMajor;
        if (m.type == DType::Q4_0 && kt.gemm_q4_0x8.gemm && m.n_rows % 8 == 0)
            return kernels::Layout::Q4_0x8;
        if (m.type == DType::Q8_0 && kt.gemm_q8_0x16.gemm && m.n_rows % 16 == 0)
            return kernels::Layout::Q8_0x16;
        if (m.type == DType::Q5_0 && kt.gemm_q5_0x16.gemm && m.n_rows % 16 == 0)
            return kernels::Layout::Q5_0x16;
        if (m.type == DType::Q4_K && kt.gemm_q4_kx16.gemm && m.n_rows % 16 == 0 &&
            m.n_cols % kQK_K == 0)
            return kernels::Layout::Q4_Kx16;
        if (m.type == DType::Q6_K && kt.gemm_q6_kx16.gemm && m.n_rows % 16 == 0 &&
            m.n_cols % kQK_K == 0)
            return kernels::Layout::Q6_Kx16;
        return kernels::Layout::RowMajor;
    };
    // Every distinct eligible matrix once (two entries may share their bytes).
    std::vector<kernels::Matrix*> todo;
    auto consider = [&](kernels::Matrix& m) {
        if (target(m) != kernels::Layout::RowMajor) todo.push_back(&m);
    };
    for (auto& L : w_.layers)
        for (kernels::Matrix* m : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down})
            consider(*m);
    consider(w_.output);
    std::map<const uint8_t*, size_t> offset;  // source bytes -> offset in the new buffer
    size_t total = 0;
    for (const kernels::Matrix* m : todo)
        if (offset.emplace(m->data, total).second)
            total += (m->row_bytes * size_t(m->n_rows) + 63) / 64 * 64;
    if (total == 0) return;
    // Large models on small machines keep pure mmap: a copy of more than half of memory would
    // push the page cache (and with it the file) out.
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    if (pages > 0 && page > 0 && total > uint64_t(pages) * uint64_t(page) / 2) return;
    // Huge pages (fewer faults while copying, fewer TLB misses while streaming it per token).
    PageBuffer buf = PageBuffer::try_map(total, PageBuffer::Pages::Huge);
    if (!buf.data()) return;  // not fatal: the row-major kernels read the file directly
    uint8_t* const base = buf.data();
    const GgufFile& f = *file_;
    const uintptr_t pg = uintptr_t(page);
    auto repack_rows = [](kernels::Layout to, const uint8_t* s, size_t rb, int64_t nr, int64_t nc,
                          uint8_t* d) {
        switch (to) {
            case kernels::Layout::Q4_0x8:
                kernels::repack_q4_0x8(s, rb, nr, nc, d);
                break;
            case kernels::Layout::Q8_0x16:
                kernels::repack_q8_0x16(s, rb, nr, nc, d);
                break;
            case kernels::Layout::Q5_0x16:
                kernels::repack_q5_0x16(s, rb, nr, nc, d);
                break;
            case kernels::Layout::Q4_Kx16:
                kernels::repack_q4_kx16(s, rb, nr, nc, d);
                break;
            case kernels::Layout::Q6_Kx16:
                kernels::repack_q6_kx16(s, rb, nr, nc, d);
                break;
            case kernels::Layout::RowMajor:
                break;
        }
    };
    // The work, in chunks of about 8 MiB of whole row groups (a group takes the bytes its rows
    // did), spread over the machine's threads: each chunk faults its source in with one call,
    // repacks it, then releases its file pages, so that the peak resident size stays near the
    // copy's size rather than the copy plus the largest matrix. A read-only file mapping
    // refaults a released page if it is touched again (embedding lookups of a tied output read
    // a row per token).
    struct Chunk {
        kernels::Layout to;
        const uint8_t* src;  // the chunk's first row
        uint8_t* dst;
        size_t row_bytes;
        int64_t n_rows, n_cols;
    };
    std::vector<Chunk> chunks;
    std::vector<std::pair<const uint8_t*, size_t>> sources;  // each matrix's bytes, once
    std::map<const uint8_t*, bool> done;
    for (kernels::Matrix* m : todo) {
        const uint8_t* src = m->data;
        uint8_t* dst = base + offset.at(src);
        const kernels::Layout to = target(*m);
        if (!done[src]) {
            const int64_t grp = to == kernels::Layout::Q4_0x8 ? 8 : 16;
            const int64_t chunk_rows =
                std::max<int64_t>(grp, int64_t((size_t(8) << 20) / m->row_bytes) / grp * grp);
            for (int64_t r0 = 0; r0 < m->n_rows; r0 += chunk_rows)
                chunks.push_back({to, src + size_t(r0) * m->row_bytes,
                                  dst + size_t(r0) * m->row_bytes, m->row_bytes,
                                  std::min(chunk_rows, m->n_rows - r0), m->n_cols});
            sources.emplace_back(src, m->row_bytes * size_t(m->n_rows));
            done[src] = true;
        }
        m->data = dst;
        m->layout = to;
    }
    // Whole pages of [a, a + bytes) only: a page shared with a neighbouring tensor stays.
    auto release = [&](const uint8_t* s, size_t bytes) {
        if (!f.mapped()) return;
        const uintptr_t a = reinterpret_cast<uintptr_t>(s);
        const uintptr_t lo = (a + pg - 1) / pg * pg, hi = (a + bytes) / pg * pg;
        if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
    };
    std::atomic<size_t> next{0};
    std::mutex error_mu;
    std::string error;
    ThreadPool pool(int(std::min(8u, std::max(1u, std::thread::hardware_concurrency()))));
    pool.run([&](int, int) {
        for (size_t i = next.fetch_add(1); i < chunks.size(); i = next.fetch_add(1)) {
            const Chunk& c = chunks[i];
            const size_t bytes = size_t(c.n_rows) * c.row_bytes;
#ifdef MADV_POPULATE_READ
            if (f.mapped()) {
                const uintptr_t a = reinterpret_cast<uintptr_t>(c.src);
                const uintptr_t lo = a / pg * pg, hi = (a + bytes + pg - 1) / pg * pg;
                madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_POPULATE_READ);
            }
#endif
            try {
                repack_rows(c.to, c.src, c.row_bytes, c.n_rows, c.n_cols, c.dst);
            } catch (const std::exception& e) {
                const std::lock_guard<std::mutex> lock(error_mu);
                if (error.empty()) error = e.what();
            }
            release(c.src, bytes);
        }
    });
    if (!error.empty()) fail(f.path(), ": repacking the weights: ", error);
    // The pages that straddled two chunks of a matrix.
    for (const auto& [s, bytes] : sources) release(s, bytes);
    // A tied embedding is looked up in the repacked copy: its file pages were released, and
    // refaulting them row by row would map readahead windows back in (about 1 MiB per token).
    if (auto it = offset.find(w_.token_embd.data); it != offset.end()) {
        // Its bytes were repacked as the tied output (same type and shape).
        w_.token_embd.layout = target(w_.token_embd);
        w_.token_embd.data = base + it->second;
    }
    buf.protect_read_only();
    repacked_ = std::move(buf);
}

}  // namespace ponder
