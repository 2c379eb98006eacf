/*
 * hub_api.c — the Hub's HTTP API as data (docs/hub-protocol.md): URL
 * builders for the endpoints a push uses, the JSON request bodies, the NDJSON
 * commit body, and parsers for the answers. Pure functions, no I/O: the
 * state machine in push.c sends what these build. Every field of a server
 * answer is type-checked; anything unusable is HS_EPROTO with a message that
 * says which field.
 */
#include "uploader_int.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

const char *uploader__hub_type_prefix(const char *type)
{
    if (type && strcmp(type, "dataset") == 0)
        return "datasets/";
    if (type && strcmp(type, "space") == 0)
        return "spaces/";
    return "";
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    char *s = NULL;
    if (vasprintf(&s, f, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

static char *api_url(const struct hub_repo *r, const char *what, bool with_rev)
{
    char *rev = with_rev ? uploader__url_encode_segment(r->revision ? r->revision : "main") : NULL;
    if (with_rev && !rev)
        return NULL;
    char *s = fmt("%s/api/%ss/%s/%s/%s%s%s", r->endpoint, r->type, r->ns, r->name, what,
                  with_rev ? "/" : "", with_rev ? rev : "");
    free(rev);
    return s;
}

char *uploader__hub_url_whoami(const struct hub_repo *r)
{
    return fmt("%s/api/whoami-v2", r->endpoint);
}

char *uploader__hub_url_create_repo(const struct hub_repo *r)
{
    return fmt("%s/api/repos/create", r->endpoint);
}

char *uploader__hub_url_repo_info(const struct hub_repo *r)
{
    char *rev = uploader__url_encode_segment(r->revision ? r->revision : "main");
    char *s =
        rev ? fmt("%s/api/%ss/%s/%s/revision/%s", r->endpoint, r->type, r->ns, r->name, rev) : NULL;
    free(rev);
    return s;
}

char *uploader__hub_url_branch(const struct hub_repo *r)
{
    return api_url(r, "branch", true);
}

char *uploader__hub_url_preupload(const struct hub_repo *r)
{
    return api_url(r, "preupload", true);
}

char *uploader__hub_url_paths_info(const struct hub_repo *r)
{
    return api_url(r, "paths-info", true);
}

char *uploader__hub_url_commit(const struct hub_repo *r)
{
    return api_url(r, "commit", true);
}

char *uploader__hub_url_tag(const struct hub_repo *r)
{
    return api_url(r, "tag", true);
}

char *uploader__hub_url_lfs_batch(const struct hub_repo *r)
{
    return fmt("%s/%s%s/%s.git/info/lfs/objects/batch", r->endpoint,
               uploader__hub_type_prefix(r->type), r->ns, r->name);
}

char *uploader__hub_commit_page_url(const struct hub_repo *r, const char *oid)
{
    return fmt("%s/%s%s/%s/commit/%s", r->endpoint, uploader__hub_type_prefix(r->type), r->ns,
               r->name, oid);
}

static json_t *parse(const char *body, const char *what, struct hs_err *err)
{
    json_error_t je;
    json_t *j = body ? json_loads(body, 0, &je) : NULL;
    if (!j)
        hs_err_set(err, HS_EPROTO, "%s: the Hub answered malformed JSON (%s)", what,
                   body ? je.text : "empty body");
    return j;
}

static char *dump(json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return s;
}

/* The user name of whoami.c's parser (one parser for every whoami use). */
int uploader__hub_parse_whoami(const char *body, char **name, struct hs_err *err)
{
    struct uploader_whoami w;
    int rc = uploader_whoami_parse(body, &w, err);
    if (rc == 0) {
        *name = w.name;
        w.name = NULL;
    }
    uploader_whoami_clear(&w);
    return rc;
}

char *uploader__hub_body_create_repo(const struct hub_repo *r, bool private_repo)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:b}", "name", r->name, "type", r->type, "visibility",
                          private_repo ? "private" : "public", "private", private_repo);
    if (j && r->ns)
        json_object_set_new(j, "organization", json_string(r->ns));
    return dump(j);
}

/* The samples' base64 goes between the quotes of each item's "sample":""
 * in jansson's rendering with empty samples, as in file_line below (in
 * order: one per item, and an escaped path cannot hold an unescaped
 * quote), so the samples never go through the JSON encoder. */
