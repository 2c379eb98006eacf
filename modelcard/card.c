/*
 * card.c — turning a run and the job's metadata into the card model
 * (struct mc_card): names, base model, datasets, task, the evaluation
 * summary and the Training results table, following docs/trainer-layouts.md
 * §4.1 (where each part comes from), §4.2 (the Training results table,
 * rules 1–7) and §4.3 (the summary). Hyperparameters are hparams.c's; text
 * layout is render.c's and yaml.c's. Cost is O(log entries) for the table; fine at 100k.
 */
#include "modelcard_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *tag, *name;
} task_names[] = {
    {"fill-mask", "Masked Language Modeling"},
    {"image-classification", "Image Classification"},
    {"image-segmentation", "Image Segmentation"},
    {"multiple-choice", "Multiple Choice"},
    {"object-detection", "Object Detection"},
    {"question-answering", "Question Answering"},
    {"summarization", "Summarization"},
    {"table-question-answering", "Table Question Answering"},
    {"text-classification", "Text Classification"},
    {"text-generation", "Causal Language Modeling"},
    {"text2text-generation", "Sequence-to-sequence Language Modeling"},
    {"token-classification", "Token Classification"},
    {"translation", "Translation"},
    {"zero-shot-classification", "Zero Shot Classification"},
    {"automatic-speech-recognition", "Automatic Speech Recognition"},
    {"audio-classification", "Audio Classification"},
};

/* Model class → task tag (the auto-model mappings, by class-name suffix). */
static const char *task_from_architecture(const char *arch)
{
    static const struct {
        const char *suffix, *tag;
    } map[] = {
        {"ForSequenceClassification", "text-classification"},
        {"ForTokenClassification", "token-classification"},
        {"ForCausalLM", "text-generation"},
        {"LMHeadModel", "text-generation"},
        {"ForImageClassification", "image-classification"},
        {"ForQuestionAnswering", "question-answering"},
        {"ForMaskedLM", "fill-mask"},
        {"ForMultipleChoice", "multiple-choice"},
        {"ForAudioClassification", "audio-classification"},
        {"ForCTC", "automatic-speech-recognition"},
        {"ForSpeechSeq2Seq", "automatic-speech-recognition"},
        {"ForSemanticSegmentation", "image-segmentation"},
        {"ForObjectDetection", "object-detection"},
    };
    size_t al = strlen(arch);
    if (al > 24 && !strcmp(arch + al - 24, "ForConditionalGeneration"))
        return (strstr(arch, "Whisper") || strstr(arch, "Speech2Text"))
                   ? "automatic-speech-recognition"
                   : "text2text-generation";
    for (size_t i = 0; i < HS_ARRAY_SIZE(map); i++) {
        size_t sl = strlen(map[i].suffix);
        if (al >= sl && !strcmp(arch + al - sl, map[i].suffix))
            return map[i].tag;
    }
    return NULL;
}

