/*
 * job_commit.c — what one commit of a job holds and when it may be made
 * (see job.h): hashing the saves (READY → HASHED), the strategy's plan
 * (several saves merged when they are coalesced), the stale files of a
 * synced last-checkpoint/ (from the journal, or on the job's first commit
 * from a listing of the repo's folder), the journal's COMMIT_SENT record,
 * and the per-job commit budget that decides when queued saves are
 * coalesced or the job waits. The push itself and the queue are job.c's.
 */
#include "sync_int.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- one commit of saves ------------------------------------------------------ */

/* A commit usually holds one save; under all_checkpoints, when the commit
 * budget runs low, every queued save goes into one commit (coalesced).
 * Saves are hashed one after the other, their files too, so that slot k
 * belongs to file k (the hasher's own parallelism still serves the other
 * jobs and pushes); the uploader caches each hash by file identity, so its
 * push does not read the files again. */
static void save_plan_and_push(struct job_op *op);
static void hash_or_plan(struct job_op *op);
static void hash_next(struct job_op *op);

static void hash_clear(struct job_op *op)
{
    for (size_t i = 0; i < op->n_hash; i++)
        free(op->hash_paths[i]);
    free(op->hash_paths);
    free(op->hash_sha);
    op->hash_paths = NULL;
    op->hash_sha = NULL;
    op->n_hash = op->hash_pending = op->hash_cached = 0;
}

static void hash_one_cb(int status, const struct uploader_hash *h, const struct hs_err *err,
                        void *ud)
{
    struct job_op *op = ud;
    struct job *j = op->j;
    if (job__op_cancelled(op))
        return;
    if (status < 0)
        return job__op_error(op, status, err && err->msg[0] ? err->msg : hs_strerror(status));
    size_t k = op->n_hash - op->hash_pending;
    memcpy(op->hash_sha[k], h->sha256, 65);
    op->hash_cached += h->from_cache;
    if (--op->hash_pending)
        return hash_next(op);
    const struct jstate_save *s = jstate_save_get(j->env->js, op->saves[op->hash_save]);
    hs_log_debug("job %s: %s hashed: %zu of %zu file%s from the hash cache (hashed while written)",
                 j->name, s ? s->name : "?", op->hash_cached, op->n_hash,
                 op->n_hash == 1 ? "" : "s");
    struct hs_err e = {0};
    const char **sha = calloc(op->n_hash + 1, sizeof(char *));
    if (!sha)
        return job__op_failed(op, "out of memory");
    for (size_t i = 0; i < op->n_hash; i++)
        sha[i] = op->hash_sha[i];
    int rc = jstate_files_hashed(j->env->js, op->saves[op->hash_save],
                                 (const char *const *)op->hash_paths, sha, op->n_hash, &e);
    free(sha);
    if (rc < 0)
        return job__op_failed(op, e.msg);
    hash_clear(op);
    op->hash_save++;
    hash_or_plan(op);
}

static void hash_next(struct job_op *op)
{
    struct job *j = op->j;
    const struct jstate_save *s = jstate_save_get(j->env->js, op->saves[op->hash_save]);
    size_t k = op->n_hash - op->hash_pending;
    char path[HS_PATH_MAX];
    struct hs_err e = {0};
    int rc = s && s->spool ? hs_path_join_under(path, sizeof(path), s->spool, op->hash_paths[k])
                           : hs_err_set(&e, -ENOENT, "save has no spool");
    if (rc == 0)
        rc = uploader_hash_file(j->env->uploader, path, hash_one_cb, op);
    if (rc < 0) {
        char msg[HS_ERR_MAX + HS_PATH_MAX];
        snprintf(msg, sizeof(msg), "hashing %s: %s", op->hash_paths[k],
                 e.msg[0] ? e.msg : hs_strerror(rc));
        job__op_error(op, rc, msg);
    }
}

static void start_hashing(struct job_op *op, const struct jstate_save *s)
{
    op->n_hash = s->n_files;
    op->hash_pending = s->n_files;
    op->hash_paths = calloc(s->n_files + 1, sizeof(char *));
    op->hash_sha = calloc(s->n_files + 1, sizeof(*op->hash_sha));
    if (!op->hash_paths || !op->hash_sha)
        return job__op_failed(op, "out of memory");
    for (size_t i = 0; i < s->n_files; i++)
        if (!(op->hash_paths[i] = strdup(s->files[i].path)))
            return job__op_failed(op, "out of memory");
    op->j->phase = JOB_HASHING;
    job__changed(op->j);
    hash_next(op);
}

