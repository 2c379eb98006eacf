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
