/*
 * log.c — leveled logging through a replaceable sink, and the secret
 * scrubber every line passes through. Does not know about journald or log
 * files: daemon/ installs those sinks.
 */
#include "common.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HS_SECRETS_MAX  4
#define HS_LOG_LINE_MAX 4096

static enum hs_log_level g_level = HS_LOG_INFO;
static hs_log_sink_fn g_sink;
static void *g_sink_data;
static char *g_secrets[HS_SECRETS_MAX];
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"error", "warning", "info", "debug"};

void hs_log_set_level(enum hs_log_level level)
{
    g_level = level;
}

void hs_log_set_sink(hs_log_sink_fn fn, void *userdata)
{
    pthread_mutex_lock(&g_lock);
    g_sink = fn;
    g_sink_data = userdata;
    pthread_mutex_unlock(&g_lock);
}

int hs_secret_register(const char *secret)
{
    if (!secret || !*secret)
        return 0;
    int rc = -ENOSPC;
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < HS_SECRETS_MAX; i++) {
        if (g_secrets[i] && strcmp(g_secrets[i], secret) == 0) {
            rc = 0;
            break;
        }
        if (!g_secrets[i]) {
            g_secrets[i] = strdup(secret);
            rc = g_secrets[i] ? 0 : -ENOMEM;
            break;
        }
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

void hs_secret_clear_all(void)
{
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < HS_SECRETS_MAX; i++) {
        hs_free_secret(g_secrets[i]);
        g_secrets[i] = NULL;
    }
    pthread_mutex_unlock(&g_lock);
}

/* Caller holds g_lock. O(lines × secrets); lines are short. */
static void scrub_locked(char *buf)
{
    static const char mask[] = "hf_***";
    for (size_t i = 0; i < HS_SECRETS_MAX; i++) {
        const char *s = g_secrets[i];
        if (!s)
            continue;
        size_t sl = strlen(s);
        char *p;
        while ((p = strstr(buf, s)) != NULL) {
            size_t ml = sizeof(mask) - 1 < sl ? sizeof(mask) - 1 : sl;
            memcpy(p, mask, ml);
            memmove(p + ml, p + sl, strlen(p + sl) + 1);
        }
    }
}

void hs_secret_scrub(char *buf)
{
    pthread_mutex_lock(&g_lock);
    scrub_locked(buf);
    pthread_mutex_unlock(&g_lock);
}

const char *hs_token_redacted(const char *token)
{
    return (token && strncmp(token, "hf_", 3) == 0) ? "hf_***" : "***";
}

char *hs_url_redact(const char *url, char *out, size_t n)
{
    if (n == 0)
        return out;
    const char *scheme = strstr(url, "://");
    const char *auth = scheme ? scheme + 3 : NULL;
    size_t alen = auth ? strcspn(auth, "/?#") : 0;
    const char *at = auth ? memrchr(auth, '@', alen) : NULL;
    if (!at) {
        snprintf(out, n, "%s", url);
        return out;
    }
    const char *colon = memchr(auth, ':', (size_t)(at - auth));
    if (colon)
        snprintf(out, n, "%.*s:***%s", (int)(colon - url), url, at);
    else
        snprintf(out, n, "%.*s***%s", (int)(auth - url), url, at);
    return out;
}

void hs_url_redact_in(char *buf, size_t n, const char *url)
{
    char red[1024];
    hs_url_redact(url, red, sizeof(red));
    size_t ul = strlen(url), rl = strlen(red);
    if (!ul || !strcmp(red, url) || rl > ul)
        return; /* nothing to hide (a redacted URL is never longer) */
    for (char *p = strstr(buf, url); p; p = strstr(p + rl, url)) {
        memcpy(p, red, rl);
        memmove(p + rl, p + ul, strlen(p + ul) + 1);
    }
    (void)n;
}

void hs_free_secret(char *s)
{
    if (!s)
        return;
    volatile char *v = s;
    while (*v)
        *v++ = 0;
    free(s);
}

static bool g_stamp, g_tty;

void hs_log_stderr_style(bool timestamps)
{
    g_stamp = timestamps;
    g_tty = isatty(STDERR_FILENO) == 1;
}

/* The default sink: one whole line in one write(2), so it never interleaves
 * with another writer's bytes mid-line. On a terminal it starts with "\r"
 * and erase-line, as tqdm.write does: a progress bar the trainer left
 * without a newline is cleared (its next refresh redraws it below) instead
 * of having our line glued to its end. Caller holds g_lock. */
static void stderr_line(enum hs_log_level level, const char *line)
{
    char buf[HS_LOG_LINE_MAX + 96], ts[16] = "";
    if (g_stamp) {
        struct tm tm;
        time_t now = time(NULL);
        strftime(ts, sizeof(ts), "%H:%M:%S ", localtime_r(&now, &tm));
    }
    int n = snprintf(buf, sizeof(buf), "%s%shubsync: %s: %s\n", g_tty ? "\r\033[K" : "", ts,
                     level_names[level], line);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1;
    if (len && buf[len - 1] != '\n')
        buf[len - 1] = '\n'; /* cut: still a whole line */
    for (size_t off = 0; off < len;) {
        ssize_t w = write(STDERR_FILENO, buf + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        off += (size_t)w;
    }
}

void hs_vlog(enum hs_log_level level, const char *fmt, va_list ap)
{
    if (level > g_level)
        return;
    char line[HS_LOG_LINE_MAX];
    vsnprintf(line, sizeof(line), fmt, ap);
    pthread_mutex_lock(&g_lock);
    scrub_locked(line);
    if (g_sink)
        g_sink(level, line, g_sink_data);
    else
        stderr_line(level, line);
    pthread_mutex_unlock(&g_lock);
}

void hs_log(enum hs_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    hs_vlog(level, fmt, ap);
    va_end(ap);
}
