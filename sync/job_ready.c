/*
 * job_ready.c — from the watcher's READY to the journal's READY record (see
 * job.h): is the save already known, its snapshot (hard links into the
 * spool) taken on libuv's thread pool with watcher_snapshot_start() so that
 * a copy of a large file never blocks the loop, then the journal record and
 * the queue. Snapshots may finish in any order on the pool; they wait here
 * in a FIFO in the order the watcher reported the saves, so the journal and
 * the queue keep that order (a newer save supersedes an older one, never
 * the reverse). Crash guarantees are those of the synchronous version: a
 * save is queued only once its READY record is durable; a kill while its
 * snapshot runs leaves a spool entry no record names (removed at the next
 * start, clean_spool) and the save is seen again on disk
 * (existing_checkpoints). The push is job.c's and job_commit.c's.
 */
#include "sync_int.h"

#include "modelcard.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

struct job_snap {
    struct job *j; /* NULL once the job was freed: the callback only frees */
    struct watcher_checkpoint *cp;
    struct watcher_job *owner;
    struct watcher_snapshot *snap;
    int status;
    bool done;
    bool retry;           /* blocked by a full disk: waits for the job's timer */
    hs_usec_t retry_wait; /* its current wait (doubles up to SPACE_RETRY_MAX) */
    char msg[HS_ERR_MAX];
    struct job_snap *next;
};

#define SPACE_RETRY_MIN (HS_USEC_PER_SEC / 2)
#define SPACE_RETRY_MAX (10 * HS_USEC_PER_SEC)

/* ---- per_epoch: how the run saves (training_args.bin) -------------------- */

static bool read_per_epoch(const char *dir)
{
    char path[HS_PATH_MAX], *data = NULL;
    size_t len = 0;
    if (hs_path_join(path, sizeof(path), dir, "training_args.bin") < 0 ||
        hs_read_file(path, 16u << 20, &data, &len) < 0)
        return false;
    json_t *args = NULL;
    struct hs_err err = {0};
    bool per_epoch = false;
    if (modelcard_pickle_load((const unsigned char *)data, len, &args, &err) == 0) {
        json_t *v = json_object_get(args, "save_strategy");
        char *text = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;
        /* "steps" saves per step; "epoch" and "best" name the epoch (enums are
         * pickled by name, EPOCH, or by value, "epoch") */
        per_epoch = text && !strcasestr(text, "steps") &&
                    (strcasestr(text, "epoch") || strcasestr(text, "best"));
        free(text);
        json_decref(args);
    }
    free(data);
    return per_epoch;
}

/* ---- the save's identity ---------------------------------------------------- */

static struct jstate_file *save_files(const struct watcher_checkpoint *cp)
{
    struct jstate_file *files = calloc(cp->n_files + 1, sizeof(*files));
    if (!files)
        return NULL;
    for (size_t i = 0; i < cp->n_files; i++) {
        files[i].path = cp->files[i].path;
        files[i].size = cp->files[i].size;
        files[i].dev = cp->files[i].dev;
        files[i].ino = cp->files[i].ino;
        files[i].mtime_ns = (int64_t)cp->files[i].mtime * 1000;
    }
    return files;
}

static bool same_save(const struct watcher_checkpoint *a, const struct watcher_checkpoint *b)
{
    if (strcmp(a->id, b->id) != 0 || a->n_files != b->n_files)
        return false;
    for (size_t i = 0; i < a->n_files; i++) {
        const struct watcher_file *x = &a->files[i], *y = &b->files[i];
        if (strcmp(x->path, y->path) || x->size != y->size || x->dev != y->dev ||
            x->ino != y->ino || x->mtime != y->mtime)
            return false;
    }
    return true;
}

/* ---- the journal record --------------------------------------------------- */

/* The save's own fields for its READY record. A non-finite epoch (the
 * Trainer writes NaN/Infinity with Python's json) cannot be a JSON number:
 * it is kept as its name ("NaN", "Infinity", "-Infinity") — never a
 * refused record, never a dropped save. */
