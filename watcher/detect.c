/*
 * detect.c — the checkpoint detector of one job, on the loop thread: maps
 * each normalised event to the save it belongs to (via the layouts'
 * classify), tracks files written and not yet closed, completion markers and
 * quiet periods, and arms the job's single uv_timer_t only while a save or
 * training output is pending. When a save is due it asks its layout to
 * check it on disk, lists its files and calls on_checkpoint_ready exactly
 * once; a "done" record remembers the save's identity (device, inode) so a
 * rescan does not report it again while a re-created folder of the same
 * name is a new save. Also applies existing_checkpoints after the first scan,
 * and reports training output. Layout rules live in detect_<layout>.c.
 *
 * Every save seen complete ends in READY or on_checkpoint_lost: its files
 * are protected in the spool as they are seen complete (protect.c), a save
 * is checked only once its pending links are done, and a save whose folder
 * vanishes after its marker (deleted, renamed away, unseen by a rescan, the
 * root gone, or GONE in its check) is decided on its protected copy
 * (vanished(), then evaluate()/checked() with c->gone), else reported lost.
 * A check item and its save point at each other until either goes
 * (watcher__eval_detach): a save freed while checked drops the result.
 *
 * The disk checks (a readdir of one save, parsing trainer_state.json) run on
 * the thread pool (check.c), one at a time per job; what stays here is a
 * single lstat where a save is never listed and for files whose close never
 * came.
 */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#define IMMEDIATE (20 * HS_USEC_PER_MSEC) /* coalesce a burst of events */
#define NEVER     UINT64_MAX

static const struct watcher__layout_ops *const auto_order[] = {
    &watcher__layout_trainer,
    &watcher__layout_deepspeed,
    &watcher__layout_accelerate,
    &watcher__layout_lightning,
};

static const struct watcher__layout_ops *layout_of(enum watcher_layout l)
{
    switch (l) {
    case WATCHER_LAYOUT_TRAINER:
        return &watcher__layout_trainer;
    case WATCHER_LAYOUT_ACCELERATE:
        return &watcher__layout_accelerate;
    case WATCHER_LAYOUT_LIGHTNING:
        return &watcher__layout_lightning;
    case WATCHER_LAYOUT_DEEPSPEED:
        return &watcher__layout_deepspeed;
    case WATCHER_LAYOUT_GENERIC:
        return &watcher__layout_generic;
    default:
        return NULL;
    }
}

static const struct watcher__layout_ops *classify(struct watcher__job *j, const char *path,
                                                  struct watcher__match *m)
{
    if (!*path)
        return NULL;
    if (j->spool_rel) {
        size_t n = strlen(j->spool_rel);
        if (!strncmp(path, j->spool_rel, n) && (path[n] == 0 || path[n] == '/'))
            return NULL;
    }
    const struct watcher__layout_ops *one = layout_of(j->o.layout);
    if (one)
        return one->classify(path, m) ? one : NULL;
    for (size_t i = 0; i < HS_ARRAY_SIZE(auto_order); i++)
        if (auto_order[i]->classify(path, m))
            return auto_order[i];
    return NULL;
}

/* ---- candidates ----------------------------------------------------------- */

static struct watcher__cand *cand_find(struct watcher__job *j, const char *key, size_t n)
{
    for (struct watcher__cand *c = j->cands; c; c = c->next)
        if (!c->gone && strlen(c->key) == n && !memcmp(c->key, key, n))
            return c; /* a save whose folder vanished is known by pointer only */
    return NULL;
}

static void open_clear(struct watcher__cand *c)
{
    watcher__set_clear(&c->open);
    watcher__set_clear(&c->closed);
    watcher__set_clear(&c->made);
    c->open_check = 0;
    c->quiet_needed = false;
    c->renamed = false;
}

static void cand_free(struct watcher__cand *c)
{
    if (c->checking)
        watcher__eval_detach(c->checking); /* its check's result is dropped */
    watcher__set_free(&c->files);
    watcher__set_free(&c->open);
    watcher__set_free(&c->closed);
    watcher__set_free(&c->made);
    free(c->key);
    free(c);
}

