/*
 * job_finish.c — the end of a job's training (see job.h): wait until every
 * queued save is committed and the watcher has no save half-seen, list the
 * output dir, render README.md with modelcard/ (mode merge/overwrite/off;
 * a failed command says so in the card), and push both as one "End of
 * training" commit (strategy_plan_finish). When the Hub refuses that
 * commit with 400 (the card's metadata), the commit is redone without
 * README.md and the error is reported. The listing and the rendering run
 * on the loop thread: an output dir's top level and a card are small. The
 * listing walks descriptors (common/tree.c): a symlink in the output dir is
 * skipped with a warning naming it, never followed, and each file's
 * identity (device, inode, size, mtime) is recorded as it was listed.
 */
#include "card_meta.h"
#include "sync_int.h"

#include "modelcard.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CARD_MAX     (64u << 20)
#define LIST_MAX     200000
#define FINISH_POLL  (200 * HS_USEC_PER_MSEC)
#define FINISH_DELAY (300 * HS_USEC_PER_MSEC)

/* ---- the output dir ------------------------------------------------------- */

/* One file of the output dir, with the identity it had when listed (what
 * the uploader's identity check must find again). */
struct listed {
    char *rel;
    uint64_t dev, ino, size;
    int64_t mtime_ns;
};

struct listing {
    const char *root; /* for notices */
    const char *job;
    char **v; /* rel paths (for strategy_plan_finish) */
    struct listed *f;
    size_t n, cap;
};

static bool pruned_top(const char *rel)
{
    return !strncmp(rel, "checkpoint-", 11) || !strncmp(rel, "tmp-checkpoint-", 15) ||
           rel[0] == '_' || !strcmp(rel, ".hubsync") || !strcmp(rel, ".git") ||
           !strcmp(rel, ".cache");
}

static int list_add(struct listing *l, const char *rel, const struct stat *st)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        if (cap > LIST_MAX)
            return -E2BIG;
        char **v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        l->v = v;
        struct listed *f = realloc(l->f, cap * sizeof(*f));
        if (!f)
            return -ENOMEM;
        l->f = f;
        l->cap = cap;
    }
    char *r = strdup(rel);
    if (!r)
        return -ENOMEM;
    l->v[l->n] = r;
    l->f[l->n] = (struct listed){
        .rel = r,
        .dev = (uint64_t)st->st_dev,
        .ino = (uint64_t)st->st_ino,
        .size = (uint64_t)st->st_size,
        .mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec,
    };
    l->n++;
    return 0;
}

static void warn_link(const struct listing *l, const char *rel)
{
    hs_log_warn("job %s: %s/%s is a symbolic link: not followed, not uploaded", l->job, l->root,
                rel);
}

/* Symlinks are skipped with one warning each and never followed (the
 * walk of common/tree.c), so nothing outside the tree is listed. */
static int list_visit(const struct hs_walk_entry *e, void *ud)
{
    struct listing *l = ud;
    if (e->depth == 0 && pruned_top(e->rel))
        return HS_WALK_PRUNE;
    if (e->type == HS_WALK_LINK)
        warn_link(l, e->rel);
    else if (e->type == HS_WALK_REG)
        return list_add(l, e->rel, &e->st);
    return 0;
}

/* A directory that turned into a symlink after it was listed is one too. */
static int list_dir_error(const char *rel, int err, void *ud)
{
    struct listing *l = ud;
    if (err == -ELOOP)
        warn_link(l, rel);
    else
        hs_log_warn("job %s: %s/%s: cannot list: %s; the files below it are not uploaded", l->job,
                    l->root, rel, hs_strerror(err));
    return 0;
}

static void listing_free(struct listing *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    free(l->f);
}

static int list_output(const char *job, const char *root, struct listing *l)
{
    memset(l, 0, sizeof(*l));
    l->root = root;
    l->job = job;
    int fd = hs_tree_open_root(root);
    if (fd < 0)
        return fd;
    struct hs_walk w = {.visit = list_visit, .dir_error = list_dir_error, .ud = l, .stat = true};
    int rc = hs_tree_walk(fd, "", &w);
    close(fd);
    return rc;
}

