/*
 * whoami.c — who the token is and where it may write (docs/hub-protocol.md):
 * the whoami-v2 parser (user name, organisations with the user's role in
 * each, the token's role, and a fine-grained token's scoped permissions),
 * the asynchronous GET on the uploader's HTTP loop, and the write verdict
 * for a repo id. hub_api.c's uploader__hub_parse_whoami (the bare-name namespace of a
 * push) is this parser's name field, so the fuzz target covers both.
 *
 * The verdict says "denied" only on positive evidence (a read token, a
 * namespace that is neither the user nor one of their organisations, the
 * read role in the organisation, a fine-grained token without repo.write
 * there); anything it cannot judge (an app token, a role it does not know)
 * is "unknown" and the push itself finds out. It does not log: callers in
 * daemon/ decide what to say.
 */
#include "push_int.h"

#include <stdio.h>
#include <string.h>

/* Limits on what a server answer may make us keep. */
#define WHOAMI_MAX_ORGS   1024
#define WHOAMI_MAX_SCOPES 1024
#define WHOAMI_MAX_PERMS  256
#define WHOAMI_MAX_STR    512

static char *str_field(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_string(v) || !json_string_length(v) || json_string_length(v) > WHOAMI_MAX_STR)
        return NULL;
    return strdup(json_string_value(v));
}

void uploader_whoami_clear(struct uploader_whoami *w)
{
    if (!w)
        return;
    free(w->name);
    free(w->type);
    for (size_t i = 0; i < w->n_orgs; i++) {
        free(w->orgs[i].name);
        free(w->orgs[i].role);
    }
    free(w->orgs);
    free(w->token_role);
    free(w->token_name);
    for (size_t i = 0; i < w->n_scoped; i++) {
        free(w->scoped[i].entity_type);
        free(w->scoped[i].entity_name);
        for (size_t k = 0; k < w->scoped[i].n_permissions; k++)
            free(w->scoped[i].permissions[k]);
        free(w->scoped[i].permissions);
    }
    free(w->scoped);
    memset(w, 0, sizeof(*w));
}

static int parse_orgs(const json_t *arr, struct uploader_whoami *w)
{
    size_t n = json_array_size(arr);
    if (n > WHOAMI_MAX_ORGS)
        n = WHOAMI_MAX_ORGS;
    if (!n)
        return 0;
    if (!(w->orgs = calloc(n, sizeof(*w->orgs))))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const json_t *o = json_array_get(arr, i);
        char *name = json_is_object(o) ? str_field(o, "name") : NULL;
        if (!name)
            continue; /* an entry we cannot use: skipped, not fatal */
        w->orgs[w->n_orgs].name = name;
        w->orgs[w->n_orgs].role = str_field(o, "roleInOrg");
        w->n_orgs++;
    }
    return 0;
}

static int parse_scope(const json_t *s, struct uploader_whoami_scope *out)
{
    const json_t *ent = json_object_get(s, "entity");
    const json_t *perms = json_object_get(s, "permissions");
    if (!json_is_object(ent) || !json_is_array(perms))
        return 1;
    char *type = str_field(ent, "type"), *name = str_field(ent, "name");
    if (!type || !name) {
        free(type);
        free(name);
        return 1;
    }
    out->entity_type = type;
    out->entity_name = name;
    size_t n = json_array_size(perms);
    if (n > WHOAMI_MAX_PERMS)
        n = WHOAMI_MAX_PERMS;
    if (n && !(out->permissions = calloc(n, sizeof(char *))))
        return -ENOMEM;
    for (size_t k = 0; k < n; k++) {
        const json_t *p = json_array_get(perms, k);
        if (json_is_string(p) && json_string_length(p) <= WHOAMI_MAX_STR &&
            !(out->permissions[out->n_permissions++] = strdup(json_string_value(p))))
            return -ENOMEM;
    }
    return 0;
}

static int parse_token(const json_t *auth, struct uploader_whoami *w)
{
    const json_t *at = json_is_object(auth) ? json_object_get(auth, "accessToken") : NULL;
    if (!json_is_object(at))
        return 0;
    w->token_role = str_field(at, "role");
    w->token_name = str_field(at, "displayName");
    const json_t *fg = json_object_get(at, "fineGrained");
    const json_t *scoped = json_is_object(fg) ? json_object_get(fg, "scoped") : NULL;
    if (!json_is_array(scoped))
        return 0;
    w->has_scopes = true;
    size_t n = json_array_size(scoped);
    if (n > WHOAMI_MAX_SCOPES)
        n = WHOAMI_MAX_SCOPES;
    if (n && !(w->scoped = calloc(n, sizeof(*w->scoped))))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const json_t *s = json_array_get(scoped, i);
        if (!json_is_object(s))
            continue;
        int rc = parse_scope(s, &w->scoped[w->n_scoped]);
        if (rc < 0) {
            w->n_scoped++; /* cleared with the rest */
            return rc;
        }
        if (rc == 0)
            w->n_scoped++;
    }
    return 0;
}

