/*
 * job_keep.c — hub_keep_checkpoints (all_checkpoints only): the commit
 * that adds checkpoint-N/ also deletes, as "deletedFolder" operations of
 * the same commit, the oldest checkpoint-N folders on the Hub beyond the
 * newest K — never the one the newest trainer_state.json names as
 * best_model_checkpoint — as the Trainer's _rotate_checkpoints does with
 * save_total_limit locally (docs/trainer-layouts.md "Retention").
 *
 * What the repo holds is listed (uploader_list_tree of the job's revision,
 * before COMMIT_SENT), not derived from the journal: folders of an earlier
 * run or another machine count too, and a folder already gone is never
 * deleted again (which the Hub would answer with 404). The folders this
 * commit adds are never deleted by it (they cannot be added and deleted in
 * one commit); a coalesced commit beyond K leaves the excess to the next
 * commit. The best checkpoint is read at READY from the save's own
 * trainer_state.json (meta "best", job__keep_meta). Not here: the commit
 * (job_commit.c), the operations' format (uploader/commit_body.c).
 */
#include "sync_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void job__keep_meta(const struct job *j, const char *dir, json_t *meta)
{
    if ((!j->cfg->hub_keep_checkpoints && j->cfg->hub_strategy != CONFIG_STRATEGY_CHECKPOINT) ||
        !meta)
        return; /* (checkpoint: job_resume.c warns about a best elsewhere) */
    char path[HS_PATH_MAX];
    struct hs_err e = {0};
    if (hs_path_join(path, sizeof(path), dir, "trainer_state.json") < 0)
        return;
    json_t *st = hs_json_load_tolerant(path, 64u << 20, &e);
    const char *best = json_string_value(json_object_get(st, "best_model_checkpoint"));
    if (best) {
        const char *base = strrchr(best, '/');
        base = base ? base + 1 : best;
        if (*base)
            json_object_set_new(meta, "best", json_string(base));
    }
    json_decref(st);
}

/* N of a top-level "checkpoint-N" folder name (len bytes of s), else -1. */
static long long folder_step(const char *s, size_t len)
{
    static const char pre[] = "checkpoint-";
    size_t pl = sizeof(pre) - 1;
    if (len <= pl || strncmp(s, pre, pl) != 0 || len - pl > 18)
        return -1;
    long long n = 0;
    for (size_t i = pl; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        n = n * 10 + (s[i] - '0');
    }
    return n;
}

struct kfolder {
    char name[48];
    long long step;
    bool added; /* this commit adds it */
    bool mine;  /* the journal has it committed by this job */
};

/* Newest first: the folders this commit adds (the save just written counts
 * against K and is never deleted by its own commit, as in the Trainer's
 * rotation), then the folders this job committed (the journal), then the
 * rest (an earlier run, another machine); by step within each group. The
 * Trainer orders by mtime (by step when the mtimes are within 1 s); the Hub
 * has no mtimes, and a folder of another run is older than this run's. */
static int cmp_newest(const void *a, const void *b)
{
    const struct kfolder *x = a, *y = b;
    if (x->added != y->added)
        return x->added ? -1 : 1;
    if (x->mine != y->mine)
        return x->mine ? -1 : 1;
    return x->step < y->step ? 1 : x->step > y->step ? -1 : 0;
}

static int add_folder(struct kfolder **v, size_t *n, const char *s, size_t len, bool added)
{
    long long step = folder_step(s, len);
    if (step < 0)
        return 0;
    for (size_t i = 0; i < *n; i++) {
        if (strlen((*v)[i].name) == len && !strncmp((*v)[i].name, s, len)) {
            (*v)[i].added |= added;
            return 0;
        }
    }
    struct kfolder *nv = realloc(*v, (*n + 1) * sizeof(*nv));
    if (!nv)
        return -ENOMEM;
    *v = nv;
    snprintf(nv[*n].name, sizeof(nv[*n].name), "%.*s", (int)len, s);
    nv[*n].step = step;
    nv[*n].added = added;
    nv[*n].mine = false;
    (*n)++;
    return 0;
}