/* ---- the card --------------------------------------------------------------- */

/* Render the card into <state_dir>/cards/<job>.md. 1: written to out;
 * 0: model_card mode off; <0: error with err. */
static int render_card(struct job *j, char *out, size_t n, struct hs_err *err)
{
    struct modelcard_meta meta;
    int rc = card_meta_from_job(j->cfg, &meta);
    if (rc < 0) {
        modelcard_meta_free(&meta);
        return hs_err_set(err, rc, "out of memory");
    }
    if (meta.mode == MODELCARD_OFF) {
        modelcard_meta_free(&meta);
        return 0;
    }
    struct modelcard_run run;
    struct modelcard_warnings w = {0};
    rc = modelcard_run_read(j->cfg->watch, &run, &w, err);
    if (rc < 0) {
        modelcard_meta_free(&meta);
        return rc;
    }
    struct hs_buf card;
    hs_buf_init(&card, CARD_MAX);
    rc =
        modelcard_render(&run, &meta, run.existing_readme, run.existing_readme_len, &card, &w, err);
    for (size_t i = 0; i < w.n; i++)
        hs_log_warn("job %s: model card: %s", j->name, w.msg[i]);
    if (rc == 0 && j->finish_status != 0)
        rc = hs_buf_printf(&card,
                           "\n**Note:** the training command exited with status %d; this "
                           "repository holds what it saved before that.\n",
                           j->finish_status);
    char dir[HS_PATH_MAX], name[HS_PATH_MAX];
    snprintf(name, sizeof(name), "cards/%s.md", j->name);
    if (rc == 0 && (hs_path_join(dir, sizeof(dir), j->env->state_dir, "cards") < 0 ||
                    hs_path_join(out, n, j->env->state_dir, name) < 0))
        rc = hs_err_set(err, -ENAMETOOLONG, "state_dir path too long");
    if (rc == 0 && (rc = hs_mkdir_p(dir, 0700)) < 0)
        hs_err_set(err, rc, "%s: %s", dir, hs_strerror(rc));
    if (rc == 0 && (rc = hs_write_file_atomic(out, card.data ? card.data : "", card.len, 0600)) < 0)
        hs_err_set(err, rc, "%s: %s", out, hs_strerror(rc));
    hs_buf_free(&card);
    modelcard_run_free(&run);
    modelcard_meta_free(&meta);
    return rc < 0 ? rc : 1;
}

/* ---- the finish commit ------------------------------------------------------ */

static int plan_final(struct job_op *op, bool with_card, struct hs_err *err)
{
    struct job *j = op->j;
    struct listing l;
    int rc = list_output(j->name, j->cfg->watch, &l);
    if (rc < 0) {
        listing_free(&l);
        return hs_err_set(err, rc, "listing %s: %s", j->cfg->watch, hs_tree_strerror(rc));
    }
    op->with_card = false;
    if (with_card) {
        rc = render_card(j, op->card_path, sizeof(op->card_path), err);
        if (rc < 0) {
            listing_free(&l);
            return rc;
        }
        op->with_card = rc == 1;
    }
    strategy_commit_free(&op->plan);
    rc = strategy_plan_finish(j->cfg, j->cfg->watch, (const char *const *)l.v, l.n,
                              op->with_card ? op->card_path : NULL, &op->plan, err);
    listing_free(&l);
    if (rc == 0 && !with_card) {
        /* the Hub refused the card: no README.md at all this time (the
         * output dir's own would carry the same metadata) */
        for (size_t i = 0; i < op->plan.n_files; i++) {
            if (strcmp(op->plan.files[i].repo_path, "README.md") != 0)
                continue;
            free(op->plan.files[i].local_path);
            free(op->plan.files[i].repo_path);
            memmove(op->plan.files + i, op->plan.files + i + 1,
                    (op->plan.n_files - i - 1) * sizeof(*op->plan.files));
            op->plan.n_files--;
            break;
        }
    }
    return rc;
}

