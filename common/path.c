/*
 * path.c — joining paths without escaping a root, mkdir -p, and small
 * whole-file reads and atomic writes. Blocking calls: use them off the
 * event loop (or on tiny files at start-up).
 */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int hs_path_join(char *out, size_t n, const char *base, const char *rel)
{
    size_t bl = strlen(base);
    while (bl > 1 && base[bl - 1] == '/')
        bl--;
    while (*rel == '/')
        rel++;
    const char *sep = (bl == 1 && base[0] == '/') ? "" : "/";
    int w = *rel ? snprintf(out, n, "%.*s%s%s", (int)bl, base, sep, rel)
                 : snprintf(out, n, "%.*s", (int)bl, base);
    if (w < 0 || (size_t)w >= n)
        return -ENAMETOOLONG;
    return 0;
}

bool hs_path_is_safe_relative(const char *rel)
{
    if (!rel || !*rel || rel[0] == '/')
        return false;
    const char *seg = rel;
    for (const char *p = rel;; p++) {
        if ((unsigned char)*p < 0x20 && *p != '\0')
            return false;
        if (*p == '/' || *p == '\0') {
            size_t len = (size_t)(p - seg);
            if (len == 0 || (len == 1 && seg[0] == '.') ||
                (len == 2 && seg[0] == '.' && seg[1] == '.'))
                return false;
            if (*p == '\0')
                return true;
            seg = p + 1;
        }
    }
}

int hs_path_join_under(char *out, size_t n, const char *base, const char *rel)
{
    if (!hs_path_is_safe_relative(rel))
        return -EINVAL;
    return hs_path_join(out, n, base, rel);
}

int hs_mkdir_p(const char *path, unsigned mode)
{
    char tmp[HS_PATH_MAX];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof(tmp))
        return -ENAMETOOLONG;
    memcpy(tmp, path, len + 1);
    for (char *p = tmp + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(tmp, mode) < 0 && errno != EEXIST)
                return -errno;
            if (c == '\0')
                break;
            *p = c;
        }
    }
    struct stat st;
    if (stat(path, &st) < 0)
        return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int hs_read_file(const char *path, size_t max, char **out, size_t *out_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = hs_read_fd(fd, max, out, out_len);
    close(fd);
    return rc;
}

int hs_pwrite_all(int fd, const void *data, size_t len, off_t off,
                  ssize_t (*wr)(int fd, const void *buf, size_t n, off_t off))
{
    const char *p = data;
    while (len) {
        ssize_t w = wr ? wr(fd, p, len, off) : pwrite(fd, p, len, off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (w == 0)
            return -EIO;
        p += w;
        off += w;
        len -= (size_t)w;
    }
    return 0;
}

int hs_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

int hs_write_file_atomic_opt(const char *path, const void *data, size_t len,
                             const struct hs_atomic_opts *o)
{
    static const struct hs_atomic_opts defaults = {.mode = 0600};
    if (!o)
        o = &defaults;
    char tmp[HS_PATH_MAX], dir[HS_PATH_MAX];
    int n = o->tmp_suffix ? snprintf(tmp, sizeof(tmp), "%s%s", path, o->tmp_suffix)
                          : snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || n >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, o->mode);
    if (fd < 0)
        return -errno;
    int rc = hs_pwrite_all(fd, data, len, 0, o->pwrite);
    if (rc == 0 && !o->no_sync && fsync(fd) < 0)
        rc = -errno;
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && o->before_rename && o->before_rename())
        return -ECANCELED; /* a simulated crash: the tmp file stays, as it would */
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc < 0) {
        unlink(tmp);
        return rc;
    }
    if (o->no_sync)
        return 0;
    snprintf(dir, sizeof(dir), "%s", path);
    return hs_fsync_dir(dirname(dir));
}

int hs_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
    return hs_write_file_atomic_opt(path, data, len, &(struct hs_atomic_opts){.mode = mode});
}

size_t hs_utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    size_t n;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 1;
    else if (c >= 0xe0 && c <= 0xef)
        n = 2;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 3;
    else
        return 0;
    if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) || (c == 0xf0 && s[1] < 0x90) ||
        (c == 0xf4 && s[1] > 0x8f))
        return 0;
    for (size_t i = 1; i <= n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return n + 1;
}
