/*
 * push.c — the push flow as a state machine on the loop (docs/hub-protocol.md):
 * whoami (bare repo name) → create repo (409 = exists) → create branch →
 * hash every file (thread pool, cache) → [commit sent by an earlier run?
 * check the tree with paths-info] → preupload (≤256 per call) → drop files
 * the Hub already has → LFS objects (lfs.c) → build the NDJSON commit off
 * the loop, checking no file changed since it was hashed → persist "commit
 * sent" → POST commit with parentCommit → result.
 *
 * The commit POST is never blindly retried (a lost answer could mean it was
 * applied): a 429 is retried after the server's wait, a transport error or
 * 5xx is followed by a paths-info check, and only a tree without our files
 * gets the commit again. It goes out on a fresh connection so libcurl cannot
 * replay it by itself, and a 412 is checked the same way before it fails the
 * push (the branch may have moved by our own commit). Every failure ends the push with one message;
 * the requests still in flight are allowed to finish before done() is called, so nothing touches
 * freed memory.
 */
#include "push_int.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATHS_INFO_BATCH 500
#define COMMIT_ATTEMPTS  5
#define HASH_AHEAD       128 /* files of one push queued at the shared hasher: two batches */
#define PERSIST_EVERY_MS 1000

void uploader__push_gone(struct uploader *u, struct push *p);
static void next(struct push *p);
static void check_tree(struct push *p, bool all_files);
static int persist_write(struct push *p);

/* ---- life cycle -------------------------------------------------------- */

static void push_free(struct push *p)
{
    uploader__push_verify_free(p);
    for (size_t i = 0; i < p->n_files; i++)
        free(p->files[i].remote_oid);
    free(p->files);
    free(p->paths);
    for (size_t i = 0; i < p->n_deletes; i++)
        free(p->deletes[i]);
    free(p->deletes);
    free(p->objs);
    free(p->ready);
    uploader__preupload_free(p);
    uploader__push_state_clear(&p->st);
    free(p->repo.endpoint);
    free(p->repo.type);
    free(p->repo.ns);
    free(p->repo.name);
    free(p->repo.revision);
    free(p->summary);
    free(p->description);
    free(p->parent);
    uploader__push_commit_body_free(p);
    free(p->res.commit_oid);
    free(p->res.commit_url);
    free(p);
}

void uploader__push_maybe_end(struct push *p)
{
    if (p->inflight > 0 || (!p->failed && p->step != STEP_DONE))
        return;
    struct uploader *u = p->u;
    if (p->failed && p->persist_dirty)
        persist_write(p); /* the progress not yet written, for the next try (best effort) */
    if (p->failed)
        p->hooks.done(p->failed, NULL, &p->err, p->hooks.userdata);
    else {
        p->res.bytes_sent = uploader__http_loop_bytes_out(u->http) - p->bytes_out_start;
        p->hooks.done(0, &p->res, NULL, p->hooks.userdata);
    }
    uploader__push_gone(u, p);
    push_free(p);
}

void uploader__push_fail(struct push *p, int code, const struct hs_err *err)
{
    if (!p->failed) {
        p->failed = code ? code : -EIO;
        if (err)
            p->err = *err;
        else
            hs_err_set(&p->err, p->failed, "push failed: %s", hs_strerror(p->failed));
        hs_secret_scrub(p->err.msg);
        uploader__push_verify_flush(p);
    }
    uploader__push_maybe_end(p);
}

/* Interrupted (SIGINT/SIGTERM in `hubsync push`): save the state once more —
 * it was saved at every durable step, but hashes of the files hashed so far
 * are saved only here before the last one ends — then end the push with
 * -EINTR. Requests in flight are cut by the uploader_close that follows. */
void uploader__push_interrupt(struct push *p)
{
    if (p->failed || p->step == STEP_DONE)
        return;
    if (uploader__push_persist(p) < 0)
        return; /* failed with the persist error */
    struct hs_err e;
    hs_err_set(&e, -EINTR, "push interrupted");
    uploader__push_fail(p, -EINTR, &e);
}

/* The resume state to the caller's hook; 0 or its error (nothing else). */
static int persist_write(struct push *p)
{
    size_t len;
    char *doc = uploader__push_state_dump(&p->st, &len);
    if (!doc)
        return -ENOMEM;
    int rc = p->hooks.persist(doc, len, p->hooks.userdata);
    free(doc);
    p->persisted_at = hs_now_monotonic();
    p->persist_dirty = false;
    return rc;
}

int uploader__push_persist(struct push *p)
{
    if (!p->hooks.persist)
        return 0;
    int rc = persist_write(p);
    if (rc == -ENOMEM) {
        uploader__push_fail(p, -ENOMEM, NULL); /* callers return on < 0: the push must end */
    } else if (rc < 0) {
        struct hs_err e;
        if (p->hooks.persist_path)
            hs_err_set(&e, rc, "cannot save the resumable push state %s: %s", p->hooks.persist_path,
                       hs_strerror(rc));
        else
            hs_err_set(&e, rc, "cannot save the resumable push state: %s", hs_strerror(rc));
        uploader__push_fail(p, rc, &e);
    }
    return rc;
}

