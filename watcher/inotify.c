/*
 * inotify.c — the inotify backend: one thread that owns libinotifytools for
 * every inotify job of the process (docs/design.md (pitfalls of the libraries)).
 *
 * The library keeps global, non-reentrant state and hides its descriptor, so:
 * it is initialised on the creating thread before our thread starts and
 * cleaned up after the thread is joined (never two callers at once); its fd
 * is found as the new "anon_inode:inotify" entry of /proc/self/fd; the thread
 * sleeps in poll() on that fd plus an eventfd carrying commands from the loop
 * (no timeout: idle costs nothing) and drains with
 * inotifytools_next_events(0, 1) until NULL (num_events > 1 busy-spins). We
 * keep our own table wd → (parent wd, name, job) because the library's name
 * lookups go stale after renames and re-created directories; the wd of a new
 * watch is learnt with inotify_add_watch() on the library's fd (same inode,
 * same mask: a no-op returning the existing wd). Every new directory is
 * watched, then scanned, so files created before its watch are reported.
 * IN_Q_OVERFLOW, a deleted root and a root that (re)appears trigger a full
 * rescan; ENOSPC (fs.inotify.max_user_watches) hands the job to the poller.
 * Not here: what the events mean (detect.c).
 */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inotifytools/inotify.h>
#include <inotifytools/inotifytools.h>
#include <limits.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define MASK_DIR                                                                                   \
    (IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE |            \
     IN_DELETE_SELF | IN_MOVE_SELF | IN_DONT_FOLLOW | IN_ONLYDIR | IN_EXCL_UNLINK)
#define MASK_ANCHOR (IN_CREATE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
#define MAX_DEPTH   (HS_PATH_MAX / 2) /* "a/" per level: no cut-off below PATH_MAX */

struct node {
    bool live;
    bool anchor; /* watches an ancestor of missing roots (job 0: shared) */
    int parent;  /* -1 for a root */
    uint32_t job;
    dev_t dev; /* identity of the watched directory */
    ino_t ino;
    char *name;
};

struct root {
    struct root *next;
    uint32_t job;
    char *path;
    int wd;     /* -1 while missing */
    int anchor; /* wd of the watched ancestor while missing, -1 none */
    bool retry; /* scratch: its anchor fired */
    bool scanned_once;
    bool waiting_reported;
    bool dead; /* handed to the poller */
};

enum { CMD_ADD, CMD_REMOVE, CMD_PAUSE, CMD_LIMIT, CMD_STOP };
struct cmd {
    struct cmd *next;
    int op;
    uint32_t job;
    bool flag;
    char path[];
};

struct ino {
    struct watcher__backend base;
    pthread_t thread;
    bool started;
    int efd, ifd;
    pthread_mutex_t lock;
    struct cmd *cmds;
    /* thread-owned state */
    bool paused, stop;
    struct node *nodes;
    size_t n_nodes;
    struct root *roots;
    struct watcher__batch batch;
    int last_mod_wd;
    char last_mod_name[NAME_MAX + 1];
    struct pending_move {
        uint32_t cookie;
        int wd;
    } moves[64];
    size_t n_moves;
    bool overflow;
    size_t n_live;     /* directory watches we hold */
    size_t fake_limit; /* test hook: ENOSPC past this many watches (0 = off) */
};

static atomic_bool in_use;

/* ---- fd discovery ---------------------------------------------------------- */

static void inotify_fds(bool *set, size_t n)
{
    memset(set, 0, n);
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return;
    struct dirent *de;
    char p[64], link[64];
    while ((de = readdir(d))) {
        char *end;
        long fd = strtol(de->d_name, &end, 10);
        if (*end || fd < 0 || (size_t)fd >= n)
            continue;
        snprintf(p, sizeof(p), "/proc/self/fd/%ld", fd);
        ssize_t l = readlink(p, link, sizeof(link) - 1);
        if (l > 0) {
            link[l] = 0;
            set[fd] = strcmp(link, "anon_inode:inotify") == 0;
        }
    }
    closedir(d);
}

/* ---- wd table ---------------------------------------------------------------- */

static struct node *node_get(struct ino *b, int wd)
{
    if (wd < 0 || (size_t)wd >= b->n_nodes || !b->nodes[wd].live)
        return NULL;
    return &b->nodes[wd];
}

