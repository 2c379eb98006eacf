/*
 * watcher.c — the public face of watcher/: options, the watcher object on
 * the caller's loop, adding and removing jobs, choosing each job's backend
 * (inotify, or polling on network filesystems, on request, or after the
 * inotify watch limit), dispatching the queued events of the backend threads
 * to the jobs' detectors, notices, status, and closing everything so that
 * uv_loop_close() succeeds. Detection is in detect*.c, snapshots in
 * snapshot.c, the backends in inotify.c and poll.c.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void watcher_options_init(struct watcher_options *o)
{
    *o = (struct watcher_options){
        .layout = WATCHER_LAYOUT_AUTO,
        .mode = WATCHER_MODE_AUTO,
        .poll_interval = 10 * HS_USEC_PER_SEC,
        .settle = 30 * HS_USEC_PER_SEC,
        .marker_quiet = 2 * HS_USEC_PER_SEC,
        .world_size = 1,
        .existing = WATCHER_EXISTING_LATEST,
    };
}

void watcher__notice(struct watcher__job *j, int level, const char *fmt, ...)
{
    if (!j->w->cb.on_notice)
        return;
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    j->w->cb.on_notice(j->id ? &j->pub : NULL, (enum watcher_notice_level)level, msg,
                       j->w->userdata);
}

static struct watcher__job *job_by_id(struct watcher *w, uint32_t id)
{
    for (struct watcher__job *j = w->jobs; j; j = j->next)
        if (j->id == id)
            return j;
    return NULL;
}

static int ensure_backend(struct watcher *w, bool poll, struct watcher__backend **out,
                          struct hs_err *err)
{
    struct watcher__backend **slot = poll ? &w->poll : &w->inotify;
    if (!*slot && !poll && w->test_init_error)
        return hs_err_set(err, w->test_init_error, "inotifytools_initialize failed: %s",
                          strerror(-w->test_init_error));
    if (!*slot) {
        int r = poll ? watcher__poll_new(&w->queue, slot, err)
                     : watcher__inotify_new(&w->queue, slot, err);
        if (r < 0)
            return r;
    }
    *out = *slot;
    return 0;
}

static void use_poll(struct watcher__job *j)
{
    struct hs_err err = {0};
    struct watcher__backend *b;
    if (j->backend && j->backend == j->w->poll)
        return;
    if (j->backend)
        j->backend->ops->remove_root(j->backend, j->id);
    j->backend = NULL;
    if (ensure_backend(j->w, true, &b, &err) < 0 ||
        b->ops->add_root(b, j->id, j->o.root, j->o.poll_interval, &err) < 0) {
        watcher__notice(j, WATCHER_NOTICE_ERROR, "%s: cannot poll: %s", j->o.root, err.msg);
        return;
    }
    j->backend = b;
    j->mode = "poll";
}

/* Why inotify could not start, and what to raise. */
static const char *instance_limit_msg(struct watcher__job *j, const char *why)
{
    static char msg[1024];
    long cur = -1;
    char *txt = NULL;
    if (hs_read_file("/proc/sys/fs/inotify/max_user_instances", 64, &txt, NULL) == 0)
        cur = strtol(txt, NULL, 10);
    free(txt);
    snprintf(msg, sizeof(msg),
             "%s: cannot use inotify (%.300s): the inotify instance limit is reached "
             "(fs.inotify.max_user_instances = %ld) or the process is out of file descriptors; "
             "polling this directory every %llu ms instead. Raise the limit with: sysctl -w "
             "fs.inotify.max_user_instances=%ld",
             j->o.root, why, cur, (unsigned long long)(j->o.poll_interval / 1000),
             cur > 0 ? cur * 4 : 1024);
    return msg;
}

