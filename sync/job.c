/*
 * job.c — one job's saves, from the watcher's READY to the confirmed
 * commit (see job.h): snapshot, journal record, hashing, the strategy's
 * plan, the push with its resume state under <state_dir>/push/, the
 * confirmation, retries and restoring the queue after a restart. The
 * commit request waits until the journal records it depends on are durable
 * (the journal's fdatasync runs on the thread pool, jstate.h). The queue,
 * supersede and the removals that wait for the journal are job_queue.c's;
 * what one commit holds (hashing, the strategy's plan, coalescing under the
 * commit budget) job_commit.c's; the finish commit job_finish.c's; the
 * status job_status.c's.
 */
#include "sync_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Retries of a transient failure (a network error, a 5xx, a 429 past the
 * uploader's own retries, a full disk): the first after env->retry_delay
 * (HUBSYNC_JOB_RETRY_MS, 5 s), doubling with every failed attempt of the
 * same commit, capped at RETRY_MAX — RETRY_MAX_RUN once `run`'s command has
 * ended, so the final push lands soon after an outage ends, until the job's
 * final_push_timeout_minutes runs out. A permanent failure
 * (job__error_permanent) is not retried: its saves are recorded lost and
 * the queue moves on. */
#define RETRY_MAX     (300 * HS_USEC_PER_SEC)
#define RETRY_MAX_RUN (30 * HS_USEC_PER_SEC)

/* ---- small helpers ------------------------------------------------------- */

void job__set_str(char **dst, const char *s)
{
    free(*dst);
    *dst = s ? strdup(s) : NULL;
}

void job__changed(struct job *j)
{
    if (j->env->changed)
        j->env->changed(j->env->changed_ud);
}

void job__note(struct job *j, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    hs_log_info("job %s: %s", j->name, buf);
    if (j->n_notes == JOB_NOTES_MAX) {
        free(j->notes[0]);
        memmove(j->notes, j->notes + 1, (JOB_NOTES_MAX - 1) * sizeof(char *));
        j->n_notes--;
    }
    if ((j->notes[j->n_notes] = strdup(buf)))
        j->n_notes++;
}

void job__set_error(struct job *j, const char *msg)
{
    hs_log_error("job %s: %s", j->name, msg);
    job__set_str(&j->last_error, msg);
    job__changed(j);
}

static void timer_cb(uv_timer_t *t)
{
    struct job *j = t->data;
    if (j->stopping)
        return;
    if (j->phase == JOB_RETRY_WAIT || j->phase == JOB_FINISH_WAIT || j->phase == JOB_BUDGET_WAIT)
        j->phase = JOB_IDLE;
    job__snaps_retry(j);
    job__kick(j);
}

void job__timer_start(struct job *j, hs_usec_t delay)
{
    if (j->timer_init && !j->stopping)
        uv_timer_start(&j->timer, timer_cb, delay / 1000 + 1, 0);
}

bool job__op_cancelled(struct job_op *op)
{
    struct job *j = op->j;
    if (!j->stopping)
        return false;
    if (j->op == op)
        j->op = NULL;
    job__op_free(op);
    return true;
}

void job__op_free(struct job_op *op)
{
    if (!op)
        return;
    strategy_commit_free(&op->plan);
    for (size_t i = 0; i < op->n_hash; i++)
        free(op->hash_paths[i]);
    free(op->hash_paths);
    free(op->hash_sha);
    free(op->saves);
    free(op->description);
    for (size_t i = 0; i < op->n_deletes; i++)
        free(op->deletes[i]);
    free(op->deletes);
    for (size_t i = 0; i < op->n_del_folders; i++)
        free(op->del_folders[i]);
    free(op->del_folders);
    free(op);
}

/* ---- watcher events ------------------------------------------------------- */