int uploader__push_persist_soon(struct push *p)
{
    if (p->hooks.persist && hs_now_monotonic() - p->persisted_at < PERSIST_EVERY_MS * 1000) {
        p->persist_dirty = true;
        return 0;
    }
    return uploader__push_persist(p);
}

/* Report at most every 200 ms, and at once on a phase change (force) or when
 * a stage starts or ends: the stages with work under way, both HASH and
 * UPLOAD while files are uploaded as later ones are still hashed. */
void uploader__push_progress(struct push *p, bool force)
{
    if (!p->hooks.progress)
        return;
    unsigned stages = 0;
    if (p->step == STEP_HASH && p->hash_done < p->n_files)
        stages |= UPLOADER_STAGE_HASH;
    if (p->prog.objects_done < p->prog.objects_total)
        stages |= UPLOADER_STAGE_UPLOAD;
    hs_usec_t now = hs_now_monotonic();
    if (!force && stages == p->prog.stages && now - p->last_progress < 200 * HS_USEC_PER_MSEC)
        return;
    p->last_progress = now;
    p->prog.stages = stages;
    p->prog.files_hashed = (unsigned)p->hash_done;
    p->hooks.progress(&p->prog, p->hooks.userdata);
}

static void phase(struct push *p, enum uploader_phase ph)
{
    p->prog.phase = ph;
    uploader__push_progress(p, true);
}

int uploader__push_submit(struct push *p, struct http_request *r)
{
    int rc = uploader__http_submit(p->u->http, r);
    if (rc < 0) {
        struct hs_err e;
        char url[256];
        uploader__url_strip_query(r->url, url, sizeof(url));
        hs_err_set(&e, rc, "cannot send %s %s: %s", r->method, url, hs_strerror(rc));
        uploader__http_request_free(r);
        uploader__push_fail(p, rc, &e);
        return rc;
    }
    p->inflight++;
    return 0;
}

struct http_request *uploader__push_api(struct push *p, const char *method, char *url,
                                        void (*done)(struct http_request *, void *))
{
    if (!url) {
        uploader__push_fail(p, -ENOMEM, NULL);
        return NULL;
    }
    struct http_request *r = uploader__http_request_new(method, url);
    free(url);
    if (!r) {
        uploader__push_fail(p, -ENOMEM, NULL);
        return NULL;
    }
    r->auth = true;
    r->retry = HTTP_RETRY_ALL;
    r->follow = true;
    r->accept = "application/json";
    r->done = done;
    r->userdata = p;
    return r;
}

/* A POST of an owned JSON body to the API; NULL (body freed, push failed)
 * when either could not be made. */
struct http_request *uploader__push_api_json(struct push *p, char *url, char *body,
                                             void (*done)(struct http_request *, void *))
{
    struct http_request *r = uploader__push_api(p, "POST", url, done);
    if (!r) {
        free(body);
        return NULL;
    }
    if (!body) {
        uploader__http_request_free(r);
        uploader__push_fail(p, -ENOMEM, NULL);
        return NULL;
    }
    uploader__http_request_set_body(r, body, strlen(body), "application/json");
    return r;
}

/* Every done callback starts here: false when the push already failed. */
bool uploader__push_settle(struct push *p, struct http_request *r)
{
    p->inflight--;
    if (p->failed) {
        uploader__http_request_free(r);
        uploader__push_maybe_end(p);
        return false;
    }
    return true;
}

void uploader__push_fail_http(struct push *p, struct http_request *r, const char *what)
{
    struct hs_err e;
    int rc = uploader__http_describe_failure(r, what, &e);
    uploader__http_request_free(r);
    uploader__push_fail(p, rc, &e);
}

static bool ok2xx(const struct http_request *r)
{
    return r->error == 0 && r->resp.status >= 200 && r->resp.status < 300;
}

/* ---- prepare: whoami, create repo, branch ------------------------------ */

static void whoami_done(struct http_request *r, void *ud)
{
    struct push *p = ud;
    if (!uploader__push_settle(p, r))
        return;
    if (!ok2xx(r))
        return uploader__push_fail_http(p, r, "checking the token (whoami-v2)");
    struct hs_err e;
    int rc = uploader__hub_parse_whoami(r->resp.body.data, &p->repo.ns, &e);
    uploader__http_request_free(r);
    if (rc < 0)
        return uploader__push_fail(p, rc, &e);
    p->step = STEP_CREATE;
    next(p);
}

