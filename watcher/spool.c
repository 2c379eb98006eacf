/*
 * spool.c — the spool is hubsync's alone. Snapshots put hard links and
 * copies of a save into <spool_dir>/<sanitized id>-<seq>, and the start-up
 * cleanup removes entries no live save needs; both are destructive if the
 * spool is not what hubsync thinks it is. So: every component of the spool
 * path below the job root is opened relative to its parent with O_NOFOLLOW
 * and must be a real directory owned by the running user (a planted
 * `.hubsync -> /elsewhere` is refused, never followed); components hubsync
 * creates are made 0700; the spool root carries a marker file
 * (.hubsync-spool), and a spool_dir that exists without it and is not empty
 * is not hubsync's (a spool_dir pointed at an existing folder is refused, not
 * wiped) — except the default <root>/.hubsync/spool of an older hubsync
 * holding only directories of hubsync's own names, which is adopted. The cleanup removes only names
 * of hubsync's own pattern, only under the marker, through descriptors (common/tree.c), never
 * outside the spool. Components of a configured spool_dir above the job root (or above the spool
 * itself when it is outside the root) are the administrator's and are followed as configured.
 * Blocking: start-up, check-config, the snapshot thread.
 */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MARKER WATCHER_SPOOL_MARKER

static const char marker_text[] =
    "This folder is hubsync's spool: snapshots of saves waiting for their upload.\n"
    "hubsync removes entries here that no queued save needs. Do not put other files here.\n";

/* hubsync's own entry names: "<sanitized save id>-<decimal seq>" (see
 * snapshot.c reserve()). */
