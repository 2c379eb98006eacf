/*
 * tree.c — listing a folder of a repo at a revision (docs/hub-protocol.md):
 * GET {EP}/api/{type}s/{ns}/{name}/tree/{rev}/{path}?recursive=true, one
 * page after the other through the RFC 8288 `Link: <…>; rel="next"` header,
 * on the uploader's HTTP loop with the API retry policy. Only the files are
 * kept (path, size, git oid, LFS sha256); directories are not. A 404 (the
 * repo, the revision or the path does not exist) is an empty list that says
 * which was missing. A bare repo name is resolved with whoami-v2 first.
 *
 * The token goes only to URLs under the endpoint: a next-page link that
 * points elsewhere ends the listing with an error (the list would be
 * incomplete, and the caller deletes what it does not see). The page parser
 * and the Link parser are pure functions (fuzzed in fuzz_hub_api.c) and
 * bounded: at most TREE_MAX_ENTRIES files and TREE_MAX_PAGES pages.
 */
#include "push_int.h"

#include <stdio.h>
#include <string.h>

#define TREE_MAX_ENTRIES (1u << 20)
#define TREE_MAX_PAGES   10000u
#define TREE_MAX_PATH    4096u
#define TREE_MAX_OID     128u

void uploader_tree_clear(struct uploader_tree *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++) {
        free(t->entries[i].path);
        free(t->entries[i].oid);
        free(t->entries[i].lfs_oid);
    }
    free(t->entries);
    memset(t, 0, sizeof(*t));
}

static const char *str_of(const json_t *o, const char *key, size_t max)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_string(v) || !json_string_length(v) || json_string_length(v) > max ||
        strlen(json_string_value(v)) != json_string_length(v))
        return NULL;
    return json_string_value(v);
}

static int add_entry(struct uploader_tree *t, const char *path, uint64_t size, const char *oid,
                     const char *lfs_oid)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 64;
        struct uploader_tree_entry *v = realloc(t->entries, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        t->entries = v;
        t->cap = cap;
    }
    struct uploader_tree_entry *e = &t->entries[t->n];
    memset(e, 0, sizeof(*e));
    e->size = size;
    if (!(e->path = strdup(path)) || (oid && !(e->oid = strdup(oid))) ||
        (lfs_oid && !(e->lfs_oid = strdup(lfs_oid)))) {
        free(e->path);
        free(e->oid);
        return -ENOMEM;
    }
    t->n++;
    return 0;
}

int uploader_tree_parse(const char *body, struct uploader_tree *t, struct hs_err *err)
{
    json_error_t je;
    json_t *j = body ? json_loads(body, 0, &je) : NULL;
    if (!j)
        return hs_err_set(err, HS_EPROTO, "tree: the Hub answered malformed JSON (%s)",
                          body ? je.text : "empty body");
    int rc = 0;
    if (!json_is_array(j)) {
        rc = hs_err_set(err, HS_EPROTO, "tree: answer is not an array");
        goto done;
    }
    size_t idx;
    json_t *it;
    json_array_foreach(j, idx, it)
    {
        const char *type = json_is_object(it) ? str_of(it, "type", 32) : NULL;
        if (!type) {
            rc = hs_err_set(err, HS_EPROTO, "tree: entry %zu has no type", idx);
            goto done;
        }
        if (strcmp(type, "file") != 0)
            continue; /* directories (and kinds we do not know) hold no file of their own */
        const char *path = str_of(it, "path", TREE_MAX_PATH);
        const json_t *size = json_object_get(it, "size");
        if (!path || !json_is_integer(size) || json_integer_value(size) < 0) {
            rc = hs_err_set(err, HS_EPROTO, "tree: file entry %zu lacks a path or a size", idx);
            goto done;
        }
        const json_t *lfs = json_object_get(it, "lfs");
        const char *lfs_oid = NULL;
        if (lfs && !json_is_null(lfs)) {
            lfs_oid = json_is_object(lfs) ? str_of(lfs, "oid", 64) : NULL;
            unsigned char oid[32]; /* 64 lower-case hex digits */
            if (!lfs_oid || !uploader__hex_decode(lfs_oid, oid, sizeof(oid))) {
                rc = hs_err_set(err, HS_EPROTO, "tree: %.200s has an invalid lfs.oid", path);
                goto done;
            }
        }
        if (t->n >= TREE_MAX_ENTRIES) {
            rc = hs_err_set(err, HS_EPROTO, "tree: more than %u files", TREE_MAX_ENTRIES);
            goto done;
        }
        if ((rc = add_entry(t, path, (uint64_t)json_integer_value(size),
                            str_of(it, "oid", TREE_MAX_OID), lfs_oid)) < 0) {
            hs_err_set(err, rc, "out of memory");
            goto done;
        }
    }
done:
    json_decref(j);
    return rc;
}

