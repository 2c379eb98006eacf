/*
 * mc_meta_util.h — a fixture's "model_card" object (meta.json) as the
 * struct modelcard_meta the product renders with: read by config/'s parser
 * (config_load_text of a one-job config) and mapped by sync/card_meta.c,
 * the same path as `hubsync card` and the finish commit.
 */
#ifndef HUBSYNC_MC_META_UTIL_H
#define HUBSYNC_MC_META_UTIL_H

#include "config.h"
#include "mc_test_util.h"
#include "sync.h"

/* The model_card object in json (NULL: none) as meta; 0 or -1 with the
 * config errors on stderr. */
static inline int mc_meta_from_text(const char *json, struct modelcard_meta *m)
{
    char *text = NULL;
    if (asprintf(&text,
                 "{\"jobs\": [{\"name\": \"t\", \"watch\": \"/tmp\", \"hub_model_id\": "
                 "\"acme/t\", \"model_card\": %s}]}",
                 json ? json : "{}") < 0)
        return -1;
    struct config *cfg = NULL;
    struct config_errors errs = {0};
    int r = config_load_text("meta", text, strlen(text), 0600, NULL, &cfg, &errs);
    free(text);
    for (size_t i = 0; r < 0 && i < errs.n; i++)
        fprintf(stderr, "%s\n", errs.v[i]);
    if (r == 0)
        r = card_meta_from_config(&cfg->jobs[0].model_card, m) < 0 ? -1 : 0;
    config_errors_free(&errs);
    config_free(cfg);
    return r < 0 ? -1 : 0;
}

/* The same from a meta.json file (NULL: none). */
static inline int mc_load_meta(const char *path, struct modelcard_meta *m)
{
    char *text = path ? mc_slurp(path, NULL) : NULL;
    if (path && !text) {
        fprintf(stderr, "%s: unreadable\n", path);
        return -1;
    }
    int r = mc_meta_from_text(text, m);
    free(text);
    return r;
}

#endif
