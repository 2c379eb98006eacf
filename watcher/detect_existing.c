/*
 * detect_existing.c — existing_checkpoints: after a job's first scan, every
 * save it found is checked in one batch on the thread pool, and the results
 * are applied on the loop (report the newest, all oldest first, or none;
 * the others are remembered as done). A save still being written, or whose
 * marker is unreadable, follows the live rules of detect.c instead.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

static int cmp_ready(const void *a, const void *b)
{
    const struct watcher_checkpoint *x = *(const struct watcher_checkpoint *const *)a;
    const struct watcher_checkpoint *y = *(const struct watcher_checkpoint *const *)b;
    int64_t kx = x->step >= 0 ? x->step : x->index, ky = y->step >= 0 ? y->step : y->index;
    if (kx != ky)
        return kx < ky ? -1 : 1;
    return strcmp(x->id, y->id);
}

/* After the first scan: check every save found (one batch on the thread
 * pool); existing_done() applies existing_checkpoints to the results. */
void watcher__apply_existing(struct watcher__job *j)
{
    size_t n = 0;
    for (struct watcher__cand *c = j->cands; c; c = c->next)
        n += !c->done && c->existing && !c->open.n && !c->checking;
    struct watcher__cand **v = n ? calloc(n, sizeof(*v)) : NULL;
    if (!v)
        return; /* none, or out of memory: the live rules report them */
    n = 0;
    for (struct watcher__cand *c = j->cands; c; c = c->next)
        if (!c->done && c->existing && !c->open.n && !c->checking)
            v[n++] = c;
    if (watcher__eval_start(j, v, n, true) < 0)
        j->existing_wanted = true; /* a live check runs: retried when it ends */
    free(v);
}

void watcher__existing_done(struct watcher__job *j, struct watcher__eval *ev)
{
    size_t n = 0;
    struct watcher__eval_item **v = calloc(ev->n ? ev->n : 1, sizeof(*v));
    if (!v)
        return;
    hs_usec_t now_real = hs_now_realtime();
    for (size_t i = 0; i < ev->n; i++) {
        struct watcher__eval_item *it = &ev->items[i];
        struct watcher__cand *c = it->c;
        if (c && !c->done && c->events == it->seq && it->result == WCHECK_UNSURE)
            c->unsure = true; /* the settle rule, then a warning */
        if (!c || c->done || c->events != it->seq || it->result != WCHECK_COMPLETE || !it->cp)
            continue; /* the live rules apply */
        hs_usec_t quiet = c->lay->rule == WRULE_SETTLE         ? j->o.settle
                          : c->lay->rule == WRULE_MARKER_QUIET ? j->o.marker_quiet
                                                               : 0;
        if (it->newest + quiet > now_real)
            continue; /* still being written: the live rules apply */
        c->step = it->probe.step;
        c->epoch = it->probe.epoch;
        c->is_dir = it->probe.is_dir;
        v[n++] = it;
    }
    /* by (step|index, id) */
    for (size_t a = 1; a < n; a++)
        for (size_t b = a; b > 0 && cmp_ready(&v[b - 1]->cp, &v[b]->cp) > 0; b--) {
            struct watcher__eval_item *t = v[b];
            v[b] = v[b - 1];
            v[b - 1] = t;
        }
    for (size_t i = 0; i < n; i++) {
        bool report = j->o.existing == WATCHER_EXISTING_ALL ||
                      (j->o.existing == WATCHER_EXISTING_LATEST && i == n - 1);
        if (report && !j->removed)
            watcher__fire(j, v[i]->c, v[i]);
        else
            watcher__mark_done(j, v[i]->c, v[i]);
    }
    if (n && j->o.existing != WATCHER_EXISTING_ALL)
        watcher__notice(j, WATCHER_NOTICE_INFO, "%s: %zu complete save(s) already on disk; %s",
                        j->o.root, n,
                        j->o.existing == WATCHER_EXISTING_NONE ? "none reported (existing: none)"
                                                               : "reporting the newest only");
    free(v);
}
