/*
 * download.c — repo files to disk over the uploader's HTTP loop
 * (`hubsync pull`). Per file: a verified copy already at local_path is kept
 * (hashed with the uploader's hasher); else GET {EP}/{prefix}{repo}/resolve/
 * {rev}/{path} with the token, "Range: bytes=N-" when N bytes of
 * local_path.part are kept from an earlier run. A regular file answers 200/
 * 206 with its bytes; an LFS file answers 302 to storage, fetched WITHOUT
 * Authorization (presigned, another origin: the uploader's rule) with the
 * same Range. The body is written to the .part as it arrives (the loop's
 * sink: never held in memory), then the whole .part is hashed on the thread
 * pool and compared with the listing (sha256 = lfs.oid, git blob SHA-1 =
 * oid); only a match is renamed to local_path. A mismatch removes the .part
 * and fails the download naming the file and both hashes.
 *
 * Retries: a transfer that fails (network, 5xx, 429) is resumed from the
 * bytes it has after the retry.c backoff, resolving again (a presigned URL
 * may have expired). Writes happen on the loop thread (page-cache writes of
 * curl's ~16 KiB buffers).
 */
#include "push_int.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DL_RETRIES 5

struct dl;

struct dl_file {
    struct dl *d;
    struct uploader_download_file f; /* strings owned */
    char *part;
    bool have, fetch, done;
    uint64_t partial; /* bytes in .part at plan time */
    bool on_storage;  /* the current request is the redirect's target */
    int fd;
    uint64_t off;      /* bytes in .part now */
    bool first_chunk;  /* of this attempt */
    unsigned attempts; /* failed attempts in a row */
    struct http_request *r;
    uv_timer_t timer;
    bool timer_init;
};

struct dl {
    struct uploader *u;
    struct hub_repo repo;
    bool plan_only;
    struct dl_file *files;
    size_t n, checked, next, active;
    unsigned pending; /* requests, hash jobs and timers of this download */
    int failed;
    struct hs_err err;
    struct uploader_download_hooks hooks;
    struct uploader_download_result res;
    struct uploader_download_progress prog;
    hs_usec_t last_progress;
    struct retry_policy retry;
    uv_timer_t kick;  /* ends a download that had nothing asynchronous to do */
    unsigned handles; /* timers still to be closed before d is freed */
    bool kicked, planned, ended;
};

static void pump(struct dl *d);
static void start_file(struct dl_file *f);

/* ---- life cycle -------------------------------------------------------- */

static void dl_release(struct dl *d)
{
    for (size_t i = 0; i < d->n; i++) {
        struct dl_file *f = &d->files[i];
        free((char *)f->f.repo_path);
        free((char *)f->f.local_path);
        free((char *)f->f.sha256);
        free((char *)f->f.git_oid);
        free(f->part);
        if (f->fd >= 0)
            close(f->fd);
    }
    free(d->files);
    free(d->repo.endpoint);
    free(d->repo.type);
    free(d->repo.ns);
    free(d->repo.name);
    free(d->repo.revision);
    free(d);
}

static void handle_closed(uv_handle_t *h)
{
    struct dl *d = h->data;
    if (--d->handles == 0)
        dl_release(d);
}

/* Close the timers, then free (in the last close callback). */
static void dl_free(struct dl *d)
{
    d->handles = 1;
    d->kick.data = d;
    uv_close((uv_handle_t *)&d->kick, handle_closed);
    for (size_t i = 0; i < d->n; i++) {
        if (d->files[i].timer_init) {
            d->handles++;
            d->files[i].timer.data = d;
            uv_close((uv_handle_t *)&d->files[i].timer, handle_closed);
        }
    }
}

/* Called whenever something of d finished: ends it once nothing is left. */
static void maybe_end(struct dl *d)
{
    if (d->ended || d->pending)
        return;
    bool all = true;
    for (size_t i = 0; i < d->n && !d->failed; i++)
        if (d->files[i].fetch && !d->files[i].done)
            all = false;
    if (!d->failed && !all && !d->plan_only)
        return;
    d->ended = true;
    if (d->failed)
        d->hooks.done(d->failed, NULL, &d->err, d->hooks.userdata);
    else
        d->hooks.done(0, &d->res, NULL, d->hooks.userdata);
    dl_free(d);
}