/* A Hub model id: name or namespace/name of [A-Za-z0-9._-], not a path. */
static bool looks_like_hub_id(const char *s)
{
    size_t n = strlen(s), slashes = 0;
    if (n == 0 || n > 96 || s[0] == '.' || s[0] == '-' || s[0] == '/' || s[n - 1] == '/' ||
        s[n - 1] == '.' || s[n - 1] == '-' || strstr(s, "..") || strstr(s, "--"))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '/') {
            if (++slashes > 1 || s[i + 1] == '.' || s[i + 1] == '-')
                return false;
        } else if (!isalnum(c) && c != '.' && c != '_' && c != '-')
            return false;
    }
    return true;
}

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static const char *jstr(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* ---- ordering (rule 6) ------------------------------------------------- */

struct order_ctx {
    const struct modelcard_strv *order;
};

/* Rank of a pretty or raw name in the order list; SIZE_MAX when absent. */
static size_t order_rank(const struct modelcard_strv *order, const char *name)
{
    char a[256], b[256];
    modelcard__norm_name(name, a, sizeof(a));
    for (size_t i = 0; i < order->n; i++) {
        modelcard__norm_name(order->v[i], b, sizeof(b));
        if (!strcmp(a, b))
            return i;
    }
    return SIZE_MAX;
}

/* Stable reorder of idx[0..n) (names[idx[i]]) by rank in order. */
static void order_apply(const struct modelcard_strv *order, char **names, size_t *idx, size_t n)
{
    if (!order || order->n == 0)
        return;
    for (size_t i = 1; i < n; i++) { /* insertion sort: a handful of metrics */
        size_t cur = idx[i], rc = order_rank(order, names[cur]);
        size_t j = i;
        while (j > 0 && order_rank(order, names[idx[j - 1]]) > rc) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = cur;
    }
}

/* ---- summary ------------------------------------------------------------- */

static bool summary_skip(const char *k)
{
    return !strcmp(k, "runtime") || !strcmp(k, "samples_per_second") ||
           !strcmp(k, "steps_per_second") || !strcmp(k, "epoch") || !strcmp(k, "step");
}

static int summary_add(struct mc_card *c, const char *name, json_t *v)
{
    struct mc_kv *ns = realloc(c->summary, (c->nsummary + 1) * sizeof(*ns));
    if (!ns)
        return -ENOMEM;
    c->summary = ns;
    c->summary[c->nsummary].name = strdup(name);
    c->summary[c->nsummary].value = json_incref(v);
    c->summary[c->nsummary].text = NULL;
    if (!c->summary[c->nsummary].name)
        return -ENOMEM;
    c->nsummary++;
    return 0;
}

/* Summary from one entry (results file or eval log entry). */
static int summary_from(struct mc_card *c, const json_t *entry, bool results_file, bool is_all,
                        const struct modelcard_strv *order)
{
    size_t n = json_object_size(entry), k = 0;
    char **names = calloc(n + 1, sizeof(*names));
    json_t **vals = calloc(n + 1, sizeof(*vals));
    size_t *idx = calloc(n + 1, sizeof(*idx));
    int r = 0;
    if (!names || !vals || !idx) {
        r = -ENOMEM;
        goto out;
    }
    const char *key;
    json_t *v;
    ssize_t loss = -1;
    json_object_foreach((json_t *)entry, key, v)
    {
        if (results_file &&
            (!strcmp(key, "eval_samples") ||
             (is_all && (!strncmp(key, "train_", 6) || !strcmp(key, "total_flos")))))
            continue;
        const char *kk = strncmp(key, "eval_", 5) ? key : key + 5;
        if (summary_skip(kk))
            continue;
        struct hs_buf b;
        hs_buf_init(&b, 64 * 1024);
        if (modelcard__py_title(kk, 0, &b) < 0 || !b.data) {
            hs_buf_free(&b);
            continue;
        }
        if (!strcmp(kk, "loss"))
            loss = (ssize_t)k;
        names[k] = b.data; /* owned */
        vals[k] = v;
        idx[k] = k;
        k++;
    }
    /* "Loss" first (the Trainer adds eval_loss before the metrics). */
    if (loss > 0) {
        memmove(idx + 1, idx, (size_t)loss * sizeof(*idx));
        idx[0] = (size_t)loss;
    }
    if (loss >= 0)
        order_apply(order, names, idx + 1, k - 1);
    else
        order_apply(order, names, idx, k);
    for (size_t i = 0; i < k && r == 0; i++)
        r = summary_add(c, names[idx[i]], vals[idx[i]]);
    c->have_summary = k > 0;
out:
    if (names)
        for (size_t i = 0; i < n; i++)
            free(names[i]);
    free(names);
    free(vals);
    free(idx);
    return r;
}

/* Step of the best checkpoint: best_global_step, else best_model_checkpoint's N. */
static bool best_step(const json_t *state, json_int_t *out)
{
    const json_t *b = json_object_get(state, "best_global_step");
    if (json_is_integer(b)) {
        *out = json_integer_value(b);
        return true;
    }
    const char *p = jstr(state, "best_model_checkpoint");
    const char *c = p ? strstr(p, "checkpoint-") : NULL;
    if (c && c[11] >= '0' && c[11] <= '9') {
        *out = strtoll(c + 11, NULL, 10);
        return true;
    }
    return false;
}

static bool has(const json_t *o, const char *k)
{
    return json_object_get(o, k) != NULL;
}

/* ---- table ----------------------------------------------------------------- */

static bool table_dropped(const char *k)
{
    static const char *const drop[] = {"epoch",
                                       "step",
                                       "total_flos",
                                       "eval_runtime",
                                       "eval_samples_per_second",
                                       "eval_steps_per_second",
                                       "eval_jit_compilation_time"};
    for (size_t i = 0; i < HS_ARRAY_SIZE(drop); i++)
        if (!strcmp(k, drop[i]))
            return true;
    return false;
}

/* A table cell: _maybe_round of v ("None" when absent). A value too long
 * for a cell (hostile file) becomes an empty cell, not a failed card. */
static char *cell(const json_t *v)
{
    struct hs_buf b;
    hs_buf_init(&b, 64 * 1024);
    int r = v ? modelcard__py_round4(v, &b) : hs_buf_printf(&b, "None");
    if (r < 0 || !b.data) {
        hs_buf_free(&b);
        return strdup("");
    }
    return b.data;
}

static int build_table(struct mc_card *c, const json_t *lh, size_t summary_idx,
                       const struct modelcard_strv *order)
{
    struct mc_table *t = &c->table;
    char **keys = NULL; /* raw keys of the metric columns after Validation Loss */
    size_t nkeys = 0;
    int r = 0;
    const json_t *first = NULL;
    for (size_t i = 0; i < summary_idx; i++) {
        const json_t *e = json_array_get(lh, i);
        if (json_is_object(e) && has(e, "eval_loss")) {
            first = e;
            break;
        }
    }
    c->have_table = true;
    if (!first)
        return 0; /* heading, empty table */

    /* Columns from the first row (as make_markdown_table does). */
    size_t cap = json_object_size(first);
    keys = calloc(cap + 1, sizeof(*keys));
    char **pretty = calloc(cap + 1, sizeof(*pretty));
    size_t *idx = calloc(cap + 1, sizeof(*idx));
    if (!keys || !pretty || !idx) {
        r = -ENOMEM;
        goto out;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)first, key, v)
    {
        if (table_dropped(key) || !strcmp(key, "eval_loss"))
            continue;
        struct hs_buf b;
        hs_buf_init(&b, 64 * 1024);
        if (modelcard__py_title(key, 1, &b) < 0 || hs_buf_append(&b, "", 0) < 0 || !b.data) {
            hs_buf_free(&b);
            continue; /* a key too long for a column name: drop the column */
        }
        keys[nkeys] = (char *)key;
        pretty[nkeys] = b.data;
        idx[nkeys] = nkeys;
        nkeys++;
    }
    order_apply(order, pretty, idx, nkeys);

    t->ncols = 4 + nkeys;
    t->cols = calloc(t->ncols, sizeof(*t->cols));
    if (!t->cols) {
        r = -ENOMEM;
        goto out;
    }
    const char *fixed[] = {"Training Loss", "Epoch", "Step", "Validation Loss"};
    for (size_t i = 0; i < 4; i++)
        t->cols[i] = strdup(fixed[i]);
    for (size_t i = 0; i < nkeys; i++) {
        t->cols[4 + i] = pretty[idx[i]];
        pretty[idx[i]] = NULL;
    }
    for (size_t i = 0; i < t->ncols; i++)
        if (!t->cols[i]) {
            r = -ENOMEM;
            goto out;
        }

    const json_t *train_loss = NULL; /* NULL: "No log" */
    for (size_t i = 0; i < summary_idx; i++) {
        const json_t *e = json_array_get(lh, i);
        if (!json_is_object(e))
            continue;
        if (has(e, "loss"))
            train_loss = json_object_get(e, "loss");
        if (!has(e, "eval_loss"))
            continue;
        char **row = calloc(t->ncols, sizeof(*row));
        char ***nc = realloc(t->cells, (t->nrows + 1) * sizeof(*nc));
        if (!row || !nc) {
            free(row);
            if (nc)
                t->cells = nc;
            r = -ENOMEM;
            goto out;
        }
        t->cells = nc;
        t->cells[t->nrows++] = row;
        row[0] = train_loss ? cell(train_loss) : strdup("No log");
        row[1] = cell(json_object_get(e, "epoch"));
        row[2] = cell(json_object_get(e, "step"));
        row[3] = cell(json_object_get(e, "eval_loss"));
        for (size_t j = 0; j < nkeys; j++) {
            const json_t *x = json_object_get(e, keys[idx[j]]);
            row[4 + j] = x ? cell(x) : strdup("");
        }
        for (size_t j = 0; j < t->ncols; j++)
            if (!row[j]) {
                r = -ENOMEM;
                goto out;
            }
    }
out:
    if (pretty)
        for (size_t i = 0; i < nkeys; i++)
            free(pretty[i]);
    free(pretty);
    free(keys);
    free(idx);
    return r;
}

