/*
 * hubcheck.c — `check-config`'s question to the Hub (see hubcheck.h): one
 * whoami-v2 on a private loop, bounded in time, and the write verdict of
 * uploader_whoami_can_write for each job's repo.
 */
#include "hubcheck.h"

#include "uploader.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct probe {
    const struct config *cfg;
    const char *name;
    char endpoint[1024]; /* redacted: a user:password in the URL is never printed */
    FILE *err;
    int problems;
    bool answered;
    uv_timer_t timer;
    struct uploader *up;
};

static void on_whoami(int status, const struct uploader_whoami *w, long http_status,
                      const struct hs_err *err, void *ud)
{
    struct probe *p = ud;
    p->answered = true;
    uv_timer_stop(&p->timer);
    if (status == -ECANCELED) {
        /* the timeout closed the uploader */
    } else if (status < 0 && http_status == 401) {
        fprintf(p->err,
                "%s: token: the Hub (%s) refused it (401 Unauthorized): it is invalid, expired or "
                "revoked; log in again (`hf auth login`) or set $HF_TOKEN\n",
                p->name, p->endpoint);
        p->problems++;
    } else if (status < 0) {
        char msg[HS_ERR_MAX];
        snprintf(msg, sizeof(msg), "%s", err ? err->msg : hs_strerror(status));
        hs_url_redact_in(msg, sizeof(msg), p->cfg->endpoint);
        fprintf(p->err, "%s: note: cannot ask the Hub (%s) whether the token may push: %s\n",
                p->name, p->endpoint, msg);
    } else {
        for (size_t i = 0; i < p->cfg->n_jobs; i++) {
            char why[768];
            const struct config_job *j = &p->cfg->jobs[i];
            if (uploader_whoami_can_write(w, j->hub_model_id, NULL, why, sizeof(why)) ==
                UPLOADER_WRITE_DENIED) {
                fprintf(p->err, "%s: jobs[%zu].hub_model_id: the token cannot push to %s: %s\n",
                        p->name, i, j->hub_model_id, why);
                p->problems++;
            }
        }
    }
    struct uploader *u = p->up;
    p->up = NULL;
    uploader_close(u);
    if (!uv_is_closing((uv_handle_t *)&p->timer))
        uv_close((uv_handle_t *)&p->timer, NULL);
}

static void on_timeout(uv_timer_t *t)
{
    struct probe *p = t->data;
    if (p->answered)
        return;
    fprintf(p->err, "%s: note: the Hub (%s) did not answer in time: write access not checked\n",
            p->name, p->endpoint);
    struct uploader *u = p->up;
    p->up = NULL;
    uploader_close(u); /* on_whoami runs with -ECANCELED and closes the timer */
}

int hubcheck_token(const struct config *cfg, const char *name, unsigned timeout_s, FILE *err)
{
    if (!cfg->token)
        return 0;
    uv_loop_t loop;
    if (uv_loop_init(&loop) < 0)
        return 0;
    struct probe p = {.cfg = cfg, .name = name, .err = err};
    hs_url_redact(cfg->endpoint, p.endpoint, sizeof(p.endpoint));
    struct hs_err e = {0};
    struct uploader_options uo = {
        .endpoint = cfg->endpoint,
        .token = cfg->token,
        .ca_file = cfg->ca_file,
        .max_retries = 1,
        .retry_base = 200 * HS_USEC_PER_MSEC,
        .stall_seconds = timeout_s,
    };
    if (uploader_new(&loop, &uo, &p.up, &e) < 0) {
        fprintf(err, "%s: note: cannot ask the Hub: %s\n", name, e.msg);
        uv_loop_close(&loop);
        return 0;
    }
    uv_timer_init(&loop, &p.timer);
    p.timer.data = &p;
    if (uploader_whoami(p.up, on_whoami, &p, &e) < 0) {
        fprintf(err, "%s: note: cannot ask the Hub: %s\n", name, e.msg);
        uploader_close(p.up);
        uv_close((uv_handle_t *)&p.timer, NULL);
    } else {
        uv_timer_start(&p.timer, on_timeout, (uint64_t)timeout_s * 1000, 0);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return p.problems;
}