static int node_set(struct ino *b, int wd, int parent, uint32_t job, const char *name, bool anchor)
{
    if ((size_t)wd >= b->n_nodes) {
        size_t n = b->n_nodes ? b->n_nodes : 64;
        while (n <= (size_t)wd)
            n *= 2;
        struct node *nn = realloc(b->nodes, n * sizeof(*nn));
        if (!nn)
            return -ENOMEM;
        memset(nn + b->n_nodes, 0, (n - b->n_nodes) * sizeof(*nn));
        b->nodes = nn;
        b->n_nodes = n;
    }
    struct node *nd = &b->nodes[wd];
    char *copy = strdup(name);
    if (!copy)
        return -ENOMEM;
    if (!nd->live)
        b->n_live++;
    free(nd->name);
    *nd = (struct node){.live = true, .anchor = anchor, .parent = parent, .job = job, .name = copy};
    return 0;
}

static void node_drop(struct ino *b, int wd, bool rm_watch)
{
    struct node *nd = node_get(b, wd);
    if (!nd)
        return;
    if (rm_watch)
        inotifytools_remove_watch_by_wd(wd);
    b->n_live--;
    free(nd->name);
    *nd = (struct node){0};
}

/* Path of a directory node relative to its root; -ENAMETOOLONG past n. */
static int node_path(struct ino *b, int wd, char *out, size_t n)
{
    const char *parts[MAX_DEPTH];
    size_t k = 0;
    for (struct node *nd = node_get(b, wd); nd && nd->parent >= 0; nd = node_get(b, nd->parent)) {
        if (k == MAX_DEPTH)
            return -ELOOP;
        parts[k++] = nd->name;
    }
    size_t len = 0;
    out[0] = 0;
    while (k--) {
        int w = snprintf(out + len, n - len, "%s%s", len ? "/" : "", parts[k]);
        if (w < 0 || (size_t)w >= n - len)
            return -ENAMETOOLONG;
        len += (size_t)w;
    }
    return 0;
}

static bool is_under(struct ino *b, int wd, int ancestor)
{
    for (int k = 0; k < MAX_DEPTH && wd >= 0; k++) {
        if (wd == ancestor)
            return true;
        struct node *nd = node_get(b, wd);
        if (!nd)
            return false;
        wd = nd->parent;
    }
    return false;
}

static void drop_subtree(struct ino *b, int top, bool rm_watch)
{
    /* O(watches) per call: only for rare events (a directory moved out of
     * the tree, a job removed), fine against a full rescan's cost. */
    for (size_t wd = 0; wd < b->n_nodes; wd++)
        if (b->nodes[wd].live && (int)wd != top && is_under(b, (int)wd, top))
            node_drop(b, (int)wd, rm_watch);
    node_drop(b, top, rm_watch);
}

static int child_wd(struct ino *b, int parent, const char *name)
{
    for (size_t wd = 0; wd < b->n_nodes; wd++)
        if (b->nodes[wd].live && b->nodes[wd].parent == parent &&
            strcmp(b->nodes[wd].name, name) == 0)
            return (int)wd;
    return -1;
}

static struct root *root_find(struct ino *b, uint32_t job)
{
    for (struct root *r = b->roots; r; r = r->next)
        if (r->job == job)
            return r;
    return NULL;
}

/* ---- watching and scanning --------------------------------------------------- */

static void emit(struct ino *b, uint32_t job, int kind, const char *path, bool is_dir, bool scan,
                 uint32_t cookie)
{
    struct watcher__event *e = watcher__event_new(job, kind, path);
    if (e) {
        e->is_dir = is_dir;
        e->from_scan = scan;
        e->cookie = cookie;
    }
    watcher__batch_add(&b->batch, e);
}

static int add_watch(struct ino *b, const char *abs, uint32_t mask)
{
    if (b->fake_limit && b->n_live >= b->fake_limit)
        return -ENOSPC;
    if (!inotifytools_watch_file(abs, (int)mask)) {
        int e = inotifytools_error();
        return e > 0 ? -e : -EIO;
    }
    int wd;
    if (b->ifd >= 0)
        wd = inotify_add_watch(b->ifd, abs, mask);
    else
        wd = inotifytools_wd_from_filename(abs); /* degraded mode, see pitfall 5 */
    return wd < 0 ? -errno : wd;
}

static void anchor_release(struct ino *b, struct root *r);

