/*
 * priority.h — part of daemon/ (daemon.h): lower hubsync's CPU and I/O priority so
 * that a push yields to the training it runs beside (issue 8, "training
 * interference"; measured in bench/interference_bench.sh, bench/RESULTS.md).
 *
 * Linux keeps the nice value and the I/O priority per thread, and a new
 * thread or child inherits them from the thread that creates it. So
 * priority_lower() changes every thread of the process that exists when it
 * is called (the calling thread first, then the others from
 * /proc/self/task), and threads created later inherit from their creator.
 * Call it in `hubsync daemon` at start, and in `hubsync run` only AFTER CMD
 * has been spawned: CMD (the training) must keep its own priority.
 *
 * It only ever lowers, and relatively for the CPU: each thread's nice value
 * goes up by `nice` (10: a daemon started at 0 runs at 10, one started by
 * `nice -n 5` at 15; capped at 19), so call it once. The I/O priority is
 * set to the given class and level unless the thread's is already weaker. Where the kernel refuses
 * (EPERM: a systemd unit's SystemCallFilter=~@resources, or a seccomp sandbox) it returns the error
 * with a message and changes what it could; the caller logs a warning and
 * carries on.
 */
#ifndef HUBSYNC_DAEMON_PRIORITY_H
#define HUBSYNC_DAEMON_PRIORITY_H

#include "common.h"

#include <uv.h>

enum priority_io_class {
    PRIORITY_IO_UNCHANGED = 0,
    PRIORITY_IO_BEST_EFFORT = 2, /* IOPRIO_CLASS_BE, levels 0 (high) .. 7 (low) */
    PRIORITY_IO_IDLE = 3,        /* IOPRIO_CLASS_IDLE: disk time only when nobody else wants it */
};

struct priority_settings {
    int nice; /* added to each thread's nice value like nice(1) (capped at 19); 0 = unchanged */
    enum priority_io_class io_class;
    int io_level; /* best-effort level 0..7 (ignored for idle) */
};

/* The proposed defaults: nice +10, best-effort I/O level 7. */
#define PRIORITY_DEFAULTS ((struct priority_settings){10, PRIORITY_IO_BEST_EFFORT, 7})

/* Environment overrides (operators, benchmarks): HUBSYNC_NICE=0..19 (the
 * increment; 0 leaves the CPU priority alone) and HUBSYNC_IO_PRIORITY=idle | be0..be7 |
 * unchanged. Starts from *p (e.g. PRIORITY_DEFAULTS); a bad value leaves *p
 * unchanged and returns -EINVAL with a message naming the variable. */
int priority_from_env(struct priority_settings *p, struct hs_err *err);

/* Apply p to every thread of the process (see above). 0, or a negative
 * errno (the first failure; the other threads are still tried). */
int priority_lower(const struct priority_settings *p, struct hs_err *err);

/* "nice +10, I/O best-effort 7" — for the start-up log line. */
void priority_describe(const struct priority_settings *p, char *buf, size_t len);

/* PRIORITY_DEFAULTS with the environment overrides applied to every thread
 * but those that keep their priority (common.h: the calling thread, which
 * runs the loop, is one of them), each outcome logged (EPERM: left to the
 * service manager, info). Starts libuv's pool first so that its threads
 * are lowered too. */
void priority_apply_defaults(uv_loop_t *loop);

/* For a thread created after priority_apply_defaults() by a thread that
 * kept its priority (e.g. the log compressor started at a reopen): lower
 * the calling thread as priority_lower() did the others. No-op before. */
void priority_lower_self(void);

#endif
