/*
 * fileio.c — the one way uploader/ opens a file it reads (hashing, part and
 * basic PUT bodies, regular file contents for the commit): never through a
 * symlink (O_NOFOLLOW), never inherited by a child (O_CLOEXEC), never
 * blocking on a FIFO swapped in (O_NONBLOCK), a regular file only, and —
 * when the caller knows what it hashed — the very file it hashed: fstat of
 * the descriptor must show the same device, inode, size and mtime. Every
 * path it is given was listed as a regular file, so a file swapped between
 * the listing and the read (a symlink, a FIFO, another file) fails closed
 * with HS_ECHANGED and nothing of it is read. Blocking: call it on the
 * thread pool.
 *
 * O_NOFOLLOW guards the last component only; the folders above it are the
 * caller's (the daemon reads its own spool, `hubsync push` a folder the user
 * named).
 *
 * O_NONBLOCK stays set on the descriptor returned: it only keeps the open of
 * a FIFO from blocking, and "has no effect for regular files" (open(2)) —
 * every read of these descriptors is a pread of a regular file. Clearing it
 * took two fcntl calls per open, ~9% of the CPU of a push of many small
 * files (perf, bench/RESULTS.md).
 */
#include "uploader_int.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

void uploader__key_from_stat(const struct stat *st, struct hash_key *k)
{
    k->dev = st->st_dev;
    k->ino = st->st_ino;
    k->size = (uint64_t)st->st_size;
    k->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    k->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
}

int uploader__key_of_fd(int fd, struct hash_key *k)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    uploader__key_from_stat(&st, k);
    return 0;
}

int uploader__open_file(const char *path, const struct hash_key *expect, struct hash_key *got,
                        char *why, size_t why_len)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        if (e == ELOOP) {
            snprintf(why, why_len, "is a symbolic link now (not followed; nothing of it was read)");
            return HS_ECHANGED;
        }
        snprintf(why, why_len, "%s", strerror(e));
        return -e;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        snprintf(why, why_len, "%s", strerror(e));
        return -e;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        snprintf(why, why_len, "is not a regular file any more (nothing of it was read)");
        return HS_ECHANGED;
    }
    struct hash_key k;
    uploader__key_from_stat(&st, &k);
    if (expect && (k.dev != expect->dev || k.ino != expect->ino || k.size != expect->size ||
                   k.mtime_ns != expect->mtime_ns)) {
        close(fd);
        snprintf(why, why_len, "%s",
                 k.dev != expect->dev || k.ino != expect->ino
                     ? "was replaced after it was hashed (another file has its name: device/inode "
                       "differ)"
                     : "changed after it was hashed (size/mtime differ)");
        return HS_ECHANGED;
    }
    if (got)
        *got = k;
    return fd;
}

int uploader__read_file(const char *path, const struct hash_key *expect, uint64_t off, void *buf,
                        size_t len, char *why, size_t why_len)
{
    int fd = uploader__open_file(path, expect, NULL, why, why_len);
    if (fd < 0)
        return fd;
    /* When the read reaches the end, one byte more in the same call: had
     * the file grown, it is there. A read of a regular file returns less
     * than asked only at its end, so a call short of that byte has seen the
     * end (one call for a whole small file). */
    char extra;
    bool to_end = off + len == expect->size, end_seen = !to_end;
    int rc = 0;
    size_t got = 0;
    while (rc == 0 && got <= len && (got < len || !end_seen)) {
        struct iovec iov[2] = {{(char *)buf + got, len - got}, {&extra, 1}};
        struct iovec *v = got < len ? iov : iov + 1;
        int nv = got < len && to_end ? 2 : 1;
        size_t asked = len - got + (to_end ? 1 : 0);
        ssize_t k = preadv(fd, v, nv, (off_t)(off + got));
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            rc = -errno;
            snprintf(why, why_len, "%s", strerror(errno));
        } else if (k == 0 && got < len) {
            rc = HS_ECHANGED;
            snprintf(why, why_len, "shrank after it was hashed");
        } else {
            got += (size_t)k;
            end_seen = !to_end || (size_t)k < asked;
        }
    }
    if (rc == 0 && got > len) {
        rc = HS_ECHANGED;
        snprintf(why, why_len, "grew after it was hashed");
    }
    close(fd);
    return rc;
}