static void repo_info_after_create_done(struct http_request *r, void *ud)
{
    struct push *p = ud;
    if (!uploader__push_settle(p, r))
        return;
    if (!ok2xx(r)) {
        uploader__http_request_free(r);
        return uploader__push_fail(p, p->err.code, &p->err); /* the create error saved below */
    }
    uploader__http_request_free(r);
    p->err.code = 0;
    p->step = STEP_BRANCH;
    next(p);
}

static void create_done(struct http_request *r, void *ud)
{
    struct push *p = ud;
    if (!uploader__push_settle(p, r))
        return;
    long st = r->resp.status;
    if (ok2xx(r) || (r->error == 0 && st == 409)) {
        uploader__http_request_free(r);
        p->step = STEP_BRANCH;
        return next(p);
    }
    if (r->error == 0 && (st == 401 || st == 403 || st == 402)) {
        /* Like huggingface_hub: maybe it exists and we may still write to it. */
        char what[300];
        snprintf(what, sizeof(what), "creating repo %s/%s", p->repo.ns, p->repo.name);
        uploader__http_describe_failure(r, what, &p->err);
        uploader__http_request_free(r);
        struct http_request *ri = uploader__push_api(
            p, "GET", uploader__hub_url_repo_info(&p->repo), repo_info_after_create_done);
        if (ri)
            uploader__push_submit(p, ri);
        return;
    }
    char what[300];
    snprintf(what, sizeof(what), "creating repo %s/%s", p->repo.ns, p->repo.name);
    uploader__push_fail_http(p, r, what);
}

static void branch_done(struct http_request *r, void *ud)
{
    struct push *p = ud;
    if (!uploader__push_settle(p, r))
        return;
    if (!ok2xx(r) && !(r->error == 0 && r->resp.status == 409)) {
        char what[300];
        snprintf(what, sizeof(what), "creating branch %s", p->repo.revision);
        return uploader__push_fail_http(p, r, what);
    }
    uploader__http_request_free(r);
    p->step = STEP_HASH;
    next(p);
}

/* ---- hashing ----------------------------------------------------------- */

struct hash_ctx {
    struct push *p;
    size_t idx;
    void *sample;      /* its preupload sample slot, or NULL (preupload.c) */
    size_t sample_len; /* set by the hasher when it filled the slot */
};

static void hash_done(int status, const struct uploader_hash *h, const struct hs_err *err, void *ud)
{
    struct hash_ctx *c = ud;
    struct push *p = c->p;
    size_t i = c->idx, sample_len = c->sample ? c->sample_len : 0;
    bool sampled = c->sample != NULL;
    free(c);
    p->inflight--;
    if (p->failed)
        return uploader__push_maybe_end(p);
    if (status < 0)
        return uploader__push_fail(p, status, err);
    struct pfile *f = &p->files[i];
    p->prog.hashed_bytes += h->size - f->hash_progress; /* the rest of it */
    f->hash_progress = h->size;
    struct push_state_file *sf = f->sf; /* the file's hashes live in the state only */
    sf->key = (struct hash_key){h->dev, h->ino, h->size, h->mtime_ns, h->ctime_ns};
    if (!uploader__digest_from_hash(h, &sf->dg)) {
        struct hs_err e;
        hs_err_set(&e, -EIO, "internal: %s hashed to a digest that is not hex", f->local);
        return uploader__push_fail(p, -EIO, &e);
    }
    sf->hashed = true;
    if (sampled)
        uploader__preupload_sample_done(p, i, sample_len);
    if (sf->dg.unverified && uploader__push_verify_add(p, i) < 0)
        return;
    p->hash_done++;
    uploader__push_progress(p, false);
    uploader__preupload_ready(p, i);
    if (p->hash_done < p->n_files) {
        uploader__push_queue_hashes(p);
        return uploader__preupload_pump(p);
    }
    if (uploader__push_persist(p) < 0)
        return;
    p->step = p->st.commit_sent ? STEP_CHECK_SENT : STEP_PREUPLOAD;
    next(p);
}

/* A work item of a file's hash finished: progress as the pool works. */
static void hash_tick(uint64_t done, void *ud)
{
    struct hash_ctx *c = ud;
    struct pfile *f = &c->p->files[c->idx];
    if (done > f->hash_progress) {
        c->p->prog.hashed_bytes += done - f->hash_progress;
        f->hash_progress = done;
    }
    if (!c->p->failed)
        uploader__push_progress(c->p, false);
}

/* Keep at most HASH_AHEAD files of this push queued at the hasher (shared by
 * every push of the uploader, `parallel` work items at once, small files
 * hashed up to 64 per item: hash.c): a push of 100,000 files holds 128 hash
 * jobs, not 100,000, and pushes take turns. */
