/* ponder: fast local inference for small open-weight language models.
 *
 * The pure-C interface. Objects are opaque and paired: every *_init / *_load has a *_free.
 * Every call that can fail returns a ponder_status; on failure ponder_last_error() gives a
 * message naming what went wrong (the file, the field, the limit). Nothing here throws,
 * aborts or exits on bad input.
 *
 * Threads: a model may be shared by several contexts; a context and a sampler are used by
 * one thread at a time. ponder_last_error() is per thread.
 *
 * Environment: PONDER_ISA=scalar|avx2|avx512|neon forces a lower kernel level. On Intel CPUs
 * with AMX the kernel setup (at the first model load) asks Linux for the AMX tile state for
 * the whole process (arch_prctl ARCH_REQ_XCOMP_PERM); signal frames then carry that state, so
 * a host program's alternate signal stacks must be large enough (sysconf(_SC_SIGSTKSZ) tells).
 * PONDER_AMX=0 skips the request and the AMX kernels.
 */
#ifndef PONDER_H
#define PONDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ponder_status {
    PONDER_OK = 0,
    PONDER_ERR_INVALID_ARGUMENT = 1, /* a NULL pointer, a value out of range */
    PONDER_ERR_LOAD = 2,             /* the model file is missing, unreadable or malformed */
    PONDER_ERR_CONTEXT_FULL = 3,     /* the KV cache cannot hold the tokens */
    PONDER_ERR_BUFFER_TOO_SMALL = 4, /* an output buffer is too small; *n_out has the need */
    PONDER_ERR_CANCELLED = 5,        /* a callback asked to stop */
    PONDER_ERR_FAILED = 6            /* anything else; see ponder_last_error() */
} ponder_status;

typedef int32_t ponder_token;

typedef struct ponder_model ponder_model;
typedef struct ponder_context ponder_context;
typedef struct ponder_sampler ponder_sampler;

/* The message of the last failed call on this thread ("" if none). Valid until the next call. */
const char* ponder_last_error(void);
/* "0.1.0" */
const char* ponder_version(void);

/* ---- model -------------------------------------------------------------------------------- */

/* Loading progress in [0, 1]; return false to cancel (the load returns PONDER_ERR_CANCELLED). */
typedef bool (*ponder_progress_fn)(float progress, void* user_data);

typedef struct ponder_model_params {
    ponder_progress_fn progress; /* may be NULL */
    void* progress_user_data;
    bool prefetch; /* read all weights once while loading, reporting progress */
} ponder_model_params;

ponder_model_params ponder_model_default_params(void);
/* Loads a GGUF file. Weights stay memory-mapped. */
ponder_status ponder_model_load(const char* path, const ponder_model_params* params,
                                ponder_model** out);
void ponder_model_free(ponder_model* model);

int32_t ponder_model_n_vocab(const ponder_model* model);
int32_t ponder_model_n_ctx_train(const ponder_model* model);
/* general.architecture, e.g. "qwen2". */
const char* ponder_model_arch(const ponder_model* model);
ponder_token ponder_model_bos(const ponder_model* model); /* -1 if none */
ponder_token ponder_model_eos(const ponder_model* model); /* -1 if none */
/* Whether the token ends generation (EOS, EOT, <|im_end|>, ...). */
bool ponder_model_is_eog(const ponder_model* model, ponder_token token);

/* ---- tokens ------------------------------------------------------------------------------- */

/* Tokenizes text[0..len). add_special: BOS/EOS per the model; parse_special: recognise
 * special-token text. Writes at most capacity ids; *n_out receives the number of ids (also
 * when the buffer is too small, with PONDER_ERR_BUFFER_TOO_SMALL). */
ponder_status ponder_tokenize(const ponder_model* model, const char* text, size_t len,
                              bool add_special, bool parse_special, ponder_token* out,
                              size_t capacity, size_t* n_out);
/* Bytes of the ids (not NUL-terminated), same buffer protocol as ponder_tokenize. */
ponder_status ponder_detokenize(const ponder_model* model, const ponder_token* ids, size_t n,
                                bool show_special, char* out, size_t capacity, size_t* n_out);

/* ---- context ------------------------------------------------------------------------------ */

/* Storage of the KV cache. Q8_0 takes about 53% of the bytes of F16 (the model's head size
 * must be a multiple of 32) at a small cost in accuracy. */
typedef enum ponder_kv_type { PONDER_KV_F16 = 0, PONDER_KV_Q8_0 = 1 } ponder_kv_type;

typedef struct ponder_context_params {
    int32_t n_ctx;     /* tokens the KV cache holds, all sequences together; 0: model default */
    int32_t n_threads; /* 0: all hardware threads */
    int32_t n_batch;   /* tokens per forward pass; 0: 512 */
    ponder_kv_type kv_type; /* PONDER_KV_F16 (default) or PONDER_KV_Q8_0 */
} ponder_context_params;

