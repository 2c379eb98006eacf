/*
 * card_meta.c — mapping a job's "model_card" config (parsed by config/, the
 * one reader of that object) to the metadata modelcard/ renders with. Owns
 * no policy beyond the defaults the Trainer would use (model name = repo
 * name).
 */
#include "card_meta.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int copy_strv(struct modelcard_strv *dst, const struct config_strlist *src)
{
    for (size_t i = 0; i < src->n; i++) {
        char **nv = realloc(dst->v, (dst->n + 1) * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        dst->v = nv;
        if (!(dst->v[dst->n] = strdup(src->v[i])))
            return -ENOMEM;
        dst->n++;
    }
    return 0;
}

static int dup_opt(char **dst, const char *s)
{
    return s && !(*dst = strdup(s)) ? -ENOMEM : 0;
}

int card_meta_from_config(const struct config_model_card *c, struct modelcard_meta *m)
{
    memset(m, 0, sizeof(*m));
    m->mode = c->mode == CONFIG_CARD_OFF         ? MODELCARD_OFF
              : c->mode == CONFIG_CARD_OVERWRITE ? MODELCARD_OVERWRITE
                                                 : MODELCARD_MERGE;
    if (dup_opt(&m->model_name, c->model_name) < 0 ||
        dup_opt(&m->dataset_name, c->dataset_name) < 0 || dup_opt(&m->license, c->license) < 0 ||
        dup_opt(&m->task, c->task) < 0 || copy_strv(&m->base_model, &c->base_model) < 0 ||
        copy_strv(&m->datasets, &c->datasets) < 0 ||
        copy_strv(&m->dataset_args, &c->dataset_args) < 0 ||
        copy_strv(&m->dataset_config, &c->dataset_config) < 0 ||
        dup_opt(&m->pytorch_version, c->framework_versions.pytorch) < 0 ||
        dup_opt(&m->datasets_version, c->framework_versions.datasets) < 0 ||
        dup_opt(&m->tokenizers_version, c->framework_versions.tokenizers) < 0 ||
        copy_strv(&m->language, &c->language) < 0 || copy_strv(&m->tags, &c->tags) < 0 ||
        copy_strv(&m->metrics_order, &c->metrics_order) < 0)
        return -ENOMEM;
    return 0;
}

int card_meta_from_job(const struct config_job *job, struct modelcard_meta *m)
{
    int r = card_meta_from_config(&job->model_card, m);
    if (r < 0)
        return r;
    m->world_size = (int)job->world_size;
    if (!m->model_name) {
        const char *slash = strrchr(job->hub_model_id, '/');
        if (!(m->model_name = strdup(slash ? slash + 1 : job->hub_model_id)))
            return -ENOMEM;
    }
    return 0;
}