static void fail(struct dl *d, int code, const struct hs_err *err)
{
    if (d->failed)
        return;
    d->failed = code;
    d->err = *err;
}

#define failf(d, ecode, ...)                                                                       \
    do {                                                                                           \
        struct hs_err e_;                                                                          \
        hs_err_set(&e_, (ecode), __VA_ARGS__);                                                     \
        fail((d), e_.code, &e_);                                                                   \
    } while (0)

static void progress(struct dl *d, bool force)
{
    hs_usec_t now = hs_now_monotonic();
    if (!d->hooks.progress || (!force && now - d->last_progress < 200 * HS_USEC_PER_MSEC))
        return;
    d->last_progress = now;
    d->hooks.progress(&d->prog, d->hooks.userdata);
}

/* ---- verification ------------------------------------------------------ */

static void verified(int status, const struct uploader_hash *h, const struct hs_err *err, void *ud)
{
    struct dl_file *f = ud;
    struct dl *d = f->d;
    d->pending--;
    if (status < 0) {
        fail(d, status, err);
    } else if (!d->failed) {
        const char *want = f->f.sha256 ? f->f.sha256 : f->f.git_oid;
        const char *got = f->f.sha256 ? h->sha256 : h->sha1;
        if (h->size != f->f.size || strcmp(want, got) != 0) {
            unlink(f->part); /* a corrupt copy is never kept for a resume */
            char sz[96] = "";
            if (h->size != f->f.size)
                snprintf(sz, sizeof(sz), " (%llu bytes, the listing says %llu)",
                         (unsigned long long)h->size, (unsigned long long)f->f.size);
            struct hs_err e;
            hs_err_set(&e, HS_ECHANGED,
                       "%s: the download is corrupt: %s %s expected, %s received%s; nothing was "
                       "put in place",
                       f->f.repo_path, f->f.sha256 ? "sha256" : "git blob sha1", want,
                       got[0] ? got : "(not computed)", sz);
            fail(d, HS_ECHANGED, &e);
        } else if (rename(f->part, f->f.local_path) < 0) {
            failf(d, -errno, "%s: cannot rename into place: %s", f->f.local_path, strerror(errno));
        } else {
            f->done = true;
            d->prog.files_done++;
            d->res.files_fetched++;
            progress(d, true);
        }
    }
    pump(d);
    maybe_end(d);
}

static void verify(struct dl_file *f)
{
    struct dl *d = f->d;
    if (f->fd >= 0) {
        if (fdatasync(f->fd) < 0 || close(f->fd) < 0) {
            f->fd = -1;
            failf(d, -errno, "%s: %s", f->part, strerror(errno));
            return;
        }
        f->fd = -1;
    }
    int rc = uploader_hash_file(d->u, f->part, verified, f);
    if (rc < 0) {
        failf(d, rc, "%s: cannot hash: %s", f->part, hs_strerror(rc));
        return;
    }
    d->pending++;
}

/* ---- transfers --------------------------------------------------------- */

static int sink(const char *data, size_t len, void *ud)
{
    struct dl_file *f = ud;
    struct dl *d = f->d;
    if (d->failed)
        return -ECANCELED;
    if (f->first_chunk) {
        f->first_chunk = false;
        /* Asked for a range, got the whole file (200): start over. */
        const char *cr = f->r->resp.content_range;
        if (f->r->range && !cr) {
            if (ftruncate(f->fd, 0) < 0)
                return -errno;
            d->prog.got_bytes -= f->off;
            f->off = 0;
        } else if (cr) {
            unsigned long long a;
            if (sscanf(cr, "bytes %llu-", &a) != 1 || a != f->off)
                return HS_EPROTO;
        }
    }
    if (f->off + len > f->f.size)
        return -EFBIG;
    size_t done = 0;
    while (done < len) {
        ssize_t k = pwrite(f->fd, data + done, len - done, (off_t)(f->off + done));
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        done += (size_t)k;
    }
    f->off += len;
    d->prog.got_bytes += len;
    d->res.bytes_fetched += len;
    progress(d, false);
    return 0;
}

