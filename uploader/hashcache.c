/*
 * hashcache.c — the hash cache: the SHA-256 (and git blob SHA-1) of files
 * already read, keyed by the identity of the file that was read (device,
 * inode, size, mtime and ctime in ns), so a file is not read twice: a push
 * after the daemon's pre-hash (sync/job_prehash.c feeds it through
 * uploader_prehash), the strategy's hashes and its push, a resumed push.
 *
 * Bounded: at most max_entries (UPLOADER_HASHCACHE_MAX_ENTRIES by default),
 * the least recently used entry evicted first; an entry is 112 bytes (the
 * digests kept in binary, in slabs linked by index), so the default bound
 * is 7 MiB at most. A lookup
 * or insertion is O(1) (chained buckets, a doubly linked LRU list).
 * Thread-safe: one mutex around every operation, so the loop and pool work
 * may both use it.
 *
 * Why ctime is in the key: a file rewritten in place with the same size
 * whose mtime is set back (rsync -t, touch -r, a trainer restoring times)
 * keeps (dev, ino, size, mtime), but the kernel sets ctime on every write
 * and every utimes; user space cannot set it. The price: a hard link taken
 * or removed (the spool's, a rotation deleting the original) also changes
 * ctime, so a file linked after it was hashed misses and is read again.
 * Not here: the "racy" rule deciding what may be cached (hash.c: a file
 * whose ctime is within HASH_RACY_NS of the read is not) and the hashing.
 */
#include "uploader_int.h"

#include <pthread.h>
#include <string.h>
#include <sys/stat.h>

/* Entries live in slabs of SLAB entries, linked by index (NIL: none), so an
 * entry is 112 bytes with no allocation of its own: the default bound is
 * 7 MiB, filled slab by slab. Slots are taken in order up to max; once full,
 * the LRU entry's slot is reused. */
#define SLAB 1024u
#define NIL  UINT32_MAX

struct hc_entry {
    struct hash_key key;
    struct file_digest dg;
    uint32_t chain;      /* next in the bucket */
    uint32_t prev, next; /* LRU: head most recent */
};

struct uploader_hashcache {
    pthread_mutex_t mu;
    uint32_t *b; /* buckets: first entry, NIL */
    size_t nb, n, max;
    struct hc_entry **slabs;
    uint32_t head, tail;
    uint32_t free_slots; /* slots of dropped entries, chained by .chain */
    size_t n_free;
    uint64_t hits, misses, evictions;
};

static struct hc_entry *at(const struct uploader_hashcache *c, uint32_t i)
{
    return &c->slabs[i / SLAB][i % SLAB];
}

static size_t key_bucket(const struct uploader_hashcache *c, const struct hash_key *k)
{
    uint64_t x = k->dev * 0x9e3779b97f4a7c15ull ^ k->ino ^ (k->size << 7) ^ (uint64_t)k->mtime_ns ^
                 ((uint64_t)k->ctime_ns >> 3);
    x ^= x >> 29;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 32;
    return (size_t)(x & (c->nb - 1));
}

bool uploader__hash_key_eq(const struct hash_key *a, const struct hash_key *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns;
}

struct uploader_hashcache *uploader_hashcache_new(size_t max_entries)
{
    struct uploader_hashcache *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->max = max_entries ? max_entries : UPLOADER_HASHCACHE_MAX_ENTRIES;
    if (c->max >= NIL)
        c->max = NIL - 1;
    c->nb = 16;
    while (c->nb < c->max / 2)
        c->nb <<= 1;
    c->b = malloc(c->nb * sizeof(*c->b));
    c->slabs = calloc((c->max + SLAB - 1) / SLAB, sizeof(*c->slabs));
    if (!c->b || !c->slabs) {
        free(c->b);
        free(c->slabs);
        free(c);
        return NULL;
    }
    memset(c->b, 0xff, c->nb * sizeof(*c->b)); /* NIL */
    c->head = c->tail = c->free_slots = NIL;
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

void uploader_hashcache_free(struct uploader_hashcache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < (c->max + SLAB - 1) / SLAB; i++)
        free(c->slabs[i]);
    pthread_mutex_destroy(&c->mu);
    free(c->slabs);
    free(c->b);
    free(c);
}

static void lru_unlink(struct uploader_hashcache *c, uint32_t i)
{
    struct hc_entry *e = at(c, i);
    if (e->prev != NIL)
        at(c, e->prev)->next = e->next;
    else
        c->head = e->next;
    if (e->next != NIL)
        at(c, e->next)->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NIL;
}

static void lru_front(struct uploader_hashcache *c, uint32_t i)
{
    struct hc_entry *e = at(c, i);
    e->next = c->head;
    e->prev = NIL;
    if (c->head != NIL)
        at(c, c->head)->prev = i;
    c->head = i;
    if (c->tail == NIL)
        c->tail = i;
}

static uint32_t find(struct uploader_hashcache *c, const struct hash_key *k)
{
    for (uint32_t i = c->b[key_bucket(c, k)]; i != NIL; i = at(c, i)->chain)
        if (uploader__hash_key_eq(&at(c, i)->key, k))
            return i;
    return NIL;
}

