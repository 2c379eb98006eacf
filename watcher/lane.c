/*
 * lane.c — the watcher's protect lane: one thread of its own for the
 * protect-on-sight links (protect.c), so that they never wait behind the
 * hashing, snapshot and upload work that fills libuv's pool, and so that
 * they run at the priority hubsync was started with (the thread calls
 * hs_thread_keep_priority; daemon/priority.c lowers the pool). The
 * Trainer's end-of-training rotation deletes the last checkpoint ~100 ms
 * after writing it: the links must be taken within that, also when the
 * training keeps every core busy. Work is taken in FIFO order; each
 * request's after() runs on the loop (uv_async_t), like uv_queue_work's.
 */
#include "internal.h"

#include <errno.h>
#include <string.h>

static void *lane_main(void *arg)
{
    struct watcher__lane *l = arg;
    hs_thread_keep_priority();
    pthread_mutex_lock(&l->lock);
    for (;;) {
        while (!l->todo && !l->stop)
            pthread_cond_wait(&l->cond, &l->lock);
        if (!l->todo)
            break;
        struct watcher__lane_req *r = l->todo;
        l->todo = r->next;
        if (!l->todo)
            l->todo_tail = &l->todo;
        pthread_mutex_unlock(&l->lock);
        r->work(r);
        pthread_mutex_lock(&l->lock);
        r->next = NULL;
        *l->done_tail = r;
        l->done_tail = &r->next;
        pthread_mutex_unlock(&l->lock);
        uv_async_send(&l->async);
        pthread_mutex_lock(&l->lock);
    }
    pthread_mutex_unlock(&l->lock);
    hs_thread_keep_priority_end();
    return NULL;
}

static void lane_async(uv_async_t *a)
{
    struct watcher__lane *l = a->data;
    pthread_mutex_lock(&l->lock);
    struct watcher__lane_req *r = l->done;
    l->done = NULL;
    l->done_tail = &l->done;
    pthread_mutex_unlock(&l->lock);
    while (r) {
        struct watcher__lane_req *next = r->next;
        r->after(r); /* may free r */
        r = next;
    }
}

int watcher__lane_init(struct watcher__lane *l, uv_loop_t *loop, void *data)
{
    memset(l, 0, sizeof(*l));
    l->todo_tail = &l->todo;
    l->done_tail = &l->done;
    l->data = data;
    int r = pthread_mutex_init(&l->lock, NULL);
    if (r)
        return -r;
    if ((r = pthread_cond_init(&l->cond, NULL)) != 0) {
        pthread_mutex_destroy(&l->lock);
        return -r;
    }
    if ((r = uv_async_init(loop, &l->async, lane_async)) < 0) {
        pthread_cond_destroy(&l->cond);
        pthread_mutex_destroy(&l->lock);
        return r;
    }
    l->async.data = l;
    if ((r = pthread_create(&l->thread, NULL, lane_main, l)) != 0) {
        uv_close((uv_handle_t *)&l->async, NULL);
        pthread_cond_destroy(&l->cond);
        pthread_mutex_destroy(&l->lock);
        return -r;
    }
    return 0;
}

void watcher__lane_queue(struct watcher__lane *l, struct watcher__lane_req *r)
{
    r->next = NULL;
    pthread_mutex_lock(&l->lock);
    *l->todo_tail = r;
    l->todo_tail = &r->next;
    pthread_cond_signal(&l->cond);
    pthread_mutex_unlock(&l->lock);
}

void watcher__lane_close(struct watcher__lane *l, uv_close_cb cb)
{
    pthread_mutex_lock(&l->lock);
    l->stop = true;
    pthread_cond_signal(&l->cond);
    pthread_mutex_unlock(&l->lock);
    pthread_join(l->thread, NULL); /* idle: every request's owner waited for its after() */
    pthread_cond_destroy(&l->cond);
    pthread_mutex_destroy(&l->lock);
    uv_close((uv_handle_t *)&l->async, cb);
}