char *uploader__hub_body_preupload(const struct hub_preupload_item *items, size_t n)
{
    static const char key[] = "\"sample\":\"\"";
    json_t *files = json_array();
    size_t b64_len = 0;
    for (size_t i = 0; files && i < n; i++) {
        b64_len += 4 * ((items[i].sample_len + 2) / 3);
        if (json_array_append_new(files,
                                  json_pack("{s:s, s:s, s:I}", "path", items[i].path, "sample", "",
                                            "size", (json_int_t)items[i].size)) < 0) {
            json_decref(files);
            return NULL;
        }
    }
    char *skel = dump(json_pack("{s:o}", "files", files));
    size_t sl = skel ? strlen(skel) : 0;
    char *out = skel ? malloc(sl + b64_len + 1) : NULL, *o = out;
    const char *from = skel;
    for (size_t i = 0; out && i < n; i++) {
        const char *at = strstr(from, key);
        if (!at) {
            free(out);
            out = NULL;
            break;
        }
        at += sizeof(key) - 2; /* past the opening quote of the value */
        memcpy(o, from, (size_t)(at - from));
        o += at - from;
        o += uploader__b64_encode_to(items[i].sample, items[i].sample_len, o);
        from = at;
    }
    if (out)
        memcpy(o, from, sl - (size_t)(from - skel) + 1);
    free(skel);
    return out;
}

int uploader__hub_parse_preupload(const char *body, struct hub_preupload_item *items, size_t n,
                                  char **commit_oid, struct hs_err *err)
{
    json_t *j = parse(body, "preupload", err);
    if (!j)
        return HS_EPROTO;
    int rc = 0;
    json_t *files = json_object_get(j, "files");
    json_t *co = json_object_get(j, "commitOid");
    if (!json_is_array(files)) {
        rc = hs_err_set(err, HS_EPROTO, "preupload: answer has no files array");
        goto out;
    }
    if (commit_oid && json_is_string(co))
        *commit_oid = strdup(json_string_value(co));
    bool *seen = calloc(n ? n : 1, sizeof(bool));
    if (!seen) {
        rc = -ENOMEM;
        goto out;
    }
    size_t idx;
    json_t *f;
    json_array_foreach(files, idx, f)
    {
        json_t *p = json_object_get(f, "path"), *m = json_object_get(f, "uploadMode");
        if (!json_is_string(p) || !json_is_string(m)) {
            rc = hs_err_set(err, HS_EPROTO, "preupload: file entry %zu lacks path/uploadMode", idx);
            break;
        }
        const char *mode = json_string_value(m);
        if (strcmp(mode, "lfs") != 0 && strcmp(mode, "regular") != 0) {
            rc = hs_err_set(err, HS_EPROTO, "preupload: unknown uploadMode \"%.40s\"", mode);
            break;
        }
        for (size_t i = 0; i < n; i++) {
            if (seen[i] || strcmp(items[i].path, json_string_value(p)) != 0)
                continue;
            seen[i] = true;
            items[i].lfs = strcmp(mode, "lfs") == 0;
            items[i].should_ignore = json_is_true(json_object_get(f, "shouldIgnore"));
            json_t *oid = json_object_get(f, "oid");
            free(items[i].remote_oid);
            items[i].remote_oid = json_is_string(oid) ? strdup(json_string_value(oid)) : NULL;
            break;
        }
    }
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (!seen[i])
            rc = hs_err_set(err, HS_EPROTO, "preupload: no answer for %s", items[i].path);
    free(seen);
out:
    json_decref(j);
    return rc;
}

void uploader__hub_lfs_action_clear(struct hub_lfs_action *a)
{
    free(a->href);
    for (size_t i = 0; i < a->n_parts; i++)
        free(a->part_urls[i]);
    free(a->part_urls);
    a->href = NULL;
    a->part_urls = NULL;
    a->n_parts = 0;
    a->chunk_size = 0;
    a->expires_at = 0;
    a->issued_at = 0;
    a->present = false;
}

char *uploader__hub_body_lfs_batch(const char *const *oids, const uint64_t *sizes, size_t n,
                                   const char *ref)
{
    json_t *objs = json_array();
    for (size_t i = 0; objs && i < n; i++)
        json_array_append_new(
            objs, json_pack("{s:s, s:I}", "oid", oids[i], "size", (json_int_t)sizes[i]));
    json_t *j = json_pack("{s:s, s:[s,s], s:o, s:s}", "operation", "upload", "transfers", "basic",
                          "multipart", "objects", objs, "hash_algo", "sha256");
    if (j && ref)
        json_object_set_new(j, "ref", json_pack("{s:s}", "name", ref));
    return dump(j);
}

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
}

