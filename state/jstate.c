/*
 * jstate.c — the daemon's durable state on top of the journal (see
 * jstate.h for the lifecycle and the record payloads): opening and
 * replaying, compaction, and the live transitions. Every transition goes
 * through one path: validate, build the record, append it durably, then
 * apply it with the same function replay uses (jstate_model.c).
 */
#include "state_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_COMPACT_BYTES (UINT64_C(4) << 20)

/* ---- open / close / compaction ----------------------------------------- */

int jstate_open(const char *state_dir, struct jstate **out, struct journal_report *report,
                struct hs_err *err)
{
    *out = NULL;
    struct jstate *js = calloc(1, sizeof(*js));
    if (!js)
        return hs_err_set(err, -ENOMEM, "out of memory");
    js->compact_threshold = DEFAULT_COMPACT_BYTES;
    js->next_save = js->next_commit = 1;
    char dir[HS_PATH_MAX];
    int rc = hs_path_join(dir, sizeof(dir), state_dir, "journal");
    if (rc < 0) {
        jstate_close(js);
        return hs_err_set(err, rc, "state directory name too long: %s", state_dir);
    }
    rc = journal_open(dir, jstate__replay_cb, js, &js->j, report, err);
    if (rc < 0) {
        jstate_close(js);
        return rc;
    }
    *out = js;
    return 0;
}

struct jstate *jstate_close(struct jstate *js)
{
    if (!js)
        return NULL;
    if (js->j && js->written > js->synced && !js->sync_err) {
        /* the loop has ended: make the last records durable here */
        int fd = journal_sync_fd(js->j);
        if (fd >= 0) {
            if (journal_fdatasync(fd) < 0)
                hs_log_error("journal: fdatasync failed at close: the last records may be lost");
            close(fd);
        }
    }
    for (struct jstate_waiter *w = js->waiters, *n; w; w = n) {
        n = w->next;
        free(w);
    }
    journal_close(js->j);
    for (size_t i = 0; i < js->n_saves; i++)
        jstate__free_save(&js->saves[i]);
    for (size_t i = 0; i < js->n_commits; i++)
        jstate__free_commit(&js->commits[i]);
    for (size_t i = 0; i < js->n_jobs; i++) {
        free(js->jobs[i].name);
        free(js->jobs[i].lost_name);
        free(js->jobs[i].lost_reason);
    }
    free(js->saves);
    free(js->commits);
    free(js->jobs);
    free(js);
    return NULL;
}

void jstate_set_compact_threshold(struct jstate *js, uint64_t bytes)
{
    js->compact_threshold = bytes;
}

int jstate_compact(struct jstate *js, struct hs_err *err)
{
    size_t n = 1 + js->n_saves + js->n_commits + js->n_jobs, k = 0;
    struct journal_entry *e = calloc(n, sizeof(*e));
    if (!e)
        return hs_err_set(err, -ENOMEM, "out of memory");
    e[k++] = (struct journal_entry){JREC_SNAP_META,
                                    json_pack("{s:I, s:I}", "next_save", (json_int_t)js->next_save,
                                              "next_commit", (json_int_t)js->next_commit)};
    /* order matters: commits refer to saves */
    for (size_t i = 0; i < js->n_saves; i++)
        e[k++] = (struct journal_entry){JREC_SNAP_SAVE, jstate__save_json(&js->saves[i], true)};
    for (size_t i = 0; i < js->n_commits; i++)
        e[k++] =
            (struct journal_entry){JREC_SNAP_COMMIT, jstate__commit_json(&js->commits[i], true)};
    for (size_t i = 0; i < js->n_jobs; i++)
        e[k++] = (struct journal_entry){JREC_SNAP_JOB, jstate__job_json(&js->jobs[i])};
    int rc = 0;
    for (size_t i = 0; i < k; i++)
        if (!e[i].payload)
            rc = hs_err_set(err, -ENOMEM, "out of memory building the snapshot");
    if (rc == 0)
        rc = journal_compact(js->j, e, k, err);
    for (size_t i = 0; i < k; i++)
        json_decref((json_t *)e[i].payload);
    free(e);
    return rc;
}

/* ---- deferred durability ---------------------------------------------------- */

static void sync_start(struct jstate *js);

static void sync_work(uv_work_t *req)
{
    struct jstate *js = req->data;
    js->sync_rc = journal_fdatasync(js->sync_fd);
}

/* Call the waiters whose records are durable now (all of them, with the
 * error, after a failed sync), oldest first. */
