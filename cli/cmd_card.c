/*
 * cmd_card.c — `hubsync card DIR [--config FILE --job NAME] [--out FILE]`:
 * render the model card of a training output directory with modelcard/,
 * without uploading. The job's "model_card" metadata comes from the config
 * (model_name defaults to the name part of hub_model_id, as push_to_hub
 * passes the repo name); without --config only what DIR holds is used.
 * The card merges with --out FILE when it exists, else with DIR/README.md.
 * Warnings (broken trainer files) go to stderr; the card still comes out.
 * Exit 0, 1 (DIR unreadable, write failed), 2 (usage), 78 (config).
 */
#include "cli_int.h"
#include "common.h"
#include "config.h"
#include "modelcard.h"
#include "sync.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define CARD_MAX     (64u << 20)
#define EXISTING_MAX (4u << 20)

static int load_meta(const char *file, const char *job_name, struct modelcard_meta *m)
{
    struct config_errors errs = {0};
    struct config *cfg = NULL;
    int rc = config_load(file, &cfg, &errs);
    if (rc < 0) {
        for (size_t i = 0; i < errs.n; i++) {
            hs_secret_scrub(errs.v[i]);
            fprintf(stderr, "%s\n", errs.v[i]);
        }
        config_errors_free(&errs);
        return HS_EXIT_CONFIG;
    }
    config_errors_free(&errs);
    const struct config_job *job = NULL;
    if (job_name)
        job = config_job_find(cfg, job_name);
    else if (cfg->n_jobs == 1)
        job = &cfg->jobs[0];
    if (!job) {
        if (job_name)
            fprintf(stderr, "hubsync card: %s: no job named \"%s\"\n", file, job_name);
        else
            fprintf(stderr, "hubsync card: %s has %zu jobs: say which with --job NAME\n", file,
                    cfg->n_jobs);
        config_free(cfg);
        return job_name ? HS_EXIT_CONFIG : HS_EXIT_USAGE;
    }
    int r = card_meta_from_job(job, m);
    config_free(cfg);
    if (r < 0) {
        fprintf(stderr, "hubsync card: %s\n", hs_strerror(r));
        return HS_EXIT_FAILURE;
    }
    return HS_EXIT_OK;
}

static int run(int argc, char **argv)
{
    const char *dir = NULL, *config = NULL, *job = NULL, *outfile = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((!strcmp(a, "--config") || !strcmp(a, "--job") || !strcmp(a, "--out")) &&
            i + 1 < argc) {
            const char **dst = !strcmp(a, "--config") ? &config
                               : !strcmp(a, "--job")  ? &job
                                                      : &outfile;
            *dst = argv[++i];
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "hubsync card: unknown option or missing value '%s'\n", a);
            goto usage;
        } else if (!dir) {
            dir = a;
        } else {
            goto usage;
        }
    }
    if (!dir || (job && !config))
        goto usage;

    struct modelcard_meta meta = {0};
    if (config) {
        int rc = load_meta(config, job, &meta);
        if (rc != HS_EXIT_OK) {
            modelcard_meta_free(&meta);
            return rc;
        }
    }
    if (meta.mode == MODELCARD_OFF) {
        fprintf(stderr, "hubsync card: model_card.mode is \"off\" for this job: no card\n");
        modelcard_meta_free(&meta);
        return HS_EXIT_OK;
    }

    struct modelcard_run mrun;
    struct modelcard_warnings w = {0};
    struct hs_err err = {0};
    if (modelcard_run_read(dir, &mrun, &w, &err) < 0) {
        fprintf(stderr, "hubsync card: %s\n", err.msg);
        modelcard_meta_free(&meta);
        return HS_EXIT_FAILURE;
    }

    /* Merge with the file we are about to replace, else DIR/README.md. */
    char *existing = NULL;
    size_t existing_len = 0;
    struct stat st;
    if (outfile && stat(outfile, &st) == 0) {
        int r = hs_read_file(outfile, EXISTING_MAX, &existing, &existing_len);
        if (r < 0) {
            fprintf(stderr, "hubsync card: %s: %s\n", outfile, hs_strerror(r));
            modelcard_run_free(&mrun);
            modelcard_meta_free(&meta);
            return HS_EXIT_FAILURE;
        }
    }
    const char *ex = existing ? existing : mrun.existing_readme;
    size_t exl = existing ? existing_len : mrun.existing_readme_len;

    struct hs_buf card;
    hs_buf_init(&card, CARD_MAX);
    int r = modelcard_render(&mrun, &meta, ex, exl, &card, &w, &err);
    for (size_t i = 0; i < w.n; i++)
        fprintf(stderr, "hubsync card: warning: %s\n", w.msg[i]);
    if (w.dropped)
        fprintf(stderr, "hubsync card: warning: %zu more warnings\n", w.dropped);
    int rc = HS_EXIT_OK;
    if (r < 0) {
        fprintf(stderr, "hubsync card: %s\n", err.msg);
        rc = HS_EXIT_FAILURE;
    } else if (outfile) {
        r = hs_write_file_atomic(outfile, card.data ? card.data : "", card.len, 0644);
        if (r < 0) {
            fprintf(stderr, "hubsync card: %s: %s\n", outfile, hs_strerror(r));
            rc = HS_EXIT_FAILURE;
        }
    } else if (fwrite(card.data ? card.data : "", 1, card.len, stdout) != card.len ||
               fflush(stdout) != 0) {
        rc = HS_EXIT_FAILURE;
    }
    hs_buf_free(&card);
    free(existing);
    modelcard_run_free(&mrun);
    modelcard_meta_free(&meta);
    return rc;

usage:
    fputs(cmd_card.usage, stderr);
    return HS_EXIT_USAGE;
}

const struct hs_command cmd_card = {
    .name = "card",
    .summary = "render the model card of a training output directory",
    .usage =
        "Usage: hubsync card DIR [--config FILE --job NAME] [--out FILE]\n\nRender README.md (YAML "
        "metadata and the training results) for the training\noutput directory DIR, without "
        "uploading. Prints to stdout unless --out is given.\nA human-written card (--out FILE if "
        "it exists, else DIR/README.md) keeps its\ntext: only its metadata and the section "
        "between hubsync's markers change.\n\nOptions:\n  --config FILE   take "
        "the model_card metadata from FILE's job NAME\n  --job NAME      the job whose metadata to "
        "use (optional with one job)\n  --out FILE      write the card to FILE\n  -h, --help      "
        "show this help\n",
    .run = run,
};
