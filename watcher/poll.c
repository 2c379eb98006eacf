/*
 * poll.c — the polling backend, for filesystems where inotify does not see
 * other hosts' writes (NFS, Lustre, GPFS, CIFS, FUSE…) and for an explicit
 * watch_mode "poll". One small thread per polled root walks the tree every
 * interval (sleeping in poll() on an eventfd, so stopping is immediate),
 * compares (size, mtime, inode) with the previous walk and emits the same
 * normalised events as the inotify thread: created, modified, deleted, and
 * "closed after write" for a file that changed in the previous walk and not
 * in this one (the polling equivalent of IN_CLOSE_WRITE). Renames appear as
 * a deletion plus a creation. Also here: the statfs f_type table that decides
 * which filesystems need polling. Not here: what the events mean.
 */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/vfs.h>
#include <unistd.h>

struct entry {
    char *path;
    bool dir;
    bool dirty; /* changed in the previous walk: a close is still due */
    uint64_t size, ino;
    int64_t mtime_ns;
};

struct entries {
    struct entry *v;
    size_t n, cap;
};

struct proot {
    struct proot *next;
    struct pollb *b;
    pthread_t thread;
    int efd;
    bool stop;
    uint32_t job;
    char *path;
    hs_usec_t interval;
    bool exists, scanned_once, waiting_reported;
    struct entries cur;
};

struct pollb {
    struct watcher__backend base;
    struct proot *roots; /* loop thread only */
};

static void entries_free(struct entries *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->v[i].path);
    free(e->v);
    *e = (struct entries){0};
}

static int entries_add(struct entries *e, const char *path, const struct stat *st)
{
    if (e->n == e->cap) {
        size_t c = e->cap ? e->cap * 2 : 256;
        struct entry *nv = realloc(e->v, c * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        e->v = nv;
        e->cap = c;
    }
    char *p = strdup(path);
    if (!p)
        return -ENOMEM;
    e->v[e->n++] = (struct entry){
        .path = p,
        .dir = S_ISDIR(st->st_mode),
        .size = (uint64_t)st->st_size,
        .ino = st->st_ino,
        .mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec,
    };
    return 0;
}

struct scan_walk {
    struct proot *r;
    struct entries *out;
    struct watcher__batch *bt;
    bool report;
};

static int scan_visit(const struct hs_walk_entry *e, void *ud)
{
    struct scan_walk *sw = ud;
    if (watcher__name_ignored(e->name) || (e->type != HS_WALK_REG && e->type != HS_WALK_DIR))
        return HS_WALK_PRUNE; /* symlinks and specials: never followed */
    entries_add(sw->out, e->rel, &e->st);
    return 0;
}

/* vanished or unreadable: its entries look deleted */
static int scan_dir_error(const char *rel, int err, void *ud)
{
    struct scan_walk *sw = ud;
    if (sw->report)
        watcher__batch_notice(sw->bt, sw->r->job, WATCHER_NOTICE_WARN,
                              "%s/%s: cannot list: %s; files below it are not seen", sw->r->path,
                              rel, strerror(-err));
    return 0;
}

static void walk(struct proot *r, struct entries *out, struct watcher__batch *bt, bool report)
{
    struct scan_walk sw = {.r = r, .out = out, .bt = bt, .report = report};
    int fd = hs_tree_open_root(r->path);
    if (fd < 0) {
        if (report && fd != -ENOENT)
            watcher__batch_notice(bt, r->job, WATCHER_NOTICE_WARN,
                                  "%s: cannot list: %s; files below it are not seen", r->path,
                                  strerror(-fd));
        return;
    }
    struct hs_walk w = {.visit = scan_visit, .dir_error = scan_dir_error, .ud = &sw, .stat = true};
    hs_tree_walk(fd, "", &w);
    close(fd);
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->path, ((const struct entry *)b)->path);
}

static void emit(struct watcher__batch *bt, struct proot *r, int kind, const struct entry *e,
                 bool scan)
{
    struct watcher__event *ev = watcher__event_new(r->job, kind, e->path);
    if (ev) {
        ev->is_dir = e->dir;
        ev->from_scan = scan;
    }
    watcher__batch_add(bt, ev);
}