static void cand_unlink(struct watcher__job *j, struct watcher__cand *c)
{
    for (struct watcher__cand **pp = &j->cands; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            if (!c->done)
                j->n_pending--;
            watcher__prot_release(j, c->prot); /* never READY: nothing to keep */
            c->prot = NULL;
            cand_free(c);
            return;
        }
    }
}

int watcher__cand_path(struct watcher__job *j, const struct watcher__cand *c, char *out, size_t n)
{
    return hs_path_join(out, n, j->o.root, c->key);
}

static void cand_reset(struct watcher__job *j, struct watcher__cand *c)
{
    if (c->done)
        j->n_pending++;
    c->done = false;
    c->marker = c->marker_live = false;
    c->marker_at = 0;
    c->blocked = false;
    c->existing = false;
    c->unsure = false;
    watcher__prot_release(j, c->prot); /* the old save's files, if any */
    c->prot = NULL;
    watcher__set_clear(&c->files);
    open_clear(c);
}

/* ---- identity (is this still the save we reported?) --------------------- */

static bool same_identity(struct watcher__job *j, struct watcher__cand *c)
{
    char p[HS_PATH_MAX];
    struct stat st;
    if (watcher__cand_path(j, c, p, sizeof(p)) < 0 || lstat(p, &st) != 0)
        return false;
    if (st.st_dev != c->dev || st.st_ino != c->ino)
        return false;
    if (!c->is_dir) {
        hs_usec_t m =
            (hs_usec_t)st.st_mtim.tv_sec * HS_USEC_PER_SEC + (hs_usec_t)st.st_mtim.tv_nsec / 1000;
        return m == c->mtime;
    }
    return true;
}

/* Remember the save as reported, with its identity (recorded by its check
 * when it was listed) so that a later event counts as a new save only if
 * the folder was re-created (same_identity). */
void watcher__mark_done(struct watcher__job *j, struct watcher__cand *c,
                        const struct watcher__eval_item *it)
{
    char p[HS_PATH_MAX];
    struct stat st;
    if (it && it->have_id) {
        c->dev = it->dev;
        c->ino = it->ino;
        c->mtime = it->mtime;
    } else if (watcher__cand_path(j, c, p, sizeof(p)) == 0 && lstat(p, &st) == 0) {
        c->dev = st.st_dev; /* one lstat, only for saves never listed */
        c->ino = st.st_ino;
        c->mtime =
            (hs_usec_t)st.st_mtim.tv_sec * HS_USEC_PER_SEC + (hs_usec_t)st.st_mtim.tv_nsec / 1000;
    }
    if (!c->done)
        j->n_pending--;
    c->done = true;
    c->unsure = false;
    watcher__prot_release(j, c->prot); /* not reported: its entry is not needed */
    c->prot = NULL;
    watcher__set_clear(&c->files);
    open_clear(c);
}

/* ---- reporting ------------------------------------------------------------- */

static int cmp_file(const void *a, const void *b)
{
    return strcmp(((const struct watcher_file *)a)->path, ((const struct watcher_file *)b)->path);
}

void watcher__fire(struct watcher__job *j, struct watcher__cand *c, struct watcher__eval_item *it)
{
    struct watcher_checkpoint *cp = it->cp;
    struct watcher__prot *p = c->prot; /* a snapshot in the callback adopts it */
    c->prot = NULL;
    watcher__mark_done(j, c, it);
    if (p)
        watcher__prot_ready(j, p);
    if (it->probe.warn[0])
        watcher__notice(j, WATCHER_NOTICE_WARN, "%s: %s: %s", j->o.root, cp->id, it->probe.warn);
    cp->existing = c->existing;
    cp->marker_at = c->marker_at;
    if (cp->n_files > 1)
        qsort(cp->files, cp->n_files, sizeof(*cp->files), cmp_file);
    cp->ready_at = hs_now_monotonic();
    j->ready++;
    if (j->w->cb.on_checkpoint_ready)
        j->w->cb.on_checkpoint_ready(&j->pub, cp, j->w->userdata);
    if (p)
        watcher__prot_after_ready(j, p);
}

/* ---- saves whose folder vanished ---------------------------------------- */

/* Was c seen complete (its marker seen), so that losing it must be said?
 * A partial save removed by its writer is not; nor is a save found by the
 * first scan that existing_checkpoints would not report anyway. */
