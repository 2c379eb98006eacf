/*
 * check.c — the per-save disk work of the detector, on libuv's thread pool
 * (docs/design.md: no blocking call on the loop thread): the layout's check of a
 * save (a readdir, parsing trainer_state.json or an index, DeepSpeed's
 * latest), the listing that becomes the checkpoint's file list, and the
 * identity (device, inode, mtime) recorded when it is reported. detect.c
 * decides when a save is due and what a result means; this file only runs
 * the work and hands the results back on the loop.
 *
 * One check is in flight per job at a time, so READY events keep the order
 * in which their saves became due. Everything a check needs is copied when
 * it starts; the work touches no watcher state. Cancel-safe like
 * watcher_snapshot_start: the work pins the job (watcher__job_work_start), a
 * save forgotten meanwhile (deleted, rotated, the job removed) detaches its
 * item so the result is dropped, and watcher_close() while a check runs
 * leaves the loop closable.
 */
#include "internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void watcher__notes_add(struct watcher__notes *n, const char *fmt, ...)
{
    if (n->n == HS_ARRAY_SIZE(n->v))
        return; /* enough said: the rest of the same kind is dropped */
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) >= 0)
        n->v[n->n++] = s;
    va_end(ap);
}

static void notes_free(struct watcher__notes *n)
{
    for (size_t i = 0; i < n->n; i++)
        free(n->v[i]);
    n->n = 0;
}

void watcher__eval_detach(struct watcher__eval_item *it)
{
    if (it->c && it->c->checking == it)
        it->c->checking = NULL;
    it->c = NULL;
}

/* ---- the work (any thread) --------------------------------------------------- */

static struct watcher_checkpoint *build(const char *root, struct watcher__eval_item *it,
                                        struct watcher__notes *notes)
{
    struct watcher_checkpoint *cp = calloc(1, sizeof(*cp));
    if (!cp)
        return NULL;
    const char *folder = it->look; /* the save, or its protected copy */
    cp->id = strdup(it->key);
    cp->folder = strdup(it->folder);
    cp->layout = it->lay->name;
    cp->step = it->probe.step;
    cp->epoch = it->probe.epoch;
    cp->index = it->number;
    const char *slash = strrchr(folder, '/');
    bool is_dir = it->probe.is_dir;
    bool base_is_parent = !is_dir || it->lay->id == WATCHER_LAYOUT_DEEPSPEED;
    if (base_is_parent && slash)
        cp->base = strndup(folder, (size_t)(slash - folder));
    else
        cp->base = strdup(folder);
    if (!cp->id || !cp->folder || !cp->base || !slash)
        goto fail;
    if (!is_dir) {
        struct stat st;
        if (lstat(folder, &st) != 0 || !S_ISREG(st.st_mode))
            goto fail;
        if (watcher__add_file(cp, slash + 1, &st) < 0)
            goto fail;
    } else if (base_is_parent) {
        if (watcher__list_files(notes, root, cp, folder, slash + 1) < 0)
            goto fail;
        static const char *const extra[] = {"latest", "zero_to_fp32.py"};
        for (size_t i = 0; i < HS_ARRAY_SIZE(extra); i++) {
            char p[HS_PATH_MAX];
            struct stat st;
            if (hs_path_join(p, sizeof(p), cp->base, extra[i]) == 0 && lstat(p, &st) == 0 &&
                S_ISREG(st.st_mode))
                watcher__add_file(cp, extra[i], &st);
        }
    } else if (watcher__list_files(notes, root, cp, folder, "") < 0) {
        goto fail;
    }
    for (size_t i = 0; i < cp->n_files; i++) {
        cp->total_bytes += cp->files[i].size;
        if (cp->files[i].mtime > it->newest)
            it->newest = cp->files[i].mtime;
    }
    return cp;
fail:
    return watcher_checkpoint_free(cp);
}

