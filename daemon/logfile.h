/*
 * logfile.h — internal to daemon/: the `log_file` sink (docs/design.md: batch
 * jobs without journald), one timestamped line per message, with
 * size-based rotation. When a line would take the file past max_bytes the
 * file is renamed aside and a new one started; a compressor thread then
 * writes it zstd-compressed as <path>.1.zst, shifting the older ones
 * (<path>.1.zst → <path>.2.zst …) and deleting what is past `keep`. So the
 * directory holds <path> (live, plain text) and at most keep compressed
 * predecessors, newest first; `zstd -dc <path>.N.zst` reads one.
 *
 * The compressor is one thread that sleeps on a condition variable while
 * there is nothing to compress (no timer, no wakeups), so neither the loop
 * nor the thread pool's hashing waits for it. A file renamed aside but not
 * compressed yet is named <path>.pending-<n>: a crash leaves it, and the
 * next logfile_open compresses it first. If compressing fails (disk full)
 * the plain file stays under its pending name and a warning is logged;
 * nothing is lost.
 *
 * Threading: logfile_sink is an hs_log sink; hs_log calls sinks under its
 * own lock, so lines are written one at a time from whatever thread logs.
 */
#ifndef HUBSYNC_DAEMON_LOGFILE_H
#define HUBSYNC_DAEMON_LOGFILE_H

#include "common.h"

#include <stdint.h>

#define LOGFILE_DEFAULT_MAX_BYTES (UINT64_C(64) << 20)
#define LOGFILE_DEFAULT_KEEP      5
#define LOGFILE_KEEP_MAX          1000

struct logfile;

/* Open (append, create with mode 0640) path. max_bytes 0 turns rotation
 * off; keep is clamped to 1..LOGFILE_KEEP_MAX. Leftover pending files of
 * an earlier process are queued for compression. */
int logfile_open(const char *path, uint64_t max_bytes, unsigned keep, struct logfile **out,
                 struct hs_err *err);

/* hs_log_sink_fn: userdata is the struct logfile. */
void logfile_sink(enum hs_log_level level, const char *line, void *userdata);

/* Compress what is pending, stop the thread, close the file. Remove the
 * sink first (hs_log_set_sink). Accepts NULL; returns NULL. */
struct logfile *logfile_close(struct logfile *lf);

/* Rotations done and files compressed since open (for tests). */
void logfile_stats(struct logfile *lf, uint64_t *rotations, uint64_t *compressed);

#endif