/* ---- the card ---------------------------------------------------------------- */

static void basename_of(const char *dir, char *out, size_t n)
{
    const char *b = strrchr(dir, '/');
    snprintf(out, n, "%s", b && b[1] ? b + 1 : dir);
}

int modelcard__card_build(const struct modelcard_run *run, const struct modelcard_meta *meta,
                          const char *existing, size_t existing_len, struct mc_card *c,
                          struct modelcard_warnings *w, struct hs_err *err)
{
    memset(c, 0, sizeof(*c));
    int r = -ENOMEM;
    char name[HS_PATH_MAX];
    basename_of(run->dir, name, sizeof(name));
    if (!(c->model_name = strdup(meta->model_name ? meta->model_name : name)))
        goto fail;

    /* Base model: config (every one of a list) > adapter_config.json >
     * config.json _name_or_path. */
    const char *found = NULL, *src = "config";
    if (!meta->base_model.n && (found = jstr(run->adapter, "base_model_name_or_path")))
        src = "adapter_config.json";
    else if (!meta->base_model.n && (found = jstr(run->config, "_name_or_path")))
        src = "config.json";
    const char *const *bases =
        meta->base_model.n ? (const char *const *)meta->base_model.v : &found;
    size_t n_bases = meta->base_model.n ? meta->base_model.n : found != NULL;
    for (size_t i = 0; i < n_bases; i++) {
        const char *base = bases[i];
        if (!*base)
            continue;
        if (looks_like_hub_id(base)) {
            if (modelcard__strv_push(&c->base_model, base) < 0)
                goto fail;
        } else {
            modelcard_warn(w,
                           "base model \"%.200s\" from %s is not a Hub model id (a local "
                           "path?): %s; set model_card.base_model",
                           base, src,
                           n_bases > 1 ? "the card leaves it out"
                                       : "the card says \"trained from scratch\"");
        }
    }