static bool seen_complete(struct watcher__job *j, const struct watcher__cand *c)
{
    return c->marker && c->lay->rule != WRULE_SETTLE &&
           (!c->existing || j->o.existing == WATCHER_EXISTING_ALL);
}

static void lost(struct watcher__job *j, struct watcher__cand *c, const char *why)
{
    watcher__lost(j, c, "%s", why);
    cand_unlink(j, c);
}

/* The folder of c is gone (deleted, renamed away, unseen by a rescan, the
 * root deleted). A save seen complete is then decided on its protected
 * entry once its protection ends (due, evaluate), or reported lost; any
 * other is forgotten and its entry released. */
static void vanished(struct watcher__job *j, struct watcher__cand *c)
{
    if (c->done || c->gone || !seen_complete(j, c)) {
        if (!c->gone)
            cand_unlink(j, c);
        return;
    }
    if (!c->prot)
        return lost(j, c,
                    c->is_dir ? "its folder was deleted before any of its files could be "
                                "protected in the spool"
                              : "it was deleted before READY (a single-file save is "
                                "snapshotted only when it is READY)");
    c->gone = true;
    c->events++; /* a check of the folder in flight is stale */
    c->blocked = false;
    c->quiet_needed = false;
    open_clear(c);
}

/* A gone save: was every file seen in it protected? */
static bool gone_complete(struct watcher__cand *c, char *why, size_t n)
{
    if (!c->prot || !c->prot->n_files) {
        snprintf(why, n, "its folder was deleted before any of its files could be protected");
        return false;
    }
    const char *pre = c->prot->prefix;
    for (size_t i = 0; i < c->files.n; i++) {
        char rel[HS_PATH_MAX];
        snprintf(rel, sizeof(rel), "%s%s%s", pre, *pre ? "/" : "", c->files.v[i]);
        if (!watcher__prot_file(c->prot, rel)) {
            snprintf(why, n, "its folder was deleted before %s could be protected", c->files.v[i]);
            return false;
        }
    }
    return true;
}

/* ---- scheduling ------------------------------------------------------------ */

/* Only one process writes the save (its own files are closed before its
 * marker), so the marker is proof enough. */
static bool single_writer(struct watcher__job *j, const struct watcher__cand *c)
{
    return j->o.world_size <= 1 || c->lay->id == WATCHER_LAYOUT_LIGHTNING;
}

static hs_usec_t due(struct watcher__job *j, const struct watcher__cand *c)
{
    if (c->done || c->blocked || c->checking)
        return NEVER;
    if (c->prot && c->prot->busy)
        return NEVER; /* checked once its protection ends (watcher__detect_protected) */
    if (c->gone)
        return 0;      /* decided now, on its protected copy */
    if (c->open.n > 0) /* a close never seen must not block forever: look again */
        return c->open_check ? c->open_check : c->last_activity + j->o.settle;
    if (c->unsure) /* unreadable marker: the settle rule */
        return c->last_activity + j->o.settle;
    hs_usec_t last = c->marker_at > c->last_activity ? c->marker_at : c->last_activity;
    switch (c->lay->rule) {
    case WRULE_MARKER:
        if (!c->marker)
            return NEVER;
        if (c->marker_live && single_writer(j, c))
            return c->marker_at + IMMEDIATE;
        /* other ranks: READY as soon as every file they must write is there
         * and seen closed (checked on evaluation); marker_quiet only for
         * what cannot be observed (a save seen by a scan, a file whose
         * close was not seen) */
        if (c->marker_live && !c->quiet_needed)
            return last + IMMEDIATE;
        return last + j->o.marker_quiet;
    case WRULE_MARKER_QUIET:
        if (!c->marker)
            return NEVER;
        return c->last_activity + j->o.marker_quiet;
    case WRULE_SETTLE:
    default:
        return c->last_activity + j->o.settle;
    }
}

/* Is a older than b as saves go: by the number in their names, else by
 * when the watcher first saw them. */
static bool older(const struct watcher__cand *a, const struct watcher__cand *b)
{
    if (a->number >= 0 && b->number >= 0 && a->number != b->number)
        return a->number < b->number;
    return a->seq < b->seq;
}

