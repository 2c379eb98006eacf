/*
 * jstate.c — the daemon's durable state model on top of the journal (see
 * jstate.h for the lifecycle and the record payloads). Every transition
 * goes through one path: build the record, append it durably, then apply
 * it with the same function replay uses. Lookups are linear scans: O(N)
 * per call over saves/objects/commits, fine for the hundreds to a few
 * thousand entries of a training run.
 */
#include "jstate.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define DEFAULT_COMPACT_BYTES (UINT64_C(4) << 20)
/* json_unpack() does not modify its argument but is not declared const. */
#define UNPACK(v, ...) json_unpack((json_t *)(v), __VA_ARGS__)

struct jstate {
    struct journal *j;
    uint64_t compact_threshold;
    uint64_t next_save, next_commit;
    uint64_t skipped;
    struct jstate_save *saves;
    size_t n_saves, cap_saves;
    struct jstate_object *objects;
    size_t n_objects, cap_objects;
    struct jstate_commit *commits;
    size_t n_commits, cap_commits;
    struct jstate_job *jobs;
    size_t n_jobs, cap_jobs;
};

static const char *const save_states[] = {"ready", "hashed", "commit_sent", "committed",
                                          "superseded"};
static const char *const commit_states[] = {"sent", "confirmed", "aborted"};
static const char *const finish_phases[] = {"none", "requested", "done"};

const char *jstate_save_state_name(enum jstate_save_state s)
{
    return (size_t)s < HS_ARRAY_SIZE(save_states) ? save_states[s] : "?";
}

static int name_index(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; s && i < n; i++)
        if (strcmp(names[i], s) == 0)
            return (int)i;
    return -1;
}

