/*
 * daemon.h — the public interface of daemon/: the service behind `hubsync
 * daemon` and `hubsync run` (service.h), the control socket's protocol
 * (control.h) and the process priority (priority.h), plus the exit codes
 * of the `hubsync` binary (contract in docs/design.md). Code outside
 * daemon/ includes only this header.
 */
#ifndef HUBSYNC_DAEMON_H
#define HUBSYNC_DAEMON_H

#include "common.h"

enum {
    HS_EXIT_OK = 0,
    HS_EXIT_FAILURE = 1,
    HS_EXIT_USAGE = 2,
    HS_EXIT_NO_DAEMON = 3,
    HS_EXIT_CONFIG = 78,
};

#include "control.h"
#include "priority.h"
#include "service.h"

#endif