static void give_up_root(struct ino *b, struct root *r, int err)
{
    if (err == -ENOSPC) {
        long cur = -1;
        char *txt = NULL;
        if (hs_read_file("/proc/sys/fs/inotify/max_user_watches", 64, &txt, NULL) == 0)
            cur = strtol(txt, NULL, 10);
        free(txt);
        watcher__batch_notice(&b->batch, r->job, WATCHER_NOTICE_WARN,
                              "%s: inotify watch limit reached (fs.inotify.max_user_watches = %ld);"
                              " polling this directory instead. Raise it with: sysctl -w "
                              "fs.inotify.max_user_watches=%ld",
                              r->path, cur, cur > 0 ? cur * 4 : 524288);
    }
    anchor_release(b, r);
    /* every watch of this root, including those of a scan cut short */
    for (size_t wd = 0; wd < b->n_nodes; wd++)
        if (b->nodes[wd].live && b->nodes[wd].job == r->job)
            node_drop(b, (int)wd, true);
    r->wd = -1;
    r->dead = true;
    emit(b, r->job, WEV_USE_POLL, "", false, false, 0);
}

/* Watch directory abs (parent wd; name its last component). Returns the
 * wd or -errno. */
static int watch_dir(struct ino *b, struct root *r, int parent, const char *abs, const char *name,
                     int depth)
{
    if (depth > MAX_DEPTH) {
        watcher__batch_notice(&b->batch, r->job, WATCHER_NOTICE_WARN,
                              "%s: more than %d levels deep; not watched, files below it are "
                              "seen only when their save is listed",
                              abs, MAX_DEPTH);
        return -ELOOP;
    }
    /* Already watched (a rescan)? Watching it again through the library
     * would leak its old entry for this wd; reuse ours when the directory
     * is the same inode. O(watches) lookup, only on rescans and new dirs. */
    struct stat st;
    if ((parent < 0 ? stat(abs, &st) : lstat(abs, &st)) != 0)
        return -errno;
    int wd = parent < 0 ? r->wd : child_wd(b, parent, name);
    struct node *old = node_get(b, wd);
    if (old && !old->anchor && old->dev == st.st_dev && old->ino == st.st_ino)
        return wd;
    wd = add_watch(b, abs, MASK_DIR);
    if (wd < 0) {
        if (wd == -ENOSPC)
            return wd;
        if (wd != -ENOENT && wd != -ENOTDIR)
            watcher__batch_notice(&b->batch, r->job, WATCHER_NOTICE_WARN,
                                  "%s: cannot watch: %s; files below it are not seen", abs,
                                  strerror(-wd));
        return wd;
    }
    if (node_set(b, wd, parent, r->job, name, false) < 0)
        return -ENOMEM;
    b->nodes[wd].dev = st.st_dev;
    b->nodes[wd].ino = st.st_ino;
    return wd;
}

/* One scan of watch_scan: wds[k] is the watch of the directory being
 * listed at walk depth k (preorder: the parent of an entry at depth k). */
struct scan {
    struct ino *b;
    struct root *r;
    int depth; /* of the scan's start below the root */
    int wds[MAX_DEPTH + 2];
};

static int scan_visit(const struct hs_walk_entry *e, void *ud)
{
    struct scan *sc = ud;
    if (watcher__name_ignored(e->name))
        return HS_WALK_PRUNE;
    if (e->type == HS_WALK_REG) {
        emit(sc->b, sc->r->job, WEV_CREATED, e->rel, false, true, 0);
        return 0;
    }
    if (e->type != HS_WALK_DIR)
        return 0; /* symlinks and specials are never followed nor reported */
    emit(sc->b, sc->r->job, WEV_DIR_CREATED, e->rel, true, true, 0);
    char abs[HS_PATH_MAX];
    if (hs_path_join(abs, sizeof(abs), sc->r->path, e->rel) < 0)
        return HS_WALK_PRUNE;
    int wd =
        watch_dir(sc->b, sc->r, sc->wds[e->depth], abs, e->name, sc->depth + (int)e->depth + 1);
    if (wd == -ENOSPC)
        return wd;
    if (wd < 0)
        return HS_WALK_PRUNE;
    sc->wds[e->depth + 1] = wd;
    return 0;
}

