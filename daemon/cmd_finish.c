/*
 * cmd_finish.c — `hubsync finish`: tell a running daemon that training of a job ended
 */
#include "cli.h"
#include "common.h"

static int run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_not_available("finish");
}

const struct hs_command cmd_finish = {
    .name = "finish",
    .summary = "tell a running daemon that training of a job ended",
    .usage = "Usage: hubsync finish JOB [--config FILE | --socket PATH]\n\nTell the daemon that "
             "training of JOB has ended: it pushes the final model and\nthe regenerated model "
             "card. Exits 3 when no daemon answers.\n\nOptions:\n  --config FILE   find the "
             "control socket from FILE's state_dir\n  --socket PATH   the control socket to ask\n  "
             "-h, --help      show this help\n",
    .run = run,
};