static json_t *save_meta(const struct watcher_checkpoint *cp, bool per_epoch)
{
    json_t *epoch = isfinite(cp->epoch) ? json_real(cp->epoch)
                                        : json_string(isnan(cp->epoch) ? "NaN"
                                                      : cp->epoch > 0  ? "Infinity"
                                                                       : "-Infinity");
    return json_pack("{s:s, s:I, s:o, s:I, s:s, s:s, s:b, s:I}", "layout", cp->layout, "step",
                     (json_int_t)cp->step, "epoch", epoch, "index", (json_int_t)cp->index, "folder",
                     cp->folder, "base", cp->base, "per_epoch", per_epoch, "bytes",
                     (json_int_t)cp->total_bytes);
}

/* The save's snapshot failed for good (its files vanished before any could
 * be protected, or changed and are gone): it is lost, and says so. */
static void snapshot_lost(struct job *j, const char *id, const char *msg)
{
    char why[HS_ERR_MAX + 64];
    snprintf(why, sizeof(why), "snapshot failed: %s", msg);
    job__save_lost(j, 0, id, why);
    job__set_str(&j->last_error, why);
}

static bool no_space(int rc)
{
    return rc == -ENOSPC || rc == -EDQUOT;
}

/* The disk holding `dir` is full (the journal's state_dir, or the spool):
 * the save stays at the head of the FIFO, so no newer save is recorded
 * before it (no new work is taken), says so, and is tried again from the
 * job's timer (job__snaps_retry) with a growing wait. */
static void wait_for_space(struct job *j, struct job_snap *ctx, const char *what, const char *dir,
                           const char *why)
{
    ctx->retry = true;
    ctx->retry_wait = !ctx->retry_wait                        ? SPACE_RETRY_MIN
                      : 2 * ctx->retry_wait > SPACE_RETRY_MAX ? SPACE_RETRY_MAX
                                                              : 2 * ctx->retry_wait;
    char msg[HS_ERR_MAX + 256];
    snprintf(msg, sizeof(msg),
             "%s waits: no space left on device (ENOSPC) for its %s in %s (%s); no new save is "
             "taken until there is room again (next try in %.1f s)",
             ctx->cp->id, what, dir, why, (double)ctx->retry_wait / HS_USEC_PER_SEC);
    job__set_error(j, msg);
    uint64_t ms = ctx->retry_wait / HS_USEC_PER_MSEC;
    if (!uv_is_active((uv_handle_t *)&j->timer) || uv_timer_get_due_in(&j->timer) > ms)
        job__timer_start(j, ctx->retry_wait);
}

/* The snapshot of ctx's save is on disk: record READY, then queue it.
 * Returns false when the disk is full: ctx keeps its snapshot and waits. */
static bool record_ready(struct job *j, struct job_snap *ctx)
{
    const struct watcher_checkpoint *cp = ctx->cp;
    struct watcher_snapshot *snap = ctx->snap;
    ctx->snap = NULL;
    if (ctx->status < 0 && no_space(ctx->status)) {
        wait_for_space(j, ctx, "snapshot", j->cfg->spool_dir, ctx->msg);
        return false;
    }
    if (ctx->status == HS_ECHANGED && watcher_checkpoint_changed(ctx->owner, cp->id) == 0) {
        /* found complete too early: the watcher reports it again once quiet */
        job__note(j, "%s changed after it was found complete (%s); waiting until it is quiet",
                  cp->id, ctx->msg);
        return true;
    }
    if (ctx->status < 0) {
        snapshot_lost(j, cp->id, ctx->msg);
        return true;
    }
    struct hs_err err = {0};
    struct jstate_file *files = save_files(cp);
    json_t *meta = save_meta(cp, read_per_epoch(snap->dir));
    job__tag_meta(j, cp, meta);
    job__keep_meta(j, snap->dir, meta);
    uint64_t id = 0;
    int rc = meta && files ? jstate_save_ready(j->env->js, j->name, cp->id, meta, snap->dir, files,
                                               cp->n_files, &id, &err)
                           : hs_err_set(&err, -ENOMEM, "out of memory");
    json_decref(meta);
    free(files);
    if (rc < 0 && no_space(rc)) {
        ctx->snap = snap;
        wait_for_space(j, ctx, "journal record", j->env->state_dir, err.msg);
        return false;
    }
    if (rc < 0) {
        char msg[HS_ERR_MAX + 64];
        snprintf(msg, sizeof(msg), "its READY record could not be written: %s", err.msg);
        job__save_lost(j, 0, cp->id, msg);
        watcher_snapshot_release(ctx->owner, snap, NULL);
        return true;
    }
    char size[32];
    hs_format_bytes(cp->total_bytes, size, sizeof(size));
    hs_log_info("job %s: %s ready (%zu file%s, %s, %s)", j->name, cp->id, cp->n_files,
                cp->n_files == 1 ? "" : "s", size, watcher_snapshot_method_name(snap->method));
    if (ctx->retry_wait) {
        job__note(j, "%s recorded: there is room again", cp->id);
        job__set_str(&j->last_error, NULL);
    }
    if (job__enqueue(j, id, snap, ctx->owner) < 0)
        job__set_error(j, "out of memory");
    return true;
}