static void idle_cb(uv_timer_t *t)
{
    struct job *j = t->data;
    hs_usec_t idle = j->cfg->finish_after_idle_usec;
    if (j->stopping || !idle || j->finish_requested || j->finished)
        return;
    hs_usec_t quiet = hs_now_monotonic() - j->last_activity;
    if (quiet + HS_USEC_PER_MSEC < idle) {
        uv_timer_start(&j->idle_timer, idle_cb, (idle - quiet) / 1000 + 1, 0);
        return;
    }
    struct hs_err err = {0};
    hs_log_info("job %s: no activity for %" PRIu64 " s (finish_after_idle_seconds): finishing",
                j->name, idle / HS_USEC_PER_SEC);
    if (job_finish(j, 0, NULL, NULL, &err) < 0)
        job__set_error(j, err.msg);
}

/* Activity in the output dir: remember when, and (re)arm the idle finish
 * as a one-shot timer (an idle job with no finish configured wakes nobody). */
void job__activity(struct job *j)
{
    j->last_activity = hs_now_monotonic();
    if (j->cfg->finish_after_idle_usec && j->timer_init && !j->stopping &&
        !uv_is_active((uv_handle_t *)&j->idle_timer))
        uv_timer_start(&j->idle_timer, idle_cb, j->cfg->finish_after_idle_usec / 1000 + 1, 0);
}

void job_on_output(struct job *j)
{
    job__activity(j);
}

/* ---- the push ------------------------------------------------------------- */

/* A file the Hub cannot store (its repo path): the rest is pushed. */
static void skipped_cb(const char *msg, void *ud)
{
    struct job_op *op = ud;
    hs_log_warn("job %s: %s", op->j->name, msg);
}

static void progress_cb(const struct uploader_progress *p, void *ud)
{
    struct job_op *op = ud;
    struct job *j = op->j;
    j->up_phase = p->phase;
    j->up_stages = p->stages;
    j->bytes_done = p->sent_bytes;
    if (p->send_total)
        j->bytes_total = p->send_total;
    if (j->env->progress)
        j->env->progress(j->name, p, j->env->progress_ud);
}

static int persist_cb(const char *json, size_t len, void *ud)
{
    struct job_op *op = ud;
    char dir[HS_PATH_MAX];
    if (hs_path_join(dir, sizeof(dir), op->j->env->state_dir, "push") < 0)
        return -ENAMETOOLONG;
    int rc = hs_mkdir_p(dir, 0700);
    if (rc == 0)
        rc = hs_write_file_atomic(op->state_path, json, len, 0600);
    if (rc < 0)
        hs_log_error("job %s: cannot keep the resume state %s: %s", op->j->name, op->state_path,
                     hs_strerror(rc));
    return rc;
}

static void done_cb(int status, const struct uploader_result *res, const struct hs_err *err,
                    void *ud)
{
    struct job_op *op = ud;
    struct job *j = op->j;
    if (j->env->progress)
        j->env->progress(j->name, NULL, j->env->progress_ud); /* before the outcome's lines */
    if (job__op_cancelled(op))
        return;
    if (op->final)
        return job__final_done(op, status, res, err);
    if (status < 0)
        return job__op_error(op, status, err && err->msg[0] ? err->msg : hs_strerror(status));
    struct hs_err e = {0};
    const struct jstate_save *s = jstate_save_get(j->env->js, op->saves[op->n_saves - 1]);
    char name[256];
    snprintf(name, sizeof(name), "%s", s ? s->name : "?");
    if (jstate_commit_confirmed(j->env->js, op->commit, res->commit_oid, res->commit_url,
                                (int64_t)hs_now_realtime(), res->nothing_to_commit, &e) < 0)
        return job__op_failed(op, e.msg);
    job__unlink_durable(j, op->state_path);
    if (!res->nothing_to_commit)
        job__budget_count(j);
    j->committed += op->n_saves;
    j->bytes_sent_total += res->bytes_sent;
    job__set_str(&j->last_commit_url, res->commit_url);
    if (res->resumed_commit) {
        j->resumed++;
        job__note(j, "%s: the commit sent before a restart was found in the repo", name);
    }
    if (op->n_saves > 1) {
        j->coalesced += op->n_saves - 1;
        job__note(j, "%zu saves coalesced into one commit (%s): %s", op->n_saves, name,
                  op->description ? op->description : "");
    }
    char sent[32];
    hs_format_bytes(res->bytes_sent, sent, sizeof(sent));
    hs_log_info("job %s: %s committed: %s (%s sent, %u object%s already there)%s", j->name, name,
                res->commit_url, sent, res->objects_skipped, res->objects_skipped == 1 ? "" : "s",
                res->nothing_to_commit ? " (nothing changed)" : "");
    if (res->files_skipped)
        job__note(j, "%s: %u file%s not pushed: the Hub cannot store %s name%s (see the log)", name,
                  res->files_skipped, res->files_skipped == 1 ? "" : "s",
                  res->files_skipped == 1 ? "its" : "their", res->files_skipped == 1 ? "" : "s");
    for (size_t k = 0; k < op->n_saves; k++) {
        for (size_t i = 0; i < j->nq; i++) {
            if (j->q[i].id != op->saves[k])
                continue;
            job__release_spool(j, &j->q[i]);
            job__queue_remove(j, i);
            break;
        }
    }
    j->op = NULL;
    job__op_free(op);
    j->attempts = 0;
    j->final_give_up = 0;
    j->phase = JOB_IDLE;
    job__changed(j);
    job__kick(j);
}