static void hash_or_plan(struct job_op *op)
{
    for (; op->hash_save < op->n_saves; op->hash_save++) {
        const struct jstate_save *s = jstate_save_get(op->j->env->js, op->saves[op->hash_save]);
        if (s && s->state == JSAVE_READY && s->n_files)
            return start_hashing(op, s);
    }
    save_plan_and_push(op);
}

/* The epoch of a READY record: a number, or the name of a non-finite one
 * (job_ready.c save_meta); -1 when unknown. */
static double meta_epoch(const json_t *v)
{
    const char *t = json_string_value(v);
    if (t)
        return !strcmp(t, "NaN")         ? NAN
               : !strcmp(t, "Infinity")  ? INFINITY
               : !strcmp(t, "-Infinity") ? -INFINITY
                                         : -1;
    return json_is_number(v) ? json_number_value(v) : -1;
}

int job__save_checkpoint(const struct jstate_save *s, const char *base,
                         struct watcher_checkpoint *cp, bool *per_epoch)
{
    memset(cp, 0, sizeof(*cp));
    cp->id = s->name;
    const char *layout = json_string_value(json_object_get(s->meta, "layout"));
    cp->layout = layout ? layout : "generic";
    json_t *v = json_object_get(s->meta, "step");
    cp->step = json_is_integer(v) ? json_integer_value(v) : -1;
    cp->epoch = meta_epoch(json_object_get(s->meta, "epoch"));
    v = json_object_get(s->meta, "index");
    cp->index = json_is_integer(v) ? json_integer_value(v) : -1;
    const char *folder = json_string_value(json_object_get(s->meta, "folder"));
    cp->folder = (char *)(folder ? folder : base);
    cp->base = (char *)base;
    if (per_epoch)
        *per_epoch = json_is_true(json_object_get(s->meta, "per_epoch"));
    cp->n_files = s->n_files;
    cp->files = calloc(s->n_files + 1, sizeof(*cp->files));
    if (!cp->files)
        return -ENOMEM;
    for (size_t i = 0; i < s->n_files; i++) {
        cp->files[i] = (struct watcher_file){.path = s->files[i].path,
                                             .size = s->files[i].size,
                                             .dev = s->files[i].dev,
                                             .ino = s->files[i].ino,
                                             .mtime = (hs_usec_t)(s->files[i].mtime_ns / 1000)};
        cp->total_bytes += s->files[i].size;
    }
    return 0;
}

static int cmp_plan_files(const void *a, const void *b)
{
    return strcmp(((const struct strategy_file *)a)->repo_path,
                  ((const struct strategy_file *)b)->repo_path);
}

/* Move src's files into dst; a later save's file replaces an earlier one at
 * the same repo path (the root model files come from the newest save). */
static int merge_plan(struct strategy_commit *dst, struct strategy_commit *src)
{
    for (size_t i = 0; i < src->n_files; i++) {
        struct strategy_file *f = &src->files[i];
        size_t k = 0;
        for (; k < dst->n_files && strcmp(dst->files[k].repo_path, f->repo_path); k++)
            ;
        if (k < dst->n_files) {
            free(dst->files[k].local_path);
            dst->files[k].local_path = f->local_path;
            free(f->repo_path);
        } else {
            struct strategy_file *v = realloc(dst->files, (dst->n_files + 1) * sizeof(*v));
            if (!v)
                return -ENOMEM;
            dst->files = v;
            dst->files[dst->n_files++] = *f;
        }
        f->local_path = f->repo_path = NULL;
    }
    src->n_files = 0;
    for (size_t i = 0; i < src->n_sync; i++) {
        bool have = false;
        for (size_t k = 0; k < dst->n_sync && !have; k++)
            have = !strcmp(dst->sync_prefixes[k], src->sync_prefixes[i]);
        if (have)
            continue;
        char **v = realloc(dst->sync_prefixes, (dst->n_sync + 1) * sizeof(*v));
        if (!v)
            return -ENOMEM;
        dst->sync_prefixes = v;
        dst->sync_prefixes[dst->n_sync++] = src->sync_prefixes[i];
        src->sync_prefixes[i] = NULL;
    }
    free(dst->message);
    dst->message = src->message;
    src->message = NULL;
    return 0;
}