/* The training command failed: as the Trainer, no "End of training" commit
 * and no card (the repo's card stays); the saves that completed are
 * committed already (the queue is empty here). finish_failed_runs opts in. */
static void finish_without_commit(struct job *j)
{
    struct hs_err e = {0};
    if (jstate_finish(j->env->js, j->name, JFINISH_DONE, j->finish_status, &e) < 0)
        return job__set_error(j, e.msg);
    char msg[256];
    snprintf(msg, sizeof(msg),
             "the training command failed (status %d): its completed saves are committed; no "
             "End of training commit and no model card (finish_failed_runs: true pushes them)",
             j->finish_status);
    hs_log_info("job %s: %s", j->name, msg);
    j->resume_final_commit = 0;
    j->finish_requested = false;
    j->finished = true;
    j->attempts = 0;
    j->phase = JOB_IDLE;
    job_finish_cb cb = j->finish_cb;
    j->finish_cb = NULL;
    job__changed(j);
    if (cb)
        cb(j, 0, NULL, j->finish_ud);
    job__kick(j);
}

void job__start_final(struct job *j)
{
    if (j->snaps)
        return; /* a save's snapshot is still running: its record kicks the job */
    hs_usec_t now = hs_now_monotonic();
    if (j->wj && now < j->finish_deadline) {
        struct watcher_job_status st;
        watcher_job_status(j->wj, &st);
        if (st.pending || !st.scanned) {
            j->phase = JOB_FINISH_WAIT;
            return job__timer_start(j, FINISH_POLL);
        }
    }
    if (j->finish_status != 0 && !j->cfg->finish_failed_runs)
        return finish_without_commit(j);
    struct job_op *op = calloc(1, sizeof(*op));
    if (!op)
        return job__set_error(j, "out of memory");
    op->j = j;
    op->final = true;
    j->op = op;
    free(j->current);
    j->current = strdup("End of training");
    j->bytes_total = 0;
    struct hs_err err = {0};
    int rc = plan_final(op, !j->card_error, &err);
    if (rc == -ENOENT || rc == -ENOTDIR || rc == -ELOOP) {
        /* nothing will appear by retrying: say so now */
        char msg[HS_ERR_MAX + 64];
        snprintf(msg, sizeof(msg), "%s: nothing to push (check \"watch\")", err.msg);
        job__set_error(j, msg);
        j->op = NULL;
        job__op_free(op);
        j->finish_requested = false;
        job_finish_cb cb = j->finish_cb;
        j->finish_cb = NULL;
        if (cb)
            cb(j, rc, msg, j->finish_ud);
        return;
    }
    if (rc < 0)
        return job__op_failed(op, err.msg);
    if (j->resume_final_commit) {
        op->commit = j->resume_final_commit;
    } else if (jstate_commit_sent(j->env->js, j->name, NULL, 0, true, NULL, op->plan.message,
                                  &op->commit, &err) < 0) {
        return job__op_failed(op, err.msg);
    }
    j->resume_final_commit = op->commit;
    job__push(op);
}

static bool card_rejected(const struct hs_err *err)
{
    return err && strstr(err->msg, "commit: HTTP 400");
}