static void work_cb(uv_work_t *req)
{
    struct watcher__eval *ev = req->data;
    for (size_t i = 0; i < ev->n; i++) {
        struct watcher__eval_item *it = &ev->items[i];
        it->probe.folder = it->look;
        it->result = it->lay->check(&it->probe);
        if (it->result != WCHECK_COMPLETE)
            continue;
        it->cp = build(ev->root, it, &ev->notes);
        struct stat st;
        if (it->cp && lstat(it->folder, &st) == 0) {
            it->have_id = true;
            it->dev = st.st_dev;
            it->ino = st.st_ino;
            it->mtime = (hs_usec_t)st.st_mtim.tv_sec * HS_USEC_PER_SEC +
                        (hs_usec_t)st.st_mtim.tv_nsec / 1000;
        }
    }
}

static void after_cb(uv_work_t *req, int status)
{
    struct watcher__eval *ev = req->data;
    struct watcher__job *j = ev->j;
    j->eval = NULL;
    if (status < 0) /* cancelled before it ran (watcher_close) */
        for (size_t i = 0; i < ev->n; i++)
            ev->items[i].result = WCHECK_INCOMPLETE;
    if (!j->removed) {
        for (size_t i = 0; i < ev->notes.n; i++)
            watcher__notice(j, WATCHER_NOTICE_WARN, "%s", ev->notes.v[i]);
        watcher__detect_checked(j, ev);
    }
    for (size_t i = 0; i < ev->n; i++) {
        struct watcher__eval_item *it = &ev->items[i];
        watcher__eval_detach(it);
        watcher_checkpoint_free(it->cp);
        free(it->key);
    }
    notes_free(&ev->notes);
    free(ev->items);
    free(ev);
    watcher__job_work_done(j); /* may free j */
}

/* ---- starting one (loop) -------------------------------------------------- */

int watcher__eval_start(struct watcher__job *j, struct watcher__cand **cands, size_t n,
                        bool existing)
{
    if (j->eval || j->removed || n == 0)
        return -EBUSY;
    struct watcher__eval *ev = calloc(1, sizeof(*ev));
    if (!ev || !(ev->items = calloc(n, sizeof(*ev->items)))) {
        free(ev);
        return -ENOMEM;
    }
    ev->req.data = ev;
    ev->j = j;
    ev->root = j->o.root; /* the job's, stable while the work pins it */
    ev->existing = existing;
    hs_usec_t now = hs_now_monotonic();
    for (size_t i = 0; i < n; i++) {
        struct watcher__cand *c = cands[i];
        struct watcher__eval_item *it = &ev->items[ev->n];
        if (c->checking || watcher__cand_path(j, c, it->folder, sizeof(it->folder)) < 0 ||
            !(it->key = strdup(c->key)))
            continue;
        /* a save whose folder vanished is decided on its protected copy */
        const char *pre = c->gone && c->prot ? c->prot->prefix : NULL;
        if (!pre)
            snprintf(it->look, sizeof(it->look), "%s", it->folder);
        else if (snprintf(it->look, sizeof(it->look), "%s%s%s", c->prot->dir, *pre ? "/" : "",
                          pre) >= (int)sizeof(it->look)) {
            free(it->key);
            it->key = NULL;
            continue;
        }
        it->c = c;
        it->seq = c->events;
        it->lay = c->lay;
        it->number = c->number;
        it->probe = (struct watcher__probe){
            .number = c->number,
            .world = j->o.world_size ? j->o.world_size : 1,
            .step = -1,
            .epoch = -1,
            .is_dir = c->is_dir,
            /* an unreadable marker is accepted after settle of quiet, or
             * at once when the folder is gone (nothing writes it any more) */
            .settled = c->gone || (c->unsure && now >= c->last_activity + j->o.settle),
            .settle = existing ? j->o.settle : 0,
        };
        c->checking = it;
        ev->n++;
    }
    int r = ev->n ? uv_queue_work(j->w->loop, &ev->req, work_cb, after_cb) : -ENOENT;
    if (r < 0) {
        for (size_t i = 0; i < ev->n; i++) {
            ev->items[i].c->checking = NULL;
            free(ev->items[i].key);
        }
        free(ev->items);
        free(ev);
        return r;
    }
    j->eval = ev;
    watcher__job_work_start(j);
    return 0;
}
