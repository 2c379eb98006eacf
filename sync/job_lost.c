/*
 * job_lost.c — how a save ends when it cannot be committed (issue 12):
 * every save ends committed, superseded, or lost — never silently dropped,
 * never blocking the saves behind it. A lost save (deleted before any file
 * could be protected, unreadable, refused by the Hub for good, its spool
 * entry gone and the checkpoint changed or gone) is a warning naming it and
 * why, a JREC_SAVE_LOST record, the job's lost count and status entry, and
 * makes `hubsync run` exit 1 unless the job sets lost_saves_fail_run false.
 * Also here: which failures are permanent, and the spool check that takes a
 * queued save's snapshot again from the checkpoint on disk when its spool
 * entry is missing or incomplete and its files are unchanged. The queue
 * and the retry of transient failures are job.c's.
 */
#include "sync_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- lost saves ------------------------------------------------------------ */

void job__save_lost(struct job *j, uint64_t id, const char *name, const char *why)
{
    struct hs_err err = {0};
    const struct jstate_save *s = id ? jstate_save_get(j->env->js, id) : NULL;
    char nm[256];
    snprintf(nm, sizeof(nm), "%s", name ? name : s ? s->name : "?");
    if (s && s->state == JSAVE_COMMIT_SENT) {
        const struct jstate_commit *c = jstate_commit_get(j->env->js, s->commit);
        if (c && c->state == JCOMMIT_SENT &&
            jstate_commit_aborted(j->env->js, s->commit, why, &err) < 0)
            hs_log_warn("job %s: %s", j->name, err.msg);
        s = jstate_save_get(j->env->js, id);
    }
    bool recordable = !id || (s && (s->state == JSAVE_READY || s->state == JSAVE_HASHED));
    if (recordable && jstate_save_lost(j->env->js, j->name, s ? id : 0, nm, why,
                                       (int64_t)hs_now_realtime(), &err) < 0)
        hs_log_error("job %s: the loss of %s is not in the journal: %s", j->name, nm, err.msg);
    j->lost++;
    job__set_str(&j->lost_name, nm);
    job__set_str(&j->lost_reason, why);
    hs_log_warn("job %s: %s lost: %s", j->name, nm, why);
    for (size_t i = 0; id && i < j->nq; i++) {
        if (j->q[i].id != id)
            continue;
        job__release_spool(j, &j->q[i]);
        job__queue_remove(j, i);
        break;
    }
    job__changed(j);
}

bool job__error_permanent(int status)
{
    return status == HS_EREFUSED || status == -ENOENT || status == -ENOTDIR;
}

void job__op_error(struct job_op *op, int status, const char *msg)
{
    struct job *j = op->j;
    /* the finish commit has its own policy (job_finish.c); a 404 for a
     * stale deletion is retried without deletions */
    if (op->final || !op->n_saves || !job__error_permanent(status) ||
        (op->n_deletes && strstr(msg, "404")))
        return job__op_failed(op, msg);
    char gone[HS_ERR_MAX + 512] = "";
    if (status == -ENOENT || status == -ENOTDIR) {
        /* a spool file is gone: take the entries again when the files on
         * disk are unchanged (then the attempt is simply retried), else the
         * reason is why that is impossible */
        bool all = true;
        for (size_t k = 0; k < op->n_saves && all; k++) {
            bool found = false;
            for (size_t i = 0; i < j->nq && !found; i++)
                if ((found = j->q[i].id == op->saves[k]))
                    all = job__respool(j, &j->q[i], gone, sizeof(gone)) == 0;
            all = all && found;
        }
        if (all)
            return job__op_failed(op, msg);
    }
    uint64_t *saves = op->saves;
    size_t n = op->n_saves;
    op->saves = NULL;
    op->n_saves = 0;
    if (op->state_path[0])
        job__unlink_durable(j, op->state_path);
    j->op = NULL;
    job__op_free(op);
    char why[2 * HS_ERR_MAX + 640];
    if (gone[0])
        snprintf(why, sizeof(why), "%s (%s)", gone, msg);
    else
        snprintf(why, sizeof(why), "%s%s", status == HS_EREFUSED ? "the Hub refused it: " : "",
                 msg);
    for (size_t k = 0; k < n; k++)
        job__save_lost(j, saves[k], NULL, why);
    free(saves);
    j->attempts = 0;
    j->phase = JOB_IDLE;
    job__set_str(&j->last_error, why);
    job__kick(j);
}

/* ---- a queued save's spool entry --------------------------------------------- */

/* Every file of s is in its spool entry at its recorded size. */
static bool spool_complete(const struct jstate_save *s)
{
    for (size_t i = 0; i < s->n_files; i++) {
        char path[HS_PATH_MAX];
        struct stat st;
        if (hs_path_join_under(path, sizeof(path), s->spool, s->files[i].path) < 0 ||
            lstat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
            (uint64_t)st.st_size != s->files[i].size)
            return false;
    }
    return true;
}