void uploader__push_queue_hashes(struct push *p)
{
    while (!p->failed && p->hash_next < p->n_files && p->hash_next - p->hash_done < HASH_AHEAD) {
        size_t i = p->hash_next;
        void *sample;
        if (uploader__preupload_sample_slot(p, i, &sample) < 0)
            return; /* the preupload stage calls again when a slot frees */
        struct hash_ctx *c = malloc(sizeof(*c));
        if (!c)
            return uploader__push_fail(p, -ENOMEM, NULL);
        *c = (struct hash_ctx){.p = p, .idx = i, .sample = sample, .sample_len = SIZE_MAX};
        int rc = p->u->closing ? -ECANCELED
                               : uploader__hasher_hash_sample(p->u->hasher, p->files[i].local,
                                                              hash_done, hash_tick, c, sample,
                                                              PRE_SAMPLE_MAX, &c->sample_len);
        if (rc < 0) {
            free(c);
            return uploader__push_fail(p, rc, NULL);
        }
        p->hash_next++;
        p->inflight++;
    }
}

static void start_hashing(struct push *p)
{
    phase(p, UPLOADER_PHASE_HASH);
    if (p->n_files == 0) {
        struct hs_err e;
        hs_err_set(&e, -ENOENT, "no files to push");
        return uploader__push_fail(p, -ENOENT, &e);
    }
    if (!(p->ready = calloc(p->n_files, sizeof(*p->ready))))
        return uploader__push_fail(p, -ENOMEM, NULL);
    /* A commit an earlier run sent is looked for once every file is hashed
     * (check_tree); otherwise files go to preupload as they are hashed. */
    p->pre_open = !p->st.commit_sent;
    uploader__push_queue_hashes(p);
}

/* ---- plan: what to send (after every preupload answer) ----------------- */

/* The repo has this file's content at its path: the LFS oid (sha256) or
 * git blob id the Hub answered is this file's. */
static bool same_oid(const struct push_state_file *sf, bool lfs, const char *oid)
{
    unsigned char d[32];
    if (lfs)
        return uploader__hex_decode(oid, d, 32) && memcmp(d, sf->dg.sha256, 32) == 0;
    return sf->dg.has_sha1 && uploader__hex_decode(oid, d, 20) && memcmp(d, sf->dg.sha1, 20) == 0;
}

/* A preupload group answered (preupload.c): which of its files to send. Their
 * LFS objects join the transfers at once (lfs.c batches and uploads them)
 * while later files are still being hashed or asked about; the commit waits
 * for uploader__push_plan, once every file is answered. */
void uploader__push_plan_files(struct push *p, const size_t *idx, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        struct pfile *f = &p->files[idx[j]];
        f->unchanged = f->remote_oid && same_oid(f->sf, f->lfs, f->remote_oid);
        free(f->remote_oid); /* not needed any more: ~60 bytes a file less */
        f->remote_oid = NULL;
        if (f->ignore || f->unchanged)
            continue;
        p->changed++;
        if (!f->lfs)
            continue;
        char oid[65];
        uploader__digest_sha256_hex(&f->sf->dg, oid);
        struct push_state_object *so =
            uploader__push_state_object_add(&p->st, oid, f->sf->key.size);
        if (!so)
            return uploader__push_fail(p, -ENOMEM, NULL);
        if (so->planned)
            continue;                   /* the same content at another path: one object */
        if (p->n_objs == p->objs_cap) { /* objects are named by index: realloc is safe */
            size_t cap = p->objs_cap ? 2 * p->objs_cap : 16;
            struct pobj *no = realloc(p->objs, cap * sizeof(*no));
            if (!no)
                return uploader__push_fail(p, -ENOMEM, NULL);
            memset(no + p->objs_cap, 0, (cap - p->objs_cap) * sizeof(*no));
            p->objs = no;
            p->objs_cap = cap;
        }
        struct pobj *o = &p->objs[p->n_objs++];
        snprintf(o->oid, sizeof(o->oid), "%s", oid);
        o->size = f->sf->key.size;
        o->local = f->local;
        o->key = &f->sf->key;
        so->planned = (uint32_t)p->n_objs;
        o->done = so->done;
        if (!o->done) {
            p->prog.send_total += o->size;
            p->prog.objects_total++;
        }
    }
    uploader__push_progress(p, false); /* the upload stage may have started */
    if (p->n_objs > 0)
        uploader__lfs_start(p);
}

void uploader__push_plan(struct push *p)
{
    p->prog.files_total = (unsigned)p->n_files;
    unsigned changed = p->changed;
    p->prog.files_changed = changed;
    p->res.files_committed = changed;
    if (changed == 0 && p->n_deletes == 0) {
        if (uploader__push_verify_hold(p, uploader__push_plan))
            return; /* "unchanged" may rest on a digest not yet verified */
        p->res.nothing_to_commit = true;
        if (p->parent) {
            p->res.commit_oid = strdup(p->parent);
            p->res.commit_url = uploader__hub_commit_page_url(&p->repo, p->parent);
            p->step = STEP_DONE;
            return uploader__push_maybe_end(p);
        }
        p->step = STEP_HEAD;
        return next(p);
    }
    p->step = STEP_BATCH;
    phase(p, UPLOADER_PHASE_UPLOAD);
    uploader__lfs_start(p);
}

