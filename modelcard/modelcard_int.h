/*
 * modelcard_int.h — internals shared by the files of modelcard/ (not a
 * public header): Python-compatible value formatting, the card model built
 * from a run (summary, table, hyperparameters), YAML emission and merging.
 */
#ifndef HUBSYNC_MODELCARD_INT_H
#define HUBSYNC_MODELCARD_INT_H

#include "modelcard.h"

/* ---- pyfmt.c: Python str() of values ----------------------------------- */

/* Python repr()/str() of a float: shortest round-trip digits, exponent form
 * below 1e-4 and from 1e16 ("1e-05", "1e+16"), ".0" on integral values,
 * "nan", "inf", "-inf". out must hold 32 bytes. */
void modelcard__py_float(double v, char *out, size_t n);

/* Python str() of a JSON value from a tolerant document: integers as
 * digits, reals as floats, "NaN"/"Infinity"/"-Infinity" strings as floats,
 * true/false/null as True/False/None, other strings as themselves. */
int modelcard__py_str(const json_t *v, struct hs_buf *out);

/* transformers' _maybe_round(v, 4): a float whose str() has more than four
 * characters after the '.' is printed "%.4f"; anything else as str(). */
int modelcard__py_round4(const json_t *v, struct hs_buf *out);

/* True when v is a float in Python's eyes (real or non-finite string). */
bool modelcard__is_float(const json_t *v);

/* " ".join(p.capitalize() for p in s.split("_")[skip:]) into out. */
int modelcard__py_title(const char *s, size_t skip, struct hs_buf *out);

/* Normalised key for comparing metric names across spellings: lower case,
 * '_' as ' ', a leading "eval " removed. */
void modelcard__norm_name(const char *s, char *out, size_t n);

/* ---- card.c: the card model ---------------------------------------------- */

struct mc_kv {
    char *name;    /* pretty name ("Accuracy") or hyperparameter key */
    json_t *value; /* borrowed or owned per container; see mc_card */
    char *text;    /* already formatted text (hyperparameters), or NULL */
};

struct mc_table {
    size_t ncols;
    char **cols; /* header texts */
    size_t nrows;
    char ***cells; /* nrows × ncols formatted texts */
};

struct mc_card {
    char *model_name;
    struct modelcard_strv base_model; /* empty: trained from scratch */
    struct modelcard_strv dataset_tags;
    struct modelcard_strv dataset_names; /* display names */
    struct modelcard_strv dataset_args;  /* by tag position; shorter: no args */
    struct modelcard_strv dataset_config;
    struct modelcard_strv language;
    char *license;
    struct modelcard_strv tags;
    char *task_tag, *task_name; /* NULL when unknown */
    size_t nsummary;            /* eval results, "Loss" first */
    struct mc_kv *summary;      /* values: new references */
    bool have_summary;
    size_t nhparams;
    struct mc_kv *hparams; /* text set */
    bool have_table;       /* a "Training results" section */
    struct mc_table table;
    char *transformers_version;
    char *pytorch_version, *datasets_version, *tokenizers_version; /* NULL: not listed */
};

int modelcard__card_build(const struct modelcard_run *run, const struct modelcard_meta *meta,
                          const char *existing, size_t existing_len, struct mc_card *card,
                          struct modelcard_warnings *w, struct hs_err *err);
void modelcard__card_free(struct mc_card *card);

/* ---- hparams.c ------------------------------------------------------------ */
int modelcard__hparams_build(const struct modelcard_run *run, const struct modelcard_meta *meta,
                             struct mc_card *card, struct modelcard_warnings *w);

/* ---- render.c: body and table ---------------------------------------------- */

/* The markdown body exactly as the Trainer writes it, starting with the
 * blank line + "generated automatically" comment and ending with the
 * framework versions. */
int modelcard__render_body(const struct mc_card *card, struct hs_buf *out);
int modelcard__render_table(const struct mc_table *t, struct hs_buf *out);

/* ---- yaml.c ------------------------------------------------------------------ */

/* A YAML scalar as PyYAML's default dumper (no allow_unicode) writes it. */
int modelcard__yaml_scalar(const char *s, struct hs_buf *out);
/* One top-level key of the metadata ("key: value\n" or the block), NULL
 * when the card has no value for key. Keys: library_name, language,
 * license, base_model, tags, datasets, metrics, model-index. */
int modelcard__yaml_key(const struct mc_card *card, const char *key, struct hs_buf *out,
                        bool *present);
extern const char *const modelcard__yaml_keys[8];
/* The whole front matter body (without the --- lines). */
int modelcard__yaml_metadata(const struct mc_card *card, struct hs_buf *out);

/* The metric tags of the summary (infer_metric_tags_from_eval_results):
 * fills tags[i] and idx[i] (index into card->summary); returns the count. */
size_t modelcard__metric_tags(const struct mc_card *card, const char **tags, size_t *idx,
                              size_t max);

/* ---- merge.c --------------------------------------------------------------------- */

/* The column names of a "Training results" table in an existing card
 * (rule 6), as a strv; empty when none. */
int modelcard__readme_columns(const char *text, size_t len, struct modelcard_strv *out);

void modelcard__strv_free(struct modelcard_strv *s);
int modelcard__strv_push(struct modelcard_strv *s, const char *v);

#endif
