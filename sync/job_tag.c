/*
 * job_tag.c — tag_saves: each committed save's commit gets a tag
 * ("step-{step}" by default; docs/trainer-layouts.md "Tags"), so that
 * `hubsync pull --checkpoint step-N` finds it again after later commits.
 *
 * Crash safety without a second commit or a skipped tag: the tag a save
 * wants is part of its READY record (meta "tag", job__tag_meta), so it is
 * durable before the commit is even sent — that is the "tag pending"
 * record; JREC_TAG_DONE (jstate_tag_done) is written once the Hub
 * answered, and is the "tag done" record. After a restart every committed
 * save with a tag and no outcome is tagged (again): a 409 whose tag points
 * at the same commit is an earlier attempt that landed (outcome "existed",
 * nothing duplicated); one pointing at another commit is a warning (the
 * save stays committed, the tag is left alone). A refused request (400,
 * 404) is recorded with the Hub's reason and not retried; transient
 * failures are retried with the job's backoff. One tag request per job is
 * in flight, oldest save first. Not here: the commit (job.c), the request
 * itself (uploader/tag.c).
 */
#include "sync_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

struct job_tags {
    struct job *j; /* NULL once the job stopped (the timer is closing) */
    uv_timer_t timer;
    bool in_flight;
    bool broken; /* an outcome could not be journaled: no more tags until a restart */
    unsigned attempts;
};

void job__tag_meta(const struct job *j, const struct watcher_checkpoint *cp, json_t *meta)
{
    if (!j->cfg->tag_saves || !meta)
        return;
    char tag[256];
    if (cp->step < 0) {
        hs_log_warn("job %s: %s is not tagged: its step is unknown (tag_saves \"%s\")", j->name,
                    cp->id, j->cfg->tag_saves);
        return;
    }
    if (config_tag_name(j->cfg->tag_saves, cp->step, tag, sizeof(tag)) < 0) {
        hs_log_warn("job %s: %s is not tagged: the tag of \"%s\" is too long", j->name, cp->id,
                    j->cfg->tag_saves);
        return;
    }
    json_object_set_new(meta, "tag", json_string(tag));
}

static void tags_closed(uv_handle_t *h)
{
    free(h->data);
}

void job__tags_stop(struct job *j)
{
    struct job_tags *t = j->tags;
    if (!t)
        return;
    j->tags = NULL;
    t->j = NULL;
    if (!t->in_flight)
        uv_close((uv_handle_t *)&t->timer, tags_closed);
    /* else the answer (or its cancellation) closes it */
}

static void tag_next(struct job_tags *t);

static void retry_cb(uv_timer_t *timer)
{
    tag_next(timer->data);
}

/* The oldest committed save of the job whose tag has no outcome yet. */
static const struct jstate_save *pending_tag(const struct job *j)
{
    const struct jstate_save *s;
    for (size_t i = 0; (s = jstate_save_at(j->env->js, i)); i++)
        if (s->state == JSAVE_COMMITTED && !strcmp(s->job, j->name) &&
            json_string_value(json_object_get(s->meta, "tag")) &&
            !json_object_get(s->meta, "tag_outcome"))
            return s;
    return NULL;
}

struct tag_call {
    struct job_tags *t;
    uint64_t save;
    char tag[256], oid[96];
};

static void record(struct job *j, const struct tag_call *c, const char *outcome, const char *detail)
{
    struct hs_err e = {0};
    if (jstate_tag_done(j->env->js, c->save, outcome, detail, &e) < 0) {
        /* else the same save would be tagged again and again */
        c->t->broken = true;
        hs_log_error("job %s: the outcome of tag %s could not be recorded: %s (no more tags "
                     "until the next start, which tries again)",
                     j->name, c->tag, e.msg);
    }
}