/* ---- commit ------------------------------------------------------------- */

static void send_commit(struct push *p);

static void build_done(uv_work_t *w, int status)
{
    struct push *p = w->data;
    p->inflight--;
    if (p->failed)
        return uploader__push_maybe_end(p);
    if (status < 0 || p->err.code) {
        struct hs_err e = p->err;
        p->err.code = 0;
        return uploader__push_fail(p, e.code ? e.code : -ECANCELED, &e);
    }
    p->step = STEP_COMMIT;
    send_commit(p);
}

void uploader__lfs_all_done(struct push *p)
{
    if (uploader__push_verify_hold(p, uploader__lfs_all_done))
        return;
    p->step = STEP_COMMIT_BUILD;
    phase(p, UPLOADER_PHASE_COMMIT);
    p->work.data = p;
    p->err.code = 0;
    if (uv_queue_work(p->u->loop, &p->work, uploader__push_build_commit, build_done) < 0)
        return uploader__push_fail(p, -EIO, NULL);
    p->inflight++;
}

static void commit_done(struct http_request *r, void *ud)
{
    struct push *p = ud;
    if (!uploader__push_settle(p, r))
        return;
    if (ok2xx(r)) {
        struct hs_err e;
        char *oid = NULL, *url = NULL;
        int rc = uploader__hub_parse_commit(r->resp.body.data, &oid, &url, &e);
        uploader__http_request_free(r);
        if (rc < 0)
            return uploader__push_fail(p, rc, &e);
        p->res.commit_oid = oid;
        p->res.commit_url = url ? url : uploader__hub_commit_page_url(&p->repo, oid);
        p->step = STEP_DONE;
        return uploader__push_maybe_end(p);
    }
    long st = r->resp.status;
    bool unknown = r->error == HS_EHTTP || st >= 500 || st == 408;
    if (unknown && p->commit_attempts < COMMIT_ATTEMPTS) {
        /* The commit may have been applied: look before sending it again. */
        uploader__http_request_free(r);
        return check_tree(p, false);
    }
    if (r->error == 0 && st == 412) {
        /* The branch moved. Maybe by our own commit whose answer was lost
         * and that something on the way replayed: look before failing. */
        struct hs_err e;
        uploader__http_describe_failure(r, "commit", &e);
        uploader__http_request_free(r);
        hs_err_set(&p->commit_412, HS_EHTTP,
                   "%s — the branch moved while pushing (someone else committed); nothing was "
                   "committed, run the push again",
                   e.msg);
        p->commit_refused = true;
        return check_tree(p, false);
    }
    if (r->error && r->error != HS_EHTTP && r->file_err[0]) {
        /* the streamed body stopped at a file that changed (commit_body.c):
         * its message names the file and says nothing was committed */
        struct hs_err e;
        hs_err_set(&e, r->error, "%s", r->file_err);
        uploader__http_request_free(r);
        return uploader__push_fail(p, e.code, &e);
    }
    uploader__push_fail_http(p, r, "commit");
}

static void send_commit(struct push *p)
{
    p->st.commit_sent = true;
    free(p->st.commit_parent);
    p->st.commit_parent = p->parent ? strdup(p->parent) : NULL;
    if (uploader__push_persist(p) < 0)
        return;
    struct http_request *r =
        uploader__push_api(p, "POST", uploader__hub_url_commit(&p->repo), commit_done);
    if (!r)
        return;
    uploader__push_commit_body(p, r); /* streamed from the files (commit_body.c) */
    r->retry = HTTP_RETRY_RATELIMIT;
    r->not_idempotent = true; /* never replayed by curl on a reused connection */
    p->commit_attempts++;
    uploader__push_submit(p, r);
}

/* ---- is our commit in the tree? (resume, lost answers) ----------------- */

static bool check_wanted(const struct pfile *f, bool all_files)
{
    return all_files || (!f->ignore && !f->unchanged);
}

static void check_send(struct push *p);