static int add_from_path(struct kfolder **v, size_t *n, const char *path, bool added)
{
    const char *slash = strchr(path, '/');
    return slash ? add_folder(v, n, path, (size_t)(slash - path), added) : 0;
}

struct keep_list {
    struct job_op *op;
    void (*next)(struct job_op *op);
};

static void keep_listed(int status, const struct uploader_tree *t, const struct hs_err *err,
                        void *ud)
{
    struct keep_list *l = ud;
    struct job_op *op = l->op;
    void (*next)(struct job_op *) = l->next;
    struct job *j = op->j;
    free(l);
    if (job__op_cancelled(op))
        return;
    if (status < 0) {
        char msg[HS_ERR_MAX + 128];
        snprintf(msg, sizeof(msg),
                 "the repo's checkpoint-N folders are not known (hub_keep_checkpoints), not "
                 "committing without them: %s",
                 err ? err->msg : hs_strerror(status));
        return job__op_failed(op, msg);
    }
    struct kfolder *f = NULL;
    size_t n = 0;
    int rc = 0;
    for (size_t i = 0; i < t->n && rc == 0; i++)
        rc = add_from_path(&f, &n, t->entries[i].path, false);
    for (size_t i = 0; i < op->plan.n_files && rc == 0; i++)
        rc = add_from_path(&f, &n, op->plan.files[i].repo_path, true);
    const struct jstate_save *last = jstate_save_get(j->env->js, op->saves[op->n_saves - 1]);
    const char *best = last ? json_string_value(json_object_get(last->meta, "best")) : NULL;
    const struct jstate_save *cs;
    for (size_t i = 0; rc == 0 && (cs = jstate_save_at(j->env->js, i)); i++) {
        if (cs->state != JSAVE_COMMITTED || strcmp(cs->job, j->name) != 0)
            continue;
        for (size_t k = 0; k < n; k++)
            f[k].mine |= !strcmp(f[k].name, cs->name);
    }
    if (n)
        qsort(f, n, sizeof(*f), cmp_newest);
    unsigned keep = j->cfg->hub_keep_checkpoints;
    for (size_t i = keep; i < n && rc == 0; i++) {
        if (f[i].added || (best && !strcmp(best, f[i].name)))
            continue;
        char **v = realloc(op->del_folders, (op->n_del_folders + 1) * sizeof(*v));
        if (!v || !(v[op->n_del_folders] = strdup(f[i].name))) {
            if (v)
                op->del_folders = v;
            rc = -ENOMEM;
            break;
        }
        op->del_folders = v;
        op->n_del_folders++;
        hs_log_info("job %s: %s/ deleted in this commit (hub_keep_checkpoints %u%s%s)", j->name,
                    f[i].name, keep, best ? ", best " : "", best ? best : "");
    }
    free(f);
    if (rc < 0)
        return job__op_failed(op, "out of memory");
    next(op);
}

int job__keep_plan(struct job_op *op, void (*next)(struct job_op *op))
{
    struct job *j = op->j;
    const struct jstate_save *s0 = jstate_save_get(j->env->js, op->saves[0]);
    if (!j->cfg->hub_keep_checkpoints || op->final ||
        j->cfg->hub_strategy != CONFIG_STRATEGY_ALL_CHECKPOINTS ||
        (s0 && s0->state == JSAVE_COMMIT_SENT && j->no_deletes_commit == s0->commit))
        return 0; /* (a commit whose deletions met a 404 is sent again without them) */
    for (size_t i = 0; i < op->n_del_folders; i++)
        free(op->del_folders[i]);
    op->n_del_folders = 0;
    struct keep_list *l = calloc(1, sizeof(*l));
    if (!l)
        return -ENOMEM;
    l->op = op;
    l->next = next;
    struct uploader_tree_request req = {
        .repo_id = j->cfg->hub_model_id,
        .revision = j->cfg->revision,
    };
    struct hs_err err = {0};
    if (uploader_list_tree(j->env->uploader, &req, keep_listed, l, &err) < 0) {
        free(l);
        job__op_failed(op, err.msg);
        return 1;
    }
    j->phase = JOB_PUSHING;
    j->up_phase = UPLOADER_PHASE_PREPARE;
    j->up_stages = 0;
    job__changed(j);
    return 1;
}