static int scan_dir_error(const char *rel, int err, void *ud)
{
    struct scan *sc = ud;
    watcher__batch_notice(&sc->b->batch, sc->r->job, WATCHER_NOTICE_WARN,
                          "%s/%s: cannot list: %s; files below it are not seen", sc->r->path, rel,
                          strerror(-err));
    return 0;
}

/* Watch directory abs (rel under the root, parent wd), then report what it
 * already holds, watching its subdirectories (common/tree.c's walk: never
 * through a symlink). Returns the wd or -errno. */
static int watch_scan(struct ino *b, struct root *r, int parent, const char *abs, const char *rel,
                      const char *name, int depth)
{
    int wd = watch_dir(b, r, parent, abs, name, depth);
    if (wd < 0)
        return wd;
    int fd = hs_tree_open_root(abs);
    if (fd < 0) {
        if (fd != -ENOENT)
            watcher__batch_notice(&b->batch, r->job, WATCHER_NOTICE_WARN,
                                  "%s: cannot list: %s; files below it are not seen", abs,
                                  strerror(-fd));
        return wd;
    }
    struct scan *sc = malloc(sizeof(*sc));
    if (!sc) {
        close(fd);
        return -ENOMEM;
    }
    sc->b = b;
    sc->r = r;
    sc->depth = depth;
    sc->wds[0] = wd;
    struct hs_walk w = {.visit = scan_visit, .dir_error = scan_dir_error, .ud = sc};
    int rc = hs_tree_walk(fd, rel, &w);
    free(sc);
    close(fd);
    return rc == -ENOSPC ? rc : wd;
}

static void emit_scan_pair(struct ino *b, uint32_t job)
{
    struct watcher__event *e = watcher__event_new(job, WEV_SCAN_BEGIN, "");
    if (e)
        e->initial = true;
    watcher__batch_add(&b->batch, e);
    e = watcher__event_new(job, WEV_SCAN_DONE, "");
    if (e)
        e->initial = true;
    watcher__batch_add(&b->batch, e);
}

/* ---- anchors: watches on the nearest existing ancestor of missing roots ----
 * Several missing roots may wait under the same ancestor. The directory gets
 * one watch (watching it twice through the library would leak the library's
 * first entry for that wd), owned by no job; each root names it in
 * r->anchor, and the watch is removed when no root names it any more. */

static bool anchor_used(struct ino *b, int wd)
{
    for (struct root *r = b->roots; r; r = r->next)
        if (r->anchor == wd)
            return true;
    return false;
}

static void anchor_release(struct ino *b, struct root *r)
{
    int wd = r->anchor;
    r->anchor = -1;
    if (wd >= 0 && node_get(b, wd) && b->nodes[wd].anchor && !anchor_used(b, wd))
        node_drop(b, wd, true);
}

/* The anchor node already watching directory (dev, ino), or -1. */
static int anchor_find(struct ino *b, dev_t dev, ino_t ino)
{
    for (size_t wd = 0; wd < b->n_nodes; wd++)
        if (b->nodes[wd].live && b->nodes[wd].anchor && b->nodes[wd].dev == dev &&
            b->nodes[wd].ino == ino)
            return (int)wd;
    return -1;
}

/* Watch (or share the watch of) the nearest existing ancestor of a missing
 * root. */
/* The nearest existing ancestor directory of path into p (and *st); false
 * when there is none. */
static bool nearest_ancestor(const char *path, char *p, size_t cap, struct stat *st)
{
    snprintf(p, cap, "%s", path);
    for (;;) {
        char *slash = strrchr(p, '/');
        if (!slash)
            return false;
        if (slash == p)
            slash[1] = 0;
        else
            *slash = 0;
        if (stat(p, st) == 0 && S_ISDIR(st->st_mode))
            return true;
        if (slash == p)
            return false;
    }
}

/* Is r's anchor still its nearest existing ancestor? A directory created
 * below the anchor between the look-up and the watch raised no event. */
static bool anchor_current(struct ino *b, struct root *r)
{
    char p[HS_PATH_MAX];
    struct stat st;
    if (r->anchor < 0 || !node_get(b, r->anchor))
        return false;
    return nearest_ancestor(r->path, p, sizeof(p), &st) && b->nodes[r->anchor].dev == st.st_dev &&
           b->nodes[r->anchor].ino == st.st_ino;
}