int uploader_whoami_parse(const char *body, struct uploader_whoami *out, struct hs_err *err)
{
    memset(out, 0, sizeof(*out));
    json_error_t je;
    json_t *j = body ? json_loads(body, 0, &je) : NULL;
    if (!j)
        return hs_err_set(err, HS_EPROTO, "whoami-v2: the Hub answered malformed JSON (%s)",
                          body ? je.text : "empty body");
    int rc = 0;
    if (!json_is_object(j) || !(out->name = str_field(j, "name"))) {
        rc = hs_err_set(err, HS_EPROTO, "whoami-v2: answer has no user name");
        goto done;
    }
    out->type = str_field(j, "type");
    const json_t *orgs = json_object_get(j, "orgs");
    if ((json_is_array(orgs) && (rc = parse_orgs(orgs, out)) < 0) ||
        (rc = parse_token(json_object_get(j, "auth"), out)) < 0)
        hs_err_set(err, rc, "out of memory");
done:
    json_decref(j);
    if (rc < 0)
        uploader_whoami_clear(out);
    return rc;
}

static int dup_opt(char **dst, const char *src)
{
    *dst = src ? strdup(src) : NULL;
    return src && !*dst ? -ENOMEM : 0;
}

int uploader_whoami_copy(struct uploader_whoami *dst, const struct uploader_whoami *src)
{
    uploader_whoami_clear(dst);
    int rc = dup_opt(&dst->name, src->name) | dup_opt(&dst->type, src->type) |
             dup_opt(&dst->token_role, src->token_role) |
             dup_opt(&dst->token_name, src->token_name);
    dst->has_scopes = src->has_scopes;
    if (!rc && src->n_orgs && !(dst->orgs = calloc(src->n_orgs, sizeof(*dst->orgs))))
        rc = -ENOMEM;
    for (size_t i = 0; !rc && i < src->n_orgs; i++, dst->n_orgs++)
        rc = dup_opt(&dst->orgs[i].name, src->orgs[i].name) |
             dup_opt(&dst->orgs[i].role, src->orgs[i].role);
    if (!rc && src->n_scoped && !(dst->scoped = calloc(src->n_scoped, sizeof(*dst->scoped))))
        rc = -ENOMEM;
    for (size_t i = 0; !rc && i < src->n_scoped; i++) {
        const struct uploader_whoami_scope *o = &src->scoped[i];
        struct uploader_whoami_scope *d = &dst->scoped[dst->n_scoped++];
        rc = dup_opt(&d->entity_type, o->entity_type) | dup_opt(&d->entity_name, o->entity_name);
        if (!rc && o->n_permissions && !(d->permissions = calloc(o->n_permissions, sizeof(char *))))
            rc = -ENOMEM;
        for (size_t k = 0; !rc && k < o->n_permissions; k++, d->n_permissions++)
            rc = dup_opt(&d->permissions[k], o->permissions[k]);
    }
    if (rc) {
        uploader_whoami_clear(dst);
        return -ENOMEM;
    }
    return 0;
}

/* ---- the write verdict ------------------------------------------------------- */

static const struct uploader_whoami_org *find_org(const struct uploader_whoami *w, const char *ns)
{
    for (size_t i = 0; i < w->n_orgs; i++)
        if (!strcmp(w->orgs[i].name, ns))
            return &w->orgs[i];
    return NULL;
}

static bool org_role_writes(const char *role)
{
    /* roleInOrg: admin | write | contributor | read (absent: cannot tell) */
    return !role || !strcmp(role, "admin") || !strcmp(role, "write") ||
           !strcmp(role, "contributor");
}

static bool scope_has(const struct uploader_whoami_scope *s, const char *perm)
{
    for (size_t k = 0; k < s->n_permissions; k++)
        if (!strcmp(s->permissions[k], perm))
            return true;
    return false;
}

static void list_orgs(const struct uploader_whoami *w, char *out, size_t n)
{
    size_t off = 0;
    out[0] = 0;
    for (size_t i = 0; i < w->n_orgs && off + 1 < n; i++) {
        int k = snprintf(out + off, n - off, "%s%s", i ? ", " : "", w->orgs[i].name);
        if (k < 0)
            break;
        off += (size_t)k;
    }
}