/* Does the parameter list [p, end) hold rel="next" (or rel=next, or a
 * space-separated rel list with next)? */
static bool rel_is_next(const char *p, const char *end)
{
    while (p < end) {
        while (p < end && (*p == ';' || *p == ' ' || *p == '\t'))
            p++;
        const char *name = p;
        while (p < end && *p != '=' && *p != ';')
            p++;
        size_t nl = (size_t)(p - name);
        while (nl && (name[nl - 1] == ' ' || name[nl - 1] == '\t'))
            nl--;
        if (p >= end || *p != '=')
            continue;
        p++;
        const char *v, *ve;
        if (p < end && *p == '"') {
            v = ++p;
            while (p < end && *p != '"')
                p++;
            ve = p;
            if (p < end)
                p++;
        } else {
            v = p;
            while (p < end && *p != ';')
                p++;
            ve = p;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
        }
        if (nl != 3 || strncasecmp(name, "rel", 3) != 0)
            continue;
        for (const char *w = v; w < ve;) {
            while (w < ve && *w == ' ')
                w++;
            const char *we = w;
            while (we < ve && *we != ' ')
                we++;
            if (we - w == 4 && strncasecmp(w, "next", 4) == 0)
                return true;
            w = we;
        }
    }
    return false;
}

int uploader_tree_next_url(const char *link, const char *endpoint, char **next, struct hs_err *err)
{
    *next = NULL;
    const char *p = link ? link : "";
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            return 0;
        if (*p != '<')
            return hs_err_set(err, HS_EPROTO, "tree: unreadable Link header");
        const char *u = p + 1, *ue = strchr(u, '>');
        if (!ue)
            return hs_err_set(err, HS_EPROTO, "tree: unreadable Link header");
        /* the parameters run to the next link (a comma outside quotes) */
        const char *q = ue + 1;
        bool quoted = false;
        while (*q && (quoted || *q != ',')) {
            if (*q == '"')
                quoted = !quoted;
            q++;
        }
        if (rel_is_next(ue + 1, q)) {
            size_t n = (size_t)(ue - u);
            char *url = strndup(u, n);
            if (!url)
                return hs_err_set(err, -ENOMEM, "out of memory");
            if (!n || strlen(url) != n || strpbrk(url, " \t\r\n") ||
                !uploader__url_is_under_endpoint(url, endpoint)) {
                char shown[256];
                uploader__url_strip_query(url, shown, sizeof(shown));
                free(url);
                return hs_err_set(err, HS_EPROTO,
                                  "tree: the next page (%s) is not under the endpoint %s: refusing "
                                  "to follow it (the token is only sent to the endpoint)",
                                  shown, endpoint);
            }
            *next = url;
            return 0;
        }
        p = q;
    }
}

/* ---- the request ------------------------------------------------------------ */

struct tree_req {
    struct uploader *u;
    struct hub_repo repo;
    char *path; /* "" = the root */
    char what[512];
    struct uploader_tree t;
    unsigned pages;
    uploader_tree_cb cb;
    void *userdata;
};

static void tree_free(struct tree_req *q)
{
    free(q->repo.endpoint);
    free(q->repo.type);
    free(q->repo.ns);
    free(q->repo.name);
    free(q->repo.revision);
    free(q->path);
    uploader_tree_clear(&q->t);
    free(q);
}

static void tree_end(struct tree_req *q, int status, const struct hs_err *err)
{
    q->cb(status, status == 0 ? &q->t : NULL, status == 0 ? NULL : err, q->userdata);
    tree_free(q);
}

static void page_done(struct http_request *r, void *ud);

static int submit(struct tree_req *q, const char *url, http_done_cb done, struct hs_err *err)
{
    if (q->u->closing)
        return hs_err_set(err, -ECANCELED, "the uploader is closing");
    struct http_request *r = uploader__http_request_new("GET", url);
    if (!r)
        return hs_err_set(err, -ENOMEM, "out of memory");
    r->auth = true;
    r->retry = HTTP_RETRY_ALL; /* a GET: transport failures, 5xx and 429 heal */
    r->follow = true;
    r->accept = "application/json";
    r->done = done;
    r->userdata = q;
    int rc = uploader__http_submit(q->u->http, r);
    if (rc < 0) {
        uploader__http_request_free(r);
        return hs_err_set(err, rc, "%s: cannot send the request: %s", q->what, hs_strerror(rc));
    }
    return 0;
}

static char *first_page_url(const struct tree_req *q)
{
    char *ns = uploader__url_encode_segment(q->repo.ns),
         *name = uploader__url_encode_segment(q->repo.name);
    char *rev = uploader__url_encode_segment(q->repo.revision),
         *path = uploader__url_encode_path(q->path);
    char *s = NULL;
    if (ns && name && rev && path &&
        asprintf(&s, "%s/api/%ss/%s/%s/tree/%s%s%s?recursive=true", q->repo.endpoint, q->repo.type,
                 ns, name, rev, *path ? "/" : "", path) < 0)
        s = NULL;
    free(ns);
    free(name);
    free(rev);
    free(path);
    return s;
}

