/*
 * meta.c — the job's "model_card" config object (docs/design.md, job keys) as a
 * struct modelcard_meta: mode, model_name, base_model, datasets,
 * dataset_name, language, license, tags, task, metrics_order. config/ owns
 * reading the config file; this file only maps the one object, so that the
 * daemon and `hubsync card` agree on its meaning.
 */
#include "modelcard_int.h"

#include <errno.h>
#include <string.h>

int modelcard_mode_parse(const char *s, enum modelcard_mode *out)
{
    if (!strcmp(s, "merge"))
        *out = MODELCARD_MERGE;
    else if (!strcmp(s, "overwrite"))
        *out = MODELCARD_OVERWRITE;
    else if (!strcmp(s, "off"))
        *out = MODELCARD_OFF;
    else
        return -EINVAL;
    return 0;
}

static int get_str(const json_t *v, const char *key, char **out, struct hs_err *err)
{
    if (!json_is_string(v) || json_string_length(v) == 0)
        return hs_err_set(err, -EINVAL, "model_card.%s: must be a non-empty string", key);
    if (strlen(json_string_value(v)) != json_string_length(v))
        return hs_err_set(err, -EINVAL, "model_card.%s: contains a NUL character", key);
    free(*out);
    if (!(*out = strdup(json_string_value(v))))
        return -ENOMEM;
    return 0;
}

/* A string or a list of strings. */
static int get_strv(const json_t *v, const char *key, struct modelcard_strv *out,
                    struct hs_err *err)
{
    modelcard__strv_free(out);
    if (json_is_string(v)) {
        char *s = NULL;
        int r = get_str(v, key, &s, err);
        if (r == 0)
            r = modelcard__strv_push(out, s);
        free(s);
        return r;
    }
    if (!json_is_array(v))
        return hs_err_set(err, -EINVAL, "model_card.%s: must be a string or a list of strings",
                          key);
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x)
    {
        if (!json_is_string(x) || json_string_length(x) == 0 ||
            strlen(json_string_value(x)) != json_string_length(x))
            return hs_err_set(err, -EINVAL, "model_card.%s[%zu]: must be a non-empty string", key,
                              i);
        int r = modelcard__strv_push(out, json_string_value(x));
        if (r < 0)
            return r;
    }
    return 0;
}

int modelcard_meta_from_json(const json_t *obj, struct modelcard_meta *m, struct hs_err *err)
{
    memset(m, 0, sizeof(*m));
    if (!obj)
        return 0;
    if (!json_is_object(obj))
        return hs_err_set(err, -EINVAL, "model_card: must be an object");
    const char *key;
    json_t *v;
    int r = 0;
    json_object_foreach((json_t *)obj, key, v)
    {
        if (!strcmp(key, "mode")) {
            if (!json_is_string(v) || modelcard_mode_parse(json_string_value(v), &m->mode) < 0)
                r = hs_err_set(err, -EINVAL,
                               "model_card.mode: must be one of merge, overwrite, off");
        } else if (!strcmp(key, "model_name"))
            r = get_str(v, key, &m->model_name, err);
        else if (!strcmp(key, "base_model"))
            r = get_str(v, key, &m->base_model, err);
        else if (!strcmp(key, "dataset_name"))
            r = get_str(v, key, &m->dataset_name, err);
        else if (!strcmp(key, "license"))
            r = get_str(v, key, &m->license, err);
        else if (!strcmp(key, "task"))
            r = get_str(v, key, &m->task, err);
        else if (!strcmp(key, "datasets"))
            r = get_strv(v, key, &m->datasets, err);
        else if (!strcmp(key, "language"))
            r = get_strv(v, key, &m->language, err);
        else if (!strcmp(key, "tags"))
            r = get_strv(v, key, &m->tags, err);
        else if (!strcmp(key, "metrics_order"))
            r = get_strv(v, key, &m->metrics_order, err);
        else
            r = hs_err_set(err, -EINVAL, "model_card.%s: unknown key", key);
        if (r < 0) {
            modelcard_meta_free(m);
            return r;
        }
    }
    return 0;
}

void modelcard_meta_free(struct modelcard_meta *m)
{
    if (!m)
        return;
    free(m->model_name);
    free(m->base_model);
    free(m->dataset_name);
    free(m->license);
    free(m->task);
    modelcard__strv_free(&m->datasets);
    modelcard__strv_free(&m->language);
    modelcard__strv_free(&m->tags);
    modelcard__strv_free(&m->metrics_order);
    memset(m, 0, sizeof(*m));
}