static void scan_once(struct proot *r)
{
    struct watcher__batch bt;
    watcher__batch_init(&bt);
    struct stat st;
    if (stat(r->path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        if (r->exists) {
            watcher__batch_add(&bt, watcher__event_new(r->job, WEV_ROOT_GONE, ""));
            watcher__batch_notice(&bt, r->job, WATCHER_NOTICE_WARN,
                                  "%s: directory deleted; waiting for it to reappear", r->path);
            r->waiting_reported = true;
            entries_free(&r->cur);
        } else if (!r->waiting_reported) {
            watcher__batch_notice(&bt, r->job, WATCHER_NOTICE_INFO,
                                  "%s: does not exist (yet); waiting for it to appear", r->path);
            r->waiting_reported = true;
        }
        if (!r->scanned_once) {
            /* an empty first scan: whatever appears later is new, not "existing" */
            for (int k = WEV_SCAN_BEGIN; k <= WEV_SCAN_DONE; k++) {
                struct watcher__event *e = watcher__event_new(r->job, k, "");
                if (e)
                    e->initial = true;
                watcher__batch_add(&bt, e);
            }
            r->scanned_once = true;
        }
        r->exists = false;
        watcher__batch_flush(&bt, r->b->base.queue);
        return;
    }
    struct entries now = {0};
    walk(r, &now, &bt, !r->exists);
    if (now.n)
        qsort(now.v, now.n, sizeof(*now.v), cmp_entry);

    bool full = !r->exists; /* first walk, or the root came back */
    bool initial = !r->scanned_once;
    if (full) {
        if (r->scanned_once)
            watcher__batch_notice(&bt, r->job, WATCHER_NOTICE_INFO,
                                  "%s: directory appeared; watching it", r->path);
        struct watcher__event *e = watcher__event_new(r->job, WEV_SCAN_BEGIN, "");
        if (e)
            e->initial = initial;
        watcher__batch_add(&bt, e);
    }
    size_t i = 0, k = 0;
    while (i < r->cur.n || k < now.n) {
        int c = i == r->cur.n ? 1 : k == now.n ? -1 : strcmp(r->cur.v[i].path, now.v[k].path);
        if (c < 0) {
            emit(&bt, r, WEV_DELETED, &r->cur.v[i], false);
            i++;
        } else if (c > 0) {
            struct entry *n = &now.v[k++];
            emit(&bt, r, n->dir ? WEV_DIR_CREATED : WEV_CREATED, n, initial);
            n->dirty = !n->dir && !initial;
        } else {
            struct entry *o = &r->cur.v[i++], *n = &now.v[k++];
            if (n->dir != o->dir) {
                emit(&bt, r, WEV_DELETED, o, false);
                emit(&bt, r, n->dir ? WEV_DIR_CREATED : WEV_CREATED, n, false);
                n->dirty = !n->dir;
            } else if (!n->dir &&
                       (n->size != o->size || n->mtime_ns != o->mtime_ns || n->ino != o->ino)) {
                emit(&bt, r, WEV_MODIFIED, n, false);
                n->dirty = true;
            } else if (o->dirty) {
                emit(&bt, r, WEV_CLOSED_WRITE, n, false);
            }
        }
    }
    if (full) {
        struct watcher__event *e = watcher__event_new(r->job, WEV_SCAN_DONE, "");
        if (e)
            e->initial = initial;
        watcher__batch_add(&bt, e);
    }
    entries_free(&r->cur);
    r->cur = now;
    r->exists = true;
    r->scanned_once = true;
    r->waiting_reported = false;
    watcher__batch_flush(&bt, r->b->base.queue);
}

static void *thread_main(void *arg)
{
    struct proot *r = arg;
    int ms = (int)(r->interval / HS_USEC_PER_MSEC);
    if (ms < 1)
        ms = 1;
    while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
        scan_once(r);
        struct pollfd p = {.fd = r->efd, .events = POLLIN};
        if (poll(&p, 1, ms) > 0)
            break; /* the only command is "stop" */
    }
    return NULL;
}