static void push_now(struct job_op *op);

/* The commit request depends on COMMIT_SENT (and the records before it):
 * it starts once they are durable. */
static void push_durable_cb(int status, void *ud)
{
    struct job_op *op = ud;
    if (job__op_cancelled(op))
        return;
    if (status < 0)
        return job__op_failed(op, "the journal could not be made durable (fdatasync failed)");
    push_now(op);
}

void job__push(struct job_op *op)
{
    op->j->phase = JOB_PUSHING;
    op->j->up_phase = UPLOADER_PHASE_PREPARE;
    op->j->up_stages = 0;
    jstate_when_durable(op->j->env->js, push_durable_cb, op);
}

static void push_now(struct job_op *op)
{
    struct job *j = op->j;
    char name[64];
    snprintf(name, sizeof(name), "push/%" PRIu64 ".json", op->commit);
    if (hs_path_join(op->state_path, sizeof(op->state_path), j->env->state_dir, name) < 0) {
        job__op_failed(op, "state_dir path too long");
        return;
    }
    char *resume = NULL;
    size_t resume_len = 0;
    if (hs_read_file(op->state_path, 256u << 20, &resume, &resume_len) < 0)
        resume = NULL;
    struct uploader_file *files = calloc(op->plan.n_files + 1, sizeof(*files));
    if (!files) {
        free(resume);
        job__op_failed(op, "out of memory");
        return;
    }
    for (size_t i = 0; i < op->plan.n_files; i++) {
        files[i].local_path = op->plan.files[i].local_path;
        files[i].repo_path = op->plan.files[i].repo_path;
    }
    struct uploader_push_request req = {
        .repo_id = j->cfg->hub_model_id,
        .revision = j->cfg->revision,
        .private_repo = j->cfg->private_repo,
        .summary = op->plan.message,
        .description = op->description,
        .files = files,
        .n_files = op->plan.n_files,
        .resume_state = resume,
        .delete_paths = (const char *const *)op->deletes,
        .n_delete = op->n_deletes,
        .delete_folders = (const char *const *)op->del_folders,
        .n_delete_folders = op->n_del_folders,
    };
    struct uploader_push_hooks hooks = {.progress = progress_cb,
                                        .persist = persist_cb,
                                        .persist_path = op->state_path,
                                        .done = done_cb,
                                        .skipped = skipped_cb,
                                        .userdata = op};
    struct hs_err err = {0};
    j->phase = JOB_PUSHING;
    j->up_phase = UPLOADER_PHASE_PREPARE;
    j->up_stages = 0;
    j->push_started = hs_now_monotonic();
    j->bytes_done = 0;
    bool resuming = resume != NULL;
    int rc = uploader_push(j->env->uploader, &req, &hooks, &err);
    free(files);
    free(resume);
    if (rc < 0) {
        job__op_error(op, rc, err.msg[0] ? err.msg : hs_strerror(rc));
        return;
    }
    hs_log_info("job %s: pushing \"%s\" (%zu file%s)%s", j->name, op->plan.message,
                op->plan.n_files, op->plan.n_files == 1 ? "" : "s", resuming ? " (resuming)" : "");
    job__changed(j);
}

