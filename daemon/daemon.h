/*
 * daemon.h — the public interface of daemon/ (jobs, journal, control
 * socket). The binary's entry point is main.c; nothing outside daemon/
 * includes this header except tests.
 */
#ifndef HUBSYNC_DAEMON_H
#define HUBSYNC_DAEMON_H

#include "common.h"

#endif