    for (size_t i = 0; i < meta->datasets.n; i++)
        if (modelcard__strv_push(&c->dataset_tags, meta->datasets.v[i]) < 0)
            goto fail;
    for (size_t i = 0; i < meta->dataset_args.n; i++)
        if (modelcard__strv_push(&c->dataset_args, meta->dataset_args.v[i]) < 0)
            goto fail;
    for (size_t i = 0; i < meta->dataset_config.n; i++)
        if (modelcard__strv_push(&c->dataset_config, meta->dataset_config.v[i]) < 0)
            goto fail;
    if (meta->dataset_name) {
        if (modelcard__strv_push(&c->dataset_names, meta->dataset_name) < 0)
            goto fail;
    } else {
        for (size_t i = 0; i < meta->datasets.n; i++)
            if (modelcard__strv_push(&c->dataset_names, meta->datasets.v[i]) < 0)
                goto fail;
    }
    for (size_t i = 0; i < meta->language.n; i++)
        if (modelcard__strv_push(&c->language, meta->language.v[i]) < 0)
            goto fail;
    if (meta->license && !(c->license = strdup(meta->license)))
        goto fail;
    bool has_default = false;
    for (size_t i = 0; i < meta->tags.n; i++) {
        has_default |= !strcmp(meta->tags.v[i], "generated_from_trainer");
        if (modelcard__strv_push(&c->tags, meta->tags.v[i]) < 0)
            goto fail;
    }
    if (!has_default && modelcard__strv_push(&c->tags, "generated_from_trainer") < 0)
        goto fail;

    /* Task: config, else config.json architectures[0]. */
    const char *task = meta->task;
    if (!task) {
        const json_t *arch = json_array_get(json_object_get(run->config, "architectures"), 0);
        if (json_is_string(arch))
            task = task_from_architecture(json_string_value(arch));
    }
    if (task)
        for (size_t i = 0; i < HS_ARRAY_SIZE(task_names); i++)
            if (!strcmp(task, task_names[i].tag)) {
                c->task_tag = xstrdup(task_names[i].tag);
                c->task_name = xstrdup(task_names[i].name);
                if (!c->task_tag || !c->task_name)
                    goto fail;
            }

    const char *tv = jstr(run->config, "transformers_version");
    if (tv && !(c->transformers_version = strdup(tv)))
        goto fail;
    if ((meta->pytorch_version && !(c->pytorch_version = strdup(meta->pytorch_version))) ||
        (meta->datasets_version && !(c->datasets_version = strdup(meta->datasets_version))) ||
        (meta->tokenizers_version && !(c->tokenizers_version = strdup(meta->tokenizers_version))))
        goto fail;

