/*
 * token_check.c — the service's token check (see service_int.h): where the
 * token came from (for messages), whoami-v2 at start and on every reload,
 * holding or releasing each job by the answer, and `run`'s verdict before
 * CMD starts.
 *
 * docs/design.md: "At start it checks the token with whoami-v2 and says
 * clearly when it lacks write access to the namespace". Jobs start held until the
 * answer; a job whose repo the token cannot write stays held with the
 * reason as its last_error (its saves are still journaled, and pushed once
 * a later check passes: SIGHUP re-checks). A 401 stops `hubsync daemon`
 * with exit 78; under `run` CMD keeps running, every job is held and the
 * final push fails with the reason. No answer (Hub unreachable, 5xx after
 * the retries) does not stop anything: uploads go ahead and the check is
 * retried later (HUBSYNC_WHOAMI_RETRY_SECONDS, 60).
 */
#include "service_int.h"

#include "preflight.h"

#include "config.h"
#include "sync.h"
#include "uploader.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void service__describe_token_source(struct service *s)
{
    const struct config *c = s->cfg;
    const char *w = c->token_where ? c->token_where : "";
    if (c->token_warning)
        hs_log_warn("%s", c->token_warning); /* once: a reload does not repeat it */
    switch (c->token_source) {
    case CONFIG_TOKEN_INLINE:
        snprintf(s->token_from, sizeof(s->token_from), "the \"token\" of %s", s->config_path);
        break;
    case CONFIG_TOKEN_FILE:
        snprintf(s->token_from, sizeof(s->token_from), "token_file %s", w);
        break;
    case CONFIG_TOKEN_ENV:
    case CONFIG_TOKEN_ENV_LEGACY:
        snprintf(s->token_from, sizeof(s->token_from), "%s",
                 c->token_source == CONFIG_TOKEN_ENV ? "$HF_TOKEN" : "$HUGGING_FACE_HUB_TOKEN");
        break;
    case CONFIG_TOKEN_HF_FILE:
        snprintf(s->token_from, sizeof(s->token_from), "the huggingface_hub token file %s", w);
        break;
    case CONFIG_TOKEN_NONE:
        snprintf(s->token_from, sizeof(s->token_from), "(unknown)");
        break;
    }
}

/* `run`: the finish of the run's job waits for a push that cannot happen. */
void service__fail_run_finish(struct service *s, const char *why)
{
    service_finish_cb cb = s->fin_cb;
    s->fin_cb = NULL;
    if (cb)
        cb(-EACCES, why, s->fin_ud);
}

/* Hold or release one job after the last answer. */
static void judge_job(struct service *s, struct job *j)
{
    if (s->token_refused) {
        char why[HS_ERR_MAX];
        snprintf(why, sizeof(why),
                 "not pushing: the Hub refused the token from %.600s (401); its saves are kept "
                 "in the journal",
                 s->token_from);
        job_hold(j, why, true);
        if (s->run_job && !strcmp(job_name(j), s->run_job))
            service__fail_run_finish(s, why);
        return;
    }
    if (!s->who_ok) {
        job_hold(j, NULL, false); /* no answer: the pushes will tell */
        return;
    }
    const struct config_job *c = job_config(j);
    char why[768], msg[HS_ERR_MAX];
    enum uploader_write_access a =
        uploader_whoami_can_write(&s->who, c->hub_model_id, NULL, why, sizeof(why));
    if (a != UPLOADER_WRITE_DENIED) {
        if (a == UPLOADER_WRITE_UNKNOWN)
            hs_log_warn("job %s: cannot tell whether the token may write %s (%s): pushing anyway",
                        job_name(j), c->hub_model_id, why);
        job_hold(j, NULL, false);
        return;
    }
    snprintf(msg, sizeof(msg),
             "cannot push to %s: %s. Its saves are kept in the journal and pushed once the token "
             "can write there (fix the token's access or hub_model_id, then reload with SIGHUP "
             "or restart)",
             c->hub_model_id, why);
    job_hold(j, msg, true);
    if (s->run_job && !strcmp(job_name(j), s->run_job))
        service__fail_run_finish(s, msg);
}

static void judge_jobs(struct service *s)
{
    for (size_t i = 0; i < s->n_jobs; i++)
        judge_job(s, s->jobs[i]);
}

static void who_retry(uv_timer_t *t)
{
    service__token_check(t->data);
}

