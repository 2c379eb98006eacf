/*
 * notify.c — thin wrappers over sd_notify (see notify.h). It decides
 * nothing: the daemon says when it is ready, reloading or stopping and what
 * its status line reads; this file formats and sends.
 */
#include "notify.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#define STATUS_MAX 512

bool notify_enabled(void)
{
    const char *s = getenv("NOTIFY_SOCKET");
    return s && *s;
}

bool notify_env_is_private(const char *entry)
{
    static const char *const names[] = {"NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID="};
    for (size_t i = 0; i < HS_ARRAY_SIZE(names); i++)
        if (strncmp(entry, names[i], strlen(names[i])) == 0)
            return true;
    return false;
}

static int send_state(const char *state)
{
    if (!notify_enabled())
        return 0;
    int rc = sd_notify(0, state);
    return rc < 0 ? rc : 0;
}

/* Append "STATUS=<text>" with newlines flattened. */
static void put_status(char *out, size_t n, const char *prefix, const char *text)
{
    int len = snprintf(out, n, "%sSTATUS=%s", prefix, text);
    if (len < 0)
        return;
    for (char *p = out + strlen(prefix); *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
}

int notify_ready(const char *status)
{
    if (!status)
        return send_state("READY=1");
    char buf[STATUS_MAX + 32];
    put_status(buf, sizeof(buf), "READY=1\n", status);
    return send_state(buf);
}

int notify_status(const char *fmt, ...)
{
    if (!notify_enabled())
        return 0;
    char text[STATUS_MAX], buf[STATUS_MAX + 16];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    put_status(buf, sizeof(buf), "", text);
    return send_state(buf);
}

int notify_reloading(void)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)hs_now_monotonic());
    return send_state(buf);
}

int notify_stopping(const char *status)
{
    if (!status)
        return send_state("STOPPING=1");
    char buf[STATUS_MAX + 32];
    put_status(buf, sizeof(buf), "STOPPING=1\n", status);
    return send_state(buf);
}

static void on_watchdog(uv_timer_t *t)
{
    struct notify_watchdog *w = t->data;
    if (send_state("WATCHDOG=1") == 0)
        w->pings++;
}

int notify_watchdog_start(struct notify_watchdog *w, uv_loop_t *loop)
{
    memset(w, 0, sizeof(*w));
    uint64_t usec = 0;
    int rc = sd_watchdog_enabled(0, &usec);
    if (rc <= 0 || usec == 0 || !notify_enabled())
        return rc < 0 ? rc : 0;
    w->interval = usec / 2;
    uint64_t ms = w->interval / HS_USEC_PER_MSEC;
    if (ms == 0)
        ms = 1;
    rc = uv_timer_init(loop, &w->timer);
    if (rc < 0) {
        w->interval = 0;
        return rc;
    }
    w->timer.data = w;
    /* ping right away too: readiness can take a while after exec */
    on_watchdog(&w->timer);
    uv_timer_start(&w->timer, on_watchdog, ms, ms);
    return 1;
}

void notify_watchdog_stop(struct notify_watchdog *w, uv_close_cb close_cb)
{
    if (!w->interval)
        return;
    w->interval = 0;
    uv_timer_stop(&w->timer);
    uv_close((uv_handle_t *)&w->timer, close_cb);
}