    /* Rule 6 order: an existing Trainer-written table, else metrics_order. */
    struct modelcard_strv readme_cols = {0};
    const struct modelcard_strv *order = &meta->metrics_order;
    if (existing && modelcard__readme_columns(existing, existing_len, &readme_cols) == 0 &&
        readme_cols.n > 0)
        order = &readme_cols;

    const json_t *lh = run->state ? json_object_get(run->state, "log_history") : NULL;
    size_t n = json_is_array(lh) ? json_array_size(lh) : 0;
    size_t summary_idx = n;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(lh, i);
        if (json_is_object(e) && has(e, "train_runtime") && has(e, "train_loss")) {
            summary_idx = i;
            break;
        }
    }

    /* Summary: results file, else the last eval entry (never index 0), or the
     * best checkpoint's with load_best_model_at_end. */
    r = 0;
    if (run->results)
        r = summary_from(c, run->results, true, run->results_is_all, order);
    if (r == 0 && !c->have_summary && n > 0) {
        ssize_t last = -1;
        for (size_t i = n; i-- > 0;)
            if (json_is_object(json_array_get(lh, i)) && has(json_array_get(lh, i), "eval_loss")) {
                last = (ssize_t)i;
                break;
            }
        json_int_t best;
        if (last >= 0 && (size_t)last < summary_idx &&
            json_is_true(json_object_get(run->args, "load_best_model_at_end")) &&
            best_step(run->state, &best)) {
            for (size_t i = 0; i < summary_idx; i++) {
                const json_t *e = json_array_get(lh, i);
                const json_t *st = json_object_get(e, "step");
                if (json_is_object(e) && has(e, "eval_loss") && json_is_integer(st) &&
                    json_integer_value(st) == best)
                    last = (ssize_t)i;
            }
        }
        if (last > 0)
            r = summary_from(c, json_array_get(lh, (size_t)last), false, false, order);
    }
    if (r == 0 && run->state && json_is_array(lh))
        r = build_table(c, lh, summary_idx, order);
    modelcard__strv_free(&readme_cols);
    if (r < 0)
        goto fail;
    if ((r = modelcard__hparams_build(run, meta, c, w)) < 0)
        goto fail;
    return 0;
fail:
    modelcard__card_free(c);
    return hs_err_set(err, r < 0 ? r : -ENOMEM, "model card: %s", hs_strerror(r < 0 ? r : -ENOMEM));
}

void modelcard__card_free(struct mc_card *c)
{
    free(c->model_name);
    modelcard__strv_free(&c->base_model);
    modelcard__strv_free(&c->dataset_tags);
    modelcard__strv_free(&c->dataset_names);
    modelcard__strv_free(&c->dataset_args);
    modelcard__strv_free(&c->dataset_config);
    modelcard__strv_free(&c->language);
    free(c->license);
    modelcard__strv_free(&c->tags);
    free(c->task_tag);
    free(c->task_name);
    for (size_t i = 0; i < c->nsummary; i++) {
        free(c->summary[i].name);
        json_decref(c->summary[i].value);
        free(c->summary[i].text);
    }
    free(c->summary);
    for (size_t i = 0; i < c->nhparams; i++) {
        free(c->hparams[i].name);
        json_decref(c->hparams[i].value);
        free(c->hparams[i].text);
    }
    free(c->hparams);
    for (size_t i = 0; i < c->table.nrows; i++) {
        for (size_t j = 0; j < c->table.ncols; j++)
            free(c->table.cells[i][j]);
        free(c->table.cells[i]);
    }
    free(c->table.cells);
    for (size_t j = 0; j < c->table.ncols; j++)
        free(c->table.cols[j]);
    free(c->table.cols);
    free(c->transformers_version);
    free(c->pytorch_version);
    free(c->datasets_version);
    free(c->tokenizers_version);
    memset(c, 0, sizeof(*c));
}

void modelcard_meta_free(struct modelcard_meta *m)
{
    if (!m)
        return;
    free(m->model_name);
    modelcard__strv_free(&m->base_model);
    free(m->dataset_name);
    free(m->license);
    free(m->task);
    modelcard__strv_free(&m->datasets);
    modelcard__strv_free(&m->dataset_args);
    modelcard__strv_free(&m->dataset_config);
    free(m->pytorch_version);
    free(m->datasets_version);
    free(m->tokenizers_version);
    modelcard__strv_free(&m->language);
    modelcard__strv_free(&m->tags);
    modelcard__strv_free(&m->metrics_order);
    memset(m, 0, sizeof(*m));
}