hs_usec_t job__retry_delay(hs_usec_t first, unsigned attempts, bool run_final)
{
    hs_usec_t cap = run_final ? RETRY_MAX_RUN : RETRY_MAX;
    hs_usec_t delay = first ? first : 5 * HS_USEC_PER_SEC;
    for (unsigned i = 1; i < attempts && delay < cap; i++)
        delay *= 2;
    return delay > cap ? cap : delay;
}

static void fmt_left(char *out, size_t n, hs_usec_t left)
{
    if (left >= 90 * HS_USEC_PER_SEC)
        snprintf(out, n, "%" PRIu64 " min", (left + 30 * HS_USEC_PER_SEC) / (60 * HS_USEC_PER_SEC));
    else
        snprintf(out, n, "%" PRIu64 " s", (left + HS_USEC_PER_SEC - 1) / HS_USEC_PER_SEC);
}

void job__op_failed(struct job_op *op, const char *msg)
{
    struct job *j = op->j;
    char text[HS_ERR_MAX + 64];
    snprintf(text, sizeof(text), "%s: %s", j->current ? j->current : "commit", msg);
    job__set_error(j, text);
    bool final = op->final;
    if ((op->n_deletes || op->n_del_folders) && strstr(msg, "404"))
        j->no_deletes_commit = op->commit; /* the repo changed: retry without deletions */
    j->op = NULL;
    job__op_free(op);
    j->attempts++;
    hs_usec_t now = hs_now_monotonic();
    bool run_final = j->env->run_mode && j->finish_requested && j->finish_cb;
    if (run_final && !j->final_give_up)
        j->final_give_up = now + j->cfg->final_push_timeout_usec;
    if (run_final && now >= j->final_give_up) {
        /* `run`: final_push_timeout_minutes ran out; the journal keeps it */
        job_finish_cb cb = j->finish_cb;
        j->finish_cb = NULL;
        j->phase = JOB_RETRY_WAIT;
        char why[HS_ERR_MAX + 160];
        char left[32];
        fmt_left(left, sizeof(left), j->cfg->final_push_timeout_usec);
        snprintf(why, sizeof(why),
                 "%s (still failing after %s of retries: final_push_timeout_minutes)", text, left);
        cb(j, final ? -EIO : -EAGAIN, why, j->finish_ud);
        return;
    }
    hs_usec_t delay = job__retry_delay(j->env->retry_delay, j->attempts, run_final);
    if (run_final) {
        if (now + delay > j->final_give_up)
            delay = j->final_give_up - now;
        char left[32];
        fmt_left(left, sizeof(left), j->final_give_up - now);
        hs_log_warn("job %s: final push: %s; retrying for another %s (next try in %.1f s)", j->name,
                    text, left, (double)delay / HS_USEC_PER_SEC);
    } else {
        hs_log_info("job %s: retrying in %.1f s", j->name, (double)delay / HS_USEC_PER_SEC);
    }
    j->phase = JOB_RETRY_WAIT;
    j->retry_at = now + delay;
    job__timer_start(j, delay);
}

/* ---- lifecycle -------------------------------------------------------------- */