/* The save to check next, and when (*when). Saves with a completion marker
 * go oldest first: a newer one waits while an older one whose marker was
 * seen is still due (its quiet period or its check), so saves found at once
 * (a loop that was busy or stopped, a scan) are reported in save order —
 * an older save reported after a newer one would supersede it. An older
 * save found incomplete is blocked (due NEVER) and holds nothing. Saves
 * without a marker (settle rule) go by due time. Files whose close was never
 * seen are stale_opens()'s, not this. */
static struct watcher__cand *next_save(struct watcher__job *j, hs_usec_t *when)
{
    struct watcher__cand *mk = NULL, *other = NULL;
    hs_usec_t mk_due = NEVER, other_due = NEVER;
    for (struct watcher__cand *c = j->cands; c; c = c->next) {
        if (c->open.n)
            continue;
        hs_usec_t d = due(j, c);
        if (d == NEVER)
            continue;
        if (c->marker) {
            if (!mk || older(c, mk))
                mk = c, mk_due = d;
        } else if (d <= other_due) { /* ties: the older (later in the list) */
            other = c, other_due = d;
        }
    }
    if (mk && (!other || mk_due <= other_due)) {
        *when = mk_due;
        return mk;
    }
    *when = other_due;
    return other;
}

static void schedule(struct watcher__job *j)
{
    if (j->removed)
        return;
    hs_usec_t next = NEVER;
    /* while a check runs only stale opens are looked at; the rest is
     * scheduled again when it ends */
    if (!j->eval && !j->w->test_hold)
        next_save(j, &next);
    for (struct watcher__cand *c = j->cands; c; c = c->next) {
        if (!c->open.n)
            continue;
        hs_usec_t d = due(j, c);
        if (d < next)
            next = d;
    }
    if (j->n_out) {
        hs_usec_t d = j->out_activity + j->o.marker_quiet;
        if (d < next)
            next = d;
    }
    if (next == NEVER) {
        if (j->timer_armed)
            uv_timer_stop(&j->timer);
        j->timer_armed = false;
        return;
    }
    hs_usec_t now = hs_now_monotonic();
    uint64_t ms = next <= now ? 0 : (next - now + HS_USEC_PER_MSEC - 1) / HS_USEC_PER_MSEC;
    if (j->timer_armed && j->timer_due == next)
        return;
    uv_timer_start(&j->timer, watcher__detect_timer_cb, ms, 0);
    j->timer_armed = true;
    j->timer_due = next;
}

static void report_output(struct watcher__job *j)
{
    struct watcher_checkpoint tmp = {0}; /* reuse the file list helpers */
    for (size_t i = 0; i < j->n_out; i++) {
        char p[HS_PATH_MAX];
        struct stat st;
        if (hs_path_join(p, sizeof(p), j->o.root, j->out[i]) == 0 && lstat(p, &st) == 0 &&
            S_ISREG(st.st_mode))
            watcher__add_file(&tmp, j->out[i], &st);
        free(j->out[i]);
    }
    j->n_out = 0;
    if (tmp.n_files && j->w->cb.on_training_output) {
        qsort(tmp.files, tmp.n_files, sizeof(*tmp.files), cmp_file);
        struct watcher_output out = {.base = j->o.root, .n_files = tmp.n_files, .files = tmp.files};
        j->w->cb.on_training_output(&j->pub, &out, j->w->userdata);
    }
    for (size_t i = 0; i < tmp.n_files; i++)
        free(tmp.files[i].path);
    free(tmp.files);
}

/* Files seen written whose close never came (an open made before the
 * watch existed and closed before it did, a lost event): one whose mtime is
 * older than settle is treated as closed, with a notice, so that it cannot
 * block its save forever. One written since is looked at again later.
 * (IN_MODIFY events are coalesced, so the mtime, not the last event, tells
 * whether writes go on.) */