/* f under base still has the identity the journal recorded (device, inode,
 * size, mtime at the watcher's microsecond precision): the same bytes. */
static bool same_identity(const char *base, const struct jstate_file *f, char *why, size_t n)
{
    char path[HS_PATH_MAX];
    struct stat st;
    if (hs_path_join_under(path, sizeof(path), base, f->path) < 0 || lstat(path, &st) != 0) {
        snprintf(why, n, "%s is gone from %s", f->path, base);
        return false;
    }
    int64_t mtime_us = (int64_t)st.st_mtim.tv_sec * 1000000 + st.st_mtim.tv_nsec / 1000;
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_dev != f->dev || (uint64_t)st.st_ino != f->ino ||
        (uint64_t)st.st_size != f->size || mtime_us != f->mtime_ns / 1000) {
        snprintf(why, n,
                 "%s in %s is not the file that was saved (it changed, or a new run "
                 "re-created it)",
                 f->path, base);
        return false;
    }
    return true;
}

int job__respool(struct job *j, struct job_qsave *qs, char *why, size_t n)
{
    const struct jstate_save *s = jstate_save_get(j->env->js, qs->id);
    if (!s || !s->spool) {
        snprintf(why, n, "the journal has no spool entry for it");
        return -ENOENT;
    }
    if (spool_complete(s))
        return 0;
    /* base: where the files were (the save's folder unless the journal says) */
    const char *base = json_string_value(json_object_get(s->meta, "base"));
    if (!base)
        base = json_string_value(json_object_get(s->meta, "folder"));
    if (!base) {
        snprintf(why, n,
                 "its spool entry %s is gone and the journal does not say where the "
                 "checkpoint was",
                 s->spool);
        return -ENOENT;
    }
    char idw[HS_ERR_MAX];
    for (size_t i = 0; i < s->n_files; i++) {
        if (!same_identity(base, &s->files[i], idw, sizeof(idw))) {
            snprintf(why, n, "its spool entry %s is gone or incomplete and %s", s->spool, idw);
            return -ENOENT;
        }
    }
    if (!j->wj) {
        snprintf(why, n, "its spool entry %s is gone and the job is not watching", s->spool);
        return -ENOENT;
    }
    struct watcher_checkpoint cp;
    struct watcher_snapshot *snap = NULL;
    struct hs_err err = {0};
    int rc = job__save_checkpoint(s, base, &cp, NULL);
    if (rc == 0)
        rc = watcher_snapshot(j->wj, &cp, &snap, &err);
    free(cp.files);
    if (rc < 0) {
        snprintf(why, n, "its spool entry %s is gone and a new snapshot failed: %s", s->spool,
                 err.msg[0] ? err.msg : hs_strerror(rc));
        return rc;
    }
    /* the new snapshot takes the place the journal names */
    char *spool = strdup(s->spool);
    char parent[HS_PATH_MAX];
    snprintf(parent, sizeof(parent), "%s", s->spool);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent)
        *slash = 0;
    hs_rm_tree(s->spool);
    if (!spool || hs_mkdir_p(parent, 0700) < 0 || rename(snap->dir, spool) != 0) {
        snprintf(why, n,
                 "its spool entry %s is gone and the new snapshot cannot take its place: %s",
                 s->spool, spool ? strerror(errno) : "out of memory");
        free(spool);
        watcher_snapshot_release(j->wj, snap, NULL);
        return -EIO;
    }
    free(snap->dir);
    snap->dir = spool;
    if (qs->snap) /* the old one is gone: forget it (its bytes go back) */
        watcher_snapshot_release(qs->snap_owner ? qs->snap_owner : j->wj, qs->snap, NULL);
    qs->snap = snap;
    qs->snap_owner = j->wj;
    hs_log_info("job %s: %s: spool entry taken again from %s (its files are unchanged)", j->name,
                s->name, base);
    return 0;
}

/* After a restart (job_new, once watching): every queued save not yet on
 * its way to the repo has its spool entry, or gets it again from disk, or
 * is lost — it never blocks the queue. */
void job__check_spool(struct job *j)
{
    for (size_t i = 0; i < j->nq;) {
        const struct jstate_save *s = jstate_save_get(j->env->js, j->q[i].id);
        if (!s || (s->state != JSAVE_READY && s->state != JSAVE_HASHED)) {
            i++;
            continue;
        }
        char why[HS_ERR_MAX + 512];
        if (job__respool(j, &j->q[i], why, sizeof(why)) == 0) {
            i++;
            continue;
        }
        job__save_lost(j, j->q[i].id, NULL, why); /* removes it from the queue */
    }
}