static void wake_waiters(struct jstate *js)
{
    while (js->waiters && (js->sync_err || js->waiters->target <= js->synced)) {
        struct jstate_waiter *w = js->waiters;
        js->waiters = w->next;
        if (!js->waiters)
            js->waiters_tail = &js->waiters;
        w->cb(js->sync_err, w->userdata);
        free(w);
    }
}

static void sync_done(uv_work_t *req, int status)
{
    struct jstate *js = req->data;
    close(js->sync_fd);
    js->sync_fd = -1;
    js->sync_busy = false;
    int rc = status < 0 ? status : js->sync_rc;
    if (rc < 0) {
        hs_log_error("journal: fdatasync failed: %s; no further state is recorded until a "
                     "restart",
                     hs_strerror(rc));
        js->sync_err = -EIO;
        journal_set_broken(js->j);
    } else {
        js->syncs++;
        if (js->sync_target > js->synced)
            js->synced = js->sync_target;
    }
    wake_waiters(js);
    sync_start(js);
}

/* One fdatasync on the pool for everything written so far, unless one is
 * running (then the next one starts when it ends: group commit). */
static void sync_start(struct jstate *js)
{
    if (!js->loop || js->sync_busy || js->sync_err || js->synced >= js->written)
        return;
    int fd = journal_sync_fd(js->j);
    int rc = fd;
    if (fd >= 0) {
        js->sync_fd = fd;
        js->sync_target = js->written;
        js->sync_req.data = js;
        rc = uv_queue_work(js->loop, &js->sync_req, sync_work, sync_done);
        if (rc == 0) {
            js->sync_busy = true;
            return;
        }
        close(fd);
        js->sync_fd = -1;
    }
    /* no pool: sync here rather than lose the guarantee */
    hs_log_warn("journal: cannot sync on the thread pool (%s): syncing on the loop",
                hs_strerror(rc));
    fd = journal_sync_fd(js->j);
    rc = fd < 0 ? fd : journal_fdatasync(fd);
    if (fd >= 0)
        close(fd);
    if (rc < 0) {
        js->sync_err = -EIO;
        journal_set_broken(js->j);
    } else {
        js->synced = js->written;
    }
    wake_waiters(js);
}

int jstate_use_loop(struct jstate *js, uv_loop_t *loop)
{
    js->loop = loop;
    js->sync_fd = -1;
    js->waiters_tail = &js->waiters;
    return 0;
}

void jstate_when_durable(struct jstate *js, jstate_durable_cb cb, void *userdata)
{
    if (!js->loop || js->sync_err || js->synced >= js->written) {
        cb(js->sync_err, userdata);
        return;
    }
    struct jstate_waiter *w = calloc(1, sizeof(*w));
    if (!w) {
        /* cannot wait: sync here, on the loop (rare; correct, only slower) */
        int fd = journal_sync_fd(js->j);
        int rc = fd < 0 ? fd : journal_fdatasync(fd);
        if (fd >= 0)
            close(fd);
        cb(rc < 0 ? -EIO : 0, userdata);
        return;
    }
    w->target = js->written;
    w->cb = cb;
    w->userdata = userdata;
    *js->waiters_tail = w;
    js->waiters_tail = &w->next;
    sync_start(js);
}

uint64_t jstate_pool_syncs(const struct jstate *js)
{
    return js->syncs;
}

/* ---- records ------------------------------------------------------------------ */

/* Append one record, then apply it; compact when the log grew too big. */
static int commit_record(struct jstate *js, enum jrec_type type, json_t *payload,
                         struct hs_err *err)
{
    if (!payload)
        return hs_err_set(err, -ENOMEM, "out of memory");
    int rc;
    if (js->sync_err) {
        rc = hs_err_set(err, -EIO, "journal: an earlier fdatasync failed; restart hubsync");
    } else if (js->loop) {
        struct journal_entry e = {(uint16_t)type, payload};
        rc = journal_append_nosync(js->j, &e, 1, err);
        if (rc == 0) {
            js->written++;
            sync_start(js);
        }
    } else {
        rc = journal_append(js->j, (uint16_t)type, payload, err);
    }
    if (rc == 0) {
        rc = jstate__apply(js, (uint16_t)type, payload);
        if (rc < 0) /* validated before appending: this is a bug, say so */
            hs_err_set(err, rc, "journal: record of type %d recorded but not applicable: %s",
                       (int)type, hs_strerror(rc));
    }
    json_decref(payload);
    if (rc == 0 && js->compact_threshold && journal_log_bytes(js->j) > js->compact_threshold) {
        struct hs_err cerr = {0};
        /* A failed compaction loses nothing: the log stays the truth. The
         * next transition tries again. */
        (void)jstate_compact(js, &cerr);
    }
    return rc;
}

