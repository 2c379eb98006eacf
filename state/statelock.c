/*
 * statelock.c — the per-state_dir process lock (see statelock.h). Uses
 * fcntl(F_OFD_SETLK) rather than flock so that the lock also works on NFS
 * (where flock may be emulated locally) and rather than classic POSIX locks
 * so that closing an unrelated descriptor of the same file cannot drop it.
 */
#include "statelock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct statelock {
    int fd;
};

static pid_t read_holder(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *end;
    long v = strtol(buf, &end, 10);
    if (end == buf || v <= 0 || (*end != '\n' && *end != '\0'))
        return 0;
    return (pid_t)v;
}

int statelock_acquire(const char *state_dir, struct statelock **out, pid_t *holder,
                      struct hs_err *err)
{
    *out = NULL;
    if (holder)
        *holder = 0;
    int rc = hs_mkdir_p(state_dir, 0700);
    if (rc < 0)
        return hs_err_set(err, rc, "cannot create state directory %s: %s", state_dir,
                          hs_strerror(rc));
    char path[HS_PATH_MAX];
    rc = hs_path_join(path, sizeof(path), state_dir, STATELOCK_FILE);
    if (rc < 0)
        return hs_err_set(err, rc, "state directory name too long: %s", state_dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return hs_err_set(err, -errno, "cannot open lock file %s: %s", path, strerror(errno));
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
        int e = errno;
        if (e == EAGAIN || e == EACCES) {
            pid_t pid = read_holder(fd);
            close(fd);
            if (holder)
                *holder = pid;
            if (pid > 0)
                return hs_err_set(err, -EWOULDBLOCK,
                                  "state directory %s is in use by hubsync process %ld (lock "
                                  "file %s)",
                                  state_dir, (long)pid, path);
            return hs_err_set(err, -EWOULDBLOCK,
                              "state directory %s is in use by another hubsync process (lock "
                              "file %s)",
                              state_dir, path);
        }
        close(fd);
        return hs_err_set(err, -e, "cannot lock %s: %s", path, strerror(e));
    }
    char pid[32];
    int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        rc = -errno;
        close(fd);
        return hs_err_set(err, rc, "cannot write lock file %s: %s", path, strerror(-rc));
    }
    struct statelock *l = malloc(sizeof(*l));
    if (!l) {
        close(fd);
        return hs_err_set(err, -ENOMEM, "out of memory");
    }
    l->fd = fd;
    *out = l;
    return 0;
}

struct statelock *statelock_release(struct statelock *l)
{
    if (!l)
        return NULL;
    /* Clear the PID while still holding the lock, then drop it. */
    if (ftruncate(l->fd, 0) < 0) {
        /* harmless: the next holder rewrites the file */
    }
    close(l->fd);
    free(l);
    return NULL;
}
