/*
 * state.c — the resumable state of one push as a JSON document: per file its
 * identity (device, inode, size, mtime, ctime) and hashes (files of 64 KiB
 * and more: a smaller one is hashed again on resume), per LFS object the
 * batch answer (upload/completion href, part URLs, expiry) and the ETags of
 * finished parts, and whether the commit was sent. push.c hands the document
 * to its caller at every durable step (uploader.h, persist hook); the caller
 * stores it (`hubsync push`: a 0600 file; the daemon: its journal). The
 * document contains presigned URLs but never the token.
 */
#include "uploader_int.h"

#include <string.h>

#define STATE_VERSION 1
/* Hashes of smaller files are not kept: re-reading one costs less than its
 * ~250 bytes of state written at every durable step (100,000 small files
 * would make each save 25 MB). */
#define STATE_HASH_MIN (64u * 1024)

void uploader__push_state_init(struct push_state *s)
{
    memset(s, 0, sizeof(*s));
}

static void object_clear(struct push_state_object *o)
{
    for (size_t i = 0; o->etags && i < o->action.n_parts; i++)
        free(o->etags[i]);
    free(o->etags);
    o->etags = NULL;
    uploader__hub_lfs_action_clear(&o->action);
}

void uploader__push_state_clear(struct push_state *s)
{
    free(s->key);
    for (size_t i = 0; s->owns_paths && i < s->n_files; i++)
        free(s->files[i].repo_path);
    free(s->files);
    for (size_t i = 0; i < s->n_objects; i++)
        object_clear(&s->objects[i]);
    free(s->objects);
    free(s->oid_index);
    free(s->commit_parent);
    uploader__push_state_init(s);
}

/* Objects are found by oid in O(1) (a push of 100,000 LFS objects looks one
 * up for every transfer event): FNV-1a of the hex oid, linear probing. */
static size_t oid_slot(const struct push_state *s, const char *oid)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *c = oid; *c; c++)
        h = (h ^ (unsigned char)*c) * 0x100000001b3ull;
    size_t i = (size_t)h & (s->oid_cap - 1);
    while (s->oid_index[i] && strcmp(s->objects[s->oid_index[i] - 1].oid, oid) != 0)
        i = (i + 1) & (s->oid_cap - 1);
    return i;
}

static bool oid_index_grow(struct push_state *s)
{
    size_t cap = s->oid_cap ? 2 * s->oid_cap : 64;
    uint32_t *idx = calloc(cap, sizeof(*idx));
    if (!idx)
        return false;
    free(s->oid_index);
    s->oid_index = idx;
    s->oid_cap = cap;
    for (size_t i = 0; i < s->n_objects; i++)
        s->oid_index[oid_slot(s, s->objects[i].oid)] = (uint32_t)i + 1;
    return true;
}

struct push_state_object *uploader__push_state_object_find(struct push_state *s, const char *oid)
{
    if (!s->oid_cap)
        return NULL; /* no object yet */
    uint32_t k = s->oid_index[oid_slot(s, oid)];
    return k ? &s->objects[k - 1] : NULL;
}

struct push_state_object *uploader__push_state_object_add(struct push_state *s, const char *oid,
                                                          uint64_t size)
{
    struct push_state_object *o = uploader__push_state_object_find(s, oid);
    if (o)
        return o;
    if (s->n_objects == s->objects_cap) {
        size_t cap = s->objects_cap ? 2 * s->objects_cap : 16;
        struct push_state_object *n = realloc(s->objects, cap * sizeof(*n));
        if (!n)
            return NULL;
        s->objects = n;
        s->objects_cap = cap;
    }
    if (2 * (s->n_objects + 1) > s->oid_cap && !oid_index_grow(s))
        return NULL;
    o = &s->objects[s->n_objects];
    s->oid_index[oid_slot(s, oid)] = (uint32_t)++s->n_objects;
    memset(o, 0, sizeof(*o));
    snprintf(o->oid, sizeof(o->oid), "%s", oid);
    snprintf(o->action.oid, sizeof(o->action.oid), "%s", oid);
    o->size = o->action.size = size;
    return o;
}

void uploader__push_state_object_forget(struct push_state_object *o)
{
    object_clear(o);
    snprintf(o->action.oid, sizeof(o->action.oid), "%s", o->oid);
    o->action.size = o->size;
}

int uploader__push_state_object_set_action(struct push_state_object *o,
                                           const struct hub_lfs_action *a)
{
    /* Keep finished parts when the new answer is for the same multipart upload
     * (same completion URL without query args that merely renew expiry is not
     * knowable, so: same part count and same completion path+query). */
    bool keep = o->etags && o->action.href && a->href && a->n_parts == o->action.n_parts &&
                strcmp(o->action.href, a->href) == 0;
    char **etags = keep ? o->etags : NULL;
    if (!keep) {
        for (size_t i = 0; o->etags && i < o->action.n_parts; i++)
            free(o->etags[i]);
        free(o->etags);
    }
    o->etags = NULL;
    uploader__hub_lfs_action_clear(&o->action);
    o->action = *a; /* takes ownership of the strings */
    snprintf(o->action.oid, sizeof(o->action.oid), "%s", o->oid);
    o->action.size = o->size;
    if (a->n_parts) {
        o->etags = etags ? etags : calloc(a->n_parts, sizeof(char *));
        if (!o->etags)
            return -ENOMEM;
    }
    return 0;
}