static void anchor_root(struct ino *b, struct root *r)
{
    char p[HS_PATH_MAX];
    struct stat st;
    if (!nearest_ancestor(r->path, p, sizeof(p), &st))
        return;
    int wd = anchor_find(b, st.st_dev, st.st_ino);
    if (wd < 0) {
        wd = add_watch(b, p, MASK_ANCHOR);
        if (wd >= 0 && node_set(b, wd, -1, 0, p, true) == 0) {
            b->nodes[wd].dev = st.st_dev;
            b->nodes[wd].ino = st.st_ino;
        }
    }
    if (wd >= 0 && node_get(b, wd) && r->anchor != wd) {
        anchor_release(b, r);
        r->anchor = wd;
    }
}

/* Something happened in (or to) an anchored ancestor: every root waiting on
 * it looks again (it may exist now, or a nearer ancestor may). */
static void setup_root(struct ino *b, struct root *r, bool rescan);

static void anchor_event(struct ino *b, const struct inotify_event *ev)
{
    int wd = ev->wd;
    /* the kernel already removed the watch: removing it again only makes the
     * library print an error (pitfall 4) */
    bool kernel_gone = ev->mask & (IN_DELETE_SELF | IN_IGNORED | IN_UNMOUNT);
    bool invalid = kernel_gone || (ev->mask & IN_MOVE_SELF); /* path no longer leads there */
    for (struct root *r = b->roots; r; r = r->next) {
        r->retry = r->anchor == wd;
        if (r->retry && invalid)
            r->anchor = -1;
    }
    if (invalid)
        node_drop(b, wd, !kernel_gone);
    for (struct root *r = b->roots; r; r = r->next) {
        if (!r->retry)
            continue;
        r->retry = false;
        if (!r->dead && r->wd < 0)
            setup_root(b, r, false);
        else
            anchor_release(b, r);
    }
}

static void setup_root(struct ino *b, struct root *r, bool rescan)
{
    /* each pass watches a nearer ancestor or the root itself: a few passes
     * cover directories created while we look */
    for (int attempt = 0; attempt < 16; attempt++) {
        struct stat st;
        if (stat(r->path, &st) == 0 && S_ISDIR(st.st_mode)) {
            bool initial = !r->scanned_once;
            if (!initial && !rescan)
                watcher__batch_notice(&b->batch, r->job, WATCHER_NOTICE_INFO,
                                      "%s: directory appeared; watching it", r->path);
            struct watcher__event *e = watcher__event_new(r->job, WEV_SCAN_BEGIN, "");
            if (e)
                e->initial = initial;
            watcher__batch_add(&b->batch, e);
            int wd = watch_scan(b, r, -1, r->path, "", "", 0);
            if (wd == -ENOSPC) {
                give_up_root(b, r, wd);
                return;
            }
            r->wd = wd >= 0 ? wd : -1;
            e = watcher__event_new(r->job, WEV_SCAN_DONE, "");
            if (e)
                e->initial = initial;
            watcher__batch_add(&b->batch, e);
            r->scanned_once = true;
            r->waiting_reported = false;
            if (wd >= 0) {
                anchor_release(b, r);
                return;
            }
        }
        if (!r->waiting_reported) {
            watcher__batch_notice(&b->batch, r->job, WATCHER_NOTICE_INFO,
                                  "%s: does not exist (yet); waiting for it to appear", r->path);
            r->waiting_reported = true;
        }
        if (!r->scanned_once) {
            /* an empty first scan: whatever appears later is new, not "existing" */
            emit_scan_pair(b, r->job);
            r->scanned_once = true;
        }
        anchor_root(b, r);
        /* it (or a nearer ancestor) may have appeared between the stat and
         * the anchor watch: no event tells, so look again */
        if ((stat(r->path, &st) != 0 || !S_ISDIR(st.st_mode)) && anchor_current(b, r))
            return;
    }
}

static void rescan_all(struct ino *b)
{
    for (struct root *r = b->roots; r; r = r->next) {
        if (r->dead)
            continue;
        watcher__batch_notice(&b->batch, r->job, WATCHER_NOTICE_WARN,
                              "%s: inotify queue overflowed; rescanning the tree", r->path);
        setup_root(b, r, true);
    }
}

/* ---- events ------------------------------------------------------------------- */