static void retry_fire(uv_timer_t *t)
{
    struct dl_file *f = t->data;
    f->d->pending--;
    start_file(f);
}

/* A failed attempt: true when it is retried after the backoff (resolving
 * again, resuming from the bytes we have), else d fails. */
static bool attempt_failed(struct dl_file *f, struct http_request *r, bool cut_short)
{
    struct dl *d = f->d;
    const char *what = f->f.repo_path;
    int64_t delay = -1;
    long st = r->resp.status;
    /* Ours to heal, beyond what the policy knows: a 2xx that ended early,
     * and a storage 403 (an expired presigned URL: resolving again gives a
     * fresh one). They back off like a 5xx. */
    bool ours = cut_short || (f->on_storage && st == 403);
    bool transient = ours || r->error == HS_EHTTP || st >= 500 || st == 429;
    if (!d->failed && transient && r->error != -ECANCELED && !d->u->closing)
        delay = uploader__retry_delay(&d->retry, f->attempts, ours ? 500 : st, r->resp.curl_code,
                                      r->resp.retry_after, r->resp.ratelimit, (uint32_t)rand());
    if (r->error == -ECANCELED) {
        /* The uploader is closing: retries waiting on a timer end now too
         * (they would outlive it). */
        for (size_t i = 0; i < d->n; i++) {
            struct dl_file *o = &d->files[i];
            if (o->timer_init && uv_is_active((uv_handle_t *)&o->timer)) {
                uv_timer_stop(&o->timer);
                d->pending--;
                d->active--;
            }
        }
    }
    if (delay >= 0 && f->attempts < DL_RETRIES) {
        f->attempts++;
        if (!f->timer_init) {
            uv_timer_init(d->u->loop, &f->timer);
            f->timer.data = f;
            f->timer_init = true;
        }
        d->pending++;
        uv_timer_start(&f->timer, retry_fire, (uint64_t)delay / 1000, 0);
        return true;
    }
    if (r->error == HS_EPROTO) {
        failf(d, HS_EPROTO, "%s: the server answered another range than asked (%s)", what,
              r->resp.content_range ? r->resp.content_range : "none");
    } else if (r->error == -EFBIG) {
        failf(d, HS_EPROTO, "%s: the server sent more bytes than the listing's size", what);
    } else if (r->error < 0 && r->error != HS_EHTTP && r->error != -ECANCELED) {
        failf(d, r->error, "%s: writing %s: %s", what, f->part, hs_strerror(r->error));
    } else if (cut_short) {
        failf(d, HS_EHTTP, "%s: the download kept ending early (retries exhausted)", what);
    } else {
        struct hs_err e;
        int code = uploader__http_describe_failure(r, what, &e);
        if (st == 404)
            code = HS_EREFUSED;
        fail(d, code, &e);
    }
    return false;
}

static void got_body(struct http_request *r, void *ud)
{
    struct dl_file *f = ud;
    struct dl *d = f->d;
    d->pending--;
    f->r = NULL;
    bool ok = r->error == 0 && r->resp.status >= 200 && r->resp.status < 300;
    if (ok && f->off == f->f.size) {
        d->active--;
        f->attempts = 0;
        verify(f);
    } else if (!attempt_failed(f, r, ok /* a 2xx cut short: resume */)) {
        d->active--;
    }
    uploader__http_request_free(r);
    pump(d);
    maybe_end(d);
}

