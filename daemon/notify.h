/*
 * notify.h — internal to daemon/: systemd service notifications (Type=notify)
 * through libsystemd's sd_notify: readiness, STATUS= lines that
 * `systemctl status` shows, reload and stop announcements, and watchdog
 * pings. Every call is a no-op returning 0 when NOTIFY_SOCKET is unset (not
 * under systemd). The watchdog timer is the only periodic timer of the
 * daemon and exists only when systemd asked for it (WATCHDOG_USEC).
 */
#ifndef HUBSYNC_DAEMON_NOTIFY_H
#define HUBSYNC_DAEMON_NOTIFY_H

#include "common.h"

#include <stdbool.h>
#include <uv.h>

/* True when NOTIFY_SOCKET is set. */
bool notify_enabled(void);

/* "READY=1" plus "STATUS=<status>" when status is not NULL: after config,
 * journal replay and watches are up (and again after a reload). */
int notify_ready(const char *status);

/* "STATUS=<text>"; newlines in the text become spaces (a status line must
 * not inject other assignments). */
int notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "RELOADING=1" with "MONOTONIC_USEC=" (systemd >= 253 wants it for
 * Type=notify-reload; older ones ignore it). Send notify_ready() after. */
int notify_reloading(void);

/* "STOPPING=1" plus an optional STATUS=. */
int notify_stopping(const char *status);

/* True for an environment entry ("NAME=value") that belongs to systemd's
 * notify protocol of this process (NOTIFY_SOCKET, WATCHDOG_USEC,
 * WATCHDOG_PID): `hubsync run` drops these from CMD's environment so the
 * trainer cannot speak for the service. */
bool notify_env_is_private(const char *entry);

/* The watchdog: a uv timer at half of WATCHDOG_USEC sending "WATCHDOG=1". */
struct notify_watchdog {
    uv_timer_t timer;
    hs_usec_t interval; /* 0 when not running */
    uint64_t pings;     /* sent so far */
};

/* Start the pings when sd_watchdog_enabled() says systemd wants them:
 * returns 1 (started), 0 (not asked for: nothing is created), or -errno.
 * Call once per struct (it is reset here); stop before starting again. */
int notify_watchdog_start(struct notify_watchdog *w, uv_loop_t *loop);

/* Stop and close the timer (if started); close_cb (may be NULL) runs when
 * the handle is closed. */
void notify_watchdog_stop(struct notify_watchdog *w, uv_close_cb close_cb);

#endif