static void handle(struct ino *b, const struct inotify_event *ev)
{
    if (ev->mask & IN_Q_OVERFLOW) {
        b->overflow = true;
        return;
    }
    struct node *nd = node_get(b, ev->wd);
    if (!nd)
        return; /* a watch we already dropped */
    if (nd->anchor) {
        anchor_event(b, ev);
        return;
    }
    uint32_t job = nd->job;
    struct root *r = root_find(b, job);
    if (ev->mask & IN_IGNORED) {
        bool was_root = r && r->wd == ev->wd;
        node_drop(b, ev->wd, false);
        if (was_root && !r->dead) {
            r->wd = -1;
            emit(b, job, WEV_ROOT_GONE, "", true, false, 0);
            watcher__batch_notice(&b->batch, job, WATCHER_NOTICE_WARN,
                                  "%s: directory deleted; waiting for it to reappear", r->path);
            r->waiting_reported = true;
            setup_root(b, r, false);
        }
        return;
    }
    if (!r || r->dead)
        return;
    if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
        if (r->wd == ev->wd && (ev->mask & IN_MOVE_SELF)) {
            /* the root itself was renamed away: as good as deleted */
            drop_subtree(b, r->wd, true);
            r->wd = -1;
            emit(b, job, WEV_ROOT_GONE, "", true, false, 0);
            setup_root(b, r, false);
        }
        return; /* IN_IGNORED follows a deletion */
    }
    if (ev->len == 0 || !ev->name[0])
        return;
    if (watcher__name_ignored(ev->name))
        return;
    char dir[HS_PATH_MAX], rel[HS_PATH_MAX];
    if (node_path(b, ev->wd, dir, sizeof(dir)) < 0)
        return;
    if (snprintf(rel, sizeof(rel), "%s%s%s", dir, *dir ? "/" : "", ev->name) >= (int)sizeof(rel))
        return;
    bool is_dir = ev->mask & IN_ISDIR;
    if (!(ev->mask & IN_MODIFY))
        b->last_mod_wd = -1;

    if (ev->mask & IN_CREATE) {
        emit(b, job, is_dir ? WEV_DIR_CREATED : WEV_CREATED, rel, is_dir, false, 0);
        if (is_dir) {
            char abs[HS_PATH_MAX];
            if (hs_path_join(abs, sizeof(abs), r->path, rel) == 0) {
                int wd = watch_scan(b, r, ev->wd, abs, rel, ev->name, 1);
                if (wd == -ENOSPC)
                    give_up_root(b, r, wd);
            }
        }
    } else if (ev->mask & IN_MODIFY) {
        if (b->last_mod_wd == ev->wd && strcmp(b->last_mod_name, ev->name) == 0)
            return;
        b->last_mod_wd = ev->wd;
        snprintf(b->last_mod_name, sizeof(b->last_mod_name), "%s", ev->name);
        emit(b, job, WEV_MODIFIED, rel, false, false, 0);
    } else if (ev->mask & IN_CLOSE_WRITE) {
        emit(b, job, WEV_CLOSED_WRITE, rel, false, false, 0);
    } else if (ev->mask & IN_MOVED_FROM) {
        emit(b, job, WEV_MOVED_OUT, rel, is_dir, false, ev->cookie);
        int cwd = is_dir ? child_wd(b, ev->wd, ev->name) : -1;
        if (cwd >= 0 && b->n_moves < HS_ARRAY_SIZE(b->moves))
            b->moves[b->n_moves++] = (struct pending_move){ev->cookie, cwd};
        else if (cwd >= 0)
            drop_subtree(b, cwd, true);
    } else if (ev->mask & IN_MOVED_TO) {
        emit(b, job, WEV_MOVED_IN, rel, is_dir, false, ev->cookie);
        if (!is_dir)
            return;
        for (size_t i = 0; i < b->n_moves; i++) {
            if (b->moves[i].cookie == ev->cookie && node_get(b, b->moves[i].wd)) {
                struct node *m = node_get(b, b->moves[i].wd);
                char *nn = strdup(ev->name);
                if (nn) {
                    free(m->name);
                    m->name = nn;
                    m->parent = ev->wd;
                }
                b->moves[i] = b->moves[--b->n_moves];
                return;
            }
        }
        /* moved in from outside the tree or from an ignored name: new to us */
        char abs[HS_PATH_MAX];
        if (hs_path_join(abs, sizeof(abs), r->path, rel) == 0) {
            int wd = watch_scan(b, r, ev->wd, abs, rel, ev->name, 1);
            if (wd == -ENOSPC)
                give_up_root(b, r, wd);
        }
    } else if (ev->mask & IN_DELETE) {
        emit(b, job, WEV_DELETED, rel, is_dir, false, 0);
    }
}