static void stale_opens(struct watcher__job *j, struct watcher__cand *c, hs_usec_t now)
{
    hs_usec_t now_real = hs_now_realtime(), next = NEVER;
    for (size_t i = 0; i < c->open.n;) {
        const char *rel = c->open.v[i];
        char folder[HS_PATH_MAX], p[HS_PATH_MAX];
        struct stat st;
        if (watcher__cand_path(j, c, folder, sizeof(folder)) < 0 ||
            hs_path_join(p, sizeof(p), folder, rel) < 0 || lstat(p, &st) != 0) {
            watcher__set_remove(&c->open, rel); /* gone (its deletion event follows) */
            continue;
        }
        hs_usec_t m =
            (hs_usec_t)st.st_mtim.tv_sec * HS_USEC_PER_SEC + (hs_usec_t)st.st_mtim.tv_nsec / 1000;
        if (m + j->o.settle <= now_real) {
            watcher__notice(j, WATCHER_NOTICE_WARN,
                            "%s: %s%s%s was written but its close was never seen; unchanged for "
                            "%.1f s, treating it as closed",
                            j->o.root, c->key, *rel ? "/" : "", rel,
                            (double)(now_real - m) / HS_USEC_PER_SEC);
            watcher__set_add(&c->closed, rel);
            watcher__set_remove(&c->open, rel);
            continue;
        }
        hs_usec_t d = now + (m + j->o.settle - now_real);
        if (d < next)
            next = d;
        i++;
    }
    c->open_check = next == NEVER ? 0 : next;
}

/* W > 1, before marker_quiet has passed: is every file of the save either
 * seen closed after writing, or older than the marker (or there when the
 * folder was renamed into its final name) and not seen created since (rank
 * 0's files, written before it)? Otherwise the quiet period covers what we
 * could not see. */
static bool all_closed(struct watcher__cand *c, const struct watcher_checkpoint *cp, char *why,
                       size_t why_len)
{
    const char *mf = c->lay->marker_file;
    hs_usec_t mt = 0;
    for (size_t i = 0; mf && i < cp->n_files; i++)
        if (!strcmp(cp->files[i].path, mf))
            mt = cp->files[i].mtime;
    if (!mt) {
        snprintf(why, why_len, "no marker file");
        return false;
    }
    /* file paths are relative to base; the sets to the save's folder */
    const char *inside = watcher__folder_in_base(cp);
    size_t ilen = strlen(inside);
    for (size_t i = 0; i < cp->n_files; i++) {
        const struct watcher_file *f = &cp->files[i];
        if (!strcmp(f->path, mf))
            continue;
        const char *rel = NULL;
        if (!ilen)
            rel = f->path;
        else if (!strncmp(f->path, inside, ilen) && f->path[ilen] == '/')
            rel = f->path + ilen + 1;
        if (rel && watcher__set_has(&c->closed, rel))
            continue;
        /* timestamps are coarse (a clock tick): rank 0's last files share the
         * marker's; another rank's file created that late is in made */
        if ((f->mtime <= mt || c->renamed) && !(rel && watcher__set_has(&c->made, rel)))
            continue;
        snprintf(why, why_len, "%s not seen closed", f->path);
        return false;
    }
    return true;
}

/* Start the disk check of a due save on the thread pool (the result comes
 * back in watcher__detect_checked). */
static void evaluate(struct watcher__job *j, struct watcher__cand *c)
{
    if (!watcher__name_printable(c->key)) {
        char esc[512];
        watcher__name_escape(c->key, esc, sizeof(esc));
        watcher__notice(j, WATCHER_NOTICE_WARN,
                        "%s: skipped the save \"%s\": its name is not printable UTF-8", j->o.root,
                        esc);
        watcher__mark_done(j, c, NULL);
        return;
    }
    char why[512];
    if (c->gone && !gone_complete(c, why, sizeof(why)))
        return lost(j, c, why);
    if (watcher__eval_start(j, &c, 1, false) < 0)
        c->blocked = true; /* out of memory: the next event in it retries */
}

