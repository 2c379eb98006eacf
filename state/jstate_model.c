/*
 * jstate_model.c — the in-memory model of the daemon's durable state (see
 * jstate.h): entities, their JSON form (record payloads and snapshots),
 * lookups, and the apply step shared by replay and live transitions. No
 * I/O here: jstate.c appends records and calls jstate__apply(). Lookups
 * are linear scans: O(N) per call over saves/commits, fine for the
 * hundreds to a few thousand entries of a training run.
 */
#include "state_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char *const save_states[] = {"ready",     "hashed",     "commit_sent",
                                          "committed", "superseded", "lost"};
static const char *const commit_states[] = {"sent", "confirmed", "aborted"};
const char *const jstate__finish_phases[] = {"none", "requested", "done"};

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

bool jstate__is_sha256(const char *s)
{
    if (!s || strlen(s) != 64)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

/* ---- lookups ------------------------------------------------------------ */

struct jstate_save *jstate__save_mut(const struct jstate *js, uint64_t id)
{
    for (size_t i = 0; i < js->n_saves; i++)
        if (js->saves[i].id == id)
            return &js->saves[i];
    return NULL;
}

struct jstate_commit *jstate__commit_mut(const struct jstate *js, uint64_t id)
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
    return jstate__save_mut(js, id);
}

const struct jstate_save *jstate_save_at(const struct jstate *js, size_t i)
{
    return i < js->n_saves ? &js->saves[i] : NULL;
}

const struct jstate_commit *jstate_commit_get(const struct jstate *js, uint64_t id)
{
    return jstate__commit_mut(js, id);
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

int jstate__cmp_file(const void *a, const void *b)
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
    qsort(sorted, n_files, sizeof(*sorted), jstate__cmp_file);
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

json_t *jstate__save_json(const struct jstate_save *s, bool full)
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

/* Optional string fields are absent (never null) when unset. */
static void set_opt(json_t *o, const char *key, const char *s)
{
    if (o && s)
        json_object_set_new(o, key, json_string(s));
}

json_t *jstate__commit_json(const struct jstate_commit *c, bool full)
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
        if (c->confirmed_at)
            json_object_set_new(o, "time", json_integer((json_int_t)c->confirmed_at));
        if (c->empty)
            json_object_set_new(o, "empty", json_true());
    }
    return o;
}

/* ---- apply (shared by replay and live transitions) ---------------------- */

void jstate__free_save(struct jstate_save *s)
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

int jstate__parse_files(const json_t *arr, struct jstate_file **out, size_t *n)
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
            size < 0 || (sha && !jstate__is_sha256(sha)) || !(f[i].path = strdup(path))) {
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
    qsort(f, cnt, sizeof(*f), jstate__cmp_file);
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
        id <= 0 || !json_is_object(meta) || jstate__save_mut(js, (uint64_t)id))
        return -EINVAL;
    int st = full ? name_index(save_states, HS_ARRAY_SIZE(save_states), state) : JSAVE_READY;
    if (st < 0)
        return -EINVAL;
    struct jstate_save s = {0};
    int rc = jstate__parse_files(files, &s.files, &s.n_files);
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
        jstate__free_save(&s);
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
    struct jstate_save *s = jstate__save_mut(js, (uint64_t)id);
    if (!s)
        return -ENOENT;
    size_t i;
    json_t *f;
    /* validate all before changing anything */
    json_array_foreach(files, i, f)
    {
        const char *path = NULL, *sha = NULL;
        if (UNPACK(f, "{s:s, s:s}", "path", &path, "sha256", &sha) < 0 || !jstate__is_sha256(sha))
            return -EINVAL;
        struct jstate_file key = {.path = (char *)path};
        if (!bsearch(&key, s->files, s->n_files, sizeof(*s->files), jstate__cmp_file))
            return -ENOENT;
    }
    json_array_foreach(files, i, f)
    {
        struct jstate_file key = {.path = (char *)json_string_value(json_object_get(f, "path"))};
        struct jstate_file *hit =
            bsearch(&key, s->files, s->n_files, sizeof(*s->files), jstate__cmp_file);
        memcpy(hit->sha256, json_string_value(json_object_get(f, "sha256")), 65);
    }
    if (s->state == JSAVE_READY && all_hashed(s))
        s->state = JSAVE_HASHED;
    return 0;
}