/* A JSON string literal of v appended to b (jansson's escaping). */
static int append_json_string(struct hs_buf *b, const char *v)
{
    json_t *j = json_string(v);
    char *t = j ? json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    json_decref(j);
    int rc = t ? hs_buf_append(b, t, strlen(t)) : -ENOMEM;
    free(t);
    return rc;
}

/* The document is written as text, the file entries one by one: a push of
 * 100,000 files needs its ~25 MB of text, not a JSON tree of every entry. */
char *uploader__push_state_dump(const struct push_state *s, size_t *len)
{
    struct hs_buf b;
    hs_buf_init(&b, (size_t)1 << 31);
    int rc = hs_buf_printf(&b, "{\"version\":%d,\"key\":", STATE_VERSION);
    rc = rc < 0 ? rc : append_json_string(&b, s->key ? s->key : "");
    rc = rc < 0 ? rc : hs_buf_printf(&b, ",\"files\":[");
    bool first = true;
    for (size_t i = 0; rc >= 0 && i < s->n_files; i++) {
        const struct push_state_file *f = &s->files[i];
        if (!f->hashed || f->dg.unverified || f->key.size < STATE_HASH_MIN)
            continue; /* an unverified digest (hash_grow.c) is hashed again on resume */
        char sha256[65], sha1[41];
        uploader__digest_sha256_hex(&f->dg, sha256);
        uploader__digest_sha1_hex(&f->dg, sha1);
        rc = hs_buf_printf(&b, "%s{\"path\":", first ? "" : ",");
        first = false;
        rc = rc < 0 ? rc : append_json_string(&b, f->repo_path);
        rc = rc < 0 ? rc
                    : hs_buf_printf(&b,
                                    ",\"dev\":%lld,\"ino\":%lld,\"size\":%lld,\"mtime_ns\":%lld,"
                                    "\"ctime_ns\":%lld,\"sha256\":\"%s\",\"sha1\":\"%s\"}",
                                    (long long)f->key.dev, (long long)f->key.ino,
                                    (long long)f->key.size, (long long)f->key.mtime_ns,
                                    (long long)f->key.ctime_ns, sha256, sha1);
    }
    json_t *objs = json_array();
    for (size_t i = 0; i < s->n_objects; i++) {
        const struct push_state_object *o = &s->objects[i];
        json_t *jo = json_pack("{s:s, s:I, s:b}", "oid", o->oid, "size", (json_int_t)o->size,
                               "done", o->done);
        if (!o->done && o->action.href) {
            json_object_set_new(jo, "href", json_string(o->action.href));
            json_object_set_new(jo, "expires_at", json_integer(o->action.expires_at));
            json_object_set_new(jo, "issued_at", json_integer(o->action.issued_at));
            json_object_set_new(jo, "chunk_size", json_integer((json_int_t)o->action.chunk_size));
            json_t *parts = json_array(), *etags = json_array();
            for (size_t k = 0; k < o->action.n_parts; k++) {
                json_array_append_new(parts, json_string(o->action.part_urls[k]));
                json_array_append_new(etags, o->etags && o->etags[k] ? json_string(o->etags[k])
                                                                     : json_null());
            }
            json_object_set_new(jo, "parts", parts);
            json_object_set_new(jo, "etags", etags);
        }
        json_array_append_new(objs, jo);
    }
    char *o = objs ? json_dumps(objs, JSON_COMPACT) : NULL;
    json_decref(objs);
    rc = rc < 0 ? rc
         : o    ? hs_buf_printf(&b, "],\"objects\":%s,\"commit_sent\":%s", o,
                             s->commit_sent ? "true" : "false")
                : -ENOMEM;
    free(o);
    if (rc >= 0 && s->commit_parent) {
        rc = hs_buf_printf(&b, ",\"commit_parent\":");
        rc = rc < 0 ? rc : append_json_string(&b, s->commit_parent);
    }
    rc = rc < 0 ? rc : hs_buf_printf(&b, "}");
    if (rc < 0) {
        hs_buf_free(&b);
        return NULL;
    }
    if (len)
        *len = b.len;
    return b.data;
}

static bool is_hex(const char *s, size_t n)
{
    unsigned char d[32];
    return n <= 2 * sizeof(d) && uploader__hex_decode(s, d, n / 2);
}