static void tagged(int status, enum uploader_tag_outcome o, const char *other,
                   const struct hs_err *err, void *ud)
{
    struct tag_call *c = ud;
    struct job_tags *t = c->t;
    struct job *j = t->j;
    t->in_flight = false;
    if (!j) { /* the job stopped meanwhile: the next start tags it */
        free(c);
        uv_close((uv_handle_t *)&t->timer, tags_closed);
        return;
    }
    const struct jstate_save *s = jstate_save_get(j->env->js, c->save);
    const char *name = s ? s->name : "?";
    if (status == 0 && o == UPLOADER_TAG_CREATED) {
        hs_log_info("job %s: %s tagged %s (commit %.12s)", j->name, name, c->tag, c->oid);
        record(j, c, "created", NULL);
    } else if (status == 0 && o == UPLOADER_TAG_EXISTED) {
        hs_log_info("job %s: %s: tag %s was already on commit %.12s", j->name, name, c->tag,
                    c->oid);
        record(j, c, "existed", NULL);
    } else if (status == 0) {
        hs_log_warn("job %s: %s is committed (%.12s) but not tagged %s: %s already has that tag "
                    "on another commit (%.12s); left as it is (delete it on the Hub and "
                    "`hubsync pull --checkpoint %s` still finds the old one)",
                    j->name, name, c->oid, c->tag, j->cfg->hub_model_id, other ? other : "?",
                    c->tag);
        job__note(j, "%s not tagged %s: the tag points at another commit (%.12s)", name, c->tag,
                  other ? other : "?");
        record(j, c, "elsewhere", other);
    } else if (status == HS_EREFUSED) {
        char why[HS_ERR_MAX + 128];
        snprintf(why, sizeof(why), "%s", err ? err->msg : hs_strerror(status));
        hs_log_warn("job %s: %s is committed but the Hub refused its tag %s: %s", j->name, name,
                    c->tag, why);
        job__note(j, "%s not tagged %s: refused by the Hub", name, c->tag);
        record(j, c, "refused", why);
    } else {
        t->attempts++;
        hs_usec_t delay = job__retry_delay(j->env->retry_delay, t->attempts, false);
        hs_log_warn("job %s: tagging %s %s failed: %s; retrying in %.1f s", j->name, name, c->tag,
                    err ? err->msg : hs_strerror(status), (double)delay / HS_USEC_PER_SEC);
        free(c);
        uv_timer_start(&t->timer, retry_cb, delay / 1000 + 1, 0);
        return job__kick(j); /* a finish waiting for this answer goes on */
    }
    t->attempts = 0;
    free(c);
    job__changed(j);
    job__kick(j); /* the next tag, or the finish that waited for this one */
}

static void tag_next(struct job_tags *t)
{
    struct job *j = t->j;
    if (!j || j->stopping || j->held || t->broken || t->in_flight ||
        uv_is_active((uv_handle_t *)&t->timer))
        return;
    const struct jstate_save *s = pending_tag(j);
    const struct jstate_commit *cm = s ? jstate_commit_get(j->env->js, s->commit) : NULL;
    if (!s)
        return;
    struct tag_call *c = calloc(1, sizeof(*c));
    if (!c)
        return job__set_error(j, "out of memory");
    c->t = t;
    c->save = s->id;
    snprintf(c->tag, sizeof(c->tag), "%s", json_string_value(json_object_get(s->meta, "tag")));
    if (!cm || !cm->oid) {
        record(j, c, "refused", "the journal has no commit id for it");
        free(c);
        return tag_next(t);
    }
    snprintf(c->oid, sizeof(c->oid), "%s", cm->oid);
    char msg[320];
    snprintf(msg, sizeof(msg), "%s (hubsync tag_saves)", s->name);
    struct uploader_tag_request req = {
        .repo_id = j->cfg->hub_model_id,
        .commit = c->oid,
        .tag = c->tag,
        .message = msg,
    };
    struct hs_err e = {0};
    t->in_flight = true;
    if (uploader_create_tag(j->env->uploader, &req, tagged, c, &e) < 0) {
        t->in_flight = false;
        hs_log_warn("job %s: tagging %s %s: %s", j->name, s->name, c->tag, e.msg);
        free(c);
        t->attempts++;
        uv_timer_start(&t->timer, retry_cb,
                       job__retry_delay(j->env->retry_delay, t->attempts, false) / 1000 + 1, 0);
    }
}

void job__tags_kick(struct job *j)
{
    if (j->stopping || !j->timer_init)
        return;
    if (!j->tags) {
        if (!pending_tag(j))
            return;
        struct job_tags *t = calloc(1, sizeof(*t));
        if (!t)
            return job__set_error(j, "out of memory");
        t->j = j;
        uv_timer_init(j->env->loop, &t->timer);
        t->timer.data = t;
        j->tags = t;
    }
    tag_next(j->tags);
}

bool job__tags_busy(const struct job *j)
{
    return j->tags && j->tags->in_flight;
}

size_t job__tags_pending(const struct job *j)
{
    size_t n = 0;
    const struct jstate_save *s;
    for (size_t i = 0; (s = jstate_save_at(j->env->js, i)); i++)
        n += s->state == JSAVE_COMMITTED && !strcmp(s->job, j->name) &&
             json_string_value(json_object_get(s->meta, "tag")) &&
             !json_object_get(s->meta, "tag_outcome");
    return n;
}
