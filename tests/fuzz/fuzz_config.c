/*
 * fuzz_config.c — fuzz target for the config file parser
 * (config_load_text, config/config.h).
 *
 * Besides "no crash, no leak, no undefined behaviour" it checks what the
 * parser promises: an accepted file has at least one job, each with a name,
 * an absolute watch folder and a repo id, its plan renders, and neither the
 * plan nor any error line shows an inline "token"; a refused file has no
 * config and at least one non-empty error line.
 */
#include "config.h"
#include "sync.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *fake_env(const char *name)
{
    if (strcmp(name, "HOME") == 0)
        return "/home/fuzz";
    if (strcmp(name, "WORLD_SIZE") == 0)
        return "4";
    return NULL;
}

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_config: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

/* The inline token of the input, when it parses as an object with one and
 * the token's text appears nowhere else in the file (a key or a value that
 * repeats it may be quoted in an error line; that is not a leak). */
static char *inline_token(const uint8_t *data, size_t size)
{
    json_t *j = json_loadb((const char *)data, size, 0, NULL);
    json_t *t = json_object_get(j, "token");
    char *tok = json_is_string(t) && strlen(json_string_value(t)) >= 8
                    ? strdup(json_string_value(t))
                    : NULL;
    json_decref(j);
    if (tok) {
        const uint8_t *first = memmem(data, size, tok, strlen(tok));
        size_t after = first ? size - (size_t)(first - data) - 1 : 0;
        if (!first || memmem(first + 1, after, tok, strlen(tok))) {
            free(tok);
            tok = NULL;
        }
    }
    return tok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config *cfg = NULL;
    struct config_errors errs = {0};
    char *tok = inline_token(data, size);
    int rc = config_load_text("fuzz.json", (const char *)data, size, 0600, fake_env, &cfg, &errs);
    if (rc == 0) {
        if (!cfg || errs.n != 0 || cfg->n_jobs == 0)
            fail("accepted config without jobs or with errors", NULL);
        for (size_t i = 0; i < cfg->n_jobs; i++) {
            const struct config_job *jb = &cfg->jobs[i];
            if (!jb->name || !jb->watch || jb->watch[0] != '/' || !jb->hub_model_id)
                fail("accepted job lacks name/watch/hub_model_id", jb->name);
            if (config_job_find(cfg, jb->name) == NULL)
                fail("config_job_find misses a job", jb->name);
        }
        struct hs_buf plan;
        hs_buf_init(&plan, 1u << 22);
        if (strategy_plan_render(cfg, &plan) < 0)
            fail("plan does not render", NULL);
        if (tok && plan.data && strstr(plan.data, tok))
            fail("the plan shows the inline token", NULL);
        hs_buf_free(&plan);
        struct hs_err err = {0};
        config_apply_run_env(cfg, fake_env, &err);
    } else {
        if (cfg)
            fail("refused config returned a config", NULL);
        if (errs.n == 0)
            fail("refused config without an error line", NULL);
        for (size_t i = 0; i < errs.n; i++) {
            if (!errs.v[i] || !errs.v[i][0])
                fail("empty error line", NULL);
            if (tok && strstr(errs.v[i], tok))
                fail("an error line shows the inline token", errs.v[i]);
        }
    }
    config_free(cfg);
    config_errors_free(&errs);
    free(tok);
    /* each inline token is registered as a secret; start every input clean */
    hs_secret_clear_all();
    return 0;
}