/* ---- live transitions ---------------------------------------------------- */

int jstate_save_ready(struct jstate *js, const char *job, const char *name, const json_t *meta,
                      const char *spool, const struct jstate_file *files, size_t n_files,
                      uint64_t *id, struct hs_err *err)
{
    struct jstate_save tmp = {.id = js->next_save,
                              .job = (char *)job,
                              .name = (char *)name,
                              .meta = (json_t *)meta,
                              .spool = (char *)spool,
                              .files = (struct jstate_file *)files,
                              .n_files = n_files};
    if (!job || !name || (meta && !json_is_object(meta)))
        return hs_err_set(err, -EINVAL, "jstate: a save needs a job, a name and an object meta");
    json_t *empty = NULL;
    if (!meta)
        tmp.meta = empty = json_object();
    json_t *p = jstate__save_json(&tmp, false);
    json_decref(empty);
    /* validate (duplicate paths, negative sizes) the way replay will */
    struct jstate_file *check = NULL;
    size_t nc = 0;
    int rc = p ? jstate__parse_files(json_object_get(p, "files"), &check, &nc) : -ENOMEM;
    for (size_t i = 0; i < nc; i++)
        free(check[i].path);
    free(check);
    if (rc < 0) {
        json_decref(p);
        return hs_err_set(err, rc, "jstate: save %s of job %s: invalid file list (%s)", name, job,
                          hs_strerror(rc));
    }
    rc = commit_record(js, JREC_SAVE_READY, p, err);
    if (rc == 0 && id)
        *id = tmp.id;
    return rc;
}

int jstate_files_hashed(struct jstate *js, uint64_t save, const char *const *paths,
                        const char *const *sha256, size_t n, struct hs_err *err)
{
    struct jstate_save *s = jstate__save_mut(js, save);
    if (!s)
        return hs_err_set(err, -ENOENT, "jstate: no save %" PRIu64, save);
    json_t *files = json_array();
    for (size_t i = 0; i < n; i++) {
        struct jstate_file key = {.path = (char *)paths[i]};
        if (!jstate__is_sha256(sha256[i]) ||
            !bsearch(&key, s->files, s->n_files, sizeof(*s->files), jstate__cmp_file)) {
            json_decref(files);
            return hs_err_set(err, -EINVAL, "jstate: save %" PRIu64 ": bad hash or unknown file %s",
                              save, paths[i]);
        }
        json_array_append_new(files,
                              json_pack("{s:s, s:s}", "path", paths[i], "sha256", sha256[i]));
    }
    return commit_record(js, JREC_FILES_HASHED,
                         json_pack("{s:I, s:o}", "save", (json_int_t)save, "files", files), err);
}

int jstate_commit_sent(struct jstate *js, const char *job, const uint64_t *saves, size_t n,
                       bool final, const char *parent, const char *message, uint64_t *id,
                       struct hs_err *err)
{
    if (!job || !message)
        return hs_err_set(err, -EINVAL, "jstate: a commit needs a job and a message");
    for (size_t i = 0; i < n; i++) {
        const struct jstate_save *s = jstate__save_mut(js, saves[i]);
        if (!s || strcmp(s->job, job) != 0 || s->state != JSAVE_HASHED)
            return hs_err_set(err, -EINVAL,
                              "jstate: save %" PRIu64 " is not a hashed save of job %s (%s)",
                              saves[i], job, s ? jstate_save_state_name(s->state) : "unknown");
    }
    uint64_t cid = js->next_commit;
    struct jstate_commit c = {.id = cid,
                              .job = (char *)job,
                              .saves = (uint64_t *)saves,
                              .n_saves = n,
                              .final = final,
                              .parent = (char *)parent,
                              .message = (char *)message};
    int rc = commit_record(js, JREC_COMMIT_SENT, jstate__commit_json(&c, false), err);
    if (rc == 0 && id)
        *id = cid;
    return rc;
}

static int commit_end(struct jstate *js, enum jrec_type type, uint64_t commit, json_t *p,
                      struct hs_err *err)
{
    const struct jstate_commit *c = jstate__commit_mut(js, commit);
    if (!c || c->state != JCOMMIT_SENT) {
        json_decref(p);
        return hs_err_set(err, -EINVAL, "jstate: commit %" PRIu64 " is not awaiting an outcome",
                          commit);
    }
    return commit_record(js, type, p, err);
}

