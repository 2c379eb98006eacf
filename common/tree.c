/*
 * tree.c — the one way hubsync reads inside a watched tree and removes its
 * own files there. Whoever can write in a training output directory can
 * plant symlinks in it (README.md -> ~/.cache/huggingface/token), so every
 * component below the root is opened relative to its parent's descriptor
 * with O_NOFOLLOW, files must be regular files (a FIFO would block, a device
 * could be anything), and a recursive remove works on descriptors and never
 * leaves the entry it was asked to remove. The root itself is the caller's
 * (a configured path); only its last component is refused when it is a
 * symlink. Blocking calls: off the event loop, or on small top levels.
 */
#include "common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RM_DEPTH_MAX 128 /* deeper than any checkpoint; bounds descriptors */

/* ENOTDIR from an O_DIRECTORY|O_NOFOLLOW open of a symlink: say ELOOP. */
static int dir_open_error(int dirfd, const char *name)
{
    int e = errno;
    struct stat st;
    if (e == ENOTDIR && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
        return -ELOOP;
    return -e;
}

int hs_tree_open_root(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    return fd >= 0 ? fd : dir_open_error(AT_FDCWD, path);
}

/* Open the directory holding the last component of rel (walking every
 * component before it with O_NOFOLLOW) and point *leaf at that component.
 * Returns a new descriptor, or -errno. */
static int open_parent(int dirfd, const char *rel, const char **leaf)
{
    if (!hs_path_is_safe_relative(rel))
        return -EINVAL;
    int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    const char *p = rel;
    for (const char *slash; (slash = strchr(p, '/'));) {
        char name[256];
        size_t n = (size_t)(slash - p);
        if (n >= sizeof(name)) {
            close(fd);
            return -ENAMETOOLONG;
        }
        memcpy(name, p, n);
        name[n] = '\0';
        int next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int e = next < 0 ? dir_open_error(fd, name) : 0;
        close(fd);
        if (next < 0)
            return e;
        fd = next;
        p = slash + 1;
    }
    *leaf = p;
    return fd;
}

int hs_tree_open_dir(int dirfd, const char *rel)
{
    const char *leaf;
    int pfd = open_parent(dirfd, rel, &leaf);
    if (pfd < 0)
        return pfd;
    int fd = openat(pfd, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int rc = fd >= 0 ? fd : dir_open_error(pfd, leaf);
    close(pfd);
    return rc;
}

int hs_tree_lstat(int dirfd, const char *rel, struct stat *st)
{
    const char *leaf;
    int pfd = open_parent(dirfd, rel, &leaf);
    if (pfd < 0)
        return pfd;
    int rc = fstatat(pfd, leaf, st, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : -errno;
    close(pfd);
    return rc;
}

int hs_tree_open(int dirfd, const char *rel, struct stat *st)
{
    const char *leaf;
    int pfd = open_parent(dirfd, rel, &leaf);
    if (pfd < 0)
        return pfd;
    /* O_NONBLOCK: opening a FIFO must not hang; regular files ignore it */
    int fd = openat(pfd, leaf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    int rc = fd >= 0 ? 0 : -errno;
    close(pfd);
    if (rc < 0)
        return rc;
    struct stat own;
    if (!st)
        st = &own;
    if (fstat(fd, st) != 0) {
        rc = -errno;
    } else if (!S_ISREG(st->st_mode)) {
        rc = S_ISDIR(st->st_mode) ? -EISDIR : HS_ENOTREG;
    } else {
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
            rc = -errno;
    }
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return fd;
}

int hs_read_fd(int fd, size_t max, char **out, size_t *out_len)
{
    struct hs_buf b;
    hs_buf_init(&b, max);
    char chunk[65536];
    int rc = 0;
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof(chunk));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            break;
        }
        if (r == 0)
            break;
        rc = hs_buf_append(&b, chunk, (size_t)r);
        if (rc == -E2BIG)
            rc = -EFBIG;
        if (rc < 0)
            break;
    }
    if (rc == 0 && !b.data)
        rc = hs_buf_append(&b, "", 0);
    if (rc < 0) {
        if (b.data)
            explicit_bzero(b.data, b.cap);
        hs_buf_free(&b);
        return rc;
    }
    *out = b.data;
    if (out_len)
        *out_len = b.len;
    return 0;
}

int hs_tree_read(int dirfd, const char *rel, size_t max, char **out, size_t *out_len,
                 struct stat *st)
{
    int fd = hs_tree_open(dirfd, rel, st);
    if (fd < 0)
        return fd;
    int rc = hs_read_fd(fd, max, out, out_len);
    close(fd);
    return rc;
}

const char *hs_tree_strerror(int err)
{
    switch (err) {
    case -ELOOP:
        return "a symbolic link (not followed)";
    case HS_ENOTREG:
        return "not a regular file";
    case -EINVAL:
        return "not a safe relative path";
    default:
        return hs_strerror(err);
    }
}

/* ---- walking -------------------------------------------------------------- */

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void names_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* The names of d (sorted): a directory's listing is read before any of its
 * entries is visited, so a callback's changes do not reorder it. */
static int names_read(DIR *d, char ***out, size_t *out_n)
{
    char **v = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno) {
                names_free(v, n);
                return -errno;
            }
            break;
        }
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 32;
            char **nv = realloc(v, cap * sizeof(*nv));
            if (!nv) {
                names_free(v, n);
                return -ENOMEM;
            }
            v = nv;
        }
        if (!(v[n] = strdup(de->d_name))) {
            names_free(v, n);
            return -ENOMEM;
        }
        n++;
    }
    if (n > 1)
        qsort(v, n, sizeof(*v), cmp_name);
    *out = v;
    *out_n = n;
    return 0;
}

