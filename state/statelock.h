/*
 * statelock.h — part of state/ (state.h): one hubsync process per state_dir.
 * The lock is an open-file-description (OFD) write lock on
 * <state_dir>/hubsync.lock, which the kernel drops when the process dies
 * (even by SIGKILL), so a stale lock file never blocks a restart. The
 * holder writes its PID into the file so a second process can say who
 * holds it. The descriptor is close-on-exec: a command started by
 * `hubsync run` does not inherit it.
 */
#ifndef HUBSYNC_STATE_STATELOCK_H
#define HUBSYNC_STATE_STATELOCK_H

#include "common.h"

#include <sys/types.h>

#define STATELOCK_FILE "hubsync.lock"

struct statelock;

/* Take the lock of state_dir (created with mode 0700 when missing).
 * -EWOULDBLOCK when another process holds it: then *holder (may be NULL)
 * is its PID as written in the lock file (0 when it could not be read yet)
 * and err says "state directory D is in use by hubsync process PID".
 * Other failures: -errno with a message. */
int statelock_acquire(const char *state_dir, struct statelock **out, pid_t *holder,
                      struct hs_err *err);

/* Release the lock (the file stays; its content is cleared). NULL is fine.
 * Returns NULL. */
struct statelock *statelock_release(struct statelock *l);

#endif
