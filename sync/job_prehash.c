/*
 * job_prehash.c — hash while the trainer writes: each file of a pending
 * save is hashed as soon as the watcher has protected it in the spool
 * (watcher.h on_file_protected: closed after writing, renamed in, or found
 * by a scan), long before READY, so that READY → first request costs no
 * reading. The work is the uploader's (uploader_prehash: the shared hasher
 * on libuv's pool, which hubsync daemon and run lower to nice +10 / idle-ish
 * I/O, daemon/priority.c; the bytes come from the page cache the trainer
 * just filled); the result only lands in the uploader's hash cache, keyed
 * by the file's identity (dev, ino, size, mtime, ctime). At READY,
 * job_commit.c's hashes and the push look each file up by the identity of
 * the descriptor they open: a file rewritten in place since misses and is
 * read again, so a stale digest is never used. Off with HUBSYNC_PREHASH=0
 * (struct job_env.prehash; benchmarks compare both).
 *
 * Not here: which files a commit holds (strategy.c) — every file of the save
 * is hashed at READY today, so every protected file is pre-hashed.
 */
#include "sync_int.h"

void job_on_file_protected(struct job *j, const char *id, const char *path)
{
    if (j->stopping || !j->env->prehash)
        return;
    int rc = uploader_prehash(j->env->uploader, path);
    if (rc < 0 && rc != -ECANCELED)
        hs_log_debug("job %s: %s: cannot hash %s ahead (%s); it is hashed at READY", j->name, id,
                     path, hs_strerror(rc));
}

void job_on_file_growing(struct job *j, const char *id, const char *path)
{
    if (j->stopping || !j->env->prehash)
        return;
    int rc = uploader_follow(j->env->uploader, path);
    if (rc < 0 && rc != -ECANCELED && rc != -ENOENT)
        hs_log_debug("job %s: %s: cannot hash %s as it is written (%s); it is hashed when closed",
                     j->name, id, path, hs_strerror(rc));
}