/* The result of one live save's check. */
static void checked(struct watcher__job *j, struct watcher__eval_item *it, hs_usec_t now)
{
    struct watcher__cand *c = it->c;
    /* both ways: c may be freed below, and after_cb must not touch it */
    watcher__eval_detach(it);
    if (!c || c->done)
        return; /* forgotten or reported meanwhile */
    if (c->events != it->seq)
        return; /* it changed while we looked: look again when due */
    c->step = it->probe.step;
    c->epoch = it->probe.epoch;
    if (c->gone) {
        /* decided on the protected copy: READY, or lost for good */
        char why[512];
        if (it->result == WCHECK_COMPLETE && it->cp) {
            watcher__fire(j, c, it);
            cand_unlink(j, c);
            return;
        }
        snprintf(why, sizeof(why),
                 "its folder was deleted and what was protected of it is not a complete save (%s)",
                 it->probe.why[0] ? it->probe.why : "gone");
        return lost(j, c, why);
    }
    if (it->result == WCHECK_GONE)
        return vanished(j, c); /* deleted before its deletion event came */
    if (it->result == WCHECK_UNSURE) {
        c->unsure = true; /* quiet for settle, then taken with a warning */
        return;
    }
    if (it->result == WCHECK_INCOMPLETE || !it->cp) {
        c->blocked = true; /* until the next event in it */
        return;
    }
    c->is_dir = it->probe.is_dir;
    char why[256];
    hs_usec_t last = c->marker_at > c->last_activity ? c->marker_at : c->last_activity;
    if (c->lay->rule == WRULE_MARKER && !single_writer(j, c) && c->marker_live &&
        now < last + j->o.marker_quiet && !all_closed(c, it->cp, why, sizeof(why))) {
        c->quiet_needed = true; /* until the next event in it */
        return;
    }
    watcher__fire(j, c, it);
}

void watcher__detect_timer_cb(uv_timer_t *t)
{
    struct watcher__job *j = t->data;
    j->timer_armed = false;
    hs_usec_t now = hs_now_monotonic();
    for (struct watcher__cand *c = j->cands, *next; c; c = next) {
        next = c->next;
        if (c->open.n && due(j, c) <= now)
            stale_opens(j, c, now);
    }
    /* one check in flight per job, saves in order (next_save) */
    hs_usec_t when;
    struct watcher__cand *first = j->eval || j->w->test_hold ? NULL : next_save(j, &when);
    if (first && when <= now)
        evaluate(j, first);
    if (j->removed)
        return;
    if (j->n_out && j->out_activity + j->o.marker_quiet <= now)
        report_output(j);
    schedule(j);
}

void watcher__detect_checked(struct watcher__job *j, struct watcher__eval *ev)
{
    if (ev->existing) {
        watcher__existing_done(j, ev);
    } else {
        hs_usec_t now = hs_now_monotonic();
        for (size_t i = 0; i < ev->n && !j->removed; i++)
            checked(j, &ev->items[i], now);
    }
    if (j->existing_wanted && !j->removed) {
        j->existing_wanted = false;
        watcher__apply_existing(j);
    }
    schedule(j);
}

/* ---- events ---------------------------------------------------------------- */

static void out_add(struct watcher__job *j, const char *path)
{
    for (size_t i = 0; i < j->n_out; i++)
        if (!strcmp(j->out[i], path))
            return;
    if (j->n_out == j->cap_out) {
        size_t n = j->cap_out ? j->cap_out * 2 : 16;
        char **v = realloc(j->out, n * sizeof(*v));
        if (!v)
            return;
        j->out = v;
        j->cap_out = n;
    }
    char *s = strdup(path);
    if (s)
        j->out[j->n_out++] = s;
}

/* DeepSpeed's `latest` sits beside the tag folders it names. */
static void latest_written(struct watcher__job *j, const char *path, hs_usec_t t, bool live)
{
    const char *slash = strrchr(path, '/');
    size_t dlen = slash ? (size_t)(slash - path) : 0;
    for (struct watcher__cand *c = j->cands; c; c = c->next) {
        if (c->done || c->lay->id != WATCHER_LAYOUT_DEEPSPEED)
            continue;
        const char *cs = strrchr(c->key, '/');
        size_t clen = cs ? (size_t)(cs - c->key) : 0;
        if (clen == dlen && !strncmp(c->key, path, dlen)) {
            c->marker = true;
            c->marker_live = live;
            c->marker_at = t;
            c->blocked = false;
            c->last_activity = t;
        }
    }
}

/* A file of a pending save is written: tell the caller (on_file_growing). */
static void growing(struct watcher__job *j, const struct watcher__cand *c, const char *path)
{
    char abs[HS_PATH_MAX];
    if (j->w->cb.on_file_growing && *path && hs_path_join(abs, sizeof(abs), j->o.root, path) == 0)
        j->w->cb.on_file_growing(&j->pub, c->key, abs, j->w->userdata);
}