static bool op_has_save(const struct job_op *op, uint64_t id)
{
    for (size_t k = 0; k < op->n_saves; k++)
        if (op->saves[k] == id)
            return true;
    return false;
}

static bool plan_has(const struct strategy_commit *c, const char *repo_path)
{
    for (size_t i = 0; i < c->n_files; i++)
        if (!strcmp(c->files[i].repo_path, repo_path))
            return true;
    return false;
}

/* The job's last committed save outside this commit, or NULL: what the
 * journal knows the synced folders hold. */
static const struct jstate_save *prev_committed(const struct job_op *op)
{
    const struct job *j = op->j;
    const struct jstate_save *prev = NULL, *s;
    for (size_t i = 0; (s = jstate_save_at(j->env->js, i)); i++)
        if (!strcmp(s->job, j->name) && s->state == JSAVE_COMMITTED && !op_has_save(op, s->id))
            prev = s;
    return prev;
}

static bool deletes_have(const struct job_op *op, const char *repo_path)
{
    for (size_t i = 0; i < op->n_deletes; i++)
        if (!strcmp(op->deletes[i], repo_path))
            return true;
    return false;
}

static int add_delete(struct job_op *op, const char *repo_path)
{
    char **v = realloc(op->deletes, (op->n_deletes + 1) * sizeof(*v));
    if (!v)
        return -ENOMEM;
    op->deletes = v;
    if (!(v[op->n_deletes] = strdup(repo_path)))
        return -ENOMEM;
    op->n_deletes++;
    return 0;
}

/* Stale files of the synced folders (last-checkpoint/): what the job's
 * last committed save put there and this commit does not. After that
 * commit the folder held exactly that save (same patterns), so these
 * paths exist; a repo changed behind our back answers 404 and the commit
 * is retried without deletions (job__op_failed). */
static int stale_paths(struct job_op *op, const struct jstate_save *prev)
{
    struct job *j = op->j;
    for (size_t p = 0; p < op->plan.n_sync; p++) {
        for (size_t i = 0; i < prev->n_files; i++) {
            char repo[HS_PATH_MAX];
            int w = snprintf(repo, sizeof(repo), "%s%s", op->plan.sync_prefixes[p],
                             prev->files[i].path);
            if (w < 0 || (size_t)w >= sizeof(repo) || config_path_always_excluded(repo) ||
                !config_path_allowed(repo, (const char *const *)j->cfg->include.v,
                                     j->cfg->include.n, (const char *const *)j->cfg->exclude.v,
                                     j->cfg->exclude.n) ||
                plan_has(&op->plan, repo))
                continue;
            if (add_delete(op, repo) < 0)
                return -ENOMEM;
        }
    }
    return 0;
}

/* ---- the first commit into a synced folder: what the repo holds ------------ *
 *
 * When the journal has no committed save of the job, the synced folder may
 * still hold files of an earlier run (another machine, a wiped state_dir,
 * the Trainer's own push_to_hub): two checkpoints mixed in last-checkpoint/
 * break resume_from_checkpoint. So the folder is listed at the job's
 * revision (uploader_list_tree, on the loop, before COMMIT_SENT is
 * recorded) and every file there that this commit does not bring is
 * deleted in the same commit — whatever the job's include/exclude patterns
 * say, since the folder is the checkpoint and nothing else. A revision that
 * does not exist yet is listed at main, which the push creates it from. A
 * listing that fails (after the uploader's own retries) fails the attempt
 * like a failed push: the job's retry runs it again later, and no commit is
 * made without knowing what the folder holds. */
struct sync_list {
    struct job_op *op;
    size_t k;     /* the sync prefix being listed */
    bool on_main; /* the revision is missing: listing main instead */
    size_t found; /* stale files found so far */
};

static void commit_and_push(struct job_op *op);
static int list_sync(struct sync_list *l, struct hs_err *err);