static void check_done(struct http_request *r, void *ud)
{
    struct push *p = ud;
    if (!uploader__push_settle(p, r))
        return;
    if (!ok2xx(r))
        return uploader__push_fail_http(p, r,
                                        "checking whether the earlier commit landed (paths-info)");
    bool all = p->step == STEP_CHECK_SENT;
    size_t start = p->pre_next, n = 0;
    const char **paths = calloc(PATHS_INFO_BATCH, sizeof(char *));
    size_t *idx = calloc(PATHS_INFO_BATCH, sizeof(size_t));
    char **lfs = calloc(PATHS_INFO_BATCH, sizeof(char *)),
         **git = calloc(PATHS_INFO_BATCH, sizeof(char *));
    size_t i = start;
    for (; i < p->n_files && n < PATHS_INFO_BATCH; i++) {
        if (!check_wanted(&p->files[i], all))
            continue;
        idx[n] = i;
        paths[n++] = p->files[i].sf->repo_path;
    }
    struct hs_err e;
    int rc = paths && idx && lfs && git
                 ? uploader__hub_parse_paths_info(r->resp.body.data, paths, n, lfs, git, &e)
                 : -ENOMEM;
    uploader__http_request_free(r);
    for (size_t k = 0; rc == 0 && k < n; k++) {
        const struct pfile *f = &p->files[idx[k]];
        bool same =
            lfs[k] ? same_oid(f->sf, true, lfs[k]) : git[k] && same_oid(f->sf, false, git[k]);
        if (!same)
            p->prog.files_changed = UINT32_MAX; /* marker: not all there */
    }
    for (size_t k = 0; k < PATHS_INFO_BATCH && lfs && git; k++) {
        free(lfs[k]);
        free(git[k]);
    }
    free(paths);
    free(idx);
    free(lfs);
    free(git);
    if (rc < 0)
        return uploader__push_fail(p, rc, &e);
    p->pre_next = i;
    if (p->pre_next < p->n_files && p->prog.files_changed != UINT32_MAX)
        return check_send(p);
    bool landed = p->prog.files_changed != UINT32_MAX;
    p->prog.files_changed = 0;
    p->pre_next = 0;
    if (landed) {
        if (all)
            p->res.resumed_commit = true;
        else
            p->res.answer_lost = true;
        p->step = STEP_HEAD;
        return next(p);
    }
    if (p->commit_refused)
        return uploader__push_fail(p, HS_EHTTP, &p->commit_412);
    if (all) {
        /* Not committed: start the normal path (preupload decides what to send). */
        p->st.commit_sent = false;
        p->step = STEP_PREUPLOAD;
        return next(p);
    }
    p->step = STEP_COMMIT;
    send_commit(p);
}

static void check_send(struct push *p)
{
    bool all = p->step == STEP_CHECK_SENT;
    const char **paths = calloc(PATHS_INFO_BATCH, sizeof(char *));
    size_t n = 0;
    if (!paths)
        return uploader__push_fail(p, -ENOMEM, NULL);
    for (size_t i = p->pre_next; i < p->n_files && n < PATHS_INFO_BATCH; i++)
        if (check_wanted(&p->files[i], all))
            paths[n++] = p->files[i].sf->repo_path;
    char *body = uploader__hub_body_paths_info(paths, n);
    free(paths);
    struct http_request *r =
        uploader__push_api_json(p, uploader__hub_url_paths_info(&p->repo), body, check_done);
    if (r)
        uploader__push_submit(p, r);
}

static void check_tree(struct push *p, bool all_files)
{
    p->pre_next = 0;
    p->prog.files_changed = all_files ? 0 : p->prog.files_changed;
    if (!all_files)
        p->step = STEP_COMMIT; /* check_done resends when not landed */
    check_send(p);
}

/* ---- head of the revision ---------------------------------------------- */

static void head_done(struct http_request *r, void *ud)
{
    struct push *p = ud;
    if (!uploader__push_settle(p, r))
        return;
    if (!ok2xx(r))
        return uploader__push_fail_http(p, r, "reading the repo head");
    struct hs_err e;
    char *sha = NULL;
    int rc = uploader__hub_parse_repo_info_sha(r->resp.body.data, &sha, &e);
    uploader__http_request_free(r);
    if (rc < 0)
        return uploader__push_fail(p, rc, &e);
    p->res.commit_oid = sha;
    p->res.commit_url = uploader__hub_commit_page_url(&p->repo, sha);
    p->step = STEP_DONE;
    uploader__push_maybe_end(p);
}

/* ---- the machine -------------------------------------------------------- */

static void next(struct push *p)
{
    struct http_request *r;
    if (p->failed)
        return uploader__push_maybe_end(p);
    switch (p->step) {
    case STEP_WHOAMI:
        if ((r = uploader__push_api(p, "GET", uploader__hub_url_whoami(&p->repo), whoami_done)))
            uploader__push_submit(p, r);
        return;
    case STEP_CREATE:
        if ((r = uploader__push_api_json(p, uploader__hub_url_create_repo(&p->repo),
                                         uploader__hub_body_create_repo(&p->repo, p->private_repo),
                                         create_done))) {
            r->retry = HTTP_RETRY_RATELIMIT;
            uploader__push_submit(p, r);
        }
        return;
    case STEP_BRANCH:
        if (p->prepare_only) {
            p->step = STEP_DONE; /* the repo exists: nothing else was asked */
            return uploader__push_maybe_end(p);
        }
        if (strcmp(p->repo.revision, "main") == 0) {
            p->step = STEP_HASH;
            return next(p);
        }
        if ((r = uploader__push_api_json(p, uploader__hub_url_branch(&p->repo),
                                         strdup("{\"startingPoint\":\"main\"}"), branch_done))) {
            r->retry = HTTP_RETRY_RATELIMIT;
            uploader__push_submit(p, r);
        }
        return;
    case STEP_HASH:
        return start_hashing(p);
    case STEP_CHECK_SENT:
        return check_tree(p, true);
    case STEP_PREUPLOAD:
        p->pre_open = true;
        phase(p, UPLOADER_PHASE_PREUPLOAD);
        return uploader__preupload_pump(p);
    case STEP_HEAD:
        if ((r = uploader__push_api(p, "GET", uploader__hub_url_repo_info(&p->repo), head_done)))
            uploader__push_submit(p, r);
        return;
    default:
        return;
    }
}

