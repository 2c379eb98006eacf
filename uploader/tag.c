/*
 * tag.c — creating a tag on a commit (uploader_create_tag, uploader.h):
 * POST {EP}/api/{type}s/{repo}/tag/{commit} with {"tag", "message"}, the
 * request of huggingface_hub's HfApi.create_tag (docs/hub-protocol.md
 * "Tags"). The Hub answers 409 when the tag exists; then the tag's commit
 * (GET .../revision/{tag}) says whether it is ours (a retry, or a replay
 * after a crash: done) or another one. Not here: when to tag and what is
 * recorded about it (the daemon's job_tag.c).
 */
#include "push_int.h"

#include <stdio.h>
#include <string.h>

struct tag_req {
    struct uploader *u;
    struct hub_repo repo; /* revision: the commit to tag */
    char *tag;
    uploader_tag_cb cb;
    void *userdata;
};

static void tag_req_free(struct tag_req *q)
{
    free(q->repo.ns);
    free(q->repo.name);
    free(q->repo.type);
    free(q->repo.revision);
    free(q->tag);
    free(q);
}

static void finish(struct tag_req *q, int status, enum uploader_tag_outcome o, const char *other,
                   const struct hs_err *err)
{
    q->cb(status, o, other, status < 0 ? err : NULL, q->userdata);
    tag_req_free(q);
}

static void got_tag_commit(struct http_request *r, void *ud)
{
    struct tag_req *q = ud;
    struct hs_err e = {0};
    char *sha = NULL;
    int rc;
    char what[320];
    snprintf(what, sizeof(what), "the commit of the existing tag %s", q->tag);
    if (r->error == 0 && r->resp.status == 200)
        rc =
            uploader__hub_parse_repo_info_sha(r->resp.body.data ? r->resp.body.data : "", &sha, &e);
    else
        rc = uploader__http_describe_failure(r, what, &e);
    uploader__http_request_free(r);
    if (rc == 0 && !sha)
        rc = hs_err_set(&e, -ENOMEM, "out of memory");
    if (rc < 0)
        return finish(q, rc, UPLOADER_TAG_CREATED, NULL, &e);
    bool same = strcmp(sha, q->repo.revision) == 0;
    finish(q, 0, same ? UPLOADER_TAG_EXISTED : UPLOADER_TAG_ELSEWHERE, same ? NULL : sha, NULL);
    free(sha);
}

static int submit(struct tag_req *q, const char *method, char *url, char *body, http_done_cb done,
                  struct hs_err *err)
{
    struct http_request *r = url ? uploader__http_request_new(method, url) : NULL;
    free(url);
    if (!r) {
        free(body);
        return hs_err_set(err, -ENOMEM, "out of memory");
    }
    r->auth = true;
    r->retry = HTTP_RETRY_ALL; /* the POST too: a replay meets its own 409 */
    r->follow = true;
    r->accept = "application/json";
    if (body)
        uploader__http_request_set_body(r, body, strlen(body), "application/json");
    r->done = done;
    r->userdata = q;
    int rc = uploader__http_submit(q->u->http, r);
    if (rc < 0) {
        uploader__http_request_free(r);
        return hs_err_set(err, rc, "tag %s: cannot send the request: %s", q->tag, hs_strerror(rc));
    }
    return 0;
}

static void tag_posted(struct http_request *r, void *ud)
{
    struct tag_req *q = ud;
    struct hs_err e = {0};
    if (r->error == 0 && r->resp.status / 100 == 2) {
        uploader__http_request_free(r);
        return finish(q, 0, UPLOADER_TAG_CREATED, NULL, NULL);
    }
    if (r->error == 0 && r->resp.status == 409) {
        uploader__http_request_free(r);
        struct hub_repo at = q->repo;
        at.revision = q->tag;
        if (submit(q, "GET", uploader__hub_url_repo_info(&at), NULL, got_tag_commit, &e) < 0)
            finish(q, e.code, UPLOADER_TAG_CREATED, NULL, &e);
        return;
    }
    char what[320];
    snprintf(what, sizeof(what), "creating the tag %s", q->tag);
    int rc = uploader__http_describe_failure(r, what, &e);
    uploader__http_request_free(r);
    finish(q, rc, UPLOADER_TAG_CREATED, NULL, &e);
}

int uploader_create_tag(struct uploader *u, const struct uploader_tag_request *req,
                        uploader_tag_cb cb, void *userdata, struct hs_err *err)
{
    if (u->closing)
        return hs_err_set(err, -ECANCELED, "the uploader is closing");
    const char *slash = req->repo_id ? strchr(req->repo_id, '/') : NULL;
    if (!slash || !req->commit || !*req->commit || !req->tag || !*req->tag || !cb)
        return hs_err_set(err, -EINVAL,
                          "tag: a repo id \"ns/name\", a commit and a tag are needed");
    struct tag_req *q = calloc(1, sizeof(*q));
    if (!q)
        return hs_err_set(err, -ENOMEM, "out of memory");
    q->u = u;
    q->cb = cb;
    q->userdata = userdata;
    q->repo.endpoint = u->endpoint;
    q->repo.type = strdup(req->repo_type ? req->repo_type : "model");
    q->repo.ns = strndup(req->repo_id, (size_t)(slash - req->repo_id));
    q->repo.name = strdup(slash + 1);
    q->repo.revision = strdup(req->commit);
    q->tag = strdup(req->tag);
    json_t *b = json_pack("{s:s}", "tag", req->tag);
    if (b && req->message)
        json_object_set_new(b, "message", json_string(req->message));
    char *body = b ? json_dumps(b, JSON_COMPACT) : NULL;
    json_decref(b);
    if (!q->repo.type || !q->repo.ns || !q->repo.name || !q->repo.revision || !q->tag || !body) {
        free(body);
        tag_req_free(q);
        return hs_err_set(err, -ENOMEM, "out of memory");
    }
    int rc = submit(q, "POST", uploader__hub_url_tag(&q->repo), body, tag_posted, err);
    if (rc < 0)
        tag_req_free(q);
    return rc;
}