static void async_cb(uv_async_t *a)
{
    struct watcher *w = a->data;
    struct watcher__event *list = watcher__queue_take(&w->queue);
    for (struct watcher__event *e = list; e; e = e->next) {
        if (w->closing)
            break;
        if (e->job_id == 0) {
            if (e->kind == WEV_NOTICE && w->cb.on_notice)
                w->cb.on_notice(NULL, (enum watcher_notice_level)e->cookie, e->path, w->userdata);
            continue;
        }
        struct watcher__job *j = job_by_id(w, e->job_id);
        if (!j || j->removed)
            continue; /* events of a removed job still in flight */
        if (e->kind == WEV_USE_POLL)
            use_poll(j);
        else
            watcher__detect_event(j, e);
    }
    watcher__events_free(list);
}

static void free_data_cb(uv_handle_t *h)
{
    free(h->data);
}

int watcher_new(uv_loop_t *loop, const struct watcher_callbacks *cb, void *userdata,
                struct watcher **out, struct hs_err *err)
{
    struct watcher *w = calloc(1, sizeof(*w));
    if (!w)
        return hs_err_set(err, -ENOMEM, "out of memory");
    w->loop = loop;
    if (cb)
        w->cb = *cb;
    w->userdata = userdata;
    w->next_id = 1;
    int r = watcher__queue_init(&w->queue, loop, async_cb);
    if (r < 0) {
        free(w);
        return hs_err_set(err, r, "uv_async_init: %s", uv_strerror(r));
    }
    w->queue.async.data = w;
    r = watcher__lane_init(&w->lane, loop, w);
    if (r < 0) {
        pthread_mutex_destroy(&w->queue.lock);
        uv_close((uv_handle_t *)&w->queue.async, free_data_cb);
        return hs_err_set(err, r, "protect lane: %s", uv_strerror(r));
    }
    *out = w;
    return 0;
}

static void job_free(struct watcher__job *j)
{
    watcher__detect_free(j);
    free((char *)j->o.root);
    free((char *)j->o.spool_dir);
    free(j->spool_rel);
    free(j);
}

static void lane_closed_cb(uv_handle_t *h)
{
    free(((struct watcher__lane *)h->data)->data);
}

/* The last handle or work of a closing watcher is gone: stop its lane
 * (idle now), then free it. */
static void watcher_unpin(struct watcher *w)
{
    if (--w->pending_closes == 0 && w->closing)
        watcher__lane_close(&w->lane, lane_closed_cb);
}

static void closed_cb(uv_handle_t *h)
{
    watcher_unpin(h->data);
}

static void job_unpin(struct watcher__job *j)
{
    struct watcher *w = j->w;
    if (j->timer_closed && j->inflight == 0)
        job_free(j);
    watcher_unpin(w);
}

static void timer_closed_cb(uv_handle_t *h)
{
    struct watcher__job *j = h->data;
    j->timer_closed = true;
    job_unpin(j);
}

void watcher__job_work_start(struct watcher__job *j)
{
    j->inflight++;
    j->w->pending_closes++;
}

void watcher__job_work_done(struct watcher__job *j)
{
    j->inflight--;
    job_unpin(j);
}