static void path_event(struct watcher__job *j, const struct watcher__event *e)
{
    struct watcher__match m = {.number = -1};
    const struct watcher__layout_ops *lay = classify(j, e->path, &m);
    if (!lay) {
        const char *base = strrchr(e->path, '/');
        base = base ? base + 1 : e->path;
        bool closing = e->kind == WEV_CLOSED_WRITE || e->kind == WEV_MOVED_IN ||
                       (e->kind == WEV_CREATED && e->from_scan);
        if (!e->is_dir && !strcmp(base, "latest") && closing)
            latest_written(j, e->path, e->time, !e->from_scan);
        if (!e->is_dir && !e->from_scan && j->o.layout != WATCHER_LAYOUT_GENERIC) {
            if (e->kind == WEV_CLOSED_WRITE || e->kind == WEV_MOVED_IN)
                out_add(j, e->path);
            if (e->kind == WEV_CLOSED_WRITE || e->kind == WEV_MOVED_IN || e->kind == WEV_MODIFIED ||
                e->kind == WEV_CREATED)
                j->out_activity = e->time;
        }
        return;
    }
    const char *rel = e->path + m.key_len;
    if (*rel == '/')
        rel++;
    struct watcher__cand *c = cand_find(j, e->path, m.key_len);
    bool removal = e->kind == WEV_DELETED || e->kind == WEV_MOVED_OUT;
    if (removal && !*rel) {
        if (c)
            vanished(j, c); /* rotation or rename away: a new one is a new save */
        return;
    }
    if (!c) {
        if (removal)
            return;
        c = calloc(1, sizeof(*c));
        if (!c || !(c->key = strndup(e->path, m.key_len))) {
            free(c);
            return;
        }
        c->lay = lay;
        c->is_dir = m.is_dir;
        c->number = m.number;
        c->seq = j->cand_seq++;
        c->step = -1;
        c->epoch = -1;
        c->existing = e->from_scan && !j->initial_done;
        c->next = j->cands;
        j->cands = c;
        j->n_pending++;
    }
    c->seen = true;
    c->events++;
    if (c->done) {
        if (removal || e->kind == WEV_DELETED || same_identity(j, c))
            return;
        cand_reset(j, c); /* same name, new folder or rewritten file: a new save */
    }
    if (!e->from_scan || !c->last_activity)
        c->last_activity = e->time;
    c->blocked = false;
    c->quiet_needed = false;
    c->open_check = 0;
    bool file = !e->is_dir;
    /* which files were seen closed matters only where other ranks write
     * after the marker (all_closed); elsewhere the sets stay empty (adding
     * is O(files of the save)) */
    bool track = lay->rule == WRULE_MARKER && !single_writer(j, c);
    switch (e->kind) {
    case WEV_CREATED:
        /* a creation alone is not a write (a hard link or a symlink never
         * gets a close): not "open", but not "seen closed" either */
        if (file && !e->from_scan && track) {
            watcher__set_add(&c->made, rel);
            watcher__set_remove(&c->closed, rel);
        }
        break;
    case WEV_MODIFIED:
        if (file && !e->from_scan) {
            watcher__set_add(&c->open, rel);
            watcher__set_remove(&c->closed, rel);
            growing(j, c, e->path);
        }
        break;
    case WEV_CLOSED_WRITE:
    case WEV_MOVED_IN:
        if (file && !e->from_scan && track) {
            watcher__set_remove(&c->open, rel);
            watcher__set_remove(&c->made, rel);
            watcher__set_add(&c->closed, rel);
        } else if (file) {
            watcher__set_remove(&c->open, rel);
        }
        break;
    case WEV_DELETED:
    case WEV_MOVED_OUT:
        if (file) {
            watcher__set_remove(&c->open, rel);
            watcher__set_remove(&c->made, rel);
            watcher__set_remove(&c->closed, rel);
        }
        break;
    default:
        break;
    }
    /* protect on sight: a file closed after writing, renamed in, or found
     * by the scan of a folder that appeared; a directory renamed in (the
     * Trainer's tmp-checkpoint-N -> checkpoint-N) at once, every file */
    if (watcher__prot_wanted(j, c) && *rel) {
        if (removal && !c->marker) /* after the marker, a deletion is rotation */
            watcher__set_remove_tree(&c->files, rel);
        else if (file)
            watcher__set_add(&c->files, rel);
        if (file && (e->kind == WEV_CLOSED_WRITE || e->kind == WEV_MOVED_IN ||
                     (e->kind == WEV_CREATED && e->from_scan && !c->existing)))
            watcher__prot_add(j, c, rel, false);
    }
    if (e->is_dir && e->kind == WEV_MOVED_IN)
        watcher__prot_add(j, c, rel, true);
    bool marker_event = e->kind == WEV_CLOSED_WRITE || e->kind == WEV_MOVED_IN ||
                        (e->kind == WEV_CREATED && e->from_scan) ||
                        (e->kind == WEV_DIR_CREATED && e->from_scan && !*rel);
    bool renamed_in = e->kind == WEV_MOVED_IN && !*rel;
    if (marker_event && (renamed_in || (file && lay->is_marker(rel)) ||
                         (e->from_scan && !*rel && lay->rule == WRULE_SETTLE))) {
        if (!c->marker || !c->marker_live || !e->from_scan) {
            /* a scan right after a live rename must not downgrade it */
            c->marker_live = c->marker_live || !e->from_scan;
            c->marker_at = c->marker ? c->marker_at : e->time;
            if (!e->from_scan)
                c->marker_at = e->time;
        }
        c->marker = true;
        if (!e->from_scan)
            c->unsure = false; /* a new marker: read it again */
    }
    if (renamed_in && lay->rule != WRULE_SETTLE) {
        /* a rename into the final name: whatever was written is closed */
        open_clear(c);
        c->renamed = true;
    }
}