enum uploader_write_access uploader_whoami_can_write(const struct uploader_whoami *w,
                                                     const char *repo_id, const char *repo_type,
                                                     char *why, size_t why_len)
{
    char ns[128];
    const char *slash = strchr(repo_id, '/');
    snprintf(ns, sizeof(ns), "%.*s", slash ? (int)(slash - repo_id) : (int)strlen(w->name),
             slash ? repo_id : w->name);
    const char *role = w->token_role;
    const struct uploader_whoami_org *org = find_org(w, ns);
    bool own = !strcmp(ns, w->name);
    char orgs[256];
    list_orgs(w, orgs, sizeof(orgs));
    if (!role || (w->type && strcmp(w->type, "user") != 0)) {
        snprintf(why, why_len, "the token's role is not known (%s token)", w->type ? w->type : "?");
        return UPLOADER_WRITE_UNKNOWN;
    }
    if (!strcmp(role, "read")) {
        snprintf(why, why_len,
                 "the token of user \"%s\" is read-only (role \"read\"); pushing to \"%s\" needs a "
                 "token with the write role, or a fine-grained token with repo.write on \"%s\"",
                 w->name, ns, ns);
        return UPLOADER_WRITE_DENIED;
    }
    if (!own && !org) {
        snprintf(why, why_len,
                 "namespace \"%s\" is neither the token's user \"%s\" nor one of their "
                 "organizations (%s): the token cannot write there",
                 ns, w->name, orgs[0] ? orgs : "none");
        return UPLOADER_WRITE_DENIED;
    }
    if (org && !org_role_writes(org->role)) {
        snprintf(why, why_len,
                 "user \"%s\" has the \"%s\" role in organization \"%s\": writing needs the write, "
                 "contributor or admin role",
                 w->name, org->role, ns);
        return UPLOADER_WRITE_DENIED;
    }
    if (!strcmp(role, "write") || !strcmp(role, "admin")) {
        snprintf(why, why_len, "token of user \"%s\" with the %s role; %s", w->name, role,
                 own ? "its own namespace" : "a member of the organization");
        return UPLOADER_WRITE_OK;
    }
    if (!strcmp(role, "fineGrained")) {
        const char *type = repo_type ? repo_type : "model";
        for (size_t i = 0; i < w->n_scoped; i++) {
            const struct uploader_whoami_scope *s = &w->scoped[i];
            bool on_ns = (!strcmp(s->entity_type, "user") || !strcmp(s->entity_type, "org")) &&
                         !strcmp(s->entity_name, ns);
            bool on_repo =
                !strcmp(s->entity_type, type) && slash && !strcmp(s->entity_name, repo_id);
            if ((on_ns || on_repo) && scope_has(s, "repo.write")) {
                snprintf(why, why_len, "fine-grained token with repo.write on %s \"%s\"",
                         s->entity_type, s->entity_name);
                return UPLOADER_WRITE_OK;
            }
        }
        snprintf(why, why_len,
                 "the fine-grained token of user \"%s\" has no repo.write permission on \"%s\"%s; "
                 "add it in the token's settings",
                 w->name, ns, w->has_scopes ? "" : " (its answer lists no scoped permissions)");
        return UPLOADER_WRITE_DENIED;
    }
    snprintf(why, why_len, "the token's role \"%s\" is not known", role);
    return UPLOADER_WRITE_UNKNOWN;
}

/* ---- the request -------------------------------------------------------------- */

struct whoami_req {
    uploader_whoami_cb cb;
    void *userdata;
};

static void whoami_done(struct http_request *r, void *ud)
{
    struct whoami_req *q = ud;
    struct uploader_whoami w = {0};
    struct hs_err err = {0};
    long st = r->resp.status;
    int rc;
    if (r->error == 0 && st >= 200 && st < 300)
        rc = uploader_whoami_parse(r->resp.body.data, &w, &err);
    else
        rc = uploader__http_describe_failure(r, "checking the token (whoami-v2)", &err);
    if (r->error)
        st = 0; /* no answer (transport failure, cancelled) */
    uploader__http_request_free(r);
    q->cb(rc, rc == 0 ? &w : NULL, st, rc == 0 ? NULL : &err, q->userdata);
    uploader_whoami_clear(&w);
    free(q);
}

int uploader_whoami(struct uploader *u, uploader_whoami_cb cb, void *userdata, struct hs_err *err)
{
    if (u->closing)
        return hs_err_set(err, -ECANCELED, "the uploader is closing");
    struct hub_repo repo = {.endpoint = u->endpoint};
    char *url = uploader__hub_url_whoami(&repo);
    struct http_request *r = url ? uploader__http_request_new("GET", url) : NULL;
    struct whoami_req *q = r ? calloc(1, sizeof(*q)) : NULL;
    free(url);
    if (!q) {
        uploader__http_request_free(r);
        return hs_err_set(err, -ENOMEM, "out of memory");
    }
    q->cb = cb;
    q->userdata = userdata;
    r->auth = true;
    r->retry = HTTP_RETRY_ALL; /* transport failures, 5xx and 429 heal; 401/403 do not */
    r->follow = true;
    r->accept = "application/json";
    r->done = whoami_done;
    r->userdata = q;
    int rc = uploader__http_submit(u->http, r);
    if (rc < 0) {
        uploader__http_request_free(r);
        free(q);
        return hs_err_set(err, rc, "cannot send the whoami-v2 request: %s", hs_strerror(rc));
    }
    return 0;
}
