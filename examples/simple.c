/* Embedding ponder from C: load a model, generate a completion, print it as it streams.
 *   cc simple.c -Iinclude -Lbuild -lponder ... ; ./simple MODEL.gguf "Once upon a time" */
#include <stdio.h>
#include <stdlib.h>

#include "ponder/ponder.h"

static bool print_piece(const char* text, size_t len, void* user_data) {
    (void)user_data;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return true;
}

int main(int argc, char** argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL.gguf PROMPT [N_TOKENS]\n", argv[0]);
        return 2;
    }
    ponder_model* model = NULL;
    if (ponder_model_load(argv[1], NULL, &model) != PONDER_OK) {
        fprintf(stderr, "load failed: %s\n", ponder_last_error());
        return 1;
    }
    ponder_context_params cp = ponder_context_default_params();
    cp.n_ctx = 512;
    ponder_context* ctx = NULL;
    ponder_sampler_params sp = ponder_sampler_default_params();
    sp.temperature = 0.0f; /* greedy: the same text every run */
    ponder_sampler* sampler = NULL;
    if (ponder_context_init(model, &cp, &ctx) != PONDER_OK ||
        ponder_sampler_init(&sp, &sampler) != PONDER_OK) {
        fprintf(stderr, "init failed: %s\n", ponder_last_error());
        ponder_model_free(model);
        return 1;
    }
    ponder_generate_params gp = ponder_generate_default_params();
    gp.max_tokens = argc > 3 ? atoi(argv[3]) : 32;
    gp.on_text = print_piece;
    ponder_generate_result r;
    fputs(argv[2], stdout);
    ponder_status s = ponder_generate(ctx, sampler, argv[2], &gp, &r);
    if (s == PONDER_OK)
        printf("\n[%d prompt tokens, %d generated, finish: %s]\n", r.n_prompt_tokens,
               r.n_generated_tokens, r.finish_reason);
    else
        fprintf(stderr, "\ngenerate failed: %s\n", ponder_last_error());
    ponder_sampler_free(sampler);
    ponder_context_free(ctx);
    ponder_model_free(model);
    return s == PONDER_OK ? 0 : 1;
}