void watcher__detect_event(struct watcher__job *j, const struct watcher__event *e)
{
    switch (e->kind) {
    case WEV_NOTICE:
        watcher__notice(j, (int)e->cookie, "%s", e->path);
        return;
    case WEV_SCAN_BEGIN:
        if (!e->initial) {
            j->rescans++;
            for (struct watcher__cand *c = j->cands; c; c = c->next) {
                c->seen = false;
                c->events++;
                open_clear(c); /* closes may have been lost with the overflow */
            }
        }
        return;
    case WEV_SCAN_DONE:
        if (e->initial) {
            j->initial_done = true;
            watcher__apply_existing(j);
        } else {
            for (struct watcher__cand *c = j->cands, *next; c; c = next) {
                next = c->next;
                if (!c->seen)
                    vanished(j, c); /* deleted while we were not looking */
            }
        }
        break;
    case WEV_ROOT_GONE:
        for (struct watcher__cand *c = j->cands, *next; c; c = next) {
            next = c->next;
            vanished(j, c);
        }
        for (size_t i = 0; i < j->n_out; i++)
            free(j->out[i]);
        j->n_out = 0;
        break;
    default:
        path_event(j, e);
        break;
    }
    schedule(j);
}

void watcher__detect_protected(struct watcher__job *j)
{
    schedule(j);
}

void watcher__detect_free(struct watcher__job *j)
{
    while (j->cands)
        cand_unlink(j, j->cands);
    watcher__prot_free_all(j);
    for (size_t i = 0; i < j->n_out; i++)
        free(j->out[i]);
    free(j->out);
    j->out = NULL;
    j->n_out = j->cap_out = 0;
}

int watcher_checkpoint_changed(struct watcher_job *job, const char *id)
{
    struct watcher__job *j = watcher__job_of(job);
    struct watcher__cand *c = j->cands;
    while (c && (c->gone || strcmp(c->key, id) != 0))
        c = c->next;
    if (!c)
        return -ENOENT;
    if (!c->done)
        return 0; /* already being looked at again */
    bool had_marker = c->marker;
    cand_reset(j, c);
    /* as if found by a scan: the marker (when there was one) is not live,
     * so it waits marker_quiet; the settle rule waits settle_seconds */
    c->marker = had_marker;
    c->marker_at = 0;
    c->last_activity = hs_now_monotonic();
    c->events++;
    schedule(j);
    return 0;
}