/* The LRU entry out of its bucket and the list: its slot, to reuse. */
static uint32_t evict_tail(struct uploader_hashcache *c)
{
    uint32_t i = c->tail;
    struct hc_entry *e = at(c, i);
    lru_unlink(c, i);
    for (uint32_t *pp = &c->b[key_bucket(c, &e->key)]; *pp != NIL; pp = &at(c, *pp)->chain)
        if (*pp == i) {
            *pp = e->chain;
            break;
        }
    c->evictions++;
    return i;
}

/* A free slot: the next one in order (its slab allocated when new), else
 * the LRU entry's. NIL when out of memory. */
static uint32_t take_slot(struct uploader_hashcache *c)
{
    if (c->free_slots != NIL) {
        uint32_t i = c->free_slots;
        c->free_slots = at(c, i)->chain;
        c->n_free--;
        return i;
    }
    if (c->n >= c->max)
        return evict_tail(c);
    uint32_t i = (uint32_t)c->n;
    struct hc_entry **slab = &c->slabs[i / SLAB];
    if (!*slab) {
        size_t left = c->max - (size_t)i / SLAB * SLAB;
        if (!(*slab = malloc((left < SLAB ? left : SLAB) * sizeof(**slab))))
            return NIL;
    }
    c->n++;
    return i;
}

bool uploader__hashcache_get_key(struct uploader_hashcache *c, const struct hash_key *k,
                                 struct uploader_hash *out)
{
    pthread_mutex_lock(&c->mu);
    uint32_t i = find(c, k);
    if (i == NIL) {
        c->misses++;
        pthread_mutex_unlock(&c->mu);
        return false;
    }
    c->hits++;
    lru_unlink(c, i);
    lru_front(c, i);
    const struct hc_entry *e = at(c, i);
    memset(out, 0, sizeof(*out));
    out->size = k->size;
    uploader__digest_sha256_hex(&e->dg, out->sha256);
    uploader__digest_sha1_hex(&e->dg, out->sha1);
    out->unverified = e->dg.unverified;
    out->dev = k->dev;
    out->ino = k->ino;
    out->mtime_ns = k->mtime_ns;
    out->ctime_ns = k->ctime_ns;
    pthread_mutex_unlock(&c->mu);
    return true;
}

int uploader__hashcache_put_digest(struct uploader_hashcache *c, const struct hash_key *k,
                                   const struct file_digest *d)
{
    pthread_mutex_lock(&c->mu);
    uint32_t i = find(c, k);
    if (i != NIL) {
        lru_unlink(c, i);
    } else {
        if ((i = take_slot(c)) == NIL) {
            pthread_mutex_unlock(&c->mu);
            return -ENOMEM;
        }
        struct hc_entry *e = at(c, i);
        e->key = *k;
        size_t b = key_bucket(c, k);
        e->chain = c->b[b];
        c->b[b] = i;
    }
    at(c, i)->dg = *d;
    lru_front(c, i);
    pthread_mutex_unlock(&c->mu);
    return 0;
}

void uploader__hashcache_set_verified(struct uploader_hashcache *c, const struct hash_key *k)
{
    pthread_mutex_lock(&c->mu);
    uint32_t i = find(c, k);
    if (i != NIL)
        at(c, i)->dg.unverified = false;
    pthread_mutex_unlock(&c->mu);
}

void uploader__hashcache_drop(struct uploader_hashcache *c, const struct hash_key *k)
{
    pthread_mutex_lock(&c->mu);
    uint32_t i = find(c, k);
    if (i != NIL) {
        lru_unlink(c, i);
        for (uint32_t *pp = &c->b[key_bucket(c, k)]; *pp != NIL; pp = &at(c, *pp)->chain)
            if (*pp == i) {
                *pp = at(c, i)->chain;
                break;
            }
        at(c, i)->chain = c->free_slots;
        c->free_slots = i;
        c->n_free++;
    }
    pthread_mutex_unlock(&c->mu);
}

int uploader__hashcache_put_key(struct uploader_hashcache *c, const struct hash_key *k,
                                const struct uploader_hash *h)
{
    struct file_digest d;
    if (!uploader__digest_from_hash(h, &d))
        return -EINVAL;
    return uploader__hashcache_put_digest(c, k, &d);
}

bool uploader_hashcache_get(struct uploader_hashcache *c, const struct stat *st,
                            struct uploader_hash *out)
{
    struct hash_key k;
    uploader__key_from_stat(st, &k);
    return uploader__hashcache_get_key(c, &k, out);
}

int uploader_hashcache_put(struct uploader_hashcache *c, const struct uploader_hash *h)
{
    struct hash_key k = {.dev = h->dev,
                         .ino = h->ino,
                         .size = h->size,
                         .mtime_ns = h->mtime_ns,
                         .ctime_ns = h->ctime_ns};
    return uploader__hashcache_put_key(c, &k, h);
}

void uploader_hashcache_stats(struct uploader_hashcache *c, struct uploader_hashcache_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    out->entries = c->n - c->n_free;
    out->max_entries = c->max;
    out->hits = c->hits;
    out->misses = c->misses;
    out->evictions = c->evictions;
    pthread_mutex_unlock(&c->mu);
}