static int walk_dir(int fd, char *rel, size_t len, unsigned depth, const struct hs_walk *w);

/* A level below the start that cannot be opened or listed: dir_error's
 * answer; the start itself, and running out of memory, stop the walk. */
static int level_error(const struct hs_walk *w, const char *rel, unsigned depth, int err)
{
    if (depth == 0 || err == -ENOMEM)
        return err;
    if (err == -ENOENT)
        return 0; /* gone meanwhile */
    return w->dir_error ? w->dir_error(rel, err, w->ud) : 0;
}

/* One entry of the directory d; rel[0..len) is d's own rel path. */
static int walk_entry(DIR *d, const char *name, unsigned char dtype, char *rel, size_t len,
                      unsigned depth, const struct hs_walk *w)
{
    size_t nl = strlen(name), at = len ? len + 1 : 0;
    if (at + nl >= HS_PATH_MAX)
        return -ENAMETOOLONG;
    if (len)
        rel[len] = '/';
    memcpy(rel + at, name, nl + 1);
    struct hs_walk_entry e = {.rel = rel, .name = rel + at, .dirfd = dirfd(d), .depth = depth};
    int rc = 0;
    if (w->stat || dtype == DT_UNKNOWN) {
        if (fstatat(e.dirfd, name, &e.st, AT_SYMLINK_NOFOLLOW) != 0)
            goto out; /* gone meanwhile */
        e.type = S_ISREG(e.st.st_mode)   ? HS_WALK_REG
                 : S_ISDIR(e.st.st_mode) ? HS_WALK_DIR
                 : S_ISLNK(e.st.st_mode) ? HS_WALK_LINK
                                         : HS_WALK_OTHER;
    } else {
        e.type = dtype == DT_REG   ? HS_WALK_REG
                 : dtype == DT_DIR ? HS_WALK_DIR
                 : dtype == DT_LNK ? HS_WALK_LINK
                                   : HS_WALK_OTHER;
    }
    rc = w->visit(&e, w->ud);
    if (rc == 0 && e.type == HS_WALK_DIR) {
        int sub = openat(e.dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        rc = sub < 0 ? level_error(w, rel, depth + 1, dir_open_error(e.dirfd, name))
                     : walk_dir(sub, rel, at + nl, depth + 1, w);
        if (rc == 0 && w->leave) {
            rel[at + nl] = '\0'; /* the walk below wrote past it */
            rc = w->leave(&e, w->ud);
        }
    }
out:
    rel[len] = '\0';
    return rc == HS_WALK_PRUNE ? 0 : rc;
}

/* The directory fd (consumed); rel[0..len) its rel path. */
static int walk_dir(int fd, char *rel, size_t len, unsigned depth, const struct hs_walk *w)
{
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = -errno;
        close(fd);
        return level_error(w, rel, depth, e);
    }
    int rc = 0;
    if (w->sorted) {
        char **names = NULL;
        size_t n = 0;
        rc = names_read(d, &names, &n);
        if (rc < 0)
            rc = level_error(w, rel, depth, rc);
        for (size_t i = 0; rc == 0 && i < n; i++)
            rc = walk_entry(d, names[i], DT_UNKNOWN, rel, len, depth, w);
        names_free(names, n);
    } else {
        for (;;) {
            errno = 0;
            struct dirent *de = readdir(d);
            if (!de) {
                rc = errno ? level_error(w, rel, depth, -errno) : 0;
                break;
            }
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            if ((rc = walk_entry(d, de->d_name, de->d_type, rel, len, depth, w)) != 0)
                break;
        }
    }
    closedir(d);
    return rc;
}

int hs_tree_walk(int dirfd, const char *prefix, const struct hs_walk *w)
{
    char rel[HS_PATH_MAX];
    size_t len = strlen(prefix);
    if (len >= sizeof(rel))
        return -ENAMETOOLONG;
    memcpy(rel, prefix, len + 1);
    /* a new open of ".", not a dup: its own directory offset */
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    return walk_dir(fd, rel, len, 0, w);
}

/* ---- removing ----------------------------------------------------------- */

static int rm_at(int dirfd, const char *name, unsigned depth);

/* Empty the directory fd (consumed). */
static int rm_contents(int fd, unsigned depth)
{
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = -errno;
        close(fd);
        return e;
    }
    int rc = 0;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            if (errno && rc == 0)
                rc = -errno;
            break;
        }
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        int r = rm_at(dirfd(d), e->d_name, depth + 1);
        if (r < 0 && rc == 0)
            rc = r;
    }
    closedir(d);
    return rc;
}

static int rm_at(int dirfd, const char *name, unsigned depth)
{
    if (depth > RM_DEPTH_MAX)
        return -ELOOP;
    if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
        return 0; /* a file or a symlink (the link itself, never its target) */
    if (errno != EISDIR && errno != EPERM)
        return -errno;
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : dir_open_error(dirfd, name);
    int rc = rm_contents(fd, depth);
    if (unlinkat(dirfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT && rc == 0)
        rc = -errno;
    return rc;
}

int hs_rm_tree_at(int dirfd, const char *name)
{
    if (!*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
        return -EINVAL;
    return rm_at(dirfd, name, 0);
}

int hs_rm_tree(const char *path)
{
    char parent[HS_PATH_MAX];
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/')
        len--;
    if (len == 0 || len >= sizeof(parent))
        return -ENAMETOOLONG;
    memcpy(parent, path, len);
    parent[len] = '\0';
    char *slash = strrchr(parent, '/');
    const char *name = parent;
    const char *dir = ".";
    if (slash) {
        *slash = '\0';
        name = slash + 1;
        dir = slash == parent ? "/" : parent;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return errno == ENOENT ? 0 : -errno;
    int rc = hs_rm_tree_at(dfd, name);
    close(dfd);
    return rc;
}
