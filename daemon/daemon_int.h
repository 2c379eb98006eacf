/*
 * daemon_int.h — internal to daemon/: the pieces service.c uses besides
 * the public ones — the log_file sink (logfile.h) and systemd notify and
 * watchdog (notify.h).
 */
#ifndef HUBSYNC_DAEMON_INT_H
#define HUBSYNC_DAEMON_INT_H

#include "daemon.h"
#include "logfile.h"
#include "notify.h"

#endif