static int start_listing(struct tree_req *q, struct hs_err *err)
{
    snprintf(q->what, sizeof(q->what), "listing %s/%s/%s at %s", q->repo.ns, q->repo.name, q->path,
             q->repo.revision);
    char *url = first_page_url(q);
    if (!url)
        return hs_err_set(err, -ENOMEM, "out of memory");
    int rc = submit(q, url, page_done, err);
    free(url);
    return rc;
}

static void page_done(struct http_request *r, void *ud)
{
    struct tree_req *q = ud;
    struct hs_err err = {0};
    long st = r->resp.status;
    int rc = 0;
    char *next = NULL;
    const char *code = r->resp.error_code;
    if (r->error == 0 && q->pages == 0 &&
        (st == 404 || (st == 401 && code && !strcmp(code, "RepoNotFound")))) {
        /* nothing there: the repo, the revision or the folder does not exist */
        snprintf(q->t.missing, sizeof(q->t.missing), "%s", code && *code ? code : "NotFound");
        uploader__http_request_free(r);
        return tree_end(q, 0, NULL);
    }
    if (r->error != 0 || st < 200 || st >= 300) {
        rc = uploader__http_describe_failure(r, q->what, &err);
    } else if ((rc = uploader_tree_parse(r->resp.body.data, &q->t, &err)) == 0 &&
               (rc = uploader_tree_next_url(r->resp.link, q->repo.endpoint, &next, &err)) == 0 &&
               next && ++q->pages >= TREE_MAX_PAGES) {
        rc = hs_err_set(&err, HS_EPROTO, "%s: more than %u pages", q->what, TREE_MAX_PAGES);
    }
    uploader__http_request_free(r);
    if (rc == 0 && next)
        rc = submit(q, next, page_done, &err);
    bool more = rc == 0 && next;
    free(next);
    if (!more)
        tree_end(q, rc, &err);
}

static void whoami_done(struct http_request *r, void *ud)
{
    struct tree_req *q = ud;
    struct hs_err err = {0};
    long st = r->resp.status;
    int rc;
    if (r->error == 0 && st >= 200 && st < 300)
        rc = uploader__hub_parse_whoami(r->resp.body.data, &q->repo.ns, &err);
    else
        rc = uploader__http_describe_failure(r, "checking the token (whoami-v2)", &err);
    uploader__http_request_free(r);
    if (rc == 0)
        rc = start_listing(q, &err);
    if (rc < 0)
        tree_end(q, rc, &err);
}

int uploader_list_tree(struct uploader *u, const struct uploader_tree_request *req,
                       uploader_tree_cb cb, void *userdata, struct hs_err *err)
{
    if (u->closing)
        return hs_err_set(err, -ECANCELED, "the uploader is closing");
    if (!req->repo_id || !*req->repo_id || !cb)
        return hs_err_set(err, -EINVAL, "listing a repo: no repo id");
    struct tree_req *q = calloc(1, sizeof(*q));
    if (!q)
        return hs_err_set(err, -ENOMEM, "out of memory");
    const char *slash = strchr(req->repo_id, '/');
    const char *path = req->path ? req->path : "";
    while (*path == '/')
        path++;
    q->u = u;
    q->cb = cb;
    q->userdata = userdata;
    q->repo.endpoint = strdup(u->endpoint);
    q->repo.type = strdup(req->repo_type ? req->repo_type : "model");
    q->repo.ns = slash ? strndup(req->repo_id, (size_t)(slash - req->repo_id)) : NULL;
    q->repo.name = strdup(slash ? slash + 1 : req->repo_id);
    q->repo.revision = strdup(req->revision ? req->revision : "main");
    q->path = strdup(path);
    if (!q->repo.endpoint || !q->repo.type || (slash && !q->repo.ns) || !q->repo.name ||
        !q->repo.revision || !q->path) {
        tree_free(q);
        return hs_err_set(err, -ENOMEM, "out of memory");
    }
    size_t pl = strlen(q->path);
    while (pl && q->path[pl - 1] == '/')
        q->path[--pl] = 0; /* "last-checkpoint/" lists the folder */
    int rc;
    if (q->repo.ns) {
        rc = start_listing(q, err);
    } else {
        struct hub_repo me = {.endpoint = q->repo.endpoint};
        char *url = uploader__hub_url_whoami(&me);
        snprintf(q->what, sizeof(q->what), "checking the token (whoami-v2)");
        rc = url ? submit(q, url, whoami_done, err) : hs_err_set(err, -ENOMEM, "out of memory");
        free(url);
    }
    if (rc < 0)
        tree_free(q);
    return rc;
}