/* ---- start -------------------------------------------------------------- */

/* A file whose repo path the Hub cannot store (repo_path.c) is skipped before
 * any request, with one message naming it, so the rest of the save commits. */
static bool skip_unstorable(struct push *p, const struct uploader_file *f)
{
    const char *why = uploader_repo_path_refusal(f->repo_path);
    if (!why)
        return false;
    char esc[512], msg[HS_ERR_MAX];
    uploader_repo_path_escape(f->repo_path, esc, sizeof(esc));
    snprintf(msg, sizeof(msg), "skipped \"%s\": the Hub cannot store this name: %s", esc, why);
    hs_secret_scrub(msg);
    if (p->hooks.skipped)
        p->hooks.skipped(msg, p->hooks.userdata);
    else
        hs_log_warn("%s", msg);
    if (p->res.files_skipped++ == 0)
        snprintf(p->first_skipped, sizeof(p->first_skipped), "%.480s", msg);
    return true;
}

static void nothing_work(uv_work_t *w)
{
    (void)w;
}

static void nothing_storable(uv_work_t *w, int status)
{
    (void)status;
    struct push *p = w->data;
    p->inflight--;
    struct hs_err e;
    hs_err_set(&e, HS_EREFUSED, "none of the %u files can be stored on the Hub (%s)",
               p->res.files_skipped, p->first_skipped);
    uploader__push_fail(p, HS_EREFUSED, &e);
}

/* The bytes a file's paths take in p->paths: the local path, and the repo
 * path unless it is the local path's tail (a folder's walk: root/ + repo
 * path); at *at, when at is given (the repo path's tail or after the local
 * path's NUL). */
static size_t paths_of(const struct uploader_file *uf, char *at, struct pfile *f)
{
    size_t ll = strlen(uf->local_path), rl = strlen(uf->repo_path);
    bool tail = rl <= ll && memcmp(uf->local_path + ll - rl, uf->repo_path, rl) == 0;
    if (at) {
        f->local = at;
        memcpy(at, uf->local_path, ll + 1);
        f->sf->repo_path = tail ? at + ll - rl : at + ll + 1;
        if (!tail)
            memcpy(at + ll + 1, uf->repo_path, rl + 1);
    }
    return ll + 1 + (tail ? 0 : rl + 1);
}

static char *state_key(const struct uploader_push_request *req, const char *endpoint)
{
    char *k = NULL;
    if (asprintf(&k, "%s\n%s\n%s\n%s", endpoint, req->repo_type ? req->repo_type : "model",
                 req->repo_id, req->revision ? req->revision : "main") < 0)
        return NULL;
    return k;
}

