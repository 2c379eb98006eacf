/*
 * hashcache.c — the hash cache: the SHA-256 (and git blob SHA-1) of files
 * already read, keyed by the identity of the file that was read (device,
 * inode, size, mtime and ctime in ns), so a file is not read twice: a push
 * after the daemon's pre-hash (sync/job_prehash.c feeds it through
 * uploader_prehash), the strategy's hashes and its push, a resumed push.
 *
 * Bounded: at most max_entries (UPLOADER_HASHCACHE_MAX_ENTRIES by default),
 * the least recently used entry evicted first; an entry is ~120 bytes (the
 * digests kept in binary), so the default bound is ~8 MiB at most. A lookup
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

struct hc_entry {
    struct hash_key key;
    unsigned char sha256[32], sha1[20];
    bool has_sha1;
    struct hc_entry *chain;       /* next in the bucket */
    struct hc_entry *prev, *next; /* LRU: head most recent */
};

struct uploader_hashcache {
    pthread_mutex_t mu;
    struct hc_entry **b;
    size_t nb, n, max;
    struct hc_entry *head, *tail;
    uint64_t hits, misses, evictions;
};

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
    c->nb = 16;
    while (c->nb < c->max / 2)
        c->nb <<= 1;
    if (!(c->b = calloc(c->nb, sizeof(*c->b)))) {
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

void uploader_hashcache_free(struct uploader_hashcache *c)
{
    if (!c)
        return;
    for (struct hc_entry *e = c->head, *n; e; e = n) {
        n = e->next;
        free(e);
    }
    pthread_mutex_destroy(&c->mu);
    free(c->b);
    free(c);
}

static void hex(const unsigned char *d, size_t n, char *out)
{
    static const char x[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = x[d[i] >> 4];
        out[2 * i + 1] = x[d[i] & 15];
    }
    out[2 * n] = 0;
}

/* False for anything but 2n lower-case hex digits. */
static bool unhex(const char *h, unsigned char *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char ch = h[2 * i + k];
            unsigned d = ch >= '0' && ch <= '9'   ? (unsigned)(ch - '0')
                         : ch >= 'a' && ch <= 'f' ? (unsigned)(ch - 'a' + 10)
                                                  : 16;
            if (d > 15)
                return false;
            v = v << 4 | d;
        }
        out[i] = (unsigned char)v;
    }
    return h[2 * n] == 0;
}

static void lru_unlink(struct uploader_hashcache *c, struct hc_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_front(struct uploader_hashcache *c, struct hc_entry *e)
{
    e->next = c->head;
    e->prev = NULL;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
}

static struct hc_entry *find(struct uploader_hashcache *c, const struct hash_key *k)
{
    for (struct hc_entry *e = c->b[key_bucket(c, k)]; e; e = e->chain)
        if (uploader__hash_key_eq(&e->key, k))
            return e;
    return NULL;
}

static void evict_tail(struct uploader_hashcache *c)
{
    struct hc_entry *e = c->tail;
    lru_unlink(c, e);
    for (struct hc_entry **pp = &c->b[key_bucket(c, &e->key)]; *pp; pp = &(*pp)->chain)
        if (*pp == e) {
            *pp = e->chain;
            break;
        }
    free(e);
    c->n--;
    c->evictions++;
}

bool uploader__hashcache_get_key(struct uploader_hashcache *c, const struct hash_key *k,
                                 struct uploader_hash *out)
{
    pthread_mutex_lock(&c->mu);
    struct hc_entry *e = find(c, k);
    if (!e) {
        c->misses++;
        pthread_mutex_unlock(&c->mu);
        return false;
    }
    c->hits++;
    lru_unlink(c, e);
    lru_front(c, e);
    memset(out, 0, sizeof(*out));
    out->size = k->size;
    hex(e->sha256, sizeof(e->sha256), out->sha256);
    if (e->has_sha1)
        hex(e->sha1, sizeof(e->sha1), out->sha1);
    out->dev = k->dev;
    out->ino = k->ino;
    out->mtime_ns = k->mtime_ns;
    out->ctime_ns = k->ctime_ns;
    pthread_mutex_unlock(&c->mu);
    return true;
}

int uploader__hashcache_put_key(struct uploader_hashcache *c, const struct hash_key *k,
                                const struct uploader_hash *h)
{
    unsigned char sha256[32], sha1[20];
    bool has_sha1 = h->sha1[0] != 0;
    if (!unhex(h->sha256, sha256, sizeof(sha256)) || (has_sha1 && !unhex(h->sha1, sha1, 20)))
        return -EINVAL;
    pthread_mutex_lock(&c->mu);
    struct hc_entry *e = find(c, k);
    if (e) {
        lru_unlink(c, e);
    } else {
        if (c->n >= c->max)
            evict_tail(c);
        if (!(e = malloc(sizeof(*e)))) {
            pthread_mutex_unlock(&c->mu);
            return -ENOMEM;
        }
        e->key = *k;
        size_t b = key_bucket(c, k);
        e->chain = c->b[b];
        c->b[b] = e;
        c->n++;
    }
    memcpy(e->sha256, sha256, sizeof(sha256));
    e->has_sha1 = has_sha1;
    if (has_sha1)
        memcpy(e->sha1, sha1, sizeof(sha1));
    lru_front(c, e);
    pthread_mutex_unlock(&c->mu);
    return 0;
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
    out->entries = c->n;
    out->max_entries = c->max;
    out->hits = c->hits;
    out->misses = c->misses;
    out->evictions = c->evictions;
    pthread_mutex_unlock(&c->mu);
}