bool watcher__spool_name_ok(const char *name)
{
    const char *dash = strrchr(name, '-');
    if (!dash || dash == name || !dash[1] || name[0] == '.')
        return false;
    if (strspn(dash + 1, "0123456789") != strlen(dash + 1) || strlen(dash + 1) > 20)
        return false;
    for (const char *p = name; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

/* The part of spool below root ("" when not below it). */
static const char *below_root(const char *root, const char *spool)
{
    if (!root || !*root)
        return "";
    size_t rl = strlen(root);
    while (rl > 1 && root[rl - 1] == '/')
        rl--;
    if (strncmp(spool, root, rl) || spool[rl] != '/')
        return "";
    const char *rest = spool + rl;
    while (*rest == '/')
        rest++;
    return rest;
}

/* Open (and with create, make) one component name below fd: a real
 * directory owned by us. Returns a descriptor, 0 with *missing when absent
 * and !create, or an error with err filled (path names it). */
static int step(int fd, const char *name, const char *path, bool create, bool *missing,
                struct hs_err *err)
{
    int sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0 && errno == ENOENT) {
        if (!create) {
            *missing = true;
            return 0;
        }
        if (mkdirat(fd, name, 0700) != 0 && errno != EEXIST)
            return hs_err_set(err, -errno, "%s: cannot create the spool: %s", path,
                              strerror(errno));
        sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (sub < 0) {
        int e = errno;
        struct stat st;
        if (e == ENOTDIR && fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
            return hs_err_set(err, -ELOOP,
                              "%s is a symbolic link: refusing to use it for the spool (hubsync "
                              "never follows links in the watched tree); remove it",
                              path);
        if (e == ENOTDIR)
            return hs_err_set(err, -ENOTDIR, "%s is not a directory: cannot hold the spool", path);
        return hs_err_set(err, -e, "%s: %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(sub, &st) != 0 || st.st_uid != geteuid()) {
        close(sub);
        return hs_err_set(err, -EPERM,
                          "%s is owned by another user (uid %u): refusing to use it for the "
                          "spool",
                          path, (unsigned)st.st_uid);
    }
    return sub;
}

/* Open spool_dir per the rules above. Returns a descriptor; 0 with *missing
 * when a component is absent and !create; or an error with err filled. */
static int spool_walk(const char *root, const char *spool_dir, bool create, bool *missing,
                      struct hs_err *err)
{
    *missing = false;
    char path[HS_PATH_MAX];
    size_t len = strlen(spool_dir);
    while (len > 1 && spool_dir[len - 1] == '/')
        len--;
    if (len == 0 || len >= sizeof(path) || spool_dir[0] != '/')
        return hs_err_set(err, -EINVAL, "spool_dir \"%s\" is not an absolute path", spool_dir);
    memcpy(path, spool_dir, len);
    path[len] = '\0';
    const char *rest = below_root(root, path);
    size_t anchor_len;
    if (*rest) {
        anchor_len = (size_t)(rest - path);
    } else {
        /* outside the root: the spool itself is checked, its parent is the
         * administrator's (made as configured) */
        char *slash = strrchr(path, '/');
        anchor_len = (size_t)(slash - path) + 1;
        rest = path + anchor_len;
    }
    char anchor[HS_PATH_MAX];
    memcpy(anchor, path, anchor_len);
    anchor[anchor_len] = '\0';
    if (create && anchor_len > 1) {
        int r = hs_mkdir_p(anchor, 0700);
        if (r < 0)
            return hs_err_set(err, r, "%s: cannot create: %s", anchor, hs_strerror(r));
    }
    int fd = open(anchor, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT && !create) {
            *missing = true;
            return 0;
        }
        return hs_err_set(err, -errno, "%s: %s", anchor, strerror(errno));
    }
    /* walk rest, one component at a time */
    char *p = path + anchor_len;
    for (;;) {
        char *slash = strchr(p, '/');
        if (slash)
            *slash = '\0';
        if (!*p || !strcmp(p, ".") || !strcmp(p, "..")) {
            close(fd);
            return hs_err_set(err, -EINVAL, "spool_dir \"%s\": empty, . or .. component",
                              spool_dir);
        }
        int sub = step(fd, p, path, create, missing, err);
        close(fd);
        if (sub <= 0)
            return sub;
        fd = sub;
        if (!slash)
            return fd;
        *slash = '/';
        p = slash + 1;
    }
}

/* 1 when the marker is there (a regular file), 0 when absent, -errno. */
static int has_marker(int fd)
{
    struct stat st;
    if (fstatat(fd, MARKER, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? 0 : -errno;
    return S_ISREG(st.st_mode) ? 1 : -EEXIST;
}

/* Without a marker, the spool is adopted when it is empty, or when it is
 * the default <root>/.hubsync/spool of a hubsync from before the marker
 * (legacy) and every entry is a directory of hubsync's own name pattern.
 * 1 adoptable, 0 not, -errno. */
static int adoptable(int fd, bool legacy)
{
    int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    DIR *d = dup >= 0 ? fdopendir(dup) : NULL;
    if (!d) {
        if (dup >= 0)
            close(dup);
        return -errno;
    }
    rewinddir(d); /* a dup shares the offset of the descriptor it copies */
    int rc = 1;
    struct dirent *e;
    while (rc == 1 && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, MARKER))
            continue; /* the marker: another thread prepared it meanwhile */
        struct stat st;
        if (!legacy || !watcher__spool_name_ok(e->d_name) ||
            fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode))
            rc = 0;
    }
    closedir(d);
    return rc;
}

/* spool_dir is the default spool of root. */
static bool is_default(const char *root, const char *spool_dir)
{
    const char *rest = below_root(root, spool_dir);
    size_t n = strlen(rest);
    while (n > 0 && rest[n - 1] == '/')
        n--;
    return n == 14 && !strncmp(rest, ".hubsync/spool", 14);
}

/* Ours: 1 (marked or adoptable), 0 not ours, -errno. */
static int ours(int fd, const char *root, const char *spool_dir, bool *marked)
{
    int m = has_marker(fd);
    *marked = m == 1;
    if (m != 0)
        return m == 1 ? 1 : 0;
    int a = adoptable(fd, is_default(root, spool_dir));
    if (a == 0 && has_marker(fd) == 1) {
        /* another thread (protection, a snapshot) marked it and made its
         * first entry while we looked */
        *marked = true;
        return 1;
    }
    return a;
}

static int not_ours(const char *spool_dir, struct hs_err *err)
{
    return hs_err_set(err, -EEXIST,
                      "spool_dir %s exists and is not a hubsync spool (no " MARKER
                      " marker and not empty): refusing to use it, since hubsync removes "
                      "entries of its spool; point spool_dir at a new or empty folder",
                      spool_dir);
}

int watcher__spool_open(const char *root, const char *spool_dir, struct hs_err *err)
{
    bool missing, marked;
    int fd = spool_walk(root, spool_dir, true, &missing, err);
    if (fd < 0)
        return fd;
    int o = ours(fd, root, spool_dir, &marked);
    if (marked)
        return fd;
    if (o != 1) {
        close(fd);
        return o < 0 ? hs_err_set(err, o, "%s: %s", spool_dir, hs_strerror(o))
                     : not_ours(spool_dir, err);
    }
    int mfd = openat(fd, MARKER, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (mfd < 0 && errno != EEXIST) {
        int e = -errno;
        close(fd);
        return hs_err_set(err, e, "%s/" MARKER ": %s", spool_dir, strerror(-e));
    }
    if (mfd >= 0) {
        ssize_t w = write(mfd, marker_text, sizeof(marker_text) - 1);
        close(mfd);
        if (w != (ssize_t)sizeof(marker_text) - 1) {
            close(fd);
            return hs_err_set(err, -EIO, "%s/" MARKER ": short write", spool_dir);
        }
    }
    return fd;
}

int watcher__spool_prepare(const char *root, const char *spool_dir, struct hs_err *err)
{
    int fd = watcher__spool_open(root, spool_dir, err);
    if (fd < 0)
        return fd;
    close(fd);
    return 0;
}

int watcher_spool_check(const char *root, const char *spool_dir, struct hs_err *err)
{
    bool missing;
    int fd = spool_walk(root, spool_dir, false, &missing, err);
    if (fd <= 0)
        return fd; /* missing: created at the first snapshot */
    bool marked;
    int o = ours(fd, root, spool_dir, &marked);
    close(fd);
    if (o < 0)
        return hs_err_set(err, o, "%s: %s", spool_dir, hs_strerror(o));
    return o == 1 ? 0 : not_ours(spool_dir, err);
}

int watcher_spool_clean(const char *root, const char *spool_dir, const char *const *keep,
                        size_t n_keep, watcher_spool_removed_fn fn, void *userdata,
                        struct hs_err *err)
{
    bool missing;
    int fd = spool_walk(root, spool_dir, false, &missing, err);
    if (fd <= 0)
        return fd; /* no spool: nothing to clean */
    bool marked;
    int o = ours(fd, root, spool_dir, &marked);
    if (o != 1) {
        close(fd);
        return o < 0 ? hs_err_set(err, o, "%s: %s", spool_dir, hs_strerror(o))
                     : not_ours(spool_dir, err);
    }
    int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    DIR *d = dup >= 0 ? fdopendir(dup) : NULL;
    if (!d) {
        int e = -errno;
        if (dup >= 0)
            close(dup);
        close(fd);
        return hs_err_set(err, e, "%s: %s", spool_dir, strerror(-e));
    }
    rewinddir(d); /* a dup shares the offset of the descriptor it copies */
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!watcher__spool_name_ok(e->d_name))
            continue; /* not hubsync's: left alone */
        char path[HS_PATH_MAX];
        if (hs_path_join(path, sizeof(path), spool_dir, e->d_name) < 0)
            continue;
        bool live = false;
        for (size_t i = 0; i < n_keep && !live; i++)
            live = keep[i] && !strcmp(keep[i], path);
        if (live)
            continue;
        int r = hs_rm_tree_at(fd, e->d_name);
        if (fn)
            fn(path, r, userdata);
        n += r == 0;
    }
    closedir(d);
    close(fd);
    return n;
}
