/*
 * queue.c — the hand-off from the backend threads to the loop: normalised
 * events, batches built on a backend thread, and the locked FIFO whose
 * uv_async_t wakes the loop (sends coalesce, so the loop drains everything
 * queued in one go). Also the two name rules every part of watcher/ applies:
 * which names are ignored and which can be reported. Does not interpret
 * events (detect.c does).
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct watcher__event *watcher__event_new(uint32_t job_id, int kind, const char *path)
{
    size_t n = strlen(path);
    struct watcher__event *e = calloc(1, sizeof(*e) + n + 1);
    if (!e)
        return NULL;
    e->job_id = job_id;
    e->kind = (uint8_t)kind;
    e->time = hs_now_monotonic();
    memcpy(e->path, path, n + 1);
    return e;
}

void watcher__events_free(struct watcher__event *e)
{
    while (e) {
        struct watcher__event *next = e->next;
        free(e);
        e = next;
    }
}

int watcher__queue_init(struct watcher__queue *q, uv_loop_t *loop, uv_async_cb cb)
{
    q->head = NULL;
    q->tail = &q->head;
    int r = pthread_mutex_init(&q->lock, NULL);
    if (r)
        return -r;
    r = uv_async_init(loop, &q->async, cb);
    if (r < 0)
        pthread_mutex_destroy(&q->lock);
    return r;
}

void watcher__queue_push(struct watcher__queue *q, struct watcher__event *first,
                         struct watcher__event **last_next)
{
    if (!first)
        return;
    pthread_mutex_lock(&q->lock);
    *q->tail = first;
    q->tail = last_next;
    pthread_mutex_unlock(&q->lock);
    uv_async_send(&q->async);
}

struct watcher__event *watcher__queue_take(struct watcher__queue *q)
{
    pthread_mutex_lock(&q->lock);
    struct watcher__event *h = q->head;
    q->head = NULL;
    q->tail = &q->head;
    pthread_mutex_unlock(&q->lock);
    return h;
}

void watcher__batch_init(struct watcher__batch *b)
{
    b->head = NULL;
    b->tail = &b->head;
    b->n = 0;
}

void watcher__batch_add(struct watcher__batch *b, struct watcher__event *e)
{
    if (!e)
        return; /* out of memory: the event is lost; rescans recover state */
    *b->tail = e;
    b->tail = &e->next;
    b->n++;
}

void watcher__batch_flush(struct watcher__batch *b, struct watcher__queue *q)
{
    if (b->head)
        watcher__queue_push(q, b->head, b->tail);
    watcher__batch_init(b);
}

void watcher__batch_notice(struct watcher__batch *b, uint32_t job_id, int level, const char *fmt,
                           ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct watcher__event *e = watcher__event_new(job_id, WEV_NOTICE, msg);
    if (e)
        e->cookie = (uint32_t)level;
    watcher__batch_add(b, e);
}

bool watcher__name_ignored(const char *name)
{
    return name[0] == '.' || strncmp(name, "tmp-checkpoint-", 15) == 0;
}

bool watcher__name_printable(const char *name)
{
    for (const unsigned char *s = (const unsigned char *)name; *s;) {
        size_t n = *s < 0x20 || *s == 0x7f ? 0 : hs_utf8_len(s);
        if (n == 0)
            return false;
        s += n;
    }
    return true;
}

void watcher__name_escape(const char *name, char *out, size_t n)
{
    size_t k = 0;
    for (const unsigned char *s = (const unsigned char *)name; *s && k + 5 < n; s++) {
        if (*s >= 0x20 && *s < 0x7f && *s != '\\')
            out[k++] = (char)*s;
        else
            k += (size_t)snprintf(out + k, n - k, "\\x%02x", *s);
    }
    out[k < n ? k : n - 1] = 0;
}