static int parse_action(json_t *o, struct hub_lfs_action *a, int64_t now, struct hs_err *err)
{
    json_t *up = json_object_get(json_object_get(o, "actions"), "upload");
    if (!json_is_object(up)) {
        a->present = true;
        return 0;
    }
    json_t *href = json_object_get(up, "href");
    if (!json_is_string(href) || strncmp(json_string_value(href), "http", 4) != 0)
        return hs_err_set(err, HS_EPROTO, "LFS batch: object %.12s has no upload href", a->oid);
    a->href = strdup(json_string_value(href));
    json_t *ei = json_object_get(up, "expires_in"), *ea = json_object_get(up, "expires_at");
    if (json_is_integer(ei)) {
        /* A server-controlled value: clamp instead of overflowing. */
        json_int_t v = json_integer_value(ei);
        if (v < 0 || __builtin_add_overflow(now, (int64_t)v, &a->expires_at))
            a->expires_at = v < 0 ? now : INT64_MAX;
    } else if (json_is_string(ea)) {
        struct tm tm = {0};
        const char *e = strptime(json_string_value(ea), "%Y-%m-%dT%H:%M:%S", &tm);
        if (e)
            a->expires_at = (int64_t)timegm(&tm);
    }
    if (a->expires_at)
        a->issued_at = now;
    json_t *hdr = json_object_get(up, "header");
    json_t *cs = json_object_get(hdr, "chunk_size");
    if (!cs)
        return 0; /* basic transfer */
    uint64_t chunk = 0;
    if (json_is_string(cs) && all_digits(json_string_value(cs)))
        chunk = strtoull(json_string_value(cs), NULL, 10);
    else if (json_is_integer(cs) && json_integer_value(cs) > 0)
        chunk = (uint64_t)json_integer_value(cs);
    if (chunk == 0)
        return hs_err_set(err, HS_EPROTO, "LFS batch: invalid chunk_size for %.12s", a->oid);
    uint64_t want = (a->size + chunk - 1) / chunk;
    if (want == 0 || want > 100000)
        return hs_err_set(err, HS_EPROTO, "LFS batch: %.12s would need %llu parts", a->oid,
                          (unsigned long long)want);
    a->chunk_size = chunk;
    a->n_parts = (size_t)want;
    a->part_urls = calloc(a->n_parts, sizeof(char *));
    if (!a->part_urls)
        return -ENOMEM;
    const char *k;
    json_t *v;
    size_t found = 0;
    json_object_foreach(hdr, k, v)
    {
        if (!all_digits(k))
            continue;
        unsigned long idx = strtoul(k, NULL, 10);
        if (idx < 1 || idx > a->n_parts || !json_is_string(v) || a->part_urls[idx - 1])
            return hs_err_set(err, HS_EPROTO, "LFS batch: bad part key \"%.10s\" for %.12s", k,
                              a->oid);
        a->part_urls[idx - 1] = strdup(json_string_value(v));
        found++;
    }
    if (found != a->n_parts)
        return hs_err_set(
            err, HS_EPROTO, "LFS batch: %.12s has %zu part URLs, expected ceil(%llu/%llu) = %zu",
            a->oid, found, (unsigned long long)a->size, (unsigned long long)chunk, a->n_parts);
    return 0;
}

int uploader__hub_parse_lfs_batch(const char *body, struct hub_lfs_action *out, size_t n,
                                  int64_t now_unix, struct hs_err *err)
{
    json_t *j = parse(body, "LFS batch", err);
    if (!j)
        return HS_EPROTO;
    int rc = 0;
    json_t *objs = json_object_get(j, "objects");
    json_t *tr = json_object_get(j, "transfer");
    if (json_is_string(tr) && strcmp(json_string_value(tr), "basic") != 0 &&
        strcmp(json_string_value(tr), "multipart") != 0) {
        rc = hs_err_set(err, HS_EPROTO, "LFS batch: unsupported transfer \"%.20s\"",
                        json_string_value(tr));
        goto out;
    }
    if (!json_is_array(objs)) {
        rc = hs_err_set(err, HS_EPROTO, "LFS batch: answer has no objects array");
        goto out;
    }
    bool *seen = calloc(n ? n : 1, sizeof(bool));
    if (!seen) {
        rc = -ENOMEM;
        goto out;
    }
    size_t idx;
    json_t *o;
    json_array_foreach(objs, idx, o)
    {
        json_t *oid = json_object_get(o, "oid");
        if (!json_is_string(oid)) {
            rc = hs_err_set(err, HS_EPROTO, "LFS batch: object %zu has no oid", idx);
            break;
        }
        size_t i = 0;
        while (i < n && (seen[i] || strcmp(out[i].oid, json_string_value(oid)) != 0))
            i++;
        if (i == n)
            continue; /* not ours: ignore */
        seen[i] = true;
        json_t *e = json_object_get(o, "error");
        if (e) {
            json_t *m = json_object_get(e, "message"), *c = json_object_get(e, "code");
            /* A per-object error (422 invalid, 404, 410…) is the Hub's answer
             * about this object: asking again gets the same one — unless its
             * code says otherwise (5xx, 429: uploader__http_status_class). */
            json_int_t ec = json_integer_value(c);
            rc = hs_err_set(err, uploader__http_status_class(ec >= 400 ? (long)ec : 400, true),
                            "LFS batch refused %.12s…: %lld %s", out[i].oid,
                            (long long)json_integer_value(c),
                            json_is_string(m) ? json_string_value(m) : "(no message)");
            break;
        }
        if ((rc = parse_action(o, &out[i], now_unix, err)) < 0)
            break;
    }
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (!seen[i])
            rc = hs_err_set(err, HS_EPROTO, "LFS batch: no answer for object %.12s…", out[i].oid);
    free(seen);
out:
    json_decref(j);
    return rc;
}

