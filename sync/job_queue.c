/*
 * job_queue.c — a job's queue of saves (see sync_int.h): adding a READY
 * save, superseding queued saves a newer one replaces (strategies that
 * push only the latest), removing entries, and the removals of spool
 * entries and resume states that wait until the journal record making them
 * unneeded is durable.
 */
#include "sync_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- removals that wait for the journal ----------------------------------- */

/* A file may go only once the record that makes it unneeded is durable (a
 * spool entry after CONFIRMED or SUPERSEDED, a push resume state after the
 * commit's outcome): otherwise a power loss could leave a journal that
 * still needs what is gone. With the journal's fsync on the thread pool
 * (jstate_use_loop), the removal runs from jstate_when_durable. */
struct job_rm {
    struct job *j;
    struct watcher_snapshot *snap; /* a snapshot this process took, or NULL */
    struct watcher_job *owner;
    char *path;  /* else: this tree (or file, with unlink) */
    bool unlink; /* a single file */
};

static void free_snap(struct watcher_snapshot *snap)
{
    free(snap->dir);
    watcher_checkpoint_free(snap->cp);
    free(snap);
}

static void rm_now(struct job_rm *r, int status)
{
    struct job *j = r->j;
    struct hs_err err = {0};
    if (status < 0) {
        /* the record may not be on disk: keep the files (the next start
         * removes what the journal does not need) */
        hs_log_warn("job %s: %s kept: the journal could not be made durable", j->name,
                    r->snap ? r->snap->dir : r->path);
        if (r->snap)
            free_snap(r->snap);
    } else if (r->snap) {
        if (r->owner && r->owner == j->wj && !j->stopping) {
            if (watcher_snapshot_release(j->wj, r->snap, &err) < 0)
                hs_log_warn("job %s: %s", j->name, err.msg);
        } else {
            hs_rm_tree(r->snap->dir);
            free_snap(r->snap);
        }
    } else if (r->unlink) {
        unlink(r->path);
    } else {
        int rc = hs_rm_tree(r->path);
        if (rc < 0)
            hs_log_warn("job %s: cannot remove %s: %s", j->name, r->path, hs_strerror(rc));
    }
    free(r->path);
    free(r);
    j->pending_rm--;
}

static void rm_durable_cb(int status, void *ud)
{
    rm_now(ud, status);
}

static void rm_when_durable(struct job *j, struct watcher_snapshot *snap, struct watcher_job *owner,
                            const char *path, bool unlink_only)
{
    struct job_rm *r = calloc(1, sizeof(*r));
    if (!r || (path && !(r->path = strdup(path)))) {
        free(r);
        /* no memory to wait: keep the file for the next start's cleanup */
        hs_log_warn("job %s: out of memory: %s kept", j->name, snap ? snap->dir : path);
        if (snap)
            free_snap(snap);
        return;
    }
    r->j = j;
    r->snap = snap;
    r->owner = owner;
    r->unlink = unlink_only;
    j->pending_rm++;
    jstate_when_durable(j->env->js, rm_durable_cb, r);
}

void job__unlink_durable(struct job *j, const char *path)
{
    rm_when_durable(j, NULL, NULL, path, true);
}

void job__release_spool(struct job *j, struct job_qsave *qs)
{
    if (qs->snap) {
        rm_when_durable(j, qs->snap, qs->snap_owner, NULL, false);
        qs->snap = NULL;
        return;
    }
    const struct jstate_save *s = jstate_save_get(j->env->js, qs->id);
    if (s && s->spool)
        rm_when_durable(j, NULL, NULL, s->spool, false);
}

void job__queue_remove(struct job *j, size_t i)
{
    memmove(j->q + i, j->q + i + 1, (j->nq - i - 1) * sizeof(*j->q));
    j->nq--;
}

static bool supersedes(const struct config_job *cfg)
{
    return cfg->supersede && strategy_rule(cfg->hub_strategy)->newest_wins;
}

static bool in_op(const struct job *j, uint64_t id)
{
    for (size_t k = 0; j->op && k < j->op->n_saves; k++)
        if (j->op->saves[k] == id)
            return true;
    return false;
}

/* Supersede every queued save that is not on its way to the repo (READY or
 * HASHED, not in the running commit) by save `by` (0: each by itself, for
 * a replacement that has no journal id yet), with the reason recorded. */
void job__supersede_queued(struct job *j, uint64_t by, const char *by_name, const char *reason)
{
    for (size_t i = 0; i < j->nq;) {
        const struct jstate_save *s = jstate_save_get(j->env->js, j->q[i].id);
        if (!s || (s->state != JSAVE_READY && s->state != JSAVE_HASHED) || in_op(j, j->q[i].id) ||
            j->q[i].id == by) {
            i++;
            continue;
        }
        char old_name[256];
        snprintf(old_name, sizeof(old_name), "%s", s->name);
        struct hs_err err = {0};
        if (jstate_superseded(j->env->js, j->q[i].id, by ? by : j->q[i].id, reason, &err) < 0) {
            job__set_error(j, err.msg);
            i++;
            continue;
        }
        j->superseded++;
        job__note(j, "%s superseded by %s (%s)", old_name, by_name, reason);
        job__release_spool(j, &j->q[i]);
        job__queue_remove(j, i);
    }
}

/* Queue a save; under every_save/checkpoint with supersede, queued saves
 * that are not on their way to the repo yet are superseded by it. */
int job__enqueue(struct job *j, uint64_t id, struct watcher_snapshot *snap,
                 struct watcher_job *owner)
{
    if (supersedes(j->cfg)) {
        const struct jstate_save *nw = jstate_save_get(j->env->js, id);
        char name[256];
        snprintf(name, sizeof(name), "%s", nw ? nw->name : "a newer save");
        job__supersede_queued(j, id, name, "a newer save completed while queued");
    }
    if (j->nq == j->capq) {
        size_t cap = j->capq ? 2 * j->capq : 8;
        struct job_qsave *q = realloc(j->q, cap * sizeof(*q));
        if (!q)
            return -ENOMEM;
        j->q = q;
        j->capq = cap;
    }
    j->q[j->nq++] = (struct job_qsave){.id = id, .snap = snap, .snap_owner = snap ? owner : NULL};
    return 0;
}
