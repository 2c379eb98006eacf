/*
 * cmd_status.c — `hubsync status`: ask a running daemon what each job is
 * doing and print it (human text, or the daemon's JSON with --json).
 * Exit 3 when no daemon answers. The answer's format is in control.h.
 */
#include "cli_int.h"
#include "common.h"

#include <stdio.h>

static int run(int argc, char **argv)
{
    struct ctlcli_args a;
    int rc = ctlcli_parse("status", argc, argv, true, false, &a);
    if (rc)
        return rc;
    char path[HS_PATH_MAX];
    rc = ctlcli_socket("status", &a, path, sizeof(path));
    if (rc)
        return rc;
    json_t *req = json_pack("{s:s}", "cmd", "status"), *resp = NULL;
    rc = ctlcli_ask("status", &a, path, req, &resp);
    json_decref(req);
    if (rc)
        return rc;
    if (!json_is_true(json_object_get(resp, "ok"))) {
        const char *e = json_string_value(json_object_get(resp, "error"));
        fprintf(stderr, "hubsync status: the daemon refused: %s\n", e ? e : "(no reason given)");
        json_decref(resp);
        return HS_EXIT_FAILURE;
    }
    if (a.json) {
        rc = json_dumpf(resp, stdout, JSON_INDENT(2)) == 0 ? HS_EXIT_OK : HS_EXIT_FAILURE;
        fputc('\n', stdout);
    } else {
        struct hs_buf b;
        hs_buf_init(&b, (size_t)16 << 20);
        rc = ctlcli_format_status(resp, &b) == 0 ? HS_EXIT_OK : HS_EXIT_FAILURE;
        fwrite(b.data, 1, b.len, stdout);
        hs_buf_free(&b);
    }
    json_decref(resp);
    if (fflush(stdout) != 0)
        rc = HS_EXIT_FAILURE;
    return rc;
}

const struct hs_command cmd_status = {
    .name = "status",
    .summary = "show what a running daemon is doing",
    .usage =
        "Usage: hubsync status [--config FILE | --socket PATH] [--json]\n\nAsk a running daemon "
        "for the state of each job: state, current checkpoint, bytes\ndone/total, rate, ETA, "
        "last commit URL, last error. Exits 3 when no daemon\nanswers.\n\nOptions:\n  "
        "--config FILE   find the control socket from FILE's state_dir\n                  "
        "($RUNTIME_DIRECTORY/hubsync.sock when that is set; for\n                  "
        "/etc/hubsync/NAME.json without state_dir, also the socket of unit\n                  "
        "hubsync@NAME or hubsync)\n  --socket PATH   the control "
        "socket to ask\n  --json          print machine-readable JSON\n  -h, --help      show "
        "this help\n\nWithout --config or --socket: <state_dir>/hubsync.sock with the default "
        "state_dir\n($STATE_DIRECTORY, $XDG_STATE_HOME/hubsync, ~/.local/state/hubsync).\n",
    .run = run,
};
