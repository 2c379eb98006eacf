/*
 * job_status.c — a job's status (see job.h): the one place its state's
 * name is derived from the phase, the queue and the last error, for
 * `hubsync status` (human line and JSON) and the control socket; and the
 * count of lost saves.
 */
#include "sync_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- status ----------------------------------------------------------------- */

/* The watcher's mode, "waiting" while the watched folder does not exist
 * (the watcher may watch its parent meanwhile). */
static const char *watch_mode(const struct job *j, struct watcher_job_status *st)
{
    watcher_job_status(j->wj, st);
    struct stat sb;
    if (stat(j->cfg->watch, &sb) != 0 && errno == ENOENT)
        return "waiting";
    return st->mode;
}

static const char *state_name(const struct job *j)
{
    if (j->stopping)
        return "stopping";
    if (j->held && !j->op && j->phase != JOB_HASHING && j->phase != JOB_PUSHING)
        return "held";
    switch (j->phase) {
    case JOB_HASHING:
        return "hashing";
    case JOB_PUSHING:
        if (j->op && j->op->final)
            return "finishing";
        return j->up_phase == UPLOADER_PHASE_COMMIT   ? "committing"
               : j->up_stages & UPLOADER_STAGE_UPLOAD ? "uploading" /* bytes are moving */
               : j->up_phase == UPLOADER_PHASE_UPLOAD ? "uploading"
               : j->up_phase == UPLOADER_PHASE_HASH   ? "hashing"
                                                      : "uploading";
    case JOB_RETRY_WAIT:
        return j->timer_init && uv_is_active((const uv_handle_t *)&j->timer) ? "retrying"
                                                                             : "failed";
    case JOB_BUDGET_WAIT:
        return "waiting";
    case JOB_FINISH_WAIT:
        return "finishing";
    case JOB_IDLE:
        break;
    }
    if (j->finish_requested)
        return "finishing";
    if (j->finished)
        return "finished";
    if (j->wj) {
        struct watcher_job_status st;
        if (!strcmp(watch_mode(j, &st), "waiting"))
            return "waiting";
    }
    return "idle";
}