char *uploader__hub_body_multipart_complete(const char *oid, char *const *etags, size_t n)
{
    json_t *parts = json_array();
    for (size_t i = 0; parts && i < n; i++)
        json_array_append_new(
            parts, json_pack("{s:I, s:s}", "partNumber", (json_int_t)(i + 1), "etag", etags[i]));
    return dump(json_pack("{s:s, s:o}", "oid", oid, "parts", parts));
}

/* One NDJSON line with its newline, or NULL. */
static char *ndjson_line(json_t *j)
{
    char *s = dump(j);
    size_t n = s ? strlen(s) : 0;
    char *l = s ? realloc(s, n + 2) : NULL;
    if (!l) {
        free(s);
        return NULL;
    }
    l[n] = '\n';
    l[n + 1] = 0;
    return l;
}

char *uploader__hub_commit_header_line(const char *summary, const char *description,
                                       const char *parent)
{
    json_t *hv =
        json_pack("{s:s, s:s}", "summary", summary, "description", description ? description : "");
    if (hv && parent && json_object_set_new(hv, "parentCommit", json_string(parent)) < 0) {
        json_decref(hv); /* never a commit without its parent check */
        return NULL;
    }
    if (!hv)
        return NULL;
    return ndjson_line(json_pack("{s:s, s:o}", "key", "header", "value", hv));
}

/* A regular file's line: jansson renders it with an empty content (the path
 * escaped and checked), and the base64 — b64, else raw encoded here — goes
 * between the quotes of "content":"" (base64 needs no JSON escaping; inside
 * the escaped path a quote is always preceded by a backslash, so the first
 * match is the key): a small file's content never goes through the JSON
 * encoder, which cost a fifth of a push of many small files (perf). */
