/*
 * grow_int.h — what hash_grow.c (following a file as it is written) and
 * grow_verify.c (verifying what was hashed so) share. Private to uploader/.
 */
#ifndef HUBSYNC_GROW_INT_H
#define HUBSYNC_GROW_INT_H

#include "uploader_int.h"

#include <xxhash.h>

/* A followed file's check values: XXH3-64 of each UPLOADER_BLOCK of the bytes
 * that were hashed, the last block short. Kept for unverified digests. */
struct gcheck {
    struct hash_key key;
    uint64_t *blocks;
    size_t n;
};

#define GROW_CHECKS_MAX 64 /* files whose check values are kept */

struct gfile;
struct grow_verify;

struct hash_grow {
    uv_loop_t *loop;
    struct uploader_hashcache *cache;
    uv_timer_t timer;
    bool timer_on, timer_closed, freeing;
    struct gfile *files; /* followed */
    struct grow_verify *verifies;
    unsigned n_follow, running; /* running: work items on the pool, both files' */
    struct gcheck checks[GROW_CHECKS_MAX];
    size_t n_checks, next_check;
    struct grow_stats st;
};

/* hash_grow.c */
struct gcheck *uploader__grow_check_find(struct hash_grow *g, const struct hash_key *k);
void uploader__grow_check_remove(struct hash_grow *g, const struct hash_key *k);
/* Free g once closed, nothing on the pool and no verification alive. */
void uploader__grow_maybe_free(struct hash_grow *g);

/* The number of blocks of a file of size bytes. */
static inline size_t uploader__grow_blocks(uint64_t size)
{
    return (size_t)((size + UPLOADER_BLOCK - 1) / UPLOADER_BLOCK);
}

#endif
