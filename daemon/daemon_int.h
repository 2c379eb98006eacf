/*
 * daemon_int.h — internal to daemon/: the pieces service.c uses besides
 * the public ones — the log sinks (logsinks.c, the log_file one in
 * logfile.h), systemd notify and watchdog (notify.h), and `run`'s repo
 * creation before CMD starts (preflight.h).
 */
#ifndef HUBSYNC_DAEMON_INT_H
#define HUBSYNC_DAEMON_INT_H

#include "daemon.h"
#include "logfile.h"
#include "notify.h"
#include "preflight.h"

struct config;
/* logsinks.c: pick the sink for cfg (journald, log_file or stderr; once:
 * a later call keeps an open log_file), and restore stderr and close the
 * log_file. */
void log_sinks_setup(const struct config *cfg);
void log_sinks_teardown(void);

#endif
