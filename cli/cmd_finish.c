/*
 * cmd_finish.c — `hubsync finish JOB`: tell a running daemon that training
 * of JOB ended, so it pushes the final model and the regenerated model card.
 * Exit 3 when no daemon answers, 1 when the daemon refuses (unknown job...).
 */
#include "cli_int.h"
#include "common.h"

#include <stdio.h>

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
                "and model card (see hubsync status)\n",
                a.job);
    json_decref(resp);
    return HS_EXIT_OK;
}

const struct hs_command cmd_finish = {
    .name = "finish",
    .summary = "tell a running daemon that training of a job ended",
    .usage = "Usage: hubsync finish JOB [--config FILE | --socket PATH]\n\nTell the daemon that "
             "training of JOB has ended: it pushes the final model and\nthe regenerated model "
             "card. Exits 3 when no daemon answers, 1 when the daemon\nrefuses (for example an "
             "unknown JOB).\n\nOptions:\n  --config FILE   find the "
             "control socket from FILE's state_dir\n  --socket PATH   the control socket to ask\n  "
             "-h, --help      show this help\n",
    .run = run,
};