static void sync_listed(int status, const struct uploader_tree *t, const struct hs_err *err,
                        void *ud)
{
    struct sync_list *l = ud;
    struct job_op *op = l->op;
    struct job *j = op->j;
    if (job__op_cancelled(op)) {
        free(l);
        return;
    }
    const char *prefix = op->plan.sync_prefixes[l->k];
    char msg[HS_ERR_MAX + 128];
    if (status < 0) {
        snprintf(msg, sizeof(msg), "%s is not known, not committing without it: %s", prefix,
                 err ? err->msg : hs_strerror(status));
        free(l);
        return job__op_failed(op, msg);
    }
    const char *rev = j->cfg->revision ? j->cfg->revision : "main";
    if (!strcmp(t->missing, "RevisionNotFound") && !l->on_main && strcmp(rev, "main") != 0) {
        struct hs_err e = {0};
        l->on_main = true;
        if (list_sync(l, &e) < 0) {
            free(l);
            return job__op_failed(op, e.msg);
        }
        return;
    }
    size_t plen = strlen(prefix);
    for (size_t i = 0; i < t->n; i++) {
        const char *path = t->entries[i].path;
        if (strncmp(path, prefix, plen) != 0 || !hs_path_is_safe_relative(path) ||
            plan_has(&op->plan, path) || deletes_have(op, path))
            continue;
        if (add_delete(op, path) < 0) {
            free(l);
            return job__op_failed(op, "out of memory");
        }
        l->found++;
    }
    if (t->missing[0])
        hs_log_debug("job %s: %s not in %s at %s (%s): nothing to delete", j->name, prefix,
                     j->cfg->hub_model_id, l->on_main ? "main" : rev, t->missing);
    else
        hs_log_info("job %s: %s of %s at %s holds %zu file%s, %zu of %s not in this commit",
                    j->name, prefix, j->cfg->hub_model_id, l->on_main ? "main" : rev, t->n,
                    t->n == 1 ? "" : "s", l->found, l->found == 1 ? "it" : "them");
    l->k++;
    l->on_main = false;
    l->found = 0;
    if (l->k < op->plan.n_sync) {
        struct hs_err e = {0};
        if (list_sync(l, &e) < 0) {
            free(l);
            return job__op_failed(op, e.msg);
        }
        return;
    }
    free(l);
    commit_and_push(op);
}

static int list_sync(struct sync_list *l, struct hs_err *err)
{
    struct job *j = l->op->j;
    struct uploader_tree_request req = {
        .repo_id = j->cfg->hub_model_id,
        .revision = l->on_main ? "main" : j->cfg->revision,
        .path = l->op->plan.sync_prefixes[l->k],
    };
    return uploader_list_tree(j->env->uploader, &req, sync_listed, l, err);
}

/* Start listing the synced folders when the journal cannot say what they
 * hold; returns 1 when the listing runs (commit_and_push follows it). */
