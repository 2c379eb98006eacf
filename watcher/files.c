/*
 * files.c — file lists of a save: the recursive listing that becomes a
 * checkpoint's file list (regular files only; symlinks are never followed,
 * so nothing outside the root is reported; ignored names skipped; names
 * that are not printable UTF-8 skipped with a notice, since the Hub cannot
 * take them), and the checkpoint struct's copy and free.
 */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

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

static int walk(struct watcher__notes *notes, const char *root, struct watcher_checkpoint *cp,
                const char *dir, const char *prefix, int depth)
{
    if (depth > 64)
        return 0;
    DIR *d = opendir(dir);
    if (!d)
        return depth == 0 ? -errno : 0;
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d))) {
        const char *n = de->d_name;
        if (!strcmp(n, ".") || !strcmp(n, "..") || watcher__name_ignored(n))
            continue;
        char *abs = NULL, *rel = NULL;
        if (asprintf(&abs, "%s/%s", dir, n) < 0)
            return closedir(d), -ENOMEM;
        if (asprintf(&rel, "%s%s%s", prefix, *prefix ? "/" : "", n) < 0) {
            free(abs);
            return closedir(d), -ENOMEM;
        }
        struct stat st;
        if (lstat(abs, &st) == 0 && (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) {
            if (!watcher__name_printable(n)) {
                char esc[256];
                watcher__name_escape(rel, esc, sizeof(esc));
                watcher__notes_add(notes,
                                   "%s: skipped \"%s\" in %s: not printable UTF-8 (the Hub "
                                   "cannot store it)",
                                   root, esc, cp->id);
            } else if (S_ISDIR(st.st_mode))
                rc = walk(notes, root, cp, abs, rel, depth + 1);
            else
                rc = watcher__add_file(cp, rel, &st);
        }
        free(abs);
        free(rel);
    }
    closedir(d);
    return rc;
}

int watcher__list_files(struct watcher__notes *notes, const char *root,
                        struct watcher_checkpoint *cp, const char *dir, const char *prefix)
{
    return walk(notes, root, cp, dir, prefix, 0);
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