static void drain(struct ino *b)
{
    struct inotify_event *ev;
    while ((ev = inotifytools_next_events(0, 1)) != NULL) {
        handle(b, ev);
        if (b->batch.n >= 4096)
            watcher__batch_flush(&b->batch, b->base.queue);
    }
    /* directories moved out of the tree (no MOVED_TO in this read) */
    for (size_t i = 0; i < b->n_moves; i++)
        drop_subtree(b, b->moves[i].wd, true);
    b->n_moves = 0;
    if (b->overflow) {
        b->overflow = false;
        rescan_all(b);
    }
}

/* ---- commands and the thread ---------------------------------------------- */

static void run_cmds(struct ino *b)
{
    pthread_mutex_lock(&b->lock);
    struct cmd *c = b->cmds;
    b->cmds = NULL;
    pthread_mutex_unlock(&b->lock);
    /* the list was pushed LIFO: reverse it */
    struct cmd *rev = NULL;
    while (c) {
        struct cmd *n = c->next;
        c->next = rev;
        rev = c;
        c = n;
    }
    for (c = rev; c;) {
        struct cmd *n = c->next;
        if (c->op == CMD_ADD) {
            struct root *r = calloc(1, sizeof(*r));
            if (r && (r->path = strdup(c->path))) {
                r->job = c->job;
                r->wd = -1;
                r->anchor = -1;
                r->next = b->roots;
                b->roots = r;
                setup_root(b, r, false);
            } else {
                free(r);
            }
        } else if (c->op == CMD_REMOVE) {
            for (struct root **pp = &b->roots; *pp; pp = &(*pp)->next) {
                if ((*pp)->job != c->job)
                    continue;
                struct root *r = *pp;
                *pp = r->next;
                int anchor = r->anchor;
                r->anchor = -1;
                if (anchor >= 0 && node_get(b, anchor) && !anchor_used(b, anchor))
                    node_drop(b, anchor, true);
                for (size_t wd = 0; wd < b->n_nodes; wd++)
                    if (b->nodes[wd].live && b->nodes[wd].job == r->job)
                        node_drop(b, (int)wd, true);
                free(r->path);
                free(r);
                break;
            }
        } else if (c->op == CMD_LIMIT) {
            b->fake_limit = c->job;
        } else if (c->op == CMD_PAUSE) {
            b->paused = c->flag;
        } else if (c->op == CMD_STOP) {
            b->stop = true;
        }
        free(c);
        c = n;
    }
}

