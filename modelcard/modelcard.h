/*
 * modelcard.h — the public interface of modelcard/: reading a training run
 * (trainer_state.json, config.json, eval/all_results.json,
 * adapter_config.json, training_args.bin) and rendering README.md the way
 * transformers' Trainer does (docs/trainer-layouts.md §4), merged
 * with an existing card without clobbering what people wrote.
 *
 * modelcard/ does no network I/O and never logs: problems that still allow
 * a card (a truncated trainer_state.json, a hostile training_args.bin) are
 * collected as warnings for the caller to report; errors fill a struct
 * hs_err. No value of a training argument whose name contains "token" is
 * ever read into memory that outlives the pickle parser.
 */
#ifndef HUBSYNC_MODELCARD_H
#define HUBSYNC_MODELCARD_H

#include "common.h"

#include <jansson.h>
#include <stdbool.h>

/* ---- warnings ---------------------------------------------------------- */

#define MODELCARD_WARN_MAX     16
#define MODELCARD_WARN_MSG_MAX 512

/* Things that went wrong but still allow a card; the caller logs them. */
struct modelcard_warnings {
    size_t n;       /* stored messages (at most MODELCARD_WARN_MAX) */
    size_t dropped; /* further messages that did not fit */
    char msg[MODELCARD_WARN_MAX][MODELCARD_WARN_MSG_MAX];
};

void modelcard_warn(struct modelcard_warnings *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- job metadata (the job's "model_card" config object) --------------- */

enum modelcard_mode {
    MODELCARD_MERGE = 0, /* keep a human-written card's text (default) */
    MODELCARD_OVERWRITE, /* always write hubsync's full card */
    MODELCARD_OFF,       /* write no card */
};

struct modelcard_strv {
    char **v;
    size_t n;
};

struct modelcard_meta {
    enum modelcard_mode mode;
    char *model_name;                     /* default: basename of the run directory */
    struct modelcard_strv base_model;     /* wins over adapter_config.json and config.json; all
                                             of a list reach the card (a merge of models) */
    struct modelcard_strv datasets;       /* dataset tags (Hub ids): TrainingSummary.dataset_tags */
    struct modelcard_strv dataset_args;   /* the i-th tag's model-index dataset.args */
    struct modelcard_strv dataset_config; /* the i-th tag's model-index dataset.config */
    char *dataset_name;                   /* display name; default: the tags */
    /* "Framework versions" after Transformers (config.json's), in the
     * Trainer's order; NULL: the line is left out */
    char *pytorch_version, *datasets_version, *tokenizers_version;
    struct modelcard_strv language;
    char *license;
    struct modelcard_strv tags;          /* generated_from_trainer is added */
    char *task;                          /* task tag; default from architectures */
    struct modelcard_strv metrics_order; /* rule 6: "f1", "eval_f1" or "F1" */
    int world_size;                      /* 0/1: single process */
};

/* The job's "model_card" config object is parsed by config/ (config_load)
 * and mapped to this struct by sync/card_meta.c; modelcard/ does not read
 * it. Frees every member and zeroes m; NULL is fine. */
void modelcard_meta_free(struct modelcard_meta *m);

/* ---- the run ------------------------------------------------------------ */

/* What was read from a training output directory. Everything is optional. */
struct modelcard_run {
    char dir[HS_PATH_MAX];
    char state_path[HS_PATH_MAX]; /* the trainer_state.json used, or "" */
    json_t *state;                /* trainer_state.json (tolerant parse) */
    json_t *config;               /* config.json */
    json_t *results;              /* eval_results.json, else all_results.json */
    bool results_is_all;          /* results came from all_results.json */
    json_t *adapter;              /* adapter_config.json */
    json_t *args;                 /* TrainingArguments state (token fields removed) */
    char *existing_readme;        /* DIR/README.md, if any (for rule 6 and merge) */
    size_t existing_readme_len;
};

/* Read the run in dir: the final trainer_state.json (dir's own, else the
 * newest checkpoint-N's) and the files beside it. Missing or broken files
 * are warnings, not errors; returns -ENOENT/-ENOTDIR only when dir itself
 * cannot be read. Free with modelcard_run_free (NULL-safe). */
int modelcard_run_read(const char *dir, struct modelcard_run *run, struct modelcard_warnings *w,
                       struct hs_err *err);
void modelcard_run_free(struct modelcard_run *run);

/* ---- training_args.bin --------------------------------------------------- */

/* Parse a TrainingArguments pickle (raw pickle, torch's zip format, or
 * torch's legacy format) without executing anything. On success *out is a
 * JSON object of the state dict: str/int/float/bool/None/list/dict values;
 * objects (enum members, nested dataclasses) become
 * {"__class__": "module.Name", "__args__": [...], "__state__": {...}}.
 * Keys containing "token" (any case) are dropped. -EINVAL/-E2BIG with err
 * for anything unexpected; never crashes, bounded memory and depth. */
int modelcard_pickle_load(const unsigned char *data, size_t len, json_t **out, struct hs_err *err);

/* ---- rendering ------------------------------------------------------------ */

/* The HTML comments hubsync puts around the body it generated. */
#define MODELCARD_BEGIN_MARKER                                                                     \
    "<!-- hubsync:begin generated model card (edits here are replaced) -->"
#define MODELCARD_END_MARKER "<!-- hubsync:end generated model card -->"

/* Render the whole card hubsync would write for run + meta, merged with
 * existing (the README.md in the repo or output dir; NULL for none) by
 * meta->mode. Appends to out. With MODELCARD_OFF nothing is appended and
 * 0 is returned. */
int modelcard_render(const struct modelcard_run *run, const struct modelcard_meta *meta,
                     const char *existing, size_t existing_len, struct hs_buf *out,
                     struct modelcard_warnings *w, struct hs_err *err);

#endif