void jstate__free_commit(struct jstate_commit *c)
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
    int final = 0, empty = 0;
    json_int_t time = 0;
    if (UNPACK(p, "{s:I, s:s, s:o, s:b, s?s, s:s, s?s, s?s, s?s, s?s, s?I, s?b}", "commit", &id,
               "job", &job, "saves", &saves, "final", &final, "parent", &parent, "message",
               &message, "state", &state, "oid", &oid, "url", &url, "error", &error, "time", &time,
               "empty", &empty) < 0 ||
        id <= 0 || !json_is_array(saves) || jstate__commit_mut(js, (uint64_t)id) || time < 0)
        return -EINVAL;
    int st = full ? name_index(commit_states, HS_ARRAY_SIZE(commit_states), state) : JCOMMIT_SENT;
    if (st < 0)
        return -EINVAL;
    size_t n = json_array_size(saves);
    for (size_t i = 0; i < n; i++) {
        struct jstate_save *s =
            jstate__save_mut(js, (uint64_t)json_integer_value(json_array_get(saves, i)));
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
    if (full && st == JCOMMIT_CONFIRMED) {
        c.confirmed_at = (int64_t)time;
        c.empty = empty;
    }
    if (!c.job || !c.saves || !c.message ||
        grow((void **)&js->commits, &js->cap_commits, js->n_commits, sizeof(*js->commits)) < 0) {
        jstate__free_commit(&c);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        c.saves[i] = (uint64_t)json_integer_value(json_array_get(saves, i));
        if (!full) {
            struct jstate_save *s = jstate__save_mut(js, c.saves[i]);
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
    json_int_t id = 0, time = 0;
    const char *oid = NULL, *url = NULL, *error = NULL;
    int empty = 0;
    int rc = type == JREC_COMMIT_CONFIRMED
                 ? UNPACK(p, "{s:I, s:s, s:s, s?I, s?b}", "commit", &id, "oid", &oid, "url", &url,
                          "time", &time, "empty", &empty)
                 : UNPACK(p, "{s:I, s:s}", "commit", &id, "error", &error);
    if (rc < 0 || time < 0)
        return -EINVAL;
    struct jstate_commit *c = jstate__commit_mut(js, (uint64_t)id);
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
        c->confirmed_at = (int64_t)time;
        c->empty = empty;
    } else {
        c->state = JCOMMIT_ABORTED;
        c->error = a;
    }
    for (size_t i = 0; i < c->n_saves; i++) {
        struct jstate_save *s = jstate__save_mut(js, c->saves[i]);
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
    struct jstate_save *s = jstate__save_mut(js, (uint64_t)id);
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

static int apply_tag_done(struct jstate *js, const json_t *p)
{
    json_int_t id = 0;
    const char *tag = NULL, *outcome = NULL, *detail = NULL;
    if (UNPACK(p, "{s:I, s:s, s:s, s?s}", "save", &id, "tag", &tag, "outcome", &outcome, "detail",
               &detail) < 0)
        return -EINVAL;
    struct jstate_save *s = jstate__save_mut(js, (uint64_t)id);
    if (!s || s->state != JSAVE_COMMITTED)
        return -EINVAL;
    if (json_object_set_new(s->meta, "tag_outcome", json_string(outcome)) < 0 ||
        (detail && json_object_set_new(s->meta, "tag_detail", json_string(detail)) < 0))
        return -ENOMEM;
    return 0;
}

static int set_last_lost(struct jstate_job *jb, const char *name, const char *reason, int64_t time)
{
    char *n = strdup(name), *r = strdup(reason);
    if (!n || !r) {
        free(n);
        free(r);
        return -ENOMEM;
    }
    free(jb->lost_name);
    free(jb->lost_reason);
    jb->lost_name = n;
    jb->lost_reason = r;
    jb->lost_time = time;
    return 0;
}

/* JREC_FINISH and JREC_SNAP_JOB (which also carries the lost saves). */
static int apply_finish(struct jstate *js, const json_t *p)
{
    const char *job = NULL, *phase = NULL, *lname = NULL, *lreason = NULL;
    json_int_t status = 0, lost = 0, ltime = 0;
    if (UNPACK(p, "{s:s, s:s, s?I, s?I, s?s, s?s, s?I}", "job", &job, "phase", &phase, "status",
               &status, "lost", &lost, "lost_name", &lname, "lost_reason", &lreason, "lost_time",
               &ltime) < 0 ||
        lost < 0)
        return -EINVAL;
    int ph = name_index(jstate__finish_phases, HS_ARRAY_SIZE(jstate__finish_phases), phase);
    if (ph < 0)
        return -EINVAL;
    struct jstate_job *jb = job_mut(js, job, true);
    if (!jb)
        return -ENOMEM;
    jb->finish = (enum jstate_finish)ph;
    jb->status = (int)status;
    if (lost) {
        jb->lost = (uint64_t)lost;
        if (lname && lreason && set_last_lost(jb, lname, lreason, ltime) < 0)
            return -ENOMEM;
    }
    return 0;
}

static int apply_lost(struct jstate *js, const json_t *p)
{
    const char *job = NULL, *name = NULL, *reason = NULL;
    json_int_t id = 0, time = 0;
    if (UNPACK(p, "{s:s, s:s, s:s, s?I, s?I}", "job", &job, "name", &name, "reason", &reason,
               "save", &id, "time", &time) < 0 ||
        id < 0)
        return -EINVAL;
    struct jstate_save *s = id ? jstate__save_mut(js, (uint64_t)id) : NULL;
    if (id &&
        (!s || (s->state != JSAVE_READY && s->state != JSAVE_HASHED) || strcmp(s->job, job) != 0))
        return -EINVAL; /* only a queued save not on its way to the repo is lost */
    struct jstate_job *jb = job_mut(js, job, true);
    if (!jb)
        return -ENOMEM;
    if (s) {
        char *r = strdup(reason);
        if (!r)
            return -ENOMEM;
        free(s->reason);
        s->reason = r;
        s->state = JSAVE_LOST;
    }
    jb->lost++;
    return set_last_lost(jb, name, reason, time);
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

int jstate__apply(struct jstate *js, uint16_t type, const json_t *p)
{
    switch (type) {
    case JREC_SAVE_READY:
        return apply_save(js, p, false);
    case JREC_SNAP_SAVE:
        return apply_save(js, p, true);
    case JREC_FILES_HASHED:
        return apply_hashed(js, p);
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
    case JREC_SAVE_LOST:
        return apply_lost(js, p);
    case JREC_TAG_DONE:
        return apply_tag_done(js, p);
    case JREC_SNAP_META:
        return apply_meta(js, p);
    default:
        return -ENOSYS;
    }
}

int jstate__replay_cb(const struct journal_record *r, void *ud)
{
    struct jstate *js = ud;
    int rc = jstate__apply(js, r->type, r->payload);
    if (rc == -ENOMEM)
        return rc;
    if (rc < 0)
        js->skipped++;
    return 0;
}

json_t *jstate__job_json(const struct jstate_job *jb)
{
    json_t *o = json_pack("{s:s, s:s, s:i}", "job", jb->name, "phase",
                          jstate__finish_phases[jb->finish], "status", jb->status);
    if (o && jb->lost) {
        json_object_set_new(o, "lost", json_integer((json_int_t)jb->lost));
        if (jb->lost_name && jb->lost_reason) {
            json_object_set_new(o, "lost_name", json_string(jb->lost_name));
            json_object_set_new(o, "lost_reason", json_string(jb->lost_reason));
            json_object_set_new(o, "lost_time", json_integer((json_int_t)jb->lost_time));
        }
    }
    return o;
}