static int maybe_list_sync(struct job_op *op)
{
    struct job *j = op->j;
    if (!op->plan.n_sync || prev_committed(op))
        return 0;
    const struct jstate_save *s0 = jstate_save_get(j->env->js, op->saves[0]);
    if (s0 && s0->state == JSAVE_COMMIT_SENT && j->no_deletes_commit == s0->commit)
        return 0;
    struct sync_list *l = calloc(1, sizeof(*l));
    if (!l)
        return -ENOMEM;
    l->op = op;
    struct hs_err err = {0};
    if (list_sync(l, &err) < 0) {
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

static void save_plan_and_push(struct job_op *op)
{
    struct job *j = op->j;
    struct hs_err err = {0};
    const struct jstate_save *s0 = jstate_save_get(j->env->js, op->saves[0]);
    for (size_t k = 0; k < op->n_saves; k++) {
        const struct jstate_save *s = jstate_save_get(j->env->js, op->saves[k]);
        struct watcher_checkpoint cp;
        bool per_epoch = false;
        struct strategy_commit part;
        if (!s || !s->spool)
            return job__op_failed(op, "save vanished from the journal");
        if (job__save_checkpoint(s, s->spool, &cp, &per_epoch) < 0)
            return job__op_failed(op, "out of memory");
        int rc = strategy_plan_save(j->cfg, &cp, per_epoch, &part, &err);
        free(cp.files);
        if (rc < 0)
            return job__op_failed(op, err.msg);
        rc = part.message ? merge_plan(&op->plan, &part) : 0;
        strategy_commit_free(&part);
        if (rc < 0)
            return job__op_failed(op, "out of memory");
    }
    if (op->plan.n_files) /* qsort's base may not be NULL */
        qsort(op->plan.files, op->plan.n_files, sizeof(*op->plan.files), cmp_plan_files);
    if (!op->plan.message) {
        /* hub_strategy became "end" while the save was queued */
        char name[256];
        snprintf(name, sizeof(name), "%s", s0->name);
        if (op->n_saves == 1 && s0->state != JSAVE_COMMIT_SENT &&
            jstate_superseded(j->env->js, op->saves[0], op->saves[0], "hub_strategy is end",
                              &err) == 0) {
            job__note(j, "%s not pushed: hub_strategy is now end (pushed at finish)", name);
            job__release_spool(j, &j->q[0]);
            job__queue_remove(j, 0);
            j->op = NULL;
            job__op_free(op);
            j->phase = JOB_IDLE;
            return job__kick(j);
        }
        op->plan.message = strdup("Training in progress");
    }
    if (op->n_saves > 1) {
        struct hs_buf d;
        hs_buf_init(&d, 64 * 1024);
        hs_buf_printf(&d, "Coalesced by hubsync (commit budget): ");
        for (size_t k = 0; k < op->n_saves; k++) {
            const struct jstate_save *s = jstate_save_get(j->env->js, op->saves[k]);
            hs_buf_printf(&d, "%s%s", k ? ", " : "", s ? s->name : "?");
        }
        free(op->description);
        op->description = d.data ? strdup(d.data) : NULL;
        hs_buf_free(&d);
    }
    int rc = maybe_list_sync(op);
    if (rc == 0)
        rc = job__keep_plan(op, commit_and_push);
    if (rc < 0)
        return job__op_failed(op, "out of memory");
    if (rc == 0)
        commit_and_push(op);
}

/* COMMIT_SENT, the stale files, the push. */
static void commit_and_push(struct job_op *op)
{
    struct job *j = op->j;
    struct hs_err err = {0};
    const struct jstate_save *s0 = jstate_save_get(j->env->js, op->saves[0]);
    if (!s0)
        return job__op_failed(op, "save vanished from the journal");
    if (s0->state == JSAVE_COMMIT_SENT) {
        op->commit = s0->commit;
    } else if (jstate_commit_sent(j->env->js, j->name, op->saves, op->n_saves, false, NULL,
                                  op->plan.message, &op->commit, &err) < 0) {
        return job__op_failed(op, err.msg);
    }
    if (j->no_deletes_commit == op->commit) {
        for (size_t i = 0; i < op->n_deletes; i++)
            free(op->deletes[i]);
        op->n_deletes = 0;
        for (size_t i = 0; i < op->n_del_folders; i++)
            free(op->del_folders[i]);
        op->n_del_folders = 0;
    } else if (op->plan.n_sync) {
        const struct jstate_save *prev = prev_committed(op);
        if (prev && stale_paths(op, prev) < 0)
            return job__op_failed(op, "out of memory");
    }
    for (size_t i = 0; i < op->n_deletes; i++)
        hs_log_info("job %s: %s is stale: deleted in this commit", j->name, op->deletes[i]);
    job__resume_check(j, op);
    job__push(op);
}

/* ---- the commit budget ------------------------------------------------------- */

/* Commits this job made in the current window (oldest dropped as it ages). */
static size_t budget_used(struct job *j)
{
    hs_usec_t now = hs_now_monotonic(), win = j->env->commit_window;
    size_t drop = 0;
    while (drop < j->n_commit_times && now - j->commit_times[drop] >= win)
        drop++;
    if (drop) {
        memmove(j->commit_times, j->commit_times + drop,
                (j->n_commit_times - drop) * sizeof(*j->commit_times));
        j->n_commit_times -= drop;
    }
    return j->n_commit_times;
}

void job__budget_count(struct job *j)
{
    if (!j->env->commit_budget)
        return;
    budget_used(j);
    hs_usec_t *v = realloc(j->commit_times, (j->n_commit_times + 1) * sizeof(*v));
    if (!v)
        return;
    j->commit_times = v;
    j->commit_times[j->n_commit_times++] = hs_now_monotonic();
}

static int cmp_usec(const void *a, const void *b)
{
    hs_usec_t x = *(const hs_usec_t *)a, y = *(const hs_usec_t *)b;
    return x < y ? -1 : x > y;
}

/* The budget survives a restart: every commit of this job the journal
 * confirmed with a time inside the window counts, placed on the monotonic
 * clock as long ago as the wall clock says (a commit "in the future", after
 * the clock was set back, counts as made now). Commits confirmed by an older
 * hubsync carry no time and are not counted. */
void job__budget_restore(struct job *j)
{
    if (!j->env->commit_budget)
        return;
    hs_usec_t now = hs_now_monotonic(), real = hs_now_realtime(), win = j->env->commit_window;
    const struct jstate_commit *c;
    for (size_t i = 0; (c = jstate_commit_at(j->env->js, i)); i++) {
        if (c->state != JCOMMIT_CONFIRMED || c->empty || c->confirmed_at <= 0 ||
            strcmp(c->job, j->name) != 0)
            continue;
        hs_usec_t at = (hs_usec_t)c->confirmed_at;
        hs_usec_t ago = real > at ? real - at : 0;
        if (ago >= win)
            continue;
        if (ago > now) /* made before this boot: counted from the boot on */
            ago = now;
        hs_usec_t *v = realloc(j->commit_times, (j->n_commit_times + 1) * sizeof(*v));
        if (!v)
            return;
        j->commit_times = v;
        j->commit_times[j->n_commit_times++] = now - ago;
    }
    if (!j->n_commit_times)
        return; /* (qsort's base may not be NULL) */
    qsort(j->commit_times, j->n_commit_times, sizeof(*j->commit_times), cmp_usec);
    hs_log_info("job %s: %zu commit%s in the last %" PRIu64
                " s count against the commit budget of %u",
                j->name, j->n_commit_times, j->n_commit_times == 1 ? "" : "s",
                win / HS_USEC_PER_SEC, j->env->commit_budget);
}

/* every_save / checkpoint: the newest queued save replaces the others. */
static void coalesce_supersede(struct job *j, size_t left)
{
    uint64_t newest = j->q[j->nq - 1].id;
    const struct jstate_save *nw = jstate_save_get(j->env->js, newest);
    char nname[256];
    snprintf(nname, sizeof(nname), "%s", nw ? nw->name : "?");
    for (size_t i = 0; i + 1 < j->nq;) {
        const struct jstate_save *s = jstate_save_get(j->env->js, j->q[i].id);
        if (!s || (s->state != JSAVE_READY && s->state != JSAVE_HASHED)) {
            i++;
            continue;
        }
        char name[256], reason[512];
        snprintf(name, sizeof(name), "%s", s->name);
        snprintf(reason, sizeof(reason), "commit budget low (%zu of %u left this window)", left,
                 j->env->commit_budget);
        struct hs_err err = {0};
        if (jstate_superseded(j->env->js, j->q[i].id, newest, reason, &err) < 0) {
            job__set_error(j, err.msg);
            i++;
            continue;
        }
        j->coalesced++;
        job__note(j, "%s coalesced into %s: %s", name, nname, reason);
        job__release_spool(j, &j->q[i]);
        job__queue_remove(j, i);
    }
}

/* Before the next commit: coalesce when the budget cannot give each queued
 * save (and the finish) its own commit; wait when it is spent, unless the
 * training has ended. Returns true when the job must wait. */
static bool budget_check(struct job *j, bool *group)
{
    *group = false;
    if (!j->env->commit_budget)
        return false;
    size_t used = budget_used(j);
    size_t left = used < j->env->commit_budget ? j->env->commit_budget - used : 0;
    const struct jstate_save *s0 = jstate_save_get(j->env->js, j->q[0].id);
    bool sent = s0 && s0->state == JSAVE_COMMIT_SENT;
    if (!sent && left < j->nq + 1 && j->nq > 1) {
        if (!strategy_rule(j->cfg->hub_strategy)->newest_wins)
            *group = true;
        else
            coalesce_supersede(j, left);
    }
    if (left == 0 && !sent && j->finish_requested &&
        j->cfg->hub_strategy == CONFIG_STRATEGY_EVERY_SAVE) {
        /* every_save: the End of training commit carries the final model,
         * which replaces what the queued saves would put at the root */
        for (size_t i = 0; i < j->nq;) {
            const struct jstate_save *s = jstate_save_get(j->env->js, j->q[i].id);
            struct hs_err err = {0};
            char name[256];
            snprintf(name, sizeof(name), "%s", s ? s->name : "?");
            if (!s || (s->state != JSAVE_READY && s->state != JSAVE_HASHED) ||
                jstate_superseded(j->env->js, j->q[i].id, j->q[i].id,
                                  "commit budget spent: the End of training commit carries the "
                                  "final model",
                                  &err) < 0) {
                i++;
                continue;
            }
            j->coalesced++;
            job__note(j, "%s coalesced into the End of training commit (commit budget spent)",
                      name);
            job__release_spool(j, &j->q[i]);
            job__queue_remove(j, i);
        }
        return false;
    }
    if (left == 0 && !sent && !j->finish_requested) {
        hs_usec_t wait = j->commit_times[0] + j->env->commit_window - hs_now_monotonic();
        if (!j->budget_noted) {
            job__note(j,
                      "commit budget of %u per %" PRIu64 " s spent: next commit in %" PRIu64
                      " s (queued saves will be coalesced)",
                      j->env->commit_budget, j->env->commit_window / HS_USEC_PER_SEC,
                      wait / HS_USEC_PER_SEC);
            j->budget_noted = true;
        }
        j->phase = JOB_BUDGET_WAIT;
        job__timer_start(j, wait);
        return true;
    }
    j->budget_noted = false;
    return false;
}

static void start_save(struct job *j, bool group)
{
    const struct jstate_save *s = jstate_save_get(j->env->js, j->q[0].id);
    struct job_op *op = calloc(1, sizeof(*op));
    if (!op || !(op->saves = calloc(j->nq + 1, sizeof(*op->saves)))) {
        free(op);
        return job__set_error(j, "out of memory");
    }
    op->j = j;
    op->saves[op->n_saves++] = j->q[0].id;
    /* after a restart: the saves of the same unconfirmed commit go together */
    for (size_t i = 1; i < j->nq; i++) {
        const struct jstate_save *o = jstate_save_get(j->env->js, j->q[i].id);
        if (!o)
            continue;
        bool same = s->state == JSAVE_COMMIT_SENT && o->state == JSAVE_COMMIT_SENT &&
                    o->commit == s->commit;
        bool join = group && s->state != JSAVE_COMMIT_SENT &&
                    (o->state == JSAVE_READY || o->state == JSAVE_HASHED);
        if (same || join)
            op->saves[op->n_saves++] = j->q[i].id;
        else if (group)
            break;
    }
    j->op = op;
    const struct jstate_save *last = jstate_save_get(j->env->js, op->saves[op->n_saves - 1]);
    job__set_str(&j->current, last ? last->name : s->name);
    j->bytes_done = 0;
    j->bytes_total = 0;
    for (size_t k = 0; k < op->n_saves; k++) {
        const struct jstate_save *x = jstate_save_get(j->env->js, op->saves[k]);
        json_t *b = x ? json_object_get(x->meta, "bytes") : NULL;
        if (json_is_integer(b))
            j->bytes_total += (uint64_t)json_integer_value(b);
    }
    hash_or_plan(op);
}

void job__kick(struct job *j)
{
    job__tags_kick(j);
    while (!j->stopping && !j->held && j->phase == JOB_IDLE && !j->op) {
        if (j->nq) {
            const struct jstate_save *s = jstate_save_get(j->env->js, j->q[0].id);
            if (!s || s->state == JSAVE_COMMITTED || s->state == JSAVE_SUPERSEDED ||
                s->state == JSAVE_LOST) {
                job__release_spool(j, &j->q[0]);
                job__queue_remove(j, 0);
                continue;
            }
            bool group;
            if (budget_check(j, &group))
                return;
            if (!j->nq)
                continue;
            start_save(j, group);
            return;
        }
        if (j->finish_requested && !job__tags_busy(j))
            job__start_final(j);
        else
            job__set_str(&j->current, NULL);
        return;
    }
}