void job__final_done(struct job_op *op, int status, const struct uploader_result *res,
                     const struct hs_err *err)
{
    struct job *j = op->j;
    struct hs_err e = {0};
    if (status < 0 && op->with_card && card_rejected(err)) {
        /* The Hub refused the whole commit for the card: redo it without. */
        char msg[HS_ERR_MAX + 128];
        snprintf(msg, sizeof(msg),
                 "the Hub refused the model card (%s); committing the model without README.md",
                 err->msg);
        job__set_error(j, msg);
        free(j->card_error);
        j->card_error = strdup(msg);
        if (jstate_commit_aborted(j->env->js, op->commit, err->msg, &e) < 0)
            hs_log_warn("job %s: %s", j->name, e.msg);
        job__unlink_durable(j, op->state_path);
        j->resume_final_commit = 0;
        j->op = NULL;
        job__op_free(op);
        j->phase = JOB_IDLE;
        return job__kick(j);
    }
    if (status < 0)
        return job__op_failed(op, err ? err->msg : hs_strerror(status));
    if (jstate_commit_confirmed(j->env->js, op->commit, res->commit_oid, res->commit_url,
                                (int64_t)hs_now_realtime(), res->nothing_to_commit, &e) < 0 ||
        jstate_finish(j->env->js, j->name, JFINISH_DONE, j->finish_status, &e) < 0)
        return job__op_failed(op, e.msg);
    job__unlink_durable(j, op->state_path);
    if (!res->nothing_to_commit)
        job__budget_count(j);
    j->bytes_sent_total += res->bytes_sent;
    free(j->last_commit_url);
    char url[HS_PATH_MAX]; /* an endpoint's user:password never shown */
    hs_url_redact(res->commit_url ? res->commit_url : "", url, sizeof(url));
    j->last_commit_url = res->commit_url ? strdup(url) : NULL;
    char sent[32];
    hs_format_bytes(res->bytes_sent, sent, sizeof(sent));
    hs_log_info("job %s: End of training committed: %s (%s sent)%s%s", j->name, url, sent,
                res->nothing_to_commit ? " (nothing changed)" : "",
                res->resumed_commit ? " (found in the repo after a restart)" : "");
    j->resume_final_commit = 0;
    j->finish_requested = false;
    j->finished = true;
    j->op = NULL;
    job__op_free(op);
    j->attempts = 0;
    j->phase = JOB_IDLE;
    char *card_error = j->card_error;
    j->card_error = NULL;
    job_finish_cb cb = j->finish_cb;
    j->finish_cb = NULL;
    job__changed(j);
    if (cb)
        cb(j, 0, card_error, j->finish_ud);
    free(card_error);
    job__kick(j);
}

int job_finish(struct job *j, int exit_status, job_finish_cb cb, void *userdata, struct hs_err *err)
{
    if (j->stopping)
        return hs_err_set(err, -ESHUTDOWN, "job %s: the daemon is stopping", j->name);
    if (j->finish_requested && j->finish_cb && cb)
        return hs_err_set(err, -EALREADY, "job %s: a finish is already in progress", j->name);
    int rc = jstate_finish(j->env->js, j->name, JFINISH_REQUESTED, exit_status, err);
    if (rc < 0)
        return rc;
    j->finish_requested = true;
    j->finished = false;
    j->finish_status = exit_status;
    if (cb) {
        j->finish_cb = cb;
        j->finish_ud = userdata;
    }
    j->attempts = 0;
    hs_usec_t grace = j->cfg->settle_usec + j->cfg->marker_quiet_usec + 5 * HS_USEC_PER_SEC;
    if (j->cfg->watch_mode == CONFIG_WATCH_POLL)
        grace += j->cfg->poll_interval_usec;
    j->finish_deadline = hs_now_monotonic() + grace;
    hs_log_info("job %s: training ended%s; the final push follows the %zu queued save%s", j->name,
                exit_status ? " (with a failure status)" : "", j->nq, j->nq == 1 ? "" : "s");
    if (j->phase == JOB_RETRY_WAIT || j->phase == JOB_BUDGET_WAIT) {
        uv_timer_stop(&j->timer);
        j->phase = JOB_IDLE;
    }
    if (j->phase == JOB_IDLE && !j->op) {
        /* let inotify deliver the last writes before judging "pending" */
        j->phase = JOB_FINISH_WAIT;
        job__timer_start(j, FINISH_DELAY);
    }
    job__changed(j);
    return 0;
}