/* Grow an array of elem-sized items so that one more fits. */
static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, nc * elem);
    if (!p)
        return -ENOMEM;
    memset((char *)p + *cap * elem, 0, (nc - *cap) * elem);
    *arr = p;
    *cap = nc;
    return 0;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static bool is_sha256(const char *s)
{
    if (!s || strlen(s) != 64)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

/* ---- lookups ------------------------------------------------------------ */

static struct jstate_save *save_mut(const struct jstate *js, uint64_t id)
{
    for (size_t i = 0; i < js->n_saves; i++)
        if (js->saves[i].id == id)
            return &js->saves[i];
    return NULL;
}

static struct jstate_object *object_mut(const struct jstate *js, const char *repo, const char *oid)
{
    for (size_t i = 0; i < js->n_objects; i++)
        if (strcmp(js->objects[i].repo, repo) == 0 && strcmp(js->objects[i].oid, oid) == 0)
            return &js->objects[i];
    return NULL;
}

static struct jstate_commit *commit_mut(const struct jstate *js, uint64_t id)
{
    for (size_t i = 0; i < js->n_commits; i++)
        if (js->commits[i].id == id)
            return &js->commits[i];
    return NULL;
}

static struct jstate_job *job_mut(struct jstate *js, const char *name, bool create)
{
    for (size_t i = 0; i < js->n_jobs; i++)
        if (strcmp(js->jobs[i].name, name) == 0)
            return &js->jobs[i];
    if (!create || grow((void **)&js->jobs, &js->cap_jobs, js->n_jobs, sizeof(*js->jobs)) < 0)
        return NULL;
    struct jstate_job *jb = &js->jobs[js->n_jobs];
    memset(jb, 0, sizeof(*jb));
    if (!(jb->name = strdup(name)))
        return NULL;
    js->n_jobs++;
    return jb;
}

const struct jstate_save *jstate_save_get(const struct jstate *js, uint64_t id)
{
    return save_mut(js, id);
}

const struct jstate_save *jstate_save_at(const struct jstate *js, size_t i)
{
    return i < js->n_saves ? &js->saves[i] : NULL;
}

const struct jstate_object *jstate_object_get(const struct jstate *js, const char *repo,
                                              const char *oid)
{
    return object_mut(js, repo, oid);
}

const struct jstate_commit *jstate_commit_get(const struct jstate *js, uint64_t id)
{
    return commit_mut(js, id);
}

const struct jstate_commit *jstate_commit_at(const struct jstate *js, size_t i)
{
    return i < js->n_commits ? &js->commits[i] : NULL;
}

const struct jstate_job *jstate_job_get(const struct jstate *js, const char *job)
{
    return job_mut((struct jstate *)js, job, false);
}

uint64_t jstate_skipped_records(const struct jstate *js)
{
    return js->skipped;
}

static int cmp_file(const void *a, const void *b)
{
    return strcmp(((const struct jstate_file *)a)->path, ((const struct jstate_file *)b)->path);
}

const struct jstate_save *jstate_save_find(const struct jstate *js, const char *job,
                                           const char *name, const struct jstate_file *files,
                                           size_t n_files)
{
    struct jstate_file *sorted = malloc((n_files ? n_files : 1) * sizeof(*sorted));
    if (!sorted)
        return NULL;
    memcpy(sorted, files, n_files * sizeof(*sorted));
    qsort(sorted, n_files, sizeof(*sorted), cmp_file);
    const struct jstate_save *found = NULL;
    for (size_t i = 0; i < js->n_saves && !found; i++) {
        const struct jstate_save *s = &js->saves[i];
        if (strcmp(s->job, job) != 0 || strcmp(s->name, name) != 0 || s->n_files != n_files)
            continue;
        size_t k = 0;
        for (; k < n_files; k++) {
            const struct jstate_file *a = &s->files[k], *b = &sorted[k];
            if (strcmp(a->path, b->path) != 0 || a->size != b->size || a->dev != b->dev ||
                a->ino != b->ino || a->mtime_ns != b->mtime_ns)
                break;
        }
        if (k == n_files)
            found = s;
    }
    free(sorted);
    return found;
}

/* ---- entity <-> JSON ------------------------------------------------------ */

static json_t *files_json(const struct jstate_save *s, bool with_hash)
{
    json_t *a = json_array();
    for (size_t i = 0; i < s->n_files; i++) {
        const struct jstate_file *f = &s->files[i];
        json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:I}", "path", f->path, "size",
                              (json_int_t)f->size, "dev", (json_int_t)f->dev, "ino",
                              (json_int_t)f->ino, "mtime_ns", (json_int_t)f->mtime_ns);
        if (with_hash && f->sha256[0])
            json_object_set_new(o, "sha256", json_string(f->sha256));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *save_json(const struct jstate_save *s, bool full)
{
    json_t *o = json_pack("{s:I, s:s, s:s, s:O, s:o}", "save", (json_int_t)s->id, "job", s->job,
                          "name", s->name, "meta", s->meta, "files", files_json(s, full));
    if (o && s->spool)
        json_object_set_new(o, "spool", json_string(s->spool));
    if (full) {
        json_object_set_new(o, "state", json_string(jstate_save_state_name(s->state)));
        json_object_set_new(o, "commit", json_integer((json_int_t)s->commit));
        json_object_set_new(o, "by", json_integer((json_int_t)s->superseded_by));
        if (s->reason)
            json_object_set_new(o, "reason", json_string(s->reason));
    }
    return o;
}

static json_t *object_json(const struct jstate_object *ob)
{
    json_t *parts = json_array();
    for (size_t i = 0; i < ob->n_parts; i++)
        json_array_append_new(
            parts, json_pack("{s:I, s:s, s:I}", "part", (json_int_t)ob->parts[i].number, "etag",
                             ob->parts[i].etag, "expires", (json_int_t)ob->parts[i].expires));
    json_t *o = json_pack("{s:s, s:s, s:I, s:b, s:o}", "repo", ob->repo, "oid", ob->oid, "size",
                          (json_int_t)ob->size, "uploaded", ob->uploaded, "parts", parts);
    if (o && ob->upload)
        json_object_set_new(o, "upload", json_string(ob->upload));
    return o;
}

/* Optional string fields are absent (never null) when unset. */
static void set_opt(json_t *o, const char *key, const char *s)
{
    if (o && s)
        json_object_set_new(o, key, json_string(s));
}

static json_t *commit_json(const struct jstate_commit *c, bool full)
{
    json_t *saves = json_array();
    for (size_t i = 0; i < c->n_saves; i++)
        json_array_append_new(saves, json_integer((json_int_t)c->saves[i]));
    json_t *o =
        json_pack("{s:I, s:s, s:o, s:b, s:s}", "commit", (json_int_t)c->id, "job", c->job, "saves",
                  saves, "final", c->final, "message", c->message ? c->message : "");
    set_opt(o, "parent", c->parent);
    if (o && full) {
        json_object_set_new(o, "state", json_string(commit_states[c->state]));
        set_opt(o, "oid", c->oid);
        set_opt(o, "url", c->url);
        set_opt(o, "error", c->error);
    }
    return o;
}

/* ---- apply (shared by replay and live transitions) ---------------------- */

static void free_save(struct jstate_save *s)
{
    for (size_t i = 0; i < s->n_files; i++)
        free(s->files[i].path);
    free(s->files);
    free(s->job);
    free(s->name);
    free(s->spool);
    free(s->reason);
    json_decref(s->meta);
    memset(s, 0, sizeof(*s));
}

static int parse_files(const json_t *arr, struct jstate_file **out, size_t *n)
{
    size_t cnt = json_array_size(arr);
    if (!json_is_array(arr))
        return -EINVAL;
    struct jstate_file *f = calloc(cnt ? cnt : 1, sizeof(*f));
    if (!f)
        return -ENOMEM;
    for (size_t i = 0; i < cnt; i++) {
        const char *path = NULL, *sha = NULL;
        json_int_t size = 0, dev = 0, ino = 0, mtime = 0;
        if (UNPACK(json_array_get(arr, i), "{s:s, s:I, s:I, s:I, s:I, s?s}", "path", &path, "size",
                   &size, "dev", &dev, "ino", &ino, "mtime_ns", &mtime, "sha256", &sha) < 0 ||
            size < 0 || (sha && !is_sha256(sha)) || !(f[i].path = strdup(path))) {
            for (size_t k = 0; k <= i; k++)
                free(f[k].path);
            free(f);
            return -EINVAL;
        }
        f[i].size = (uint64_t)size;
        f[i].dev = (uint64_t)dev;
        f[i].ino = (uint64_t)ino;
        f[i].mtime_ns = mtime;
        if (sha)
            memcpy(f[i].sha256, sha, 65);
    }
    qsort(f, cnt, sizeof(*f), cmp_file);
    for (size_t i = 1; i < cnt; i++)
        if (strcmp(f[i - 1].path, f[i].path) == 0) { /* duplicate path */
            for (size_t k = 0; k < cnt; k++)
                free(f[k].path);
            free(f);
            return -EINVAL;
        }
    *out = f;
    *n = cnt;
    return 0;
}

static bool all_hashed(const struct jstate_save *s)
{
    for (size_t i = 0; i < s->n_files; i++)
        if (!s->files[i].sha256[0])
            return false;
    return true;
}

/* JREC_SAVE_READY and JREC_SNAP_SAVE (full: state fields too). */
static int apply_save(struct jstate *js, const json_t *p, bool full)
{
    json_int_t id = 0, commit = 0, by = 0;
    const char *job = NULL, *name = NULL, *spool = NULL, *state = NULL, *reason = NULL;
    json_t *meta = NULL, *files = NULL;
    if (UNPACK(p, "{s:I, s:s, s:s, s:o, s?s, s:o, s?s, s?I, s?I, s?s}", "save", &id, "job", &job,
               "name", &name, "meta", &meta, "spool", &spool, "files", &files, "state", &state,
               "commit", &commit, "by", &by, "reason", &reason) < 0 ||
        id <= 0 || !json_is_object(meta) || save_mut(js, (uint64_t)id))
        return -EINVAL;
    int st = full ? name_index(save_states, HS_ARRAY_SIZE(save_states), state) : JSAVE_READY;
    if (st < 0)
        return -EINVAL;
    struct jstate_save s = {0};
    int rc = parse_files(files, &s.files, &s.n_files);
    if (rc < 0)
        return rc;
    s.id = (uint64_t)id;
    s.job = strdup(job);
    s.name = strdup(name);
    s.spool = dup_or_null(spool);
    s.reason = dup_or_null(reason);
    s.meta = json_deep_copy(meta);
    s.state = (enum jstate_save_state)st;
    s.commit = (uint64_t)commit;
    s.superseded_by = (uint64_t)by;
    if (!s.job || !s.name || !s.meta || (spool && !s.spool) ||
        grow((void **)&js->saves, &js->cap_saves, js->n_saves, sizeof(*js->saves)) < 0) {
        free_save(&s);
        return -ENOMEM;
    }
    if (!full && s.n_files == 0)
        s.state = JSAVE_HASHED; /* nothing to hash */
    js->saves[js->n_saves++] = s;
    if ((uint64_t)id >= js->next_save)
        js->next_save = (uint64_t)id + 1;
    return 0;
}

static int apply_hashed(struct jstate *js, const json_t *p)
{
    json_int_t id = 0;
    json_t *files = NULL;
    if (UNPACK(p, "{s:I, s:o}", "save", &id, "files", &files) < 0 || !json_is_array(files))
        return -EINVAL;
    struct jstate_save *s = save_mut(js, (uint64_t)id);
    if (!s)
        return -ENOENT;
    size_t i;
    json_t *f;
    /* validate all before changing anything */
    json_array_foreach(files, i, f)
    {
        const char *path = NULL, *sha = NULL;
        if (UNPACK(f, "{s:s, s:s}", "path", &path, "sha256", &sha) < 0 || !is_sha256(sha))
            return -EINVAL;
        struct jstate_file key = {.path = (char *)path};
        if (!bsearch(&key, s->files, s->n_files, sizeof(*s->files), cmp_file))
            return -ENOENT;
    }
    json_array_foreach(files, i, f)
    {
        struct jstate_file key = {.path = (char *)json_string_value(json_object_get(f, "path"))};
        struct jstate_file *hit = bsearch(&key, s->files, s->n_files, sizeof(*s->files), cmp_file);
        memcpy(hit->sha256, json_string_value(json_object_get(f, "sha256")), 65);
    }
    if (s->state == JSAVE_READY && all_hashed(s))
        s->state = JSAVE_HASHED;
    return 0;
}

static struct jstate_object *object_add(struct jstate *js, const char *repo, const char *oid)
{
    struct jstate_object *ob = object_mut(js, repo, oid);
    if (ob)
        return ob;
    if (grow((void **)&js->objects, &js->cap_objects, js->n_objects, sizeof(*js->objects)) < 0)
        return NULL;
    ob = &js->objects[js->n_objects];
    memset(ob, 0, sizeof(*ob));
    ob->repo = strdup(repo);
    ob->oid = strdup(oid);
    if (!ob->repo || !ob->oid) {
        free(ob->repo);
        free(ob->oid);
        return NULL;
    }
    js->n_objects++;
    return ob;
}

static void drop_parts(struct jstate_object *ob)
{
    for (size_t i = 0; i < ob->n_parts; i++)
        free(ob->parts[i].etag);
    free(ob->parts);
    ob->parts = NULL;
    ob->n_parts = 0;
    free(ob->upload);
    ob->upload = NULL;
}

static int add_part(struct jstate_object *ob, uint32_t number, const char *etag, int64_t expires)
{
    for (size_t i = 0; i < ob->n_parts; i++)
        if (ob->parts[i].number == number) { /* re-sent part: the newest ETag wins */
            char *e = strdup(etag);
            if (!e)
                return -ENOMEM;
            free(ob->parts[i].etag);
            ob->parts[i].etag = e;
            ob->parts[i].expires = expires;
            return 0;
        }
    struct jstate_part *np = realloc(ob->parts, (ob->n_parts + 1) * sizeof(*np));
    if (!np)
        return -ENOMEM;
    ob->parts = np;
    np[ob->n_parts] = (struct jstate_part){number, strdup(etag), expires};
    if (!np[ob->n_parts].etag)
        return -ENOMEM;
    ob->n_parts++;
    return 0;
}

/* JREC_OBJECT_UPLOADED, JREC_PART_DONE and JREC_SNAP_OBJECT. */
static int apply_object(struct jstate *js, enum jrec_type type, const json_t *p)
{
    const char *repo = NULL, *oid = NULL, *upload = NULL, *etag = NULL;
    json_int_t size = 0, part = 0, expires = 0;
    int uploaded = 0;
    json_t *parts = NULL;
    int rc;
    if (type == JREC_OBJECT_UPLOADED)
        rc = UNPACK(p, "{s:s, s:s, s:I}", "repo", &repo, "oid", &oid, "size", &size);
    else if (type == JREC_PART_DONE)
        rc = UNPACK(p, "{s:s, s:s, s:s, s:I, s:s, s:I}", "repo", &repo, "oid", &oid, "upload",
                    &upload, "part", &part, "etag", &etag, "expires", &expires);
    else
        rc = UNPACK(p, "{s:s, s:s, s:I, s:b, s?s, s:o}", "repo", &repo, "oid", &oid, "size", &size,
                    "uploaded", &uploaded, "upload", &upload, "parts", &parts);
    if (rc < 0 || !is_sha256(oid) || size < 0 || part < 0 || part > UINT32_MAX)
        return -EINVAL;
    struct jstate_object *ob = object_add(js, repo, oid);
    if (!ob)
        return -ENOMEM;
    if (type == JREC_OBJECT_UPLOADED) {
        ob->size = (uint64_t)size;
        ob->uploaded = true;
        drop_parts(ob); /* only needed while the upload is in flight */
        return 0;
    }
    if (type == JREC_PART_DONE) {
        if (ob->uploaded)
            return 0; /* a late part of a finished object */
        if (!ob->upload || strcmp(ob->upload, upload) != 0) {
            drop_parts(ob); /* a new multipart session: old parts are void */
            if (!(ob->upload = strdup(upload)))
                return -ENOMEM;
        }
        return add_part(ob, (uint32_t)part, etag, expires);
    }
    ob->size = (uint64_t)size;
    ob->uploaded = uploaded;
    drop_parts(ob);
    if (upload && !(ob->upload = strdup(upload)))
        return -ENOMEM;
    size_t i;
    json_t *x;
    json_array_foreach(parts, i, x)
    {
        if (UNPACK(x, "{s:I, s:s, s:I}", "part", &part, "etag", &etag, "expires", &expires) < 0 ||
            part < 0 || part > UINT32_MAX)
            return -EINVAL;
        rc = add_part(ob, (uint32_t)part, etag, expires);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static void free_commit(struct jstate_commit *c)
{
    free(c->job);
    free(c->saves);
    free(c->parent);
    free(c->message);
    free(c->oid);
    free(c->url);
    free(c->error);
    memset(c, 0, sizeof(*c));
}

/* JREC_COMMIT_SENT and JREC_SNAP_COMMIT. */
static int apply_commit(struct jstate *js, const json_t *p, bool full)
{
    json_int_t id = 0;
    const char *job = NULL, *parent = NULL, *message = NULL, *state = NULL, *oid = NULL,
               *url = NULL, *error = NULL;
    json_t *saves = NULL;
    int final = 0;
    if (UNPACK(p, "{s:I, s:s, s:o, s:b, s?s, s:s, s?s, s?s, s?s, s?s}", "commit", &id, "job", &job,
               "saves", &saves, "final", &final, "parent", &parent, "message", &message, "state",
               &state, "oid", &oid, "url", &url, "error", &error) < 0 ||
        id <= 0 || !json_is_array(saves) || commit_mut(js, (uint64_t)id))
        return -EINVAL;
    int st = full ? name_index(commit_states, HS_ARRAY_SIZE(commit_states), state) : JCOMMIT_SENT;
    if (st < 0)
        return -EINVAL;
    size_t n = json_array_size(saves);
    for (size_t i = 0; i < n; i++) {
        struct jstate_save *s =
            save_mut(js, (uint64_t)json_integer_value(json_array_get(saves, i)));
        if (!s || strcmp(s->job, job) != 0)
            return -ENOENT;
        if (!full && s->state != JSAVE_HASHED)
            return -EINVAL; /* only hashed saves can be committed */
    }
    struct jstate_commit c = {0};
    c.id = (uint64_t)id;
    c.job = strdup(job);
    c.saves = calloc(n ? n : 1, sizeof(*c.saves));
    c.n_saves = n;
    c.final = final;
    c.parent = dup_or_null(parent);
    c.message = strdup(message);
    c.state = (enum jstate_commit_state)st;
    c.oid = dup_or_null(oid);
    c.url = dup_or_null(url);
    c.error = dup_or_null(error);
    if (!c.job || !c.saves || !c.message ||
        grow((void **)&js->commits, &js->cap_commits, js->n_commits, sizeof(*js->commits)) < 0) {
        free_commit(&c);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        c.saves[i] = (uint64_t)json_integer_value(json_array_get(saves, i));
        if (!full) {
            struct jstate_save *s = save_mut(js, c.saves[i]);
            s->state = JSAVE_COMMIT_SENT;
            s->commit = c.id;
        }
    }
    js->commits[js->n_commits++] = c;
    if (c.id >= js->next_commit)
        js->next_commit = c.id + 1;
    return 0;
}

static int apply_commit_end(struct jstate *js, enum jrec_type type, const json_t *p)
{
    json_int_t id = 0;
    const char *oid = NULL, *url = NULL, *error = NULL;
    int rc = type == JREC_COMMIT_CONFIRMED
                 ? UNPACK(p, "{s:I, s:s, s:s}", "commit", &id, "oid", &oid, "url", &url)
                 : UNPACK(p, "{s:I, s:s}", "commit", &id, "error", &error);
    if (rc < 0)
        return -EINVAL;
    struct jstate_commit *c = commit_mut(js, (uint64_t)id);
    if (!c || c->state != JCOMMIT_SENT)
        return -EINVAL;
    char *a = strdup(type == JREC_COMMIT_CONFIRMED ? oid : error);
    char *b = type == JREC_COMMIT_CONFIRMED ? strdup(url) : NULL;
    if (!a || (type == JREC_COMMIT_CONFIRMED && !b)) {
        free(a);
        free(b);
        return -ENOMEM;
    }
    if (type == JREC_COMMIT_CONFIRMED) {
        c->state = JCOMMIT_CONFIRMED;
        c->oid = a;
        c->url = b;
    } else {
        c->state = JCOMMIT_ABORTED;
        c->error = a;
    }
    for (size_t i = 0; i < c->n_saves; i++) {
        struct jstate_save *s = save_mut(js, c->saves[i]);
        if (s && s->state == JSAVE_COMMIT_SENT && s->commit == c->id) {
            s->state = type == JREC_COMMIT_CONFIRMED ? JSAVE_COMMITTED : JSAVE_HASHED;
            if (type != JREC_COMMIT_CONFIRMED)
                s->commit = 0;
        }
    }
    return 0;
}

static int apply_superseded(struct jstate *js, const json_t *p)
{
    json_int_t id = 0, by = 0;
    const char *reason = NULL;
    if (UNPACK(p, "{s:I, s:I, s:s}", "save", &id, "by", &by, "reason", &reason) < 0)
        return -EINVAL;
    struct jstate_save *s = save_mut(js, (uint64_t)id);
    if (!s || s->state == JSAVE_COMMIT_SENT || s->state == JSAVE_COMMITTED)
        return -EINVAL; /* a save on its way to the repo cannot be superseded */
    char *r = strdup(reason);
    if (!r)
        return -ENOMEM;
    free(s->reason);
    s->reason = r;
    s->state = JSAVE_SUPERSEDED;
    s->superseded_by = (uint64_t)by;
    return 0;
}

static int apply_finish(struct jstate *js, const json_t *p)
{
    const char *job = NULL, *phase = NULL;
    json_int_t status = 0;
    if (UNPACK(p, "{s:s, s:s, s?I}", "job", &job, "phase", &phase, "status", &status) < 0)
        return -EINVAL;
    int ph = name_index(finish_phases, HS_ARRAY_SIZE(finish_phases), phase);
    if (ph < 0)
        return -EINVAL;
    struct jstate_job *jb = job_mut(js, job, true);
    if (!jb)
        return -ENOMEM;
    jb->finish = (enum jstate_finish)ph;
    jb->status = (int)status;
    return 0;
}

static int apply_meta(struct jstate *js, const json_t *p)
{
    json_int_t ns = 0, nc = 0;
    if (UNPACK(p, "{s:I, s:I}", "next_save", &ns, "next_commit", &nc) < 0)
        return -EINVAL;
    if ((uint64_t)ns > js->next_save)
        js->next_save = (uint64_t)ns;
    if ((uint64_t)nc > js->next_commit)
        js->next_commit = (uint64_t)nc;
    return 0;
}

static int apply(struct jstate *js, uint16_t type, const json_t *p)
{
    switch (type) {
    case JREC_SAVE_READY:
        return apply_save(js, p, false);
    case JREC_SNAP_SAVE:
        return apply_save(js, p, true);
    case JREC_FILES_HASHED:
        return apply_hashed(js, p);
    case JREC_OBJECT_UPLOADED:
    case JREC_PART_DONE:
    case JREC_SNAP_OBJECT:
        return apply_object(js, (enum jrec_type)type, p);
    case JREC_COMMIT_SENT:
        return apply_commit(js, p, false);
    case JREC_SNAP_COMMIT:
        return apply_commit(js, p, true);
    case JREC_COMMIT_CONFIRMED:
    case JREC_COMMIT_ABORTED:
        return apply_commit_end(js, (enum jrec_type)type, p);
    case JREC_SUPERSEDED:
        return apply_superseded(js, p);
    case JREC_FINISH:
    case JREC_SNAP_JOB:
        return apply_finish(js, p);
    case JREC_SNAP_META:
        return apply_meta(js, p);
    default:
        return -ENOSYS;
    }
}

static int replay_cb(const struct journal_record *r, void *ud)
{
    struct jstate *js = ud;
    int rc = apply(js, r->type, r->payload);
    if (rc == -ENOMEM)
        return rc;
    if (rc < 0)
        js->skipped++;
    return 0;
}

/* ---- open / close / compaction ----------------------------------------- */

int jstate_open(const char *state_dir, struct jstate **out, struct journal_report *report,
                struct hs_err *err)
{
    *out = NULL;
    struct jstate *js = calloc(1, sizeof(*js));
    if (!js)
        return hs_err_set(err, -ENOMEM, "out of memory");
    js->compact_threshold = DEFAULT_COMPACT_BYTES;
    js->next_save = js->next_commit = 1;
    char dir[HS_PATH_MAX];
    int rc = hs_path_join(dir, sizeof(dir), state_dir, "journal");
    if (rc < 0) {
        jstate_close(js);
        return hs_err_set(err, rc, "state directory name too long: %s", state_dir);
    }
    rc = journal_open(dir, replay_cb, js, &js->j, report, err);
    if (rc < 0) {
        jstate_close(js);
        return rc;
    }
    *out = js;
    return 0;
}

struct jstate *jstate_close(struct jstate *js)
{
    if (!js)
        return NULL;
    journal_close(js->j);
    for (size_t i = 0; i < js->n_saves; i++)
        free_save(&js->saves[i]);
    for (size_t i = 0; i < js->n_objects; i++) {
        drop_parts(&js->objects[i]);
        free(js->objects[i].repo);
        free(js->objects[i].oid);
    }
    for (size_t i = 0; i < js->n_commits; i++)
        free_commit(&js->commits[i]);
    for (size_t i = 0; i < js->n_jobs; i++)
        free(js->jobs[i].name);
    free(js->saves);
    free(js->objects);
    free(js->commits);
    free(js->jobs);
    free(js);
    return NULL;
}

void jstate_set_compact_threshold(struct jstate *js, uint64_t bytes)
{
    js->compact_threshold = bytes;
}

static json_t *job_json(const struct jstate_job *jb)
{
    return json_pack("{s:s, s:s, s:i}", "job", jb->name, "phase", finish_phases[jb->finish],
                     "status", jb->status);
}

int jstate_compact(struct jstate *js, struct hs_err *err)
{
    size_t n = 1 + js->n_saves + js->n_objects + js->n_commits + js->n_jobs, k = 0;
    struct journal_entry *e = calloc(n, sizeof(*e));
    if (!e)
        return hs_err_set(err, -ENOMEM, "out of memory");
    e[k++] = (struct journal_entry){JREC_SNAP_META,
                                    json_pack("{s:I, s:I}", "next_save", (json_int_t)js->next_save,
                                              "next_commit", (json_int_t)js->next_commit)};
    /* order matters: commits refer to saves */
    for (size_t i = 0; i < js->n_saves; i++)
        e[k++] = (struct journal_entry){JREC_SNAP_SAVE, save_json(&js->saves[i], true)};
    for (size_t i = 0; i < js->n_objects; i++)
        e[k++] = (struct journal_entry){JREC_SNAP_OBJECT, object_json(&js->objects[i])};
    for (size_t i = 0; i < js->n_commits; i++)
        e[k++] = (struct journal_entry){JREC_SNAP_COMMIT, commit_json(&js->commits[i], true)};
    for (size_t i = 0; i < js->n_jobs; i++)
        e[k++] = (struct journal_entry){JREC_SNAP_JOB, job_json(&js->jobs[i])};
    int rc = 0;
    for (size_t i = 0; i < k; i++)
        if (!e[i].payload)
            rc = hs_err_set(err, -ENOMEM, "out of memory building the snapshot");
    if (rc == 0)
        rc = journal_compact(js->j, e, k, err);
    for (size_t i = 0; i < k; i++)
        json_decref((json_t *)e[i].payload);
    free(e);
    return rc;
}

/* Append one record, then apply it; compact when the log grew too big. */
static int commit_record(struct jstate *js, enum jrec_type type, json_t *payload,
                         struct hs_err *err)
{
    if (!payload)
        return hs_err_set(err, -ENOMEM, "out of memory");
    int rc = journal_append(js->j, (uint16_t)type, payload, err);
    if (rc == 0) {
        rc = apply(js, (uint16_t)type, payload);
        if (rc < 0) /* validated before appending: this is a bug, say so */
            hs_err_set(err, rc, "journal: record of type %d recorded but not applicable: %s",
                       (int)type, hs_strerror(rc));
    }
    json_decref(payload);
    if (rc == 0 && js->compact_threshold && journal_log_bytes(js->j) > js->compact_threshold) {
        struct hs_err cerr = {0};
        /* A failed compaction loses nothing: the log stays the truth. The
         * next transition tries again. */
        (void)jstate_compact(js, &cerr);
    }
    return rc;
}

/* ---- live transitions ---------------------------------------------------- */

int jstate_save_ready(struct jstate *js, const char *job, const char *name, const json_t *meta,
                      const char *spool, const struct jstate_file *files, size_t n_files,
                      uint64_t *id, struct hs_err *err)
{
    struct jstate_save tmp = {.id = js->next_save,
                              .job = (char *)job,
                              .name = (char *)name,
                              .meta = (json_t *)meta,
                              .spool = (char *)spool,
                              .files = (struct jstate_file *)files,
                              .n_files = n_files};
    if (!job || !name || (meta && !json_is_object(meta)))
        return hs_err_set(err, -EINVAL, "jstate: a save needs a job, a name and an object meta");
    json_t *empty = NULL;
    if (!meta)
        tmp.meta = empty = json_object();
    json_t *p = save_json(&tmp, false);
    json_decref(empty);
    /* validate (duplicate paths, negative sizes) the way replay will */
    struct jstate_file *check = NULL;
    size_t nc = 0;
    int rc = p ? parse_files(json_object_get(p, "files"), &check, &nc) : -ENOMEM;
    for (size_t i = 0; i < nc; i++)
        free(check[i].path);
    free(check);
    if (rc < 0) {
        json_decref(p);
        return hs_err_set(err, rc, "jstate: save %s of job %s: invalid file list (%s)", name, job,
                          hs_strerror(rc));
    }
    rc = commit_record(js, JREC_SAVE_READY, p, err);
    if (rc == 0 && id)
        *id = tmp.id;
    return rc;
}

int jstate_files_hashed(struct jstate *js, uint64_t save, const char *const *paths,
                        const char *const *sha256, size_t n, struct hs_err *err)
{
    struct jstate_save *s = save_mut(js, save);
    if (!s)
        return hs_err_set(err, -ENOENT, "jstate: no save %" PRIu64, save);
    json_t *files = json_array();
    for (size_t i = 0; i < n; i++) {
        struct jstate_file key = {.path = (char *)paths[i]};
        if (!is_sha256(sha256[i]) ||
            !bsearch(&key, s->files, s->n_files, sizeof(*s->files), cmp_file)) {
            json_decref(files);
            return hs_err_set(err, -EINVAL, "jstate: save %" PRIu64 ": bad hash or unknown file %s",
                              save, paths[i]);
        }
        json_array_append_new(files,
                              json_pack("{s:s, s:s}", "path", paths[i], "sha256", sha256[i]));
    }
    return commit_record(js, JREC_FILES_HASHED,
                         json_pack("{s:I, s:o}", "save", (json_int_t)save, "files", files), err);
}

int jstate_object_uploaded(struct jstate *js, const char *repo, const char *oid, uint64_t size,
                           struct hs_err *err)
{
    if (!repo || !is_sha256(oid))
        return hs_err_set(err, -EINVAL, "jstate: an object needs a repo and a sha256 oid");
    return commit_record(
        js, JREC_OBJECT_UPLOADED,
        json_pack("{s:s, s:s, s:I}", "repo", repo, "oid", oid, "size", (json_int_t)size), err);
}

int jstate_part_done(struct jstate *js, const char *repo, const char *oid, const char *upload,
                     uint32_t part, const char *etag, int64_t expires, struct hs_err *err)
{
    if (!repo || !is_sha256(oid) || !upload || !etag)
        return hs_err_set(err, -EINVAL, "jstate: a part needs repo, oid, upload and etag");
    return commit_record(js, JREC_PART_DONE,
                         json_pack("{s:s, s:s, s:s, s:I, s:s, s:I}", "repo", repo, "oid", oid,
                                   "upload", upload, "part", (json_int_t)part, "etag", etag,
                                   "expires", (json_int_t)expires),
                         err);
}

int jstate_commit_sent(struct jstate *js, const char *job, const uint64_t *saves, size_t n,
                       bool final, const char *parent, const char *message, uint64_t *id,
                       struct hs_err *err)
{
    if (!job || !message)
        return hs_err_set(err, -EINVAL, "jstate: a commit needs a job and a message");
    for (size_t i = 0; i < n; i++) {
        const struct jstate_save *s = save_mut(js, saves[i]);
        if (!s || strcmp(s->job, job) != 0 || s->state != JSAVE_HASHED)
            return hs_err_set(err, -EINVAL,
                              "jstate: save %" PRIu64 " is not a hashed save of job %s (%s)",
                              saves[i], job, s ? jstate_save_state_name(s->state) : "unknown");
    }
    uint64_t cid = js->next_commit;
    struct jstate_commit c = {.id = cid,
                              .job = (char *)job,
                              .saves = (uint64_t *)saves,
                              .n_saves = n,
                              .final = final,
                              .parent = (char *)parent,
                              .message = (char *)message};
    int rc = commit_record(js, JREC_COMMIT_SENT, commit_json(&c, false), err);
    if (rc == 0 && id)
        *id = cid;
    return rc;
}

static int commit_end(struct jstate *js, enum jrec_type type, uint64_t commit, json_t *p,
                      struct hs_err *err)
{
    const struct jstate_commit *c = commit_mut(js, commit);
    if (!c || c->state != JCOMMIT_SENT) {
        json_decref(p);
        return hs_err_set(err, -EINVAL, "jstate: commit %" PRIu64 " is not awaiting an outcome",
                          commit);
    }
    return commit_record(js, type, p, err);
}

int jstate_commit_confirmed(struct jstate *js, uint64_t commit, const char *oid, const char *url,
                            struct hs_err *err)
{
    if (!oid || !url)
        return hs_err_set(err, -EINVAL, "jstate: a confirmed commit needs its oid and url");
    return commit_end(
        js, JREC_COMMIT_CONFIRMED, commit,
        json_pack("{s:I, s:s, s:s}", "commit", (json_int_t)commit, "oid", oid, "url", url), err);
}

int jstate_commit_aborted(struct jstate *js, uint64_t commit, const char *error, struct hs_err *err)
{
    return commit_end(
        js, JREC_COMMIT_ABORTED, commit,
        json_pack("{s:I, s:s}", "commit", (json_int_t)commit, "error", error ? error : "unknown"),
        err);
}

int jstate_superseded(struct jstate *js, uint64_t save, uint64_t by, const char *reason,
                      struct hs_err *err)
{
    const struct jstate_save *s = save_mut(js, save);
    if (!s || s->state == JSAVE_COMMIT_SENT || s->state == JSAVE_COMMITTED)
        return hs_err_set(err, -EINVAL, "jstate: save %" PRIu64 " cannot be superseded (%s)", save,
                          s ? jstate_save_state_name(s->state) : "unknown");
    return commit_record(js, JREC_SUPERSEDED,
                         json_pack("{s:I, s:I, s:s}", "save", (json_int_t)save, "by",
                                   (json_int_t)by, "reason", reason ? reason : ""),
                         err);
}

int jstate_finish(struct jstate *js, const char *job, enum jstate_finish phase, int status,
                  struct hs_err *err)
{
    if (!job || phase == JFINISH_NONE || (size_t)phase >= HS_ARRAY_SIZE(finish_phases))
        return hs_err_set(err, -EINVAL, "jstate: finish needs a job and a phase");
    return commit_record(
        js, JREC_FINISH,
        json_pack("{s:s, s:s, s:i}", "job", job, "phase", finish_phases[phase], "status", status),
        err);
}

json_t *jstate_dump(const struct jstate *js)
{
    json_t *saves = json_array(), *objects = json_array(), *commits = json_array(),
           *jobs = json_array();
    for (size_t i = 0; i < js->n_saves; i++)
        json_array_append_new(saves, save_json(&js->saves[i], true));
    for (size_t i = 0; i < js->n_objects; i++)
        json_array_append_new(objects, object_json(&js->objects[i]));
    for (size_t i = 0; i < js->n_commits; i++)
        json_array_append_new(commits, commit_json(&js->commits[i], true));
    for (size_t i = 0; i < js->n_jobs; i++)
        json_array_append_new(jobs, job_json(&js->jobs[i]));
    return json_pack("{s:I, s:I, s:o, s:o, s:o, s:o}", "next_save", (json_int_t)js->next_save,
                     "next_commit", (json_int_t)js->next_commit, "saves", saves, "objects", objects,
                     "commits", commits, "jobs", jobs);
}