static int submit(struct dl_file *f, const char *url, bool auth)
{
    struct dl *d = f->d;
    struct http_request *r = uploader__http_request_new("GET", url);
    if (!r)
        return -ENOMEM;
    r->auth = auth;
    r->retry = HTTP_RETRY_NONE; /* resumed here from the bytes we have */
    r->follow = false;
    r->range = f->off > 0;
    r->range_from = f->off;
    f->on_storage = !auth;
    r->sink = sink;
    r->done = got_body;
    r->userdata = f;
    f->first_chunk = true;
    f->r = r;
    int rc = uploader__http_submit(d->u->http, r);
    if (rc < 0) {
        f->r = NULL;
        uploader__http_request_free(r);
        return rc;
    }
    d->pending++;
    return 0;
}

static void got_resolve(struct http_request *r, void *ud);

static void start_file(struct dl_file *f)
{
    struct dl *d = f->d;
    if (d->failed) {
        d->active--;
        maybe_end(d);
        return;
    }
    char *rev = uploader__url_encode_segment(d->repo.revision);
    char *path = uploader__url_encode_path(f->f.repo_path);
    char *url = NULL;
    if (rev && path &&
        asprintf(&url, "%s/%s%s/%s/resolve/%s/%s", d->repo.endpoint,
                 uploader__hub_type_prefix(d->repo.type), d->repo.ns, d->repo.name, rev, path) < 0)
        url = NULL;
    free(rev);
    free(path);
    int rc = url ? 0 : -ENOMEM;
    if (rc == 0) {
        rc = submit(f, url, true);
        if (rc == 0)
            f->r->done = got_resolve;
    }
    free(url);
    if (rc < 0) {
        d->active--;
        failf(d, rc, "%s: cannot send the request: %s", f->f.repo_path, hs_strerror(rc));
        maybe_end(d);
    }
}

/* The resolve answer: the bytes themselves (regular file), or a redirect
 * to storage (LFS), followed here without the token unless under the
 * endpoint. */
static void got_resolve(struct http_request *r, void *ud)
{
    struct dl_file *f = ud;
    struct dl *d = f->d;
    long st = r->resp.status;
    if (r->error == 0 && st >= 300 && st < 400 && r->resp.location && !d->failed) {
        d->pending--;
        f->r = NULL;
        char *loc = NULL;
        const char *l = r->resp.location;
        if (l[0] == '/') { /* relative: same origin as the endpoint */
            const char *e = d->repo.endpoint, *s = strstr(e, "://");
            const char *pe = s ? strchr(s + 3, '/') : NULL;
            int n = pe ? (int)(pe - e) : (int)strlen(e);
            if (asprintf(&loc, "%.*s%s", n, e, l) < 0)
                loc = NULL;
        } else {
            loc = strdup(l);
        }
        uploader__http_request_free(r);
        int rc =
            loc ? submit(f, loc, uploader__url_is_under_endpoint(loc, d->repo.endpoint)) : -ENOMEM;
        free(loc);
        if (rc < 0) {
            d->active--;
            failf(d, rc, "%s: cannot follow the redirect: %s", f->f.repo_path, hs_strerror(rc));
            maybe_end(d);
        }
        return;
    }
    got_body(r, ud);
}