static int p_add_root(struct watcher__backend *base, uint32_t job, const char *root,
                      hs_usec_t interval, struct hs_err *err)
{
    struct pollb *b = (struct pollb *)base;
    struct proot *r = calloc(1, sizeof(*r));
    if (!r || !(r->path = strdup(root))) {
        free(r);
        return hs_err_set(err, -ENOMEM, "out of memory");
    }
    r->b = b;
    r->job = job;
    r->interval = interval ? interval : 10 * HS_USEC_PER_SEC;
    r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    int rc = r->efd < 0 ? errno : pthread_create(&r->thread, NULL, thread_main, r);
    if (rc) {
        if (r->efd >= 0)
            close(r->efd);
        free(r->path);
        free(r);
        return hs_err_set(err, -rc, "poll scanner for %s: %s", root, strerror(rc));
    }
    r->next = b->roots;
    b->roots = r;
    return 0;
}

static void proot_stop(struct proot *r)
{
    __atomic_store_n(&r->stop, true, __ATOMIC_RELEASE);
    uint64_t one = 1;
    if (write(r->efd, &one, sizeof(one)) < 0) {
        /* cannot happen with an eventfd below its maximum; the flag suffices */
    }
    pthread_join(r->thread, NULL);
    close(r->efd);
    entries_free(&r->cur);
    free(r->path);
    free(r);
}

static int p_remove_root(struct watcher__backend *base, uint32_t job)
{
    struct pollb *b = (struct pollb *)base;
    for (struct proot **pp = &b->roots; *pp; pp = &(*pp)->next) {
        if ((*pp)->job == job) {
            struct proot *r = *pp;
            *pp = r->next;
            proot_stop(r);
            return 0;
        }
    }
    return -ENOENT;
}

static void p_destroy(struct watcher__backend *base)
{
    struct pollb *b = (struct pollb *)base;
    while (b->roots) {
        struct proot *r = b->roots;
        b->roots = r->next;
        proot_stop(r);
    }
    free(b);
}

static const struct watcher__backend_ops poll_ops = {
    .name = "poll",
    .add_root = p_add_root,
    .remove_root = p_remove_root,
    .destroy = p_destroy,
};

int watcher__poll_new(struct watcher__queue *q, struct watcher__backend **out, struct hs_err *err)
{
    struct pollb *b = calloc(1, sizeof(*b));
    if (!b)
        return hs_err_set(err, -ENOMEM, "out of memory");
    b->base.ops = &poll_ops;
    b->base.queue = q;
    *out = &b->base;
    return 0;
}

/* ---- filesystem types ------------------------------------------------------- */

static const struct {
    unsigned long magic;
    const char *name;
    bool remote; /* inotify misses other hosts' (or the daemon's) writes */
} fs_types[] = {
    {0xEF53, "ext4", false},      {0x58465342, "xfs", false},     {0x9123683E, "btrfs", false},
    {0x01021994, "tmpfs", false}, {0x794C7630, "overlay", false}, {0x2FC12FC1, "zfs", false},
    {0x6969, "nfs", true},        {0x0BD00BD0, "lustre", true},   {0x47504653, "gpfs", true},
    {0xFF534D42, "cifs", true},   {0xFE534D42, "smb2", true},     {0x517B, "smb", true},
    {0x65735546, "fuse", true},   {0x00C36400, "ceph", true},     {0x19830326, "beegfs", true},
    {0x5346414F, "afs", true},    {0x6B414653, "afs", true},      {0x01161970, "gfs2", true},
    {0x7461636f, "ocfs2", true},  {0x24051905, "ubifs", false},   {0x4d44, "vfat", false},
};

const char *watcher__fs_name(unsigned long magic, bool *remote)
{
    *remote = false;
    for (size_t i = 0; i < HS_ARRAY_SIZE(fs_types); i++) {
        if (magic == fs_types[i].magic) {
            *remote = fs_types[i].remote;
            return fs_types[i].name;
        }
    }
    return "unknown";
}

const char *watcher__fs_type(const char *path, bool *remote)
{
    struct statfs s;
    *remote = false;
    if (statfs(path, &s) != 0)
        return "unknown";
    return watcher__fs_name((unsigned long)s.f_type, remote);
}

bool watcher__use_poll(enum watcher_mode mode, bool remote)
{
    return mode == WATCHER_MODE_POLL || (mode == WATCHER_MODE_AUTO && remote);
}