/* `run`: tell the caller whether every job can push (the first answer only). */
static void report_check(struct service *s, int status, long http_status, const struct hs_err *err)
{
    service_check_cb cb = s->check_cb;
    if (!cb)
        return;
    s->check_cb = NULL;
    char why[HS_ERR_MAX];
    if (status < 0 && http_status == 401) {
        snprintf(why, sizeof(why),
                 "the Hub refused the token from %.600s (401 Unauthorized): it is invalid, "
                 "expired or revoked; put a valid one there (`hf auth login`, or $HF_TOKEN)",
                 s->token_from);
        return cb(HS_EXIT_CONFIG, why, s->check_ud);
    }
    if (status < 0) {
        char ep[256];
        hs_url_redact(s->cfg->endpoint, ep, sizeof(ep));
        snprintf(why, sizeof(why),
                 "cannot ask the Hub (%.200s) whether the token from %.300s may push: %.400s", ep,
                 s->token_from, err ? err->msg : hs_strerror(status));
        hs_url_redact_in(why, sizeof(why), s->cfg->endpoint);
        return cb(HS_EXIT_CONFIG, why, s->check_ud);
    }
    for (size_t i = 0; i < s->n_jobs; i++) {
        const char *held = job_held(s->jobs[i]);
        if (held) {
            snprintf(why, sizeof(why), "job %s: %s", job_name(s->jobs[i]), held);
            return cb(HS_EXIT_CONFIG, why, s->check_ud);
        }
    }
    /* the token may push: the repos exist before CMD starts (preflight.c) */
    preflight_create_repos(s->up, s->cfg, cb, s->check_ud);
}

static void whoami_answer(struct service *s, int status, const struct uploader_whoami *w,
                          long http_status, const struct hs_err *err)
{
    bool first = !s->who_started;
    s->who_started = true;
    if (status == 0) {
        bool was_ok = s->who_ok, was_refused = s->token_refused;
        uploader_whoami_clear(&s->who);
        s->who_ok = false;
        s->token_refused = false;
        /* keep our own copy: w lives during the call only */
        s->who_ok = uploader_whoami_copy(&s->who, w) == 0;
        char orgs[512] = "";
        size_t off = 0;
        for (size_t i = 0; i < w->n_orgs && off < sizeof(orgs); i++)
            off += (size_t)snprintf(orgs + off, sizeof(orgs) - off, "%s%s (%s)", i ? ", " : "",
                                    w->orgs[i].name, w->orgs[i].role ? w->orgs[i].role : "?");
        if (first || !was_ok || was_refused)
            hs_log_info("token from %s: user %s, %s token, organizations: %s", s->token_from,
                        w->name, w->token_role ? w->token_role : "unknown role",
                        orgs[0] ? orgs : "none");
        judge_jobs(s);
        return report_check(s, 0, 200, NULL);
    }
    if (http_status == 401) {
        s->token_refused = true;
        s->who_ok = false;
        hs_log_error("the Hub refused the token from %s (401 Unauthorized): it is invalid, expired "
                     "or revoked. Put a valid token there (https://huggingface.co/settings/tokens)",
                     s->token_from);
        if (first && !s->o.run_mode) {
            s->exit_status = HS_EXIT_CONFIG;
            service_stop(s, "stopping: the token was refused");
            return;
        }
        judge_jobs(s);
        return report_check(s, status, http_status, err);
    }
    unsigned secs = hs_env_uint("HUBSYNC_WHOAMI_RETRY_SECONDS", 60);
    hs_log_warn("cannot check the token now (%s); uploads go ahead and the check is retried in "
                "%u s",
                err ? err->msg : hs_strerror(status), secs);
    judge_jobs(s); /* the last answer if any, else released */
    uv_timer_start(&s->who_timer, who_retry, (uint64_t)secs * 1000, 0);
    report_check(s, status, http_status, err);
}

static void on_whoami(int status, const struct uploader_whoami *w, long http_status,
                      const struct hs_err *err, void *ud)
{
    struct service *s = ud;
    s->who_pending = false;
    if (s->stopping || status == -ECANCELED)
        return;
    whoami_answer(s, status, w, http_status, err);
    if (s->who_recheck && !s->stopping) {
        s->who_recheck = false; /* a reload asked while this one was on its way */
        service__token_check(s);
    }
}

void service__token_check(struct service *s)
{
    if (s->stopping)
        return;
    if (s->who_pending) {
        s->who_recheck = true;
        return;
    }
    uv_timer_stop(&s->who_timer);
    struct hs_err err = {0};
    if (uploader_whoami(s->up, on_whoami, s, &err) < 0) {
        hs_log_warn("cannot check the token: %s", err.msg);
        judge_jobs(s);
        return report_check(s, -EIO, 0, &err);
    }
    s->who_pending = true;
}
