/*
 * cmd_finish.c — `hubsync finish JOB`: tell a running daemon that training
 * of JOB ended, so it pushes the final model and the regenerated model card.
 * Exit 3 when no daemon answers, 1 when the daemon refuses (unknown job...).
 */
#include "cli_int.h"
#include "common.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* The job's entry of a status answer, or NULL. */
static const json_t *job_entry(const json_t *status, const char *name)
{
    size_t i;
    const json_t *j;
    json_array_foreach(json_object_get(status, "jobs"), i, j)
    {
        const char *n = json_string_value(json_object_get(j, "name"));
        if (n && !strcmp(n, name))
            return j;
    }
    return NULL;
}

/* --wait: ask for the status every half second until the job is finished
 * (0, with the commit URL), or stopped trying (1, with the reason). A retry
 * is said once per attempt; the daemon retries through outages, so does
 * this. */
static int wait_finished(const struct ctlcli_args *a, const char *path)
{
    uint64_t said_attempt = 0;
    for (;;) {
        json_t *req = json_pack("{s:s}", "cmd", "status"), *resp = NULL;
        int rc = ctlcli_ask("finish", a, path, req, &resp);
        json_decref(req);
        if (rc) {
            fprintf(stderr, "hubsync finish: the daemon went away before job %s finished\n",
                    a->job);
            return rc;
        }
        const json_t *j = job_entry(resp, a->job);
        const char *st = json_string_value(json_object_get(j, "state"));
        const char *err = json_string_value(json_object_get(j, "last_error"));
        const char *held = json_string_value(json_object_get(j, "held"));
        const char *wmode = json_string_value(json_object_get(j, "watch_mode"));
        const json_t *retry = json_object_get(j, "retry");
        rc = -1;
        if (!j || !st) {
            fprintf(stderr, "hubsync finish: job %s is gone from the daemon\n", a->job);
            rc = HS_EXIT_FAILURE;
        } else if (!strcmp(st, "finished")) {
            const char *url = json_string_value(json_object_get(j, "last_commit_url"));
            fprintf(stderr, "hubsync finish: job %s: End of training committed: %s\n", a->job,
                    url ? url : "(no URL)");
            rc = HS_EXIT_OK;
        } else if (!strcmp(st, "held") && held) {
            fprintf(stderr, "hubsync finish: job %s is held: %s\n", a->job, held);
            rc = HS_EXIT_FAILURE;
        } else if (!strcmp(st, "idle") || !strcmp(st, "failed") ||
                   (!strcmp(st, "waiting") && wmode && !strcmp(wmode, "waiting"))) {
            /* the finish ended without a commit (a budget wait is "waiting" too) */
            fprintf(stderr, "hubsync finish: job %s did not finish: %s\n", a->job,
                    err ? err : "the daemon stopped trying");
            rc = HS_EXIT_FAILURE;
        } else if (retry && json_integer_value(json_object_get(retry, "attempt")) >
                                (json_int_t)said_attempt) {
            said_attempt = (uint64_t)json_integer_value(json_object_get(retry, "attempt"));
            fprintf(stderr, "hubsync finish: job %s: retrying (attempt %" PRIu64 "): %s\n", a->job,
                    said_attempt, err ? err : "(no error recorded)");
        }
        json_decref(resp);
        if (rc >= 0)
            return rc;
        nanosleep(&(struct timespec){.tv_nsec = 500 * 1000 * 1000}, NULL);
    }
}

static int run(int argc, char **argv)
{
    struct ctlcli_args a;
    int rc = ctlcli_parse("finish", argc, argv, false, true, &a);
    if (rc)
        return rc;
    char path[HS_PATH_MAX];
    rc = ctlcli_socket("finish", &a, path, sizeof(path));
    if (rc)
        return rc;
    json_t *req = json_pack("{s:s, s:s}", "cmd", "finish", "job", a.job), *resp = NULL;
    rc = ctlcli_ask("finish", &a, path, req, &resp);
    json_decref(req);
    if (rc)
        return rc;
    const char *msg = json_string_value(json_object_get(resp, "message"));
    if (!json_is_true(json_object_get(resp, "ok"))) {
        const char *e = json_string_value(json_object_get(resp, "error"));
        fprintf(stderr, "hubsync finish: %s\n", e ? e : "the daemon refused (no reason given)");
        json_decref(resp);
        return HS_EXIT_FAILURE;
    }
    if (msg)
        fprintf(stderr, "hubsync finish: %s\n", msg);
    else
        fprintf(stderr,
                "hubsync finish: job %s: finish requested; the daemon pushes the final model "
                "and model card (%s)\n",
                a.job, a.wait ? "waiting for it" : "see hubsync status, or finish --wait");
    json_decref(resp);
    return a.wait ? wait_finished(&a, path) : HS_EXIT_OK;
}

const struct hs_command cmd_finish = {
    .name = "finish",
    .summary = "tell a running daemon that training of a job ended",
    .usage = "Usage: hubsync finish JOB [--config FILE | --socket PATH] [--wait]\n\nTell the "
             "daemon that training of JOB has ended: it pushes the final model and\nthe "
             "regenerated model card. Exits 3 when no daemon answers, 1 when the daemon\nrefuses "
             "(for example an unknown JOB). With --wait, it waits for the final\ncommit and exits "
             "0 once it is made, 1 when the job stopped trying.\n\nOptions:\n  --config FILE   "
             "find the control socket from FILE's state_dir\n  --socket PATH   the control "
             "socket to ask\n  --wait          wait for the End of training commit\n  -h, --help  "
             "    show this help\n",
    .run = run,
};