int uploader_push(struct uploader *u, const struct uploader_push_request *req,
                  const struct uploader_push_hooks *hooks, struct hs_err *err)
{
    if (u->closing)
        return hs_err_set(err, -ECANCELED, "uploader is closing");
    if (!req->repo_id || !*req->repo_id || !hooks || !hooks->done)
        return hs_err_set(err, -EINVAL, "push: repo id and done callback are required");
    const char *type = req->repo_type ? req->repo_type : "model";
    if (strcmp(type, "model") && strcmp(type, "dataset") && strcmp(type, "space"))
        return hs_err_set(err, -EINVAL, "push: unknown repo type \"%s\"", type);
    for (size_t i = 0; i < req->n_delete; i++)
        if (!hs_path_is_safe_relative(req->delete_paths[i]))
            return hs_err_set(err, -EINVAL, "push: unsafe path to delete \"%s\"",
                              req->delete_paths[i]);
    for (size_t i = 0; i < req->n_delete_folders; i++) {
        const char *d = req->delete_folders[i];
        if (!hs_path_is_safe_relative(d) || uploader_repo_path_refusal(d))
            return hs_err_set(err, -EINVAL, "push: unsafe folder to delete \"%s\"", d);
        size_t dl = strlen(d);
        for (size_t k = 0; k < req->n_files; k++)
            if (!strncmp(req->files[k].repo_path, d, dl) && req->files[k].repo_path[dl] == '/')
                return hs_err_set(err, -EINVAL,
                                  "push: %s is in the folder %s/ the same commit deletes",
                                  req->files[k].repo_path, d);
    }
    struct push *p = calloc(1, sizeof(*p));
    if (!p)
        return hs_err_set(err, -ENOMEM, "out of memory");
    p->u = u;
    p->hooks = *hooks;
    p->private_repo = req->private_repo;
    p->prepare_only = req->prepare_only;
    const char *slash = strchr(req->repo_id, '/');
    p->repo.endpoint = strdup(u->endpoint);
    p->repo.type = strdup(type);
    p->repo.ns = slash ? strndup(req->repo_id, (size_t)(slash - req->repo_id)) : NULL;
    p->repo.name = strdup(slash ? slash + 1 : req->repo_id);
    p->repo.revision = strdup(req->revision ? req->revision : "main");
    p->summary =
        strdup(req->summary && *req->summary ? req->summary : "Upload folder using hubsync");
    p->description = strdup(req->description ? req->description : "");
    p->files = calloc(req->n_files + 1, sizeof(*p->files));
    /* The state's file table, one entry per file: it holds each file's repo
     * path, identity and hashes, and the file points to its entry. */
    struct push_state_file *sfiles = calloc(req->n_files + 1, sizeof(*sfiles));
    /* Every path in one allocation: no per-file malloc overhead. */
    size_t paths_len = 1;
    for (size_t i = 0; !p->prepare_only && i < req->n_files; i++)
        paths_len += paths_of(&req->files[i], NULL, NULL);
    p->paths = malloc(paths_len);
    bool oom = !p->repo.endpoint || !p->repo.type || (slash && !p->repo.ns) || !p->repo.name ||
               !p->repo.revision || !p->summary || !p->description || !p->files || !sfiles ||
               !p->paths;
    for (size_t i = 0, at = 0; !oom && !p->prepare_only && i < req->n_files; i++) {
        if (skip_unstorable(p, &req->files[i]))
            continue;
        struct pfile *f = &p->files[p->n_files];
        f->sf = &sfiles[p->n_files++];
        at += paths_of(&req->files[i], p->paths + at, f);
    }
    /* Resume: reuse the document when it is for the same push target. */
    char *key = oom ? NULL : state_key(req, u->endpoint);
    oom = oom || !key;
    if (!oom && req->resume_state && !p->prepare_only) {
        struct hs_err e;
        if (uploader__push_state_load(req->resume_state, &p->st, &e) == 0 &&
            strcmp(p->st.key, key) == 0) {
            for (size_t i = 0; i < p->st.n_files; i++)
                uploader__hashcache_put_digest(u->cache, &p->st.files[i].key, &p->st.files[i].dg);
        } else {
            uploader__push_state_clear(&p->st);
        }
    }
    /* The loaded file table is replaced by this file list's, whose repo
     * paths are the pfiles' (push_free frees them). */
    for (size_t i = 0; p->st.owns_paths && i < p->st.n_files; i++)
        free(p->st.files[i].repo_path);
    free(p->st.files);
    free(p->st.key);
    p->st.key = key;
    p->st.files = sfiles;
    p->st.n_files = sfiles ? p->n_files : 0;
    p->st.owns_paths = false;
    p->deletes = oom ? NULL : calloc(req->n_delete + req->n_delete_folders + 1, sizeof(char *));
    oom = oom || !p->deletes;
    for (size_t i = 0; !oom && !p->prepare_only && i < req->n_delete; i++) {
        const char *d = req->delete_paths[i];
        bool in_files = false;
        for (size_t k = 0; k < p->n_files && !in_files; k++)
            in_files = strcmp(p->files[k].sf->repo_path, d) == 0;
        /* a path the Hub cannot store cannot be in the repo: deleting it
         * would only make the Hub refuse the whole commit */
        if (in_files || uploader_repo_path_refusal(d))
            continue;
        oom = !(p->deletes[p->n_deletes++] = strdup(d));
    }
    p->res.files_deleted = (unsigned)p->n_deletes;
    for (size_t i = 0; !oom && !p->prepare_only && i < req->n_delete_folders; i++)
        oom = asprintf(&p->deletes[p->n_deletes++], "%s/", req->delete_folders[i]) < 0;
    if (oom) {
        push_free(p);
        return hs_err_set(err, -ENOMEM, "out of memory");
    }
    p->bytes_out_start = uploader__http_loop_bytes_out(u->http);
    p->next = u->pushes;
    u->pushes = p;
    p->step = p->repo.ns ? STEP_CREATE : STEP_WHOAMI;
    phase(p, UPLOADER_PHASE_PREPARE);
    if (p->n_files == 0 && p->res.files_skipped) {
        /* Nothing it can store: refuse before any request (no repo is
         * created for it), from the loop — done never runs inside
         * uploader_push. */
        p->work.data = p;
        if (uv_queue_work(u->loop, &p->work, nothing_work, nothing_storable) == 0) {
            p->inflight++;
            return 0;
        }
    }
    next(p);
    return 0;
}