static int add_watch(struct job *j, struct hs_err *err)
{
    const struct config_job *c = j->cfg;
    struct watcher_options o;
    watcher_options_init(&o);
    o.root = c->watch;
    o.layout = (enum watcher_layout)c->layout; /* same order */
    o.mode = c->watch_mode == CONFIG_WATCH_POLL      ? WATCHER_MODE_POLL
             : c->watch_mode == CONFIG_WATCH_INOTIFY ? WATCHER_MODE_INOTIFY
                                                     : WATCHER_MODE_AUTO;
    o.poll_interval = c->poll_interval_usec;
    o.settle = c->settle_usec;
    o.marker_quiet = c->marker_quiet_usec;
    o.world_size = c->world_size ? c->world_size : 1;
    o.spool_dir = c->spool_dir;
    o.spool_max_bytes = c->spool_max_bytes;
    o.existing = c->existing_checkpoints == CONFIG_EXISTING_ALL    ? WATCHER_EXISTING_ALL
                 : c->existing_checkpoints == CONFIG_EXISTING_NONE ? WATCHER_EXISTING_NONE
                                                                   : WATCHER_EXISTING_LATEST;
    o.userdata = j;
    return watcher_add_job(j->env->watcher, &o, &j->wj, err);
}

static void spool_removed(const char *path, int status, void *ud)
{
    struct job *j = ud;
    if (status == 0)
        hs_log_info("job %s: removed stale spool entry %s", j->name, path);
    else
        hs_log_warn("job %s: cannot remove stale spool entry %s: %s", j->name, path,
                    hs_strerror(status));
}

/* Spool entries no live save refers to (a crash between the snapshot and
 * its journal record, or after the commit before the release). Only
 * hubsync's own entries of a marked spool go (watcher_spool_clean). */
static void clean_spool(struct job *j)
{
    const char **keep = calloc(j->nq + 1, sizeof(*keep));
    if (!keep)
        return job__set_error(j, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < j->nq; i++) {
        const struct jstate_save *s = jstate_save_get(j->env->js, j->q[i].id);
        if (s && s->spool)
            keep[n++] = s->spool;
    }
    struct hs_err err = {0};
    if (watcher_spool_clean(j->cfg->watch, j->cfg->spool_dir, keep, n, spool_removed, j, &err) < 0)
        hs_log_warn("job %s: spool not cleaned: %s", j->name, err.msg);
    free(keep);
}

static void restore(struct job *j)
{
    const struct jstate_save *s;
    for (size_t i = 0; (s = jstate_save_at(j->env->js, i)); i++) {
        if (strcmp(s->job, j->name) != 0)
            continue;
        if (s->state == JSAVE_READY || s->state == JSAVE_HASHED || s->state == JSAVE_COMMIT_SENT) {
            hs_log_info("job %s: %s is %s in the journal: queued again", j->name, s->name,
                        jstate_save_state_name(s->state));
            if (job__enqueue(j, s->id, NULL, NULL) < 0)
                job__set_error(j, "out of memory");
        }
    }
    const struct jstate_commit *c;
    for (size_t i = 0; (c = jstate_commit_at(j->env->js, i)); i++)
        if (c->final && c->state == JCOMMIT_SENT && strcmp(c->job, j->name) == 0)
            j->resume_final_commit = c->id;
    const struct jstate_job *jj = jstate_job_get(j->env->js, j->name);
    if (jj && jj->finish == JFINISH_REQUESTED && !j->env->run_mode) {
        hs_log_info("job %s: a finish was requested before the restart: finishing", j->name);
        j->finish_requested = true;
        j->finish_status = jj->status;
    } else if (jj && jj->finish == JFINISH_DONE) {
        j->finished = true;
    }
    if (jj && jj->lost_name && jj->lost_reason) {
        job__set_str(&j->lost_name, jj->lost_name);
        job__set_str(&j->lost_reason, jj->lost_reason);
    }
    clean_spool(j);
    job__budget_restore(j);
}

static void timer_closed(uv_handle_t *h)
{
    struct job *j = h->data;
    j->closing--;
}

static void close_timers(struct job *j)
{
    j->closing += 2;
    uv_close((uv_handle_t *)&j->timer, timer_closed);
    uv_close((uv_handle_t *)&j->idle_timer, timer_closed);
}