static void *thread_main(void *arg)
{
    struct ino *b = arg;
    hs_thread_keep_priority(); /* events reach the protect lane without delay (lane.c) */
    while (!b->stop) {
        struct pollfd p[2] = {{.fd = b->efd, .events = POLLIN}, {.fd = b->ifd, .events = POLLIN}};
        nfds_t n = (b->ifd >= 0 && !b->paused) ? 2 : 1;
        /* degraded mode (fd not found): look once a second */
        int timeout = (b->ifd < 0 && !b->paused) ? 1000 : -1;
        int rc = poll(p, n, timeout);
        if (rc < 0 && errno != EINTR)
            break;
        if (p[0].revents & POLLIN) {
            uint64_t v;
            if (read(b->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                break;
            run_cmds(b);
        }
        if (!b->stop && !b->paused && (b->ifd < 0 || (n == 2 && p[1].revents)))
            drain(b);
        watcher__batch_flush(&b->batch, b->base.queue);
    }
    watcher__batch_flush(&b->batch, b->base.queue);
    hs_thread_keep_priority_end();
    return NULL;
}

static int send_cmd(struct ino *b, int op, uint32_t job, const char *path, bool flag)
{
    size_t n = path ? strlen(path) : 0;
    struct cmd *c = calloc(1, sizeof(*c) + n + 1);
    if (!c)
        return -ENOMEM;
    c->op = op;
    c->job = job;
    c->flag = flag;
    if (path)
        memcpy(c->path, path, n + 1);
    pthread_mutex_lock(&b->lock);
    c->next = b->cmds;
    b->cmds = c;
    pthread_mutex_unlock(&b->lock);
    uint64_t one = 1;
    return write(b->efd, &one, sizeof(one)) == sizeof(one) ? 0 : -errno;
}

static int ino_add_root(struct watcher__backend *base, uint32_t job, const char *root,
                        hs_usec_t interval, struct hs_err *err)
{
    (void)interval;
    int r = send_cmd((struct ino *)base, CMD_ADD, job, root, false);
    return r < 0 ? hs_err_set(err, r, "inotify thread: %s", strerror(-r)) : 0;
}

static int ino_remove_root(struct watcher__backend *base, uint32_t job)
{
    return send_cmd((struct ino *)base, CMD_REMOVE, job, NULL, false);
}

int watcher__inotify_fake_limit(struct watcher__backend *base, size_t limit)
{
    return send_cmd((struct ino *)base, CMD_LIMIT, (uint32_t)limit, NULL, false);
}

int watcher__inotify_pause(struct watcher__backend *base, bool paused)
{
    return send_cmd((struct ino *)base, CMD_PAUSE, 0, NULL, paused);
}

static void ino_destroy(struct watcher__backend *base)
{
    struct ino *b = (struct ino *)base;
    if (b->started) {
        send_cmd(b, CMD_STOP, 0, NULL, false);
        pthread_join(b->thread, NULL);
    }
    /* drain what the library buffered (pitfall 3) before cleanup */
    if (b->ifd >= 0)
        while (inotifytools_next_events(0, 1))
            ;
    inotifytools_cleanup();
    run_cmds(b); /* frees leftover commands */
    while (b->roots) {
        struct root *r = b->roots;
        b->roots = r->next;
        free(r->path);
        free(r);
    }
    for (size_t i = 0; i < b->n_nodes; i++)
        free(b->nodes[i].name);
    free(b->nodes);
    watcher__events_free(b->batch.head);
    close(b->efd);
    pthread_mutex_destroy(&b->lock);
    free(b);
    atomic_store(&in_use, false);
}

static const struct watcher__backend_ops ino_ops = {
    .name = "inotify",
    .add_root = ino_add_root,
    .remove_root = ino_remove_root,
    .destroy = ino_destroy,
};

int watcher__inotify_new(struct watcher__queue *q, struct watcher__backend **out,
                         struct hs_err *err)
{
    if (atomic_exchange(&in_use, true))
        return hs_err_set(err, -EBUSY, "libinotifytools is already used by another watcher");
    struct ino *b = calloc(1, sizeof(*b));
    if (!b) {
        atomic_store(&in_use, false);
        return hs_err_set(err, -ENOMEM, "out of memory");
    }
    b->base.ops = &ino_ops;
    b->base.queue = q;
    b->last_mod_wd = -1;
    watcher__batch_init(&b->batch);
    pthread_mutex_init(&b->lock, NULL);
    b->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (b->efd < 0) {
        int e = -errno;
        pthread_mutex_destroy(&b->lock);
        free(b);
        atomic_store(&in_use, false);
        return hs_err_set(err, e, "eventfd: %s", strerror(-e));
    }
    enum { NFD = 4096 };
    static bool before[NFD], after[NFD]; /* serialised by in_use */
    inotify_fds(before, NFD);
    if (!inotifytools_initialize()) {
        int e = inotifytools_error();
        close(b->efd);
        pthread_mutex_destroy(&b->lock);
        free(b);
        atomic_store(&in_use, false);
        return hs_err_set(err, e > 0 ? -e : -EIO, "inotifytools_initialize failed: %s",
                          strerror(e > 0 ? e : EIO));
    }
    inotify_fds(after, NFD);
    b->ifd = -1;
    for (int fd = 0; fd < NFD; fd++)
        if (after[fd] && !before[fd]) {
            b->ifd = fd;
            break;
        }
    if (b->ifd < 0)
        watcher__batch_notice(&b->batch, 0, WATCHER_NOTICE_WARN,
                              "cannot find libinotifytools' descriptor in /proc/self/fd; "
                              "checking for events once a second (degraded)");
    int r = pthread_create(&b->thread, NULL, thread_main, b);
    if (r) {
        ino_destroy(&b->base);
        return hs_err_set(err, -r, "pthread_create: %s", strerror(r));
    }
    b->started = true;
    *out = &b->base;
    return 0;
}
