/*
 * files.c — file lists of a save: the recursive listing that becomes a
 * checkpoint's file list (regular files only; symlinks are never followed,
 * so nothing outside the root is reported; ignored names skipped; names
 * that are not printable UTF-8 skipped with a notice, since the Hub cannot
 * take them; common/tree.c's hs_tree_walk), and the checkpoint struct's
 * copy and free.
 */
#include "internal.h"

#include <fcntl.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int watcher__add_file(struct watcher_checkpoint *cp, const char *rel, const struct stat *st)
{
    size_t n = cp->n_files;
    if (n == 0 || (n >= 4 && (n & (n - 1)) == 0)) {
        /* capacity: 4, then doubled each time n reaches a power of two */
        size_t cap = n ? n * 2 : 4;
        struct watcher_file *v = realloc(cp->files, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        cp->files = v;
    }
    char *p = strdup(rel);
    if (!p)
        return -ENOMEM;
    cp->files[cp->n_files++] = (struct watcher_file){
        .path = p,
        .size = (uint64_t)st->st_size,
        .dev = st->st_dev,
        .ino = st->st_ino,
        .mtime =
            (hs_usec_t)st->st_mtim.tv_sec * HS_USEC_PER_SEC + (hs_usec_t)st->st_mtim.tv_nsec / 1000,
    };
    return 0;
}

/* ---- small sets of paths (the detector's per-save state) ----------------- */

void watcher__set_clear(struct watcher__strset *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    s->n = 0;
}

void watcher__set_free(struct watcher__strset *s)
{
    watcher__set_clear(s);
    free(s->v);
    *s = (struct watcher__strset){0};
}

bool watcher__set_has(const struct watcher__strset *s, const char *rel)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->v[i], rel))
            return true;
    return false;
}

/* O(n) per call: n is the number of files of one save in that state, small
 * for open/made; closed holds a save's files once (hundreds at most). */
void watcher__set_add(struct watcher__strset *s, const char *rel)
{
    if (watcher__set_has(s, rel))
        return;
    if (s->n == s->cap) {
        size_t n = s->cap ? s->cap * 2 : 8;
        char **v = realloc(s->v, n * sizeof(*v));
        if (!v)
            return; /* the quiet period still applies */
        s->v = v;
        s->cap = n;
    }
    char *d = strdup(rel);
    if (d)
        s->v[s->n++] = d;
}

void watcher__set_remove(struct watcher__strset *s, const char *rel)
{
    for (size_t i = 0; i < s->n; i++) {
        if (!strcmp(s->v[i], rel)) {
            free(s->v[i]);
            s->v[i] = s->v[--s->n];
            return;
        }
    }
}

/* rel and everything below it (a directory moved out or deleted). */
void watcher__set_remove_tree(struct watcher__strset *s, const char *rel)
{
    size_t n = strlen(rel);
    for (size_t i = 0; i < s->n;) {
        if (!strncmp(s->v[i], rel, n) && (s->v[i][n] == 0 || s->v[i][n] == '/')) {
            free(s->v[i]);
            s->v[i] = s->v[--s->n];
        } else {
            i++;
        }
    }
}

const char *watcher__folder_in_base(const struct watcher_checkpoint *cp)
{
    size_t blen = strlen(cp->base);
    if (!strncmp(cp->folder, cp->base, blen) && cp->folder[blen] == '/')
        return cp->folder + blen + 1;
    return "";
}

struct list_walk {
    struct watcher__notes *notes;
    const char *root;
    struct watcher_checkpoint *cp;
};

static int list_visit(const struct hs_walk_entry *e, void *ud)
{
    struct list_walk *lw = ud;
    if (watcher__name_ignored(e->name) || (e->type != HS_WALK_REG && e->type != HS_WALK_DIR))
        return HS_WALK_PRUNE; /* symlinks and specials: never followed */
    if (!watcher__name_printable(e->name)) {
        char esc[256];
        watcher__name_escape(e->rel, esc, sizeof(esc));
        watcher__notes_add(lw->notes,
                           "%s: skipped \"%s\" in %s: not printable UTF-8 (the Hub "
                           "cannot store it)",
                           lw->root, esc, lw->cp->id);
        return HS_WALK_PRUNE;
    }
    return e->type == HS_WALK_DIR ? 0 : watcher__add_file(lw->cp, e->rel, &e->st);
}

/* A level that cannot be opened (too long, out of descriptors, no
 * permission) is skipped with a notice naming it. */
static int list_dir_error(const char *rel, int err, void *ud)
{
    struct list_walk *lw = ud;
    watcher__notes_add(lw->notes,
                       "%s: skipped %s in %s: %s; the files below it are not part "
                       "of the checkpoint",
                       lw->root, rel, lw->cp->id, strerror(-err));
    return 0;
}

int watcher__list_files(struct watcher__notes *notes, const char *root,
                        struct watcher_checkpoint *cp, const char *dir, const char *prefix)
{
    int fd = hs_tree_open_root(dir);
    if (fd < 0)
        return fd;
    struct list_walk lw = {.notes = notes, .root = root, .cp = cp};
    struct hs_walk w = {.visit = list_visit, .dir_error = list_dir_error, .ud = &lw, .stat = true};
    int rc = hs_tree_walk(fd, prefix, &w);
    close(fd);
    return rc;
}

struct watcher_checkpoint *watcher_checkpoint_free(struct watcher_checkpoint *cp)
{
    if (!cp)
        return NULL;
    for (size_t i = 0; i < cp->n_files; i++)
        free(cp->files[i].path);
    free(cp->files);
    free(cp->id);
    free(cp->folder);
    free(cp->base);
    free(cp);
    return NULL;
}

struct watcher_checkpoint *watcher_checkpoint_dup(const struct watcher_checkpoint *cp)
{
    struct watcher_checkpoint *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    *d = *cp;
    d->files = NULL;
    d->n_files = 0;
    d->id = strdup(cp->id);
    d->folder = strdup(cp->folder);
    d->base = strdup(cp->base);
    if (!d->id || !d->folder || !d->base)
        return watcher_checkpoint_free(d);
    d->files = calloc(cp->n_files ? cp->n_files : 1, sizeof(*d->files));
    if (!d->files)
        return watcher_checkpoint_free(d);
    for (size_t i = 0; i < cp->n_files; i++) {
        d->files[i] = cp->files[i];
        d->files[i].path = strdup(cp->files[i].path);
        d->n_files = i + 1;
        if (!d->files[i].path) {
            d->n_files = i;
            return watcher_checkpoint_free(d);
        }
    }
    return d;
}
