/*
 * priority.c — lowers the nice value and the I/O priority of every thread
 * of hubsync (priority.h says why per thread and when to call it). glibc
 * has no ioprio_set wrapper, so the system call is made directly with the
 * kernel's IOPRIO_PRIO_VALUE encoding (class << 13 | level).
 */
#include "priority.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define IOPRIO_CLASS_SHIFT     13
#define IOPRIO_WHO_PROCESS     1
#define IOPRIO_VALUE(cls, lvl) (((cls) << IOPRIO_CLASS_SHIFT) | (lvl))

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -EINVAL;
    *out = (int)v;
    return 0;
}

int priority_from_env(struct priority_settings *p, struct hs_err *err)
{
    struct priority_settings n = *p;
    const char *s = getenv("HUBSYNC_NICE");
    if (s && parse_int(s, 0, 19, &n.nice) < 0)
        return hs_err_set(err, -EINVAL, "HUBSYNC_NICE=\"%s\": expected a number from 0 to 19", s);
    s = getenv("HUBSYNC_IO_PRIORITY");
    if (s) {
        if (strcmp(s, "idle") == 0) {
            n.io_class = PRIORITY_IO_IDLE;
            n.io_level = 0;
        } else if (strcmp(s, "unchanged") == 0) {
            n.io_class = PRIORITY_IO_UNCHANGED;
        } else if (strncmp(s, "be", 2) == 0 && parse_int(s + 2, 0, 7, &n.io_level) == 0) {
            n.io_class = PRIORITY_IO_BEST_EFFORT;
        } else {
            return hs_err_set(err, -EINVAL,
                              "HUBSYNC_IO_PRIORITY=\"%s\": expected idle, be0 to be7 or unchanged",
                              s);
        }
    }
    *p = n;
    return 0;
}

/* Is the I/O priority v (as ioprio_get returns it) already at or below the
 * wanted class/level? IOPRIO_CLASS_NONE (0) means "best-effort, level from
 * the nice value", i.e. level (nice + 20) / 5. */
static int io_weaker_or_equal(int v, int nice, int cls, int lvl)
{
    int have_cls = v >> IOPRIO_CLASS_SHIFT, have_lvl = v & ((1 << IOPRIO_CLASS_SHIFT) - 1);
    if (have_cls == 0) {
        have_cls = PRIORITY_IO_BEST_EFFORT;
        have_lvl = (nice + 20) / 5;
    }
    if (have_cls == 1) /* realtime: stronger than anything we set */
        return 0;
    if (have_cls != cls)
        return have_cls > cls; /* idle (3) is weaker than best-effort (2) */
    return cls == PRIORITY_IO_IDLE || have_lvl >= lvl;
}

/* What priority_lower() applied, for priority_lower_self(): the settings and
 * the nice value the process started with (each thread goes to base + nice,
 * so lowering a thread twice changes nothing). */
static struct {
    bool applied;
    struct priority_settings p;
    int base;
} applied;

static int lower_thread(pid_t tid, const struct priority_settings *p, int base, struct hs_err *err)
{
    int rc = 0;
    errno = 0;
    int cur = getpriority(PRIO_PROCESS, (id_t)tid);
    if (cur == -1 && errno)
        return errno == ESRCH
                   ? 0
                   : hs_err_set(err, -errno, "getpriority(%ld): %s", (long)tid, strerror(errno));
    int want = base + p->nice > 19 ? 19 : base + p->nice;
    if (want > cur && setpriority(PRIO_PROCESS, (id_t)tid, want) < 0 && errno != ESRCH)
        rc = hs_err_set(err, -errno, "setpriority(thread %ld, nice %d): %s", (long)tid, want,
                        strerror(errno));
    if (p->io_class == PRIORITY_IO_UNCHANGED)
        return rc;
    int nice_now = want;
    long v = syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, (int)tid);
    if (v >= 0 && io_weaker_or_equal((int)v, nice_now, p->io_class, p->io_level))
        return rc;
    int lvl = p->io_class == PRIORITY_IO_IDLE ? 0 : p->io_level;
    if (syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, (int)tid, IOPRIO_VALUE(p->io_class, lvl)) < 0 &&
        errno != ESRCH && rc == 0)
        rc = hs_err_set(err, -errno, "ioprio_set(thread %ld, %s): %s", (long)tid,
                        p->io_class == PRIORITY_IO_IDLE ? "idle" : "best-effort", strerror(errno));
    return rc;
}