ponder_context_params ponder_context_default_params(void);
ponder_status ponder_context_init(ponder_model* model, const ponder_context_params* params,
                                  ponder_context** out);
void ponder_context_free(ponder_context* ctx);
int32_t ponder_context_n_ctx(const ponder_context* ctx);

/* A batch of tokens to decode: n_tokens entries in each array. want_logits[i] asks for the
 * next-token logits after token i; they are numbered in batch order from 0. */
typedef struct ponder_batch {
    int32_t n_tokens;
    const ponder_token* tokens;
    const int32_t* pos;      /* position of each token in its sequence */
    const int32_t* seq_id;   /* 0 .. 63 */
    const bool* want_logits; /* NULL: only the last token */
} ponder_batch;

/* Runs the batch through the model. On PONDER_ERR_CONTEXT_FULL the cache is unchanged. */
ponder_status ponder_decode(ponder_context* ctx, const ponder_batch* batch);
/* Logits [n_vocab] of the i-th requested output of the last decode, or NULL. */
const float* ponder_get_logits(ponder_context* ctx, int32_t i);

/* KV cache by sequence: remove positions [p0, p1) (p1 < 0: to the end); share src's
 * positions [p0, p1) with dst (no copy); largest position held (-1 if none). */
ponder_status ponder_kv_seq_rm(ponder_context* ctx, int32_t seq, int32_t p0, int32_t p1);
ponder_status ponder_kv_seq_cp(ponder_context* ctx, int32_t src, int32_t dst, int32_t p0,
                               int32_t p1);
int32_t ponder_kv_seq_pos_max(const ponder_context* ctx, int32_t seq);

/* ---- sampling ----------------------------------------------------------------------------- */

typedef struct ponder_sampler_params {
    float temperature;       /* 0: greedy */
    int32_t top_k;           /* <= 0: off */
    float top_p;             /* 1: off */
    float min_p;             /* 0: off */
    float repeat_penalty;    /* 1: off */
    float presence_penalty;  /* 0: off */
    float frequency_penalty; /* 0: off */
    int32_t penalty_last_n;  /* window of recent tokens the penalties see */
    uint64_t seed;
} ponder_sampler_params;

ponder_sampler_params ponder_sampler_default_params(void);
ponder_status ponder_sampler_init(const ponder_sampler_params* params, ponder_sampler** out);
void ponder_sampler_free(ponder_sampler* sampler);
/* Picks a token from the i-th output of the last decode and records it for the penalties. */
ponder_status ponder_sampler_sample(ponder_sampler* sampler, ponder_context* ctx, int32_t i,
                                    ponder_token* out);

/* ---- generation --------------------------------------------------------------------------- */

/* Receives each piece of generated text (complete UTF-8) as it is produced; return false
 * to stop generating. */
typedef bool (*ponder_text_fn)(const char* text, size_t len, void* user_data);

/* Thinking control applies to models whose chat template marks thinking (<think>...</think>
 * and the other known delimiters); a prompt that ends with the open delimiter starts inside
 * the block. Forced tokens count toward max_tokens. */
typedef struct ponder_generate_params {
    int32_t max_tokens;      /* < 0: until end of generation or a full context */
    const char* const* stop; /* NULL-terminated list of stop strings, or NULL */
    ponder_text_fn on_text;  /* may be NULL */
    void* user_data;
    bool thinking;               /* false: an empty thinking block is pre-filled */
    int32_t max_thinking_tokens; /* < 0: unlimited; at N the close delimiter is forced */
    int32_t min_thinking_tokens; /* below N an early close becomes wait_text; 0: off */
    const char* wait_text;       /* NULL: "\nWait" */
    const char* conclusion;      /* forced before the close at max_thinking_tokens; NULL: none */
} ponder_generate_params;

typedef struct ponder_generate_result {
    int32_t n_prompt_tokens;
    int32_t n_generated_tokens;
    int32_t n_reasoning_tokens; /* of the generated: inside the thinking block */
    int32_t n_content_tokens;   /* of the generated: the answer */
    double prompt_ms;
    double generate_ms;
    /* "stop" (end-of-generation token or stop string), "length", or "cancelled" */
    const char* finish_reason;
} ponder_generate_result;

ponder_generate_params ponder_generate_default_params(void);
/* Tokenizes the prompt (BOS per the model, special tokens parsed), clears sequence 0 of the
 * context, and generates with the sampler. `result` may be NULL. Bad thinking parameters
 * (min above max) give PONDER_ERR_INVALID_ARGUMENT. */
ponder_status ponder_generate(ponder_context* ctx, ponder_sampler* sampler, const char* prompt,
                              const ponder_generate_params* params, ponder_generate_result* result);

#ifdef __cplusplus
}
#endif

#endif /* PONDER_H */