static void snap_free(struct job_snap *ctx)
{
    watcher_checkpoint_free(ctx->cp);
    free(ctx);
}

/* Record every finished snapshot at the head of the FIFO, in order; a
 * head waiting for disk space blocks the ones behind it. */
static void drain(struct job *j)
{
    bool any = false;
    while (j->snaps && j->snaps->done) {
        struct job_snap *ctx = j->snaps;
        if (!j->stopping && (ctx->retry || !record_ready(j, ctx)))
            break;
        j->snaps = ctx->next;
        if (!j->snaps)
            j->snaps_tail = &j->snaps;
        if (j->stopping && ctx->snap) /* not recorded: the next start finds the save again */
            watcher_snapshot_release(ctx->owner, ctx->snap, NULL);
        snap_free(ctx);
        any = true;
    }
    if (any && !j->stopping) {
        job__changed(j);
        job__kick(j);
    }
}

static void unlink_snap(struct job *j, struct job_snap *ctx)
{
    for (struct job_snap **p = &j->snaps; *p; p = &(*p)->next) {
        if (*p != ctx)
            continue;
        *p = ctx->next;
        if (!*p)
            j->snaps_tail = p;
        return;
    }
}

static void snap_cb(struct watcher_job *wj, struct watcher_snapshot *snap, int status,
                    const struct hs_err *err, void *ud)
{
    (void)wj;
    struct job_snap *ctx = ud;
    struct job *j = ctx->j;
    if (!j) {
        /* the job is gone: nothing to record (a snapshot made anyway stays
         * for clean_spool at the next start, as after a crash) */
        snap_free(ctx);
        return;
    }
    if (status == -ECANCELED) {
        /* the watcher job was removed (stop, or watch settings changed):
         * the save is not recorded; the next watch finds it on disk */
        if (!j->stopping)
            job__note(j, "%s: snapshot cancelled (watch stopped)", ctx->cp->id);
        unlink_snap(j, ctx);
        snap_free(ctx);
        return drain(j);
    }
    ctx->snap = snap;
    ctx->status = status;
    if (status < 0)
        snprintf(ctx->msg, sizeof(ctx->msg), "%s",
                 err && err->msg[0] ? err->msg : hs_strerror(status));
    hs_log_debug("job %s: snapshot of %s done (%s)%s", j->name, ctx->cp->id,
                 status < 0 ? ctx->msg : watcher_snapshot_method_name(snap->method),
                 j->snaps != ctx ? "; an older save's snapshot is still running" : "");
    ctx->done = true;
    drain(j);
}

void job__snaps_detach(struct job *j)
{
    for (struct job_snap *ctx = j->snaps, *next; ctx; ctx = next) {
        next = ctx->next;
        if (!ctx->done) {
            ctx->j = NULL; /* its callback frees it */
            continue;
        }
        /* waiting for disk space: no callback will come; a snapshot stays
         * on disk for clean_spool at the next start */
        if (ctx->snap) {
            free(ctx->snap->dir);
            watcher_checkpoint_free(ctx->snap->cp);
            free(ctx->snap);
        }
        snap_free(ctx);
    }
    j->snaps = NULL;
    j->snaps_tail = &j->snaps;
}

void job__snaps_retry(struct job *j)
{
    struct job_snap *ctx = j->snaps;
    if (j->stopping || !ctx || !ctx->retry)
        return;
    ctx->retry = false;
    if (ctx->snap || !j->wj) /* the snapshot exists: record it again */
        return drain(j);
    /* the snapshot itself found no room: take it again */
    struct hs_err err = {0};
    ctx->done = false;
    ctx->owner = j->wj;
    int rc = watcher_snapshot_start(j->wj, ctx->cp, snap_cb, ctx, &err);
    if (rc < 0) {
        ctx->done = true;
        ctx->status = rc;
        snprintf(ctx->msg, sizeof(ctx->msg), "%s", err.msg[0] ? err.msg : hs_strerror(rc));
        drain(j);
    }
}