json_t *job_status_json(const struct job *j)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "name", json_string(j->name));
    json_object_set_new(o, "state", json_string(state_name(j)));
    json_object_set_new(o, "repo", json_string(j->cfg->hub_model_id));
    json_object_set_new(o, "watch", json_string(j->cfg->watch));
    if (j->wj) {
        /* which watch mode, and why (docs/operations.md "watch_mode") */
        struct watcher_job_status st;
        const char *mode = watch_mode(j, &st);
        char why[160];
        if (j->cfg->watch_mode != CONFIG_WATCH_AUTO)
            snprintf(why, sizeof(why), "watch_mode %s in the config",
                     config_watch_mode_name(j->cfg->watch_mode));
        else if (!strcmp(mode, "waiting"))
            snprintf(why, sizeof(why), "the folder does not exist yet");
        else
            snprintf(why, sizeof(why), "watch_mode auto on %s%s", st.fs_type,
                     !strcmp(mode, "poll") ? " (a network or FUSE filesystem: inotify "
                                             "misses other hosts' writes)"
                                           : "");
        json_object_set_new(o, "watch_mode", json_string(mode));
        json_object_set_new(o, "watch_mode_why", json_string(why));
    }
    if (j->phase == JOB_RETRY_WAIT && !strcmp(state_name(j), "retrying")) {
        hs_usec_t now = hs_now_monotonic();
        uint64_t in =
            j->retry_at > now ? (j->retry_at - now + HS_USEC_PER_SEC - 1) / HS_USEC_PER_SEC : 0;
        json_object_set_new(o, "retry",
                            json_pack("{s:I, s:I}", "attempt", (json_int_t)j->attempts + 1,
                                      "next_in_seconds", (json_int_t)in));
    }
    json_object_set_new(o, "strategy", json_string(config_strategy_name(j->cfg->hub_strategy)));
    json_object_set_new(o, "checkpoint", j->current ? json_string(j->current) : json_null());
    /* the push's stages with work under way: both while hashing and uploading overlap */
    json_t *stages = json_array();
    if (j->phase == JOB_PUSHING && (j->up_stages & UPLOADER_STAGE_HASH))
        json_array_append_new(stages, json_string("hashing"));
    if (j->phase == JOB_PUSHING && (j->up_stages & UPLOADER_STAGE_UPLOAD))
        json_array_append_new(stages, json_string("uploading"));
    json_object_set_new(o, "stages", stages);
    json_object_set_new(o, "bytes_done", json_integer((json_int_t)j->bytes_done));
    json_object_set_new(o, "bytes_total", json_integer((json_int_t)j->bytes_total));
    double rate = 0;
    hs_usec_t el = hs_now_monotonic() - j->push_started;
    if (j->phase == JOB_PUSHING && el > 0)
        rate = (double)j->bytes_done * 1e6 / (double)el;
    json_object_set_new(o, "rate_bytes_per_sec", json_integer((json_int_t)rate));
    if (rate > 0 && j->bytes_total >= j->bytes_done)
        json_object_set_new(
            o, "eta_seconds",
            json_integer((json_int_t)((double)(j->bytes_total - j->bytes_done) / rate)));
    else
        json_object_set_new(o, "eta_seconds", json_null());
    json_object_set_new(o, "queued", json_integer((json_int_t)j->nq));
    json_object_set_new(o, "committed", json_integer((json_int_t)j->committed));
    json_object_set_new(o, "superseded", json_integer((json_int_t)j->superseded));
    json_object_set_new(o, "coalesced", json_integer((json_int_t)j->coalesced));
    json_object_set_new(o, "lost", json_integer((json_int_t)j->lost));
    json_object_set_new(
        o, "last_lost",
        j->lost_name && j->lost_reason
            ? json_pack("{s:s, s:s}", "checkpoint", j->lost_name, "reason", j->lost_reason)
            : json_null());
    json_object_set_new(o, "bytes_sent", json_integer((json_int_t)j->bytes_sent_total));
    json_object_set_new(o, "last_commit_url",
                        j->last_commit_url ? json_string(j->last_commit_url) : json_null());
    json_object_set_new(o, "last_error", j->last_error ? json_string(j->last_error) : json_null());
    json_object_set_new(o, "held", j->held ? json_string(j->held) : json_null());
    if (j->cfg->hub_strategy == CONFIG_STRATEGY_CHECKPOINT)
        json_object_set_new(o, "resume_warning",
                            j->resume_warning ? json_string(j->resume_warning) : json_null());
    if (j->cfg->tag_saves)
        json_object_set_new(o, "tags_pending", json_integer((json_int_t)job__tags_pending(j)));
    json_t *notes = json_array();
    for (size_t i = 0; notes && i < j->n_notes; i++)
        json_array_append_new(notes, json_string(j->notes[i]));
    json_object_set_new(o, "notes", notes);
    return o;
}

void job_status_line(const struct job *j, char *out, size_t n)
{
    /* the last error too: a job whose every save fails must not read as healthy */
    int w =
        snprintf(out, n, "%s: %s%s%s, %zu queued, %" PRIu64 " committed", j->name, state_name(j),
                 j->current ? " " : "", j->current ? j->current : "", j->nq, j->committed);
    if (j->lost && w > 0 && (size_t)w < n)
        w += snprintf(out + w, n - (size_t)w, ", %" PRIu64 " lost", j->lost);
    if (j->last_error && w > 0 && (size_t)w < n)
        snprintf(out + w, n - (size_t)w, ", last error: %s", j->last_error);
}

uint64_t job_lost(const struct job *j, const char **last_name, const char **last_reason)
{
    if (last_name)
        *last_name = j->lost ? j->lost_name : NULL;
    if (last_reason)
        *last_reason = j->lost ? j->lost_reason : NULL;
    return j->lost;
}