int watcher_add_job(struct watcher *w, const struct watcher_options *o, struct watcher_job **out,
                    struct hs_err *err)
{
    if (!o->root || o->root[0] != '/')
        return hs_err_set(err, -EINVAL, "watch root must be an absolute path (got \"%s\")",
                          o->root ? o->root : "");
    if (strlen(o->root) >= HS_PATH_MAX - 256)
        return hs_err_set(err, -ENAMETOOLONG, "watch root too long");
    if ((unsigned)o->layout > WATCHER_LAYOUT_GENERIC || (unsigned)o->mode > WATCHER_MODE_POLL)
        return hs_err_set(err, -EINVAL, "invalid layout or watch mode");
    struct watcher__job *j = calloc(1, sizeof(*j));
    if (!j)
        return hs_err_set(err, -ENOMEM, "out of memory");
    j->w = w;
    j->id = w->next_id++;
    j->o = *o;
    /* spool entry names (<id>-<seq>) never meet an earlier process's entries
     * that the journal still holds: the sequence starts at the clock */
    j->snap_seq = (uint64_t)hs_now_realtime();
    j->o.root = strdup(o->root);
    char spool[HS_PATH_MAX];
    if (o->spool_dir)
        snprintf(spool, sizeof(spool), "%s", o->spool_dir);
    else
        hs_path_join(spool, sizeof(spool), o->root, ".hubsync/spool");
    j->o.spool_dir = strdup(spool);
    if (!j->o.root || !j->o.spool_dir) {
        job_free(j);
        return hs_err_set(err, -ENOMEM, "out of memory");
    }
    /* strip trailing slashes of the root */
    char *root = (char *)j->o.root;
    for (size_t n = strlen(root); n > 1 && root[n - 1] == '/'; n--)
        root[n - 1] = 0;
    size_t rl = strlen(root);
    if (!strncmp(spool, root, rl) && spool[rl] == '/' && !(j->spool_rel = strdup(spool + rl + 1))) {
        job_free(j);
        return hs_err_set(err, -ENOMEM, "out of memory");
    }
    if (!j->o.world_size)
        j->o.world_size = 1;
    if (!j->o.poll_interval)
        j->o.poll_interval = 10 * HS_USEC_PER_SEC;

    /* the filesystem of the root, or of its nearest existing ancestor */
    bool remote = false;
    char probe[HS_PATH_MAX];
    snprintf(probe, sizeof(probe), "%s", root);
    struct stat st;
    while (stat(probe, &st) != 0 && strrchr(probe, '/') && strcmp(probe, "/")) {
        char *s = strrchr(probe, '/');
        s == probe ? (void)(s[1] = 0) : (void)(*s = 0);
    }
    j->fs_type = watcher__fs_type(probe, &remote);
    bool poll = watcher__use_poll(o->mode, remote);

    if (!poll) {
        /* one inotify descriptor: a directory has one watch, owned by one job */
        for (struct watcher__job *o2 = w->jobs; o2; o2 = o2->next) {
            size_t a = strlen(o2->o.root), n = a < rl ? a : rl;
            if (o2->backend == w->inotify && !strncmp(o2->o.root, root, n) &&
                (o2->o.root[n] == 0 || o2->o.root[n] == '/') && (root[n] == 0 || root[n] == '/')) {
                int e = hs_err_set(err, -EEXIST, "%s overlaps the watched directory %s", root,
                                   o2->o.root);
                job_free(j);
                return e;
            }
        }
    }
    int r = uv_timer_init(w->loop, &j->timer);
    if (r < 0) {
        job_free(j);
        return hs_err_set(err, r, "uv_timer_init: %s", uv_strerror(r));
    }
    j->timer.data = j;
    w->pending_closes++;
    j->next = w->jobs;
    w->jobs = j;
    if (poll && o->mode == WATCHER_MODE_AUTO)
        watcher__notice(
            j, WATCHER_NOTICE_INFO,
            "%s: on %s, where inotify misses other hosts' writes; polling every %llu ms", root,
            j->fs_type, (unsigned long long)(j->o.poll_interval / 1000));
    struct watcher__backend *b = NULL;
    r = ensure_backend(w, poll, &b, err);
    if (!poll && (r == -EMFILE || r == -ENFILE)) {
        /* no inotify instance to be had (fs.inotify.max_user_instances, or
         * the open-file limits): poll rather than not watch at all */
        watcher__notice(j, WATCHER_NOTICE_WARN, "%s", instance_limit_msg(j, err->msg));
        poll = true;
        r = ensure_backend(w, poll, &b, err);
    }
    if (r == 0)
        r = b->ops->add_root(b, j->id, root, j->o.poll_interval, err);
    if (r < 0) {
        watcher_remove_job(w, &j->pub);
        return r;
    }
    j->backend = b;
    j->mode = b->ops->name;
    *out = &j->pub;
    return 0;
}