/* ---- the watcher's READY ------------------------------------------------------ */

static void fifo_append(struct job *j, struct job_snap *ctx)
{
    if (!j->snaps_tail)
        j->snaps_tail = &j->snaps;
    *j->snaps_tail = ctx;
    j->snaps_tail = &ctx->next;
}

/* The saves superseded for the spool budget are released (their records
 * durable, their entries removed): take the snapshot now. */
static void retry_after_release(int status, void *ud)
{
    (void)status; /* a journal failure shows at the READY record */
    struct job_snap *ctx = ud;
    struct job *j = ctx->j;
    if (!j) { /* the job was freed meanwhile */
        snap_free(ctx);
        return;
    }
    if (j->stopping || !j->wj) {
        unlink_snap(j, ctx);
        snap_free(ctx);
        return drain(j);
    }
    struct hs_err err = {0};
    ctx->owner = j->wj;
    int rc = watcher_snapshot_start(j->wj, ctx->cp, snap_cb, ctx, &err);
    if (rc < 0) {
        ctx->done = true;
        ctx->status = rc;
        snprintf(ctx->msg, sizeof(ctx->msg), "%s", err.msg[0] ? err.msg : hs_strerror(rc));
        drain(j);
    }
}

void job_on_checkpoint(struct job *j, const struct watcher_checkpoint *cp)
{
    job__activity(j);
    if (j->stopping || !j->wj)
        return;
    if (!strategy_rule(j->cfg->hub_strategy)->per_save) {
        hs_log_debug("job %s: %s complete (hub_strategy end: pushed at finish)", j->name, cp->id);
        return;
    }
    struct jstate_file *files = save_files(cp);
    if (!files)
        return job__set_error(j, "out of memory");
    bool known = jstate_save_find(j->env->js, j->name, cp->id, files, cp->n_files) != NULL;
    free(files);
    for (struct job_snap *p = j->snaps; p && !known; p = p->next)
        known = same_save(p->cp, cp);
    if (known) {
        hs_log_debug("job %s: %s is already in the journal", j->name, cp->id);
        return;
    }
    struct job_snap *ctx = calloc(1, sizeof(*ctx));
    if (!ctx || !(ctx->cp = watcher_checkpoint_dup(cp))) {
        free(ctx);
        return job__set_error(j, "out of memory");
    }
    ctx->j = j;
    ctx->owner = j->wj;
    struct hs_err err = {0};
    int rc = watcher_snapshot_start(j->wj, cp, snap_cb, ctx, &err);
    if (rc == -ENOSPC && j->nq && strategy_rule(j->cfg->hub_strategy)->newest_wins) {
        /* spool budget: the newer save replaces the queued ones first; their
         * spool entries go once SUPERSEDED is durable, then it is retried */
        job__supersede_queued(j, 0, cp->id, "spool budget reached");
        fifo_append(j, ctx);
        jstate_when_durable(j->env->js, retry_after_release, ctx);
        return;
    }
    if (rc < 0 && no_space(rc)) {
        /* no room in the spool: the save waits in the FIFO (drain) */
        ctx->done = true;
        ctx->status = rc;
        snprintf(ctx->msg, sizeof(ctx->msg), "%s", err.msg[0] ? err.msg : hs_strerror(rc));
    } else if (rc < 0) {
        snapshot_lost(j, cp->id, err.msg[0] ? err.msg : hs_strerror(rc));
        snap_free(ctx);
        return;
    }
    hs_log_debug("job %s: %s complete: snapshot started on the thread pool", j->name, cp->id);
    fifo_append(j, ctx);
    if (ctx->done)
        drain(j);
}

void job_on_checkpoint_lost(struct job *j, const char *id, const char *why)
{
    job__activity(j);
    if (j->stopping)
        return;
    if (!strategy_rule(j->cfg->hub_strategy)->per_save) {
        /* nothing of a save is pushed under end: the finish pushes the output dir */
        hs_log_debug("job %s: %s cannot be protected (%s); hub_strategy end does not push it",
                     j->name, id, why);
        return;
    }
    job__save_lost(j, 0, id, why);
}
