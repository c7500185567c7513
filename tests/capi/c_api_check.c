/* Proves ponder.h compiles as C and drives the library through it: load, tokenize, decode,
 * logits, sampling, KV sequence operations, and error reporting on bad arguments.
 * Usage: c_api_check MODEL.gguf   (exit 0 on success, prints what failed otherwise) */
#include <stdio.h>
#include <string.h>

#include "ponder/ponder.h"

#define CHECK(cond)                                                                           \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            fprintf(stderr, "%s:%d: check failed: %s (last error: %s)\n", __FILE__, __LINE__, \
                    #cond, ponder_last_error());                                              \
            return 1;                                                                         \
        }                                                                                     \
    } while (0)

int main(int argc, char** argv) {
    if (argc < 2) return 2;
    ponder_model* model = NULL;
    CHECK(ponder_model_load("/nonexistent.gguf", NULL, &model) == PONDER_ERR_LOAD);
    CHECK(strstr(ponder_last_error(), "/nonexistent.gguf") != NULL);
    CHECK(model == NULL);
    CHECK(ponder_model_load(NULL, NULL, &model) == PONDER_ERR_INVALID_ARGUMENT);
    CHECK(ponder_model_load(argv[1], NULL, &model) == PONDER_OK);
    CHECK(ponder_model_n_vocab(model) > 0);

    ponder_token ids[64];
    size_t n = 0;
    const char* text = "Once upon a time";
    CHECK(ponder_tokenize(model, text, strlen(text), true, true, ids, 2, &n) ==
          PONDER_ERR_BUFFER_TOO_SMALL);
    CHECK(n > 2);
    CHECK(ponder_tokenize(model, text, strlen(text), true, true, ids, 64, &n) == PONDER_OK);
    char buf[256];
    size_t len = 0;
    CHECK(ponder_detokenize(model, ids, n, false, buf, sizeof buf, &len) == PONDER_OK);
    CHECK(len == strlen(text) && memcmp(buf, text, len) == 0);

    ponder_context_params cp = ponder_context_default_params();
    cp.n_ctx = 64;
    cp.n_threads = 2;
    cp.kv_type = PONDER_KV_F16;
    ponder_context* ctx = NULL;
    CHECK(ponder_context_init(model, &cp, &ctx) == PONDER_OK);
    CHECK(ponder_context_n_ctx(ctx) == 64);
    int32_t pos[64], seq[64];
    for (size_t i = 0; i < n; ++i) {
        pos[i] = (int32_t)i;
        seq[i] = 0;
    }
    ponder_batch b = {(int32_t)n, ids, pos, seq, NULL};
    CHECK(ponder_decode(ctx, &b) == PONDER_OK);
    CHECK(ponder_get_logits(ctx, 0) != NULL);
    CHECK(ponder_get_logits(ctx, 1) == NULL);
    CHECK(ponder_kv_seq_pos_max(ctx, 0) == (int32_t)n - 1);

    /* Greedy sampling is the argmax of the logits. */
    ponder_sampler_params sp = ponder_sampler_default_params();
    sp.temperature = 0;
    ponder_sampler* s = NULL;
    CHECK(ponder_sampler_init(&sp, &s) == PONDER_OK);
    ponder_token t = -1;
    CHECK(ponder_sampler_sample(s, ctx, 0, &t) == PONDER_OK);
    const float* lg = ponder_get_logits(ctx, 0);
    for (int32_t i = 0; i < ponder_model_n_vocab(model); ++i) CHECK(lg[i] <= lg[t]);

    /* Fork the prompt into sequence 1 without copying, then drop sequence 0. */
    CHECK(ponder_kv_seq_cp(ctx, 0, 1, 0, -1) == PONDER_OK);
    CHECK(ponder_kv_seq_rm(ctx, 0, 0, -1) == PONDER_OK);
    CHECK(ponder_kv_seq_pos_max(ctx, 0) == -1);
    CHECK(ponder_kv_seq_pos_max(ctx, 1) == (int32_t)n - 1);
    CHECK(ponder_kv_seq_rm(ctx, 99, 0, -1) == PONDER_ERR_INVALID_ARGUMENT);

    /* A batch larger than the context fails and leaves the cache as it was. */
    ponder_token many[64];
    int32_t mpos[64], mseq[64];
    for (int i = 0; i < 64; ++i) {
        many[i] = ids[0];
        mpos[i] = 100 + i;
        mseq[i] = 1;
    }
    ponder_batch big = {64, many, mpos, mseq, NULL};
    CHECK(ponder_decode(ctx, &big) == PONDER_ERR_CONTEXT_FULL);
    CHECK(ponder_kv_seq_pos_max(ctx, 1) == (int32_t)n - 1);

    /* Thinking control fields: defaults, a model that never thinks, bad budgets. */
    ponder_generate_params gp = ponder_generate_default_params();
    CHECK(gp.thinking && gp.max_thinking_tokens < 0 && gp.min_thinking_tokens == 0);
    CHECK(gp.wait_text == NULL && gp.conclusion == NULL);
    gp.max_tokens = 8;
    gp.max_thinking_tokens = 4;
    gp.wait_text = "\nHmm";
    gp.conclusion = "Enough.";
    ponder_generate_result gr;
    CHECK(ponder_generate(ctx, s, "Once upon a time", &gp, &gr) == PONDER_OK);
    CHECK(gr.n_generated_tokens > 0);
    CHECK(gr.n_reasoning_tokens == 0);
    CHECK(gr.n_content_tokens == gr.n_generated_tokens);
    gp.min_thinking_tokens = 5;
    CHECK(ponder_generate(ctx, s, "Once upon a time", &gp, &gr) == PONDER_ERR_INVALID_ARGUMENT);
    CHECK(strstr(ponder_last_error(), "min_thinking_tokens") != NULL);

    ponder_sampler_free(s);
    ponder_context_free(ctx);
    ponder_model_free(model);
    printf("c_api_check: ok\n");
    return 0;
}