static char *file_line(const char *path, const char *b64, const void *raw, size_t raw_len)
{
    static const char key[] = "\"content\":\"";
    static const char b64_chars[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
    if (b64 && b64[strspn(b64, b64_chars)]) /* not base64 (a caller's bug): jansson escapes it */
        return ndjson_line(json_pack("{s:s, s:{s:s, s:s, s:s}}", "key", "file", "value", "content",
                                     b64, "path", path, "encoding", "base64"));
    json_t *v = json_pack("{s:s, s:s, s:s}", "content", "", "path", path, "encoding", "base64");
    char *skel = v ? ndjson_line(json_pack("{s:s, s:o}", "key", "file", "value", v)) : NULL;
    const char *at = skel ? strstr(skel, "\"content\":\"\"") : NULL;
    size_t cl = b64 ? strlen(b64) : 4 * ((raw_len + 2) / 3);
    char *l = NULL;
    if (at) {
        size_t pre = (size_t)(at - skel) + sizeof(key) - 1, sl = strlen(skel);
        if ((l = malloc(sl + cl + 1))) {
            memcpy(l, skel, pre);
            if (b64)
                memcpy(l + pre, b64, cl);
            else
                uploader__b64_encode_to(raw, raw_len, l + pre);
            memcpy(l + pre + cl, skel + pre, sl - pre + 1);
        }
    }
    free(skel);
    return l;
}

char *uploader__hub_commit_file_line(const char *path, const void *data, size_t len)
{
    return file_line(path, NULL, data, len);
}

char *uploader__hub_commit_op_line(const struct hub_commit_op *op)
{
    if (!op->lfs)
        return file_line(op->path, op->content_b64, NULL, 0);
    json_t *v = json_pack("{s:s, s:s, s:s, s:I}", "path", op->path, "algo", "sha256", "oid",
                          op->oid, "size", (json_int_t)op->size);
    return ndjson_line(json_pack("{s:s, s:o}", "key", "lfsFile", "value", v));
}

uint64_t uploader__hub_commit_op_line_len(const struct hub_commit_op *op)
{
    if (op->lfs) {
        char *l = uploader__hub_commit_op_line(op);
        uint64_t n = l ? strlen(l) : 0;
        free(l);
        return n;
    }
    /* base64 needs no JSON escaping: the line with no content, plus it */
    struct hub_commit_op empty = *op;
    empty.content_b64 = "";
    char *l = uploader__hub_commit_op_line(&empty);
    uint64_t n = l ? strlen(l) + 4 * ((op->size + 2) / 3) : 0;
    free(l);
    return n;
}

char *uploader__hub_commit_delete_line(const char *path)
{
    size_t n = strlen(path);
    bool folder = n && path[n - 1] == '/'; /* as huggingface_hub's is_folder="auto" */
    return ndjson_line(json_pack("{s:s, s:{s:s}}", "key", folder ? "deletedFolder" : "deletedFile",
                                 "value", "path", path));
}

char *uploader__hub_body_commit(const char *summary, const char *description, const char *parent,
                                const struct hub_commit_op *ops, size_t n, size_t *len)
{
    struct hs_buf b;
    hs_buf_init(&b, (size_t)2 << 30);
    char *line = uploader__hub_commit_header_line(summary, description, parent);
    for (size_t i = 0;; i++) {
        if (!line || hs_buf_append(&b, line, strlen(line)) < 0)
            goto fail;
        free(line);
        if (i == n)
            break;
        line = uploader__hub_commit_op_line(&ops[i]);
    }
    *len = b.len;
    return b.data;
fail:
    free(line);
    hs_buf_free(&b);
    return NULL;
}

int uploader__hub_parse_commit(const char *body, char **oid, char **url, struct hs_err *err)
{
    json_t *j = parse(body, "commit", err);
    if (!j)
        return HS_EPROTO;
    json_t *o = json_object_get(j, "commitOid"), *u = json_object_get(j, "commitUrl");
    int rc = 0;
    if (!json_is_string(o))
        rc = hs_err_set(err, HS_EPROTO, "commit: answer has no commitOid");
    else {
        *oid = strdup(json_string_value(o));
        *url = json_is_string(u) ? strdup(json_string_value(u)) : NULL;
    }
    json_decref(j);
    return rc;
}

char *uploader__hub_body_paths_info(const char *const *paths, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_string(paths[i]));
    return dump(json_pack("{s:o, s:b}", "paths", a, "expand", 0));
}

int uploader__hub_parse_paths_info(const char *body, const char *const *paths, size_t n,
                                   char **lfs_oids, char **git_oids, struct hs_err *err)
{
    json_t *j = parse(body, "paths-info", err);
    if (!j)
        return HS_EPROTO;
    if (!json_is_array(j)) {
        json_decref(j);
        return hs_err_set(err, HS_EPROTO, "paths-info: answer is not an array");
    }
    size_t idx;
    json_t *it;
    json_array_foreach(j, idx, it)
    {
        json_t *p = json_object_get(it, "path");
        if (!json_is_string(p))
            continue;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(paths[i], json_string_value(p)) != 0)
                continue;
            json_t *lo = json_object_get(json_object_get(it, "lfs"), "oid");
            json_t *go = json_object_get(it, "oid");
            free(lfs_oids[i]);
            free(git_oids[i]);
            lfs_oids[i] = json_is_string(lo) ? strdup(json_string_value(lo)) : NULL;
            git_oids[i] = json_is_string(go) ? strdup(json_string_value(go)) : NULL;
        }
    }
    json_decref(j);
    return 0;
}

int uploader__hub_parse_repo_info_sha(const char *body, char **sha, struct hs_err *err)
{
    json_t *j = parse(body, "repo info", err);
    if (!j)
        return HS_EPROTO;
    json_t *s = json_object_get(j, "sha");
    int rc = 0;
    if (!json_is_string(s))
        rc = hs_err_set(err, HS_EPROTO, "repo info: answer has no sha");
    else
        *sha = strdup(json_string_value(s));
    json_decref(j);
    return rc;
}
