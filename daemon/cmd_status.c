/*
 * cmd_status.c — `hubsync status`: show what a running daemon is doing
 */
#include "cli.h"
#include "common.h"

static int run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_not_available("status");
}

const struct hs_command cmd_status = {
    .name = "status",
    .summary = "show what a running daemon is doing",
    .usage =
        "Usage: hubsync status [--config FILE | --socket PATH] [--json]\n\nAsk a running daemon "
        "for the state of each job. Exits 3 when no daemon answers.\n\nOptions:\n  --config FILE   "
        "find the control socket from FILE's state_dir\n  --socket PATH   the control socket to "
        "ask\n  --json          print machine-readable JSON\n  -h, --help      show this help\n",
    .run = run,
};