static int open_part(struct dl_file *f)
{
    if (f->fd >= 0)
        return 0;
    f->fd = open(f->part, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (f->fd < 0)
        return -errno;
    struct stat st;
    if (fstat(f->fd, &st) < 0 || !S_ISREG(st.st_mode))
        return -EINVAL;
    f->off = (uint64_t)st.st_size;
    if (f->off > f->f.size) { /* not ours to continue */
        if (ftruncate(f->fd, 0) < 0)
            return -errno;
        f->off = 0;
    }
    return 0;
}

static void pump(struct dl *d)
{
    unsigned maxp = d->u->max_parallel ? d->u->max_parallel : 8;
    while (!d->failed && d->next < d->n && d->active < maxp) {
        struct dl_file *f = &d->files[d->next++];
        if (!f->fetch)
            continue;
        int rc = open_part(f);
        if (rc < 0) {
            failf(d, rc, "%s: %s", f->part, hs_strerror(rc));
            break;
        }
        if (f->off == f->f.size) { /* complete from an earlier run */
            verify(f);
            continue;
        }
        d->active++;
        start_file(f);
    }
}

/* ---- the plan: what is already there ------------------------------------ */

static void plan_done(struct dl *d)
{
    if (d->planned)
        return;
    d->planned = true;
    for (size_t i = 0; i < d->n; i++) {
        struct dl_file *f = &d->files[i];
        struct stat st;
        if (f->fetch && lstat(f->part, &st) == 0 && S_ISREG(st.st_mode) &&
            (uint64_t)st.st_size <= f->f.size)
            f->partial = (uint64_t)st.st_size;
        if (f->fetch) {
            d->prog.fetch_total += f->f.size;
            d->prog.got_bytes += f->partial;
            d->prog.files_fetch++;
        } else {
            d->res.files_had++;
        }
        if (d->hooks.plan)
            d->hooks.plan(&f->f, f->have, f->partial, d->hooks.userdata);
    }
    if (d->plan_only)
        return;
    progress(d, true);
    pump(d);
}

static void checked(int status, const struct uploader_hash *h, const struct hs_err *err, void *ud)
{
    struct dl_file *f = ud;
    struct dl *d = f->d;
    d->pending--;
    (void)err;
    const char *want = f->f.sha256 ? f->f.sha256 : f->f.git_oid;
    const char *got = status == 0 ? (f->f.sha256 ? h->sha256 : h->sha1) : "";
    f->have = status == 0 && h->size == f->f.size && want && strcmp(want, got) == 0;
    f->fetch = !f->have;
    if (++d->checked == d->n && !d->failed && d->kicked)
        plan_done(d);
    maybe_end(d);
}

static void kicked(uv_timer_t *t)
{
    struct dl *d = t->data;
    d->pending--;
    d->kicked = true;
    if (d->checked == d->n)
        plan_done(d);
    maybe_end(d);
}

int uploader_download(struct uploader *u, const struct uploader_download_request *req,
                      const struct uploader_download_hooks *hooks, struct hs_err *err)
{
    if (u->closing)
        return hs_err_set(err, -ECANCELED, "the uploader is closing");
    const char *slash = req->repo_id ? strchr(req->repo_id, '/') : NULL;
    if (!slash || !hooks->done)
        return hs_err_set(err, -EINVAL,
                          "download: a repo id \"ns/name\" and a done hook are needed");
    struct dl *d = calloc(1, sizeof(*d));
    if (!d)
        return hs_err_set(err, -ENOMEM, "out of memory");
    d->u = u;
    d->hooks = *hooks;
    d->plan_only = req->plan_only;
    d->retry = (struct retry_policy){DL_RETRIES, HS_USEC_PER_SEC, 8 * HS_USEC_PER_SEC,
                                     600 * HS_USEC_PER_SEC};
    d->repo.endpoint = strdup(u->endpoint);
    d->repo.type = strdup(req->repo_type ? req->repo_type : "model");
    d->repo.ns = strndup(req->repo_id, (size_t)(slash - req->repo_id));
    d->repo.name = strdup(slash + 1);
    d->repo.revision = strdup(req->revision ? req->revision : "main");
    d->files = calloc(req->n_files ? req->n_files : 1, sizeof(*d->files));
    bool oom = !d->repo.endpoint || !d->repo.type || !d->repo.ns || !d->repo.name ||
               !d->repo.revision || !d->files;
    for (size_t i = 0; !oom && i < req->n_files; i++) {
        const struct uploader_download_file *s = &req->files[i];
        struct dl_file *f = &d->files[i];
        f->d = d;
        f->fd = -1;
        d->n++;
        f->f.size = s->size;
        f->f.repo_path = strdup(s->repo_path);
        f->f.local_path = strdup(s->local_path);
        f->f.sha256 = s->sha256 ? strdup(s->sha256) : NULL;
        f->f.git_oid = s->git_oid ? strdup(s->git_oid) : NULL;
        oom = !f->f.repo_path || !f->f.local_path || (s->sha256 && !f->f.sha256) ||
              (s->git_oid && !f->f.git_oid) || asprintf(&f->part, "%s.part", s->local_path) < 0;
        if (!s->sha256 && !s->git_oid) {
            int rc = hs_err_set(err, -EINVAL, "%s: the listing gives no hash to check it against",
                                s->repo_path);
            dl_release(d);
            return rc;
        }
    }
    if (oom) {
        dl_release(d);
        return hs_err_set(err, -ENOMEM, "out of memory");
    }
    /* Hash what is already in place; the plan is made when all are known. */
    for (size_t i = 0; i < d->n; i++) {
        struct dl_file *f = &d->files[i];
        struct stat st;
        if (lstat(f->f.local_path, &st) == 0 && S_ISREG(st.st_mode) &&
            (uint64_t)st.st_size == f->f.size &&
            uploader_hash_file(u, f->f.local_path, checked, f) == 0) {
            d->pending++;
            continue;
        }
        f->fetch = true;
        d->checked++;
    }
    /* done always runs from the loop, never from here */
    uv_timer_init(u->loop, &d->kick);
    d->kick.data = d;
    d->pending++;
    uv_timer_start(&d->kick, kicked, 0, 0);
    return 0;
}

/* ---- the commit of a revision ------------------------------------------ */

struct rev_req {
    uploader_commit_cb cb;
    void *userdata;
};

static void got_repo_info(struct http_request *r, void *ud)
{
    struct rev_req *q = ud;
    struct hs_err e = {0};
    char *sha = NULL;
    int rc;
    if (r->error == 0 && r->resp.status == 200)
        rc =
            uploader__hub_parse_repo_info_sha(r->resp.body.data ? r->resp.body.data : "", &sha, &e);
    else
        rc = uploader__http_describe_failure(r, "repo info", &e);
    if (rc == 0 && !sha)
        rc = hs_err_set(&e, -ENOMEM, "out of memory");
    q->cb(rc, rc == 0 ? sha : NULL, r->resp.status, r->resp.error_code, rc == 0 ? NULL : &e,
          q->userdata);
    free(sha);
    free(q);
    uploader__http_request_free(r);
}

int uploader_revision_commit(struct uploader *u, const char *repo_id, const char *repo_type,
                             const char *revision, uploader_commit_cb cb, void *userdata,
                             struct hs_err *err)
{
    if (u->closing)
        return hs_err_set(err, -ECANCELED, "the uploader is closing");
    const char *slash = repo_id ? strchr(repo_id, '/') : NULL;
    if (!slash)
        return hs_err_set(err, -EINVAL, "repo info: a repo id \"ns/name\" is needed");
    struct hub_repo repo = {.endpoint = u->endpoint,
                            .type = (char *)(repo_type ? repo_type : "model"),
                            .revision = (char *)(revision ? revision : "main")};
    repo.ns = strndup(repo_id, (size_t)(slash - repo_id));
    repo.name = (char *)(slash + 1);
    char *url = repo.ns ? uploader__hub_url_repo_info(&repo) : NULL;
    free(repo.ns);
    struct rev_req *q = url ? calloc(1, sizeof(*q)) : NULL;
    struct http_request *r = q ? uploader__http_request_new("GET", url) : NULL;
    free(url);
    if (!r) {
        free(q);
        return hs_err_set(err, -ENOMEM, "out of memory");
    }
    q->cb = cb;
    q->userdata = userdata;
    r->auth = true;
    r->retry = HTTP_RETRY_ALL; /* a GET */
    r->follow = true;
    r->accept = "application/json";
    r->done = got_repo_info;
    r->userdata = q;
    int rc = uploader__http_submit(u->http, r);
    if (rc < 0) {
        uploader__http_request_free(r);
        free(q);
        return hs_err_set(err, rc, "repo info: cannot send the request: %s", hs_strerror(rc));
    }
    return 0;
}