int uploader__push_state_load(const char *text, struct push_state *s, struct hs_err *err)
{
    uploader__push_state_init(s);
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (!j)
        return hs_err_set(err, HS_EPROTO, "push state: not JSON (%s)", je.text);
    int rc = 0;
    json_t *files = json_object_get(j, "files"), *objs = json_object_get(j, "objects");
    json_t *key = json_object_get(j, "key");
    if (json_integer_value(json_object_get(j, "version")) != STATE_VERSION ||
        !json_is_array(files) || !json_is_array(objs) || !json_is_string(key)) {
        rc = hs_err_set(err, HS_EPROTO, "push state: unknown version or layout");
        goto out;
    }
    s->key = strdup(json_string_value(key));
    s->commit_sent = json_is_true(json_object_get(j, "commit_sent"));
    json_t *cp = json_object_get(j, "commit_parent");
    if (json_is_string(cp))
        s->commit_parent = strdup(json_string_value(cp));
    s->files = calloc(json_array_size(files) + 1, sizeof(*s->files));
    s->owns_paths = true;
    size_t i;
    json_t *f;
    json_array_foreach(files, i, f)
    {
        struct push_state_file *pf = &s->files[s->n_files];
        json_t *path = json_object_get(f, "path"), *sha = json_object_get(f, "sha256");
        json_t *sha1 = json_object_get(f, "sha1"); /* an older "sample" is ignored */
        if (!json_is_string(path) || !json_is_string(sha) || !json_is_string(sha1) ||
            !uploader__hex_decode(json_string_value(sha), pf->dg.sha256, 32) ||
            (*json_string_value(sha1) &&
             !uploader__hex_decode(json_string_value(sha1), pf->dg.sha1, 20))) {
            rc = hs_err_set(err, HS_EPROTO, "push state: file entry %zu is malformed", i);
            goto out;
        }
        pf->dg.has_sha1 = *json_string_value(sha1) != 0;
        pf->repo_path = strdup(json_string_value(path));
        pf->key.dev = (uint64_t)json_integer_value(json_object_get(f, "dev"));
        pf->key.ino = (uint64_t)json_integer_value(json_object_get(f, "ino"));
        pf->key.size = (uint64_t)json_integer_value(json_object_get(f, "size"));
        pf->key.mtime_ns = json_integer_value(json_object_get(f, "mtime_ns"));
        pf->key.ctime_ns = json_integer_value(json_object_get(f, "ctime_ns"));
        pf->hashed = true;
        s->n_files++;
    }
    json_t *o;
    json_array_foreach(objs, i, o)
    {
        json_t *oid = json_object_get(o, "oid");
        if (!json_is_string(oid) || !is_hex(json_string_value(oid), 64)) {
            rc = hs_err_set(err, HS_EPROTO, "push state: object entry %zu is malformed", i);
            goto out;
        }
        if (uploader__push_state_object_find(s, json_string_value(oid))) {
            rc = hs_err_set(err, HS_EPROTO, "push state: object %zu repeats oid %s", i,
                            json_string_value(oid));
            goto out;
        }
        struct push_state_object *po = uploader__push_state_object_add(
            s, json_string_value(oid), (uint64_t)json_integer_value(json_object_get(o, "size")));
        if (!po) {
            rc = -ENOMEM;
            goto out;
        }
        po->done = json_is_true(json_object_get(o, "done"));
        json_t *href = json_object_get(o, "href");
        if (po->done || !json_is_string(href))
            continue;
        struct hub_lfs_action a = {0};
        a.href = strdup(json_string_value(href));
        a.expires_at = json_integer_value(json_object_get(o, "expires_at"));
        a.issued_at = json_integer_value(json_object_get(o, "issued_at")); /* 0 in old states */
        a.chunk_size = (uint64_t)json_integer_value(json_object_get(o, "chunk_size"));
        json_t *parts = json_object_get(o, "parts"), *etags = json_object_get(o, "etags");
        size_t np = json_array_size(parts);
        if (a.chunk_size &&
            (np != (po->size + a.chunk_size - 1) / a.chunk_size || json_array_size(etags) != np)) {
            free(a.href);
            rc = hs_err_set(err, HS_EPROTO, "push state: object %zu has inconsistent parts", i);
            goto out;
        }
        if (a.chunk_size) {
            a.n_parts = np;
            a.part_urls = calloc(np, sizeof(char *));
            for (size_t k = 0; k < np; k++)
                a.part_urls[k] = strdup(json_string_value(json_array_get(parts, k)) ?: "");
        }
        uploader__push_state_object_set_action(po, &a);
        for (size_t k = 0; k < a.n_parts; k++) {
            json_t *e = json_array_get(etags, k);
            if (json_is_string(e))
                po->etags[k] = strdup(json_string_value(e));
        }
    }
out:
    json_decref(j);
    if (rc < 0)
        uploader__push_state_clear(s);
    return rc;
}