int jstate_commit_confirmed(struct jstate *js, uint64_t commit, const char *oid, const char *url,
                            int64_t time, bool empty, struct hs_err *err)
{
    if (!oid || !url || time < 0)
        return hs_err_set(err, -EINVAL, "jstate: a confirmed commit needs its oid and url");
    json_t *p = json_pack("{s:I, s:s, s:s}", "commit", (json_int_t)commit, "oid", oid, "url", url);
    if (p && time)
        json_object_set_new(p, "time", json_integer((json_int_t)time));
    if (p && empty)
        json_object_set_new(p, "empty", json_true());
    return commit_end(js, JREC_COMMIT_CONFIRMED, commit, p, err);
}

int jstate_commit_aborted(struct jstate *js, uint64_t commit, const char *error, struct hs_err *err)
{
    return commit_end(
        js, JREC_COMMIT_ABORTED, commit,
        json_pack("{s:I, s:s}", "commit", (json_int_t)commit, "error", error ? error : "unknown"),
        err);
}

int jstate_superseded(struct jstate *js, uint64_t save, uint64_t by, const char *reason,
                      struct hs_err *err)
{
    const struct jstate_save *s = jstate__save_mut(js, save);
    if (!s || s->state == JSAVE_COMMIT_SENT || s->state == JSAVE_COMMITTED)
        return hs_err_set(err, -EINVAL, "jstate: save %" PRIu64 " cannot be superseded (%s)", save,
                          s ? jstate_save_state_name(s->state) : "unknown");
    return commit_record(js, JREC_SUPERSEDED,
                         json_pack("{s:I, s:I, s:s}", "save", (json_int_t)save, "by",
                                   (json_int_t)by, "reason", reason ? reason : ""),
                         err);
}

int jstate_save_lost(struct jstate *js, const char *job, uint64_t save, const char *name,
                     const char *reason, int64_t time, struct hs_err *err)
{
    if (!job || !name || !reason)
        return hs_err_set(err, -EINVAL, "jstate: a lost save needs its job, name and reason");
    const struct jstate_save *s = save ? jstate__save_mut(js, save) : NULL;
    if (save && (!s || (s->state != JSAVE_READY && s->state != JSAVE_HASHED)))
        return hs_err_set(err, -EINVAL, "jstate: save %" PRIu64 " cannot be recorded lost (%s)",
                          save, s ? jstate_save_state_name(s->state) : "unknown");
    json_t *p = json_pack("{s:s, s:s, s:s, s:I}", "job", job, "name", name, "reason", reason,
                          "time", (json_int_t)time);
    if (p && save)
        json_object_set_new(p, "save", json_integer((json_int_t)save));
    return commit_record(js, JREC_SAVE_LOST, p, err);
}

int jstate_tag_done(struct jstate *js, uint64_t save, const char *outcome, const char *detail,
                    struct hs_err *err)
{
    const struct jstate_save *s = jstate__save_mut(js, save);
    const char *tag = s ? json_string_value(json_object_get(s->meta, "tag")) : NULL;
    if (!s || s->state != JSAVE_COMMITTED || !tag || !outcome)
        return hs_err_set(err, -EINVAL, "jstate: save %" PRIu64 " has no tag to record", save);
    json_t *p =
        json_pack("{s:I, s:s, s:s}", "save", (json_int_t)save, "tag", tag, "outcome", outcome);
    if (p && detail)
        json_object_set_new(p, "detail", json_string(detail));
    return commit_record(js, JREC_TAG_DONE, p, err);
}

int jstate_finish(struct jstate *js, const char *job, enum jstate_finish phase, int status,
                  struct hs_err *err)
{
    if (!job || phase == JFINISH_NONE || (size_t)phase >= HS_ARRAY_SIZE(jstate__finish_phases))
        return hs_err_set(err, -EINVAL, "jstate: finish needs a job and a phase");
    return commit_record(js, JREC_FINISH,
                         json_pack("{s:s, s:s, s:i}", "job", job, "phase",
                                   jstate__finish_phases[phase], "status", status),
                         err);
}

json_t *jstate_dump(const struct jstate *js)
{
    json_t *saves = json_array(), *commits = json_array(), *jobs = json_array();
    for (size_t i = 0; i < js->n_saves; i++)
        json_array_append_new(saves, jstate__save_json(&js->saves[i], true));
    for (size_t i = 0; i < js->n_commits; i++)
        json_array_append_new(commits, jstate__commit_json(&js->commits[i], true));
    for (size_t i = 0; i < js->n_jobs; i++)
        json_array_append_new(jobs, jstate__job_json(&js->jobs[i]));
    return json_pack("{s:I, s:I, s:o, s:o, s:o}", "next_save", (json_int_t)js->next_save,
                     "next_commit", (json_int_t)js->next_commit, "saves", saves, "commits", commits,
                     "jobs", jobs);
}
