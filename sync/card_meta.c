/*
 * card_meta.c — mapping a job's "model_card" config (config/) to the
 * metadata modelcard/ renders with. Owns no policy beyond the defaults the
 * Trainer would use (model name = repo name).
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

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

int card_meta_from_job(const struct config_job *job, struct modelcard_meta *m)
{
    memset(m, 0, sizeof(*m));
    m->mode = job->model_card.mode == CONFIG_CARD_OFF         ? MODELCARD_OFF
              : job->model_card.mode == CONFIG_CARD_OVERWRITE ? MODELCARD_OVERWRITE
                                                              : MODELCARD_MERGE;
    const struct config_model_card *c = &job->model_card;
    const char *slash = strrchr(job->hub_model_id, '/');
    m->model_name = strdup(c->model_name ? c->model_name : slash ? slash + 1 : job->hub_model_id);
    m->base_model = c->base_model.n ? strdup(c->base_model.v[0]) : NULL;
    m->dataset_name = dup_or_null(c->dataset_name);
    m->license = dup_or_null(c->license);
    m->task = dup_or_null(c->task);
    m->world_size = (int)job->world_size;
    if (!m->model_name || (c->base_model.n && !m->base_model) ||
        (c->dataset_name && !m->dataset_name) || (c->license && !m->license) ||
        (c->task && !m->task) || copy_strv(&m->datasets, &c->datasets) < 0 ||
        copy_strv(&m->language, &c->language) < 0 || copy_strv(&m->tags, &c->tags) < 0 ||
        copy_strv(&m->metrics_order, &c->metrics_order) < 0)
        return -ENOMEM;
    return 0;
}
