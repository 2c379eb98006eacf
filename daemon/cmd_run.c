/*
 * cmd_run.c — `hubsync run`: run a training command and sync while it runs
 */
#include "cli.h"
#include "common.h"

static int run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_not_available("run");
}

const struct hs_command cmd_run = {
    .name = "run",
    .summary = "run a training command and sync while it runs",
    .usage = "Usage: hubsync run --config FILE [--job NAME] -- CMD [ARG]...\n\nStart CMD, push its "
             "checkpoints while it runs, then finish the job (final push\nand model card) when CMD "
             "exits. Exits with CMD's status if CMD failed (128+N if\nkilled by signal N, 127 if "
             "not found), 1 if CMD succeeded but the final push did\nnot, 0 otherwise. SIGINT, "
             "SIGTERM, SIGUSR1 and SIGUSR2 are forwarded to CMD.\n\nOptions:\n  --config FILE   "
             "the JSON configuration\n  --job NAME      the job CMD trains (default: the only job "
             "of FILE)\n  -h, --help      show this help\n",
    .run = run,
};
