/*
 * render.c — the markdown body of the card, byte for byte the layout of
 * transformers' TrainingSummary.to_model_card (docs/trainer-layouts.md §4.3):
 * the "generated automatically" comment, title, fine-tuned sentence,
 * evaluation summary, the three "More information needed" sections,
 * hyperparameters, the Training results table (make_markdown_table) and
 * framework versions (Transformers from config.json, then Pytorch,
 * Datasets, Tokenizers when the job says them: to_model_card's order). The YAML front matter is
 * yaml.c's; markers and merging are merge.c's.
 */
#include "modelcard_int.h"

#include <errno.h>
#include <string.h>

#define TRAINER_COMMENT                                                                            \
    "\n<!-- This model card has been generated automatically according to the information the "    \
    "Trainer had access to. You\nshould probably proofread and complete it, then remove this "     \
    "comment. -->\n"

static int line(struct hs_buf *out, const char *const *cells, const size_t *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(cells[i]);
        if (hs_buf_append(out, "| ", 2) < 0 || hs_buf_append(out, cells[i], len) < 0)
            return -E2BIG;
        for (size_t k = len; k < w[i] + 1; k++)
            if (hs_buf_append(out, " ", 1) < 0)
                return -E2BIG;
    }
    return hs_buf_append(out, "|\n", 2);
}

int modelcard__render_table(const struct mc_table *t, struct hs_buf *out)
{
    if (t->ncols == 0)
        return 0;
    size_t *w = calloc(t->ncols, sizeof(*w));
    if (!w)
        return -ENOMEM;
    for (size_t j = 0; j < t->ncols; j++) {
        w[j] = strlen(t->cols[j]);
        for (size_t i = 0; i < t->nrows; i++)
            if (strlen(t->cells[i][j]) > w[j])
                w[j] = strlen(t->cells[i][j]);
    }
    int r = line(out, (const char *const *)t->cols, w, t->ncols);
    for (size_t j = 0; r == 0 && j < t->ncols; j++) {
        r = hs_buf_append(out, "|:", 2);
        for (size_t k = 0; r == 0 && k < w[j]; k++)
            r = hs_buf_append(out, "-", 1);
        if (r == 0)
            r = hs_buf_append(out, ":", 1);
    }
    if (r == 0)
        r = hs_buf_append(out, "|\n", 2);
    for (size_t i = 0; r == 0 && i < t->nrows; i++)
        r = line(out, (const char *const *)t->cells[i], w, t->ncols);
    free(w);
    return r;
}

int modelcard__render_body(const struct mc_card *c, struct hs_buf *out)
{
    int r = hs_buf_printf(out, "%s\n# %s\n\n", TRAINER_COMMENT, c->model_name);
    const struct modelcard_strv *b = &c->base_model;
    if (r == 0 && b->n) {
        r = hs_buf_printf(out, "This model is a fine-tuned version of ");
        for (size_t i = 0; r == 0 && i < b->n; i++)
            r = hs_buf_printf(out, "%s[%s](https://huggingface.co/%s)",
                              i == 0          ? ""
                              : i + 1 == b->n ? " and "
                                              : ", ",
                              b->v[i], b->v[i]);
        if (r == 0)
            r = hs_buf_printf(out, " on ");
    } else if (r == 0)
        r = hs_buf_printf(out, "This model was trained from scratch on ");
    const struct modelcard_strv *d = &c->dataset_names;
    if (r == 0 && d->n == 0)
        r = hs_buf_printf(out, "an unknown dataset.");
    else if (r == 0 && d->n == 1)
        r = hs_buf_printf(out, "the %s dataset.", d->v[0]);
    else if (r == 0) {
        for (size_t i = 0; r == 0 && i + 1 < d->n; i++)
            r = hs_buf_printf(out, "%sthe %s", i ? ", " : "", d->v[i]);
        if (r == 0)
            r = hs_buf_printf(out, " and the %s datasets.", d->v[d->n - 1]);
    }
    if (r == 0 && c->have_summary) {
        r = hs_buf_printf(out, "\nIt achieves the following results on the evaluation set:\n");
        for (size_t i = 0; r == 0 && i < c->nsummary; i++) {
            r = hs_buf_printf(out, "%s- %s: ", i ? "\n" : "", c->summary[i].name);
            if (r == 0)
                r = modelcard__py_round4(c->summary[i].value, out);
        }
    }
    if (r == 0)
        r = hs_buf_printf(out, "\n"
                               "\n## Model description\n\nMore information needed\n"
                               "\n## Intended uses & limitations\n\nMore information needed\n"
                               "\n## Training and evaluation data\n\nMore information needed\n"
                               "\n## Training procedure\n"
                               "\n### Training hyperparameters\n");
    if (r == 0 && c->nhparams > 0) {
        r = hs_buf_printf(out, "\nThe following hyperparameters were used during training:\n");
        for (size_t i = 0; r == 0 && i < c->nhparams; i++)
            r = hs_buf_printf(out, "- %s: %s\n", c->hparams[i].name, c->hparams[i].text);
    } else if (r == 0) {
        r = hs_buf_printf(out, "\nMore information needed\n");
    }
    if (r == 0 && c->have_table) {
        r = hs_buf_printf(out, "\n### Training results\n\n");
        if (r == 0)
            r = modelcard__render_table(&c->table, out);
        if (r == 0)
            r = hs_buf_printf(out, "\n");
    }
    if (r == 0)
        r = hs_buf_printf(out, "\n### Framework versions\n\n");
    if (r == 0 && c->transformers_version)
        r = hs_buf_printf(out, "- Transformers %s\n", c->transformers_version);
    if (r == 0 && c->pytorch_version)
        r = hs_buf_printf(out, "- Pytorch %s\n", c->pytorch_version);
    if (r == 0 && c->datasets_version)
        r = hs_buf_printf(out, "- Datasets %s\n", c->datasets_version);
    if (r == 0 && c->tokenizers_version)
        r = hs_buf_printf(out, "- Tokenizers %s\n", c->tokenizers_version);
    return r;
}
