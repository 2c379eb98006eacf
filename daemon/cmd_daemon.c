/*
 * cmd_daemon.c — `hubsync daemon`: run the sync service in the foreground
 */
#include "cli.h"
#include "common.h"

static int run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_not_available("daemon");
}

const struct hs_command cmd_daemon = {
    .name = "daemon",
    .summary = "run the sync service in the foreground",
    .usage = "Usage: hubsync daemon --config FILE\n\nWatch every job of FILE and push completed "
             "checkpoints to the Hub.\nRuns in the foreground; under systemd it uses Type=notify "
             "readiness,\nSTATUS= lines and watchdog pings. SIGHUP reloads FILE; SIGTERM stops "
             "cleanly.\n\nOptions:\n  --config FILE   the JSON configuration (see "
             "hubsync.json(5))\n  -h, --help      show this help\n",
    .run = run,
};
