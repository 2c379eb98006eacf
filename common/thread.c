/*
 * thread.c — the threads that keep the priority hubsync was started with.
 * daemon/priority.c lowers every thread of the process except these (see
 * common.h, hs_thread_keep_priority). A small fixed table: hubsync has a
 * handful of such threads (the event loop, the inotify reader, the
 * watcher's protect lane).
 */
#include "common.h"

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

enum { KEPT_MAX = 32 };

static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;
static long kept[KEPT_MAX];
static size_t n_kept;

/* The index of tid in kept[], or n_kept. Under kept_lock. */
static size_t find(long tid)
{
    size_t i = 0;
    while (i < n_kept && kept[i] != tid)
        i++;
    return i;
}

void hs_thread_keep_priority(void)
{
    long tid = (long)syscall(SYS_gettid);
    pthread_mutex_lock(&kept_lock);
    if (find(tid) == n_kept && n_kept < KEPT_MAX)
        kept[n_kept++] = tid;
    pthread_mutex_unlock(&kept_lock);
}

void hs_thread_keep_priority_end(void)
{
    long tid = (long)syscall(SYS_gettid);
    pthread_mutex_lock(&kept_lock);
    size_t i = find(tid);
    if (i < n_kept)
        kept[i] = kept[--n_kept];
    pthread_mutex_unlock(&kept_lock);
}

bool hs_thread_priority_kept(long tid)
{
    pthread_mutex_lock(&kept_lock);
    bool have = find(tid) < n_kept;
    pthread_mutex_unlock(&kept_lock);
    return have;
}