int watcher_remove_job(struct watcher *w, struct watcher_job *job)
{
    struct watcher__job *j = watcher__job_of(job);
    for (struct watcher__job **pp = &w->jobs; *pp; pp = &(*pp)->next) {
        if (*pp == j) {
            *pp = j->next;
            break;
        }
    }
    if (j->backend)
        j->backend->ops->remove_root(j->backend, j->id);
    j->backend = NULL;
    j->removed = true;
    /* freed in the close callback: we may be inside one of its callbacks */
    uv_close((uv_handle_t *)&j->timer, timer_closed_cb);
    return 0;
}

void watcher_close(struct watcher *w)
{
    if (!w || w->closing)
        return;
    while (w->jobs)
        watcher_remove_job(w, &w->jobs->pub);
    if (w->inotify)
        w->inotify->ops->destroy(w->inotify);
    if (w->poll)
        w->poll->ops->destroy(w->poll);
    w->inotify = w->poll = NULL;
    w->closing = true;
    watcher__events_free(watcher__queue_take(&w->queue));
    pthread_mutex_destroy(&w->queue.lock);
    w->pending_closes++;
    uv_close((uv_handle_t *)&w->queue.async, closed_cb);
}

void *watcher_job_userdata(const struct watcher_job *job)
{
    return watcher__job_cof(job)->o.userdata;
}

void watcher_job_status(const struct watcher_job *job, struct watcher_job_status *st)
{
    const struct watcher__job *j = watcher__job_cof(job);
    *st = (struct watcher_job_status){
        .mode = j->mode ? j->mode : "waiting",
        .fs_type = j->fs_type ? j->fs_type : "unknown",
        .rescans = j->rescans,
        .ready = j->ready,
        .pending = j->n_pending,
        .spool_bytes = j->spool_bytes + j->protect_bytes,
        .spool_full = j->spool_full,
        /* the saves found by that scan are checked (existing_checkpoints) */
        .scanned = j->initial_done && !j->existing_wanted && !(j->eval && j->eval->existing),
    };
}

int watcher_test_pause_inotify(struct watcher *w, bool paused)
{
    if (!w->inotify)
        return -ENODEV;
    return watcher__inotify_pause(w->inotify, paused);
}

void watcher_test_inotify_init_error(struct watcher *w, int err)
{
    w->test_init_error = err;
}

void watcher_test_hold_checks(struct watcher *w, bool hold)
{
    w->test_hold = hold;
    if (!hold)
        for (struct watcher__job *j = w->jobs; j; j = j->next)
            watcher__detect_protected(j); /* schedules what was held */
}

int watcher_test_watch_limit(struct watcher *w, size_t limit)
{
    struct hs_err err = {0};
    struct watcher__backend *b = NULL;
    int r = ensure_backend(w, false, &b, &err);
    return r < 0 || !b ? r : watcher__inotify_fake_limit(b, limit);
}

void watcher_test_dump(const struct watcher_job *job, FILE *out)
{
    const struct watcher__job *j = watcher__job_cof(job);
    for (const struct watcher__cand *c = j->cands; c; c = c->next) {
        if (c->done)
            continue;
        fprintf(out, "pending %s (%s): marker=%d live=%d blocked=%d open=%zu", c->key, c->lay->name,
                c->marker, c->marker_live, c->blocked, c->open.n);
        for (size_t i = 0; i < c->open.n && i < 5; i++)
            fprintf(out, " [%s]", c->open.v[i]);
        if (c->quiet_needed)
            fprintf(out, " quiet_needed");
        if (c->gone)
            fprintf(out, " gone");
        if (c->unsure)
            fprintf(out, " unsure");
        if (c->prot)
            fprintf(out, " protected=%zu busy=%u", c->prot->n_files, c->prot->busy);
        fputc('\n', out);
    }
}