int priority_lower(const struct priority_settings *p, struct hs_err *err)
{
    if (p->nice < 0 || p->nice > 19 || p->io_level < 0 || p->io_level > 7)
        return hs_err_set(err, -EINVAL, "priority: nice %d / I/O level %d out of range", p->nice,
                          p->io_level);
    pid_t self = (pid_t)syscall(SYS_gettid);
    errno = 0;
    int base = getpriority(PRIO_PROCESS, (id_t)self);
    if (base == -1 && errno)
        base = 0;
    applied.p = *p;
    applied.base = base;
    applied.applied = true;
    int first = hs_thread_priority_kept(self) ? 0 : lower_thread(self, p, base, err);
    DIR *d = opendir("/proc/self/task");
    if (!d) {
        int e = -errno;
        return first < 0 ? first : hs_err_set(err, e, "/proc/self/task: %s", strerror(-e));
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        int tid;
        if (de->d_name[0] == '.' || parse_int(de->d_name, 1, 0x7fffffff, &tid) < 0 || tid == self ||
            hs_thread_priority_kept(tid))
            continue;
        int rc = lower_thread(tid, p, base, first < 0 ? NULL : err);
        if (rc < 0 && first == 0)
            first = rc;
    }
    closedir(d);
    return first;
}

void priority_lower_self(void)
{
    if (applied.applied)
        (void)lower_thread((pid_t)syscall(SYS_gettid), &applied.p, applied.base, NULL);
}

static void pool_nothing(uv_work_t *req)
{
    (void)req;
}

static void pool_started(uv_work_t *req, int status)
{
    (void)req;
    (void)status;
}

void priority_describe(const struct priority_settings *p, char *buf, size_t len)
{
    char io[32];
    if (p->io_class == PRIORITY_IO_IDLE)
        snprintf(io, sizeof(io), "idle");
    else if (p->io_class == PRIORITY_IO_BEST_EFFORT)
        snprintf(io, sizeof(io), "best-effort %d", p->io_level);
    else
        snprintf(io, sizeof(io), "unchanged");
    if (p->nice > 0)
        snprintf(buf, len, "nice +%d, I/O %s", p->nice, io);
    else
        snprintf(buf, len, "nice unchanged, I/O %s", io);
}

void priority_apply_defaults(uv_loop_t *loop)
{
    /* libuv starts all of its pool threads at the first queued work, from
     * this (the loop's) thread: start them now so that they are lowered
     * below; the loop's thread itself keeps its priority (common.h). */
    static uv_work_t start_pool;
    hs_thread_keep_priority();
    if (loop)
        (void)uv_queue_work(loop, &start_pool, pool_nothing, pool_started);
    struct priority_settings ps = PRIORITY_DEFAULTS;
    struct hs_err err = {0};
    char what[64];
    if (priority_from_env(&ps, &err) < 0) {
        hs_log_warn("%s; keeping the defaults", err.msg);
        ps = PRIORITY_DEFAULTS;
    }
    priority_describe(&ps, what, sizeof(what));
    int rc = priority_lower(&ps, &err);
    if (rc == -EPERM || rc == -EACCES)
        hs_log_info("priority: not changed here (%s); left to the service manager "
                    "(the units set Nice= and IOSchedulingClass=)",
                    err.msg);
    else if (rc < 0)
        hs_log_warn("priority: %s", err.msg);
    else
        hs_log_info("running at lower priority beside the training: %s "
                    "(HUBSYNC_NICE, HUBSYNC_IO_PRIORITY)",
                    what);
}