int job_new(const struct job_env *env, const struct config_job *cfg, struct job **out,
            struct hs_err *err)
{
    struct job *j = calloc(1, sizeof(*j));
    if (!j || !(j->name = strdup(cfg->name))) {
        free(j);
        return hs_err_set(err, -ENOMEM, "out of memory");
    }
    j->env = env;
    j->cfg = cfg;
    if (env->start_held && !(j->held = strdup(env->start_held))) {
        free(j->name);
        free(j);
        return hs_err_set(err, -ENOMEM, "out of memory");
    }
    j->last_activity = hs_now_monotonic();
    j->snaps_tail = &j->snaps;
    uv_timer_init(env->loop, &j->timer);
    j->timer.data = j;
    uv_timer_init(env->loop, &j->idle_timer);
    j->idle_timer.data = j;
    j->timer_init = true;
    restore(j);
    int rc = add_watch(j, err);
    if (rc < 0) {
        j->stopping = true;
        close_timers(j);
        *out = j; /* freed by the caller after the loop ran */
        return rc;
    }
    *out = j;
    job__check_spool(j);
    job__kick(j);
    return 0;
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

int job_reconfigure(struct job *j, const struct config_job *cfg, struct hs_err *err)
{
    const struct config_job *old = j->cfg;
    bool rewatch =
        !same_str(old->watch, cfg->watch) || old->layout != cfg->layout ||
        old->watch_mode != cfg->watch_mode || old->poll_interval_usec != cfg->poll_interval_usec ||
        old->settle_usec != cfg->settle_usec || old->marker_quiet_usec != cfg->marker_quiet_usec ||
        old->world_size != cfg->world_size || !same_str(old->spool_dir, cfg->spool_dir) ||
        old->spool_max_bytes != cfg->spool_max_bytes;
    j->cfg = cfg;
    if (!rewatch)
        return 0;
    hs_log_info("job %s: watch settings changed: watching %s again", j->name, cfg->watch);
    if (j->wj)
        watcher_remove_job(j->env->watcher, j->wj);
    j->wj = NULL;
    return add_watch(j, err);
}

void job_stop(struct job *j)
{
    if (!j || j->stopping)
        return;
    j->stopping = true;
    job__tags_stop(j);
    if (j->wj)
        watcher_remove_job(j->env->watcher, j->wj);
    j->wj = NULL;
    if (j->timer_init)
        close_timers(j);
}

bool job_stopped(const struct job *j)
{
    return j->stopping && j->closing == 0 && j->pending_rm == 0 && !j->op;
}

struct job *job_free(struct job *j)
{
    if (!j)
        return NULL;
    job__snaps_detach(j);
    for (size_t i = 0; i < j->nq; i++) {
        if (j->q[i].snap) {
            /* the snapshot stays on disk for the next start (the journal has it) */
            free(j->q[i].snap->dir);
            watcher_checkpoint_free(j->q[i].snap->cp);
            free(j->q[i].snap);
        }
    }
    free(j->q);
    job__op_free(j->op);
    for (size_t i = 0; i < j->n_notes; i++)
        free(j->notes[i]);
    free(j->name);
    free(j->current);
    free(j->last_commit_url);
    free(j->last_error);
    free(j->lost_name);
    free(j->lost_reason);
    free(j->held);
    free(j->card_error);
    free(j->resume_warning);
    free(j->commit_times);
    free(j);
    return NULL;
}

const char *job_name(const struct job *j)
{
    return j->name;
}

const struct config_job *job_config(const struct job *j)
{
    return j->cfg;
}

void job_hold(struct job *j, const char *why, bool error)
{
    if (!why) {
        if (!j->held)
            return;
        if (j->held_error && j->last_error && !strcmp(j->last_error, j->held))
            job__set_str(&j->last_error, NULL);
        free(j->held);
        j->held = NULL;
        j->held_error = false;
        job__changed(j);
        job__kick(j);
        return;
    }
    if (j->held && !strcmp(j->held, why) && j->held_error == error)
        return;
    job__set_str(&j->held, why);
    j->held_error = error;
    if (error)
        job__set_error(j, why);
    else
        job__changed(j);
}

const char *job_held(const struct job *j)
{
    return j->held;
}

bool job_busy(const struct job *j)
{
    return j->nq || j->op || j->snaps || j->finish_requested;
}
