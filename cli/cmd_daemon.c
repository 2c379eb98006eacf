/*
 * cmd_daemon.c — `hubsync daemon --config FILE`: the sync service in the
 * foreground (systemd Type=notify). The command line only: everything else
 * is service.c's. Exit 0 after a clean stop (SIGTERM/SIGINT), 1 when the
 * service cannot start (state_dir in use, journal unreadable...), 2 usage,
 * 78 configuration (also when the Hub refuses the token at start: 401).
 * -v with stderr on a terminal draws a progress bar of the pushes.
 */
#include "cli_int.h"
#include "pbar.h"
#include "common.h"
#include "daemon.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

static int run(int argc, char **argv)
{
    const char *config = NULL;
    int verbosity = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) {
            verbosity = -1;
        } else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) {
            verbosity = 1;
        } else if (!strcmp(argv[i], "--config") && i + 1 < argc) {
            config = argv[++i];
        } else if (!strncmp(argv[i], "--config=", 9)) {
            config = argv[i] + 9;
        } else {
            fprintf(stderr, "hubsync daemon: unexpected argument '%s'\n", argv[i]);
            fputs(cmd_daemon.usage, stderr);
            return HS_EXIT_USAGE;
        }
    }
    if (!config) {
        fprintf(stderr, "hubsync daemon: --config FILE is required\n");
        fputs(cmd_daemon.usage, stderr);
        return HS_EXIT_USAGE;
    }
    uv_loop_t loop;
    if (uv_loop_init(&loop) < 0) {
        fprintf(stderr, "hubsync daemon: cannot create the event loop\n");
        return HS_EXIT_FAILURE;
    }
    struct service *s = NULL;
    struct pbar_service bar = {0};
    bool show_bar = verbosity == 1 && isatty(STDERR_FILENO); /* a terminal, -v: a bar */
    struct service_options o = {.config_path = config,
                                .verbosity = verbosity,
                                .on_progress = show_bar ? pbar_service_progress : NULL,
                                .progress_ud = &bar};
    hs_log_stderr_style(true);
    int rc = service_start(&loop, &o, &s);
    if (rc != 0)
        service_stop(s, NULL); /* the reason was logged */
    else                       /* after the start, so that it is logged where log_file says */
        priority_apply_defaults(&loop);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (rc == 0)
        rc = service_exit_status(s); /* e.g. 78: the Hub refused the token */
    service_free(s);
    if (uv_loop_close(&loop) != 0)
        hs_log_warn("event loop still had handles at exit");
    return rc;
}

const struct hs_command cmd_daemon = {
    .name = "daemon",
    .summary = "run the sync service in the foreground",
    .usage = "Usage: hubsync daemon --config FILE [-q | -v]\n\nWatch every job of FILE and push "
             "completed checkpoints to the Hub.\nRuns in the foreground; under systemd it uses "
             "Type=notify readiness,\nSTATUS= lines and watchdog pings. SIGHUP reloads FILE; "
             "SIGTERM stops cleanly.\n\nOptions:\n  --config FILE   the JSON configuration (see "
             "hubsync.json(5))\n  -q, --quiet     warnings and errors only\n  -v, --verbose   "
             "debug lines too (over log_level and $HUBSYNC_LOG_LEVEL), and on a\n"
             "                  terminal a progress bar of the pushes\n  -h, --help      show "
             "this help\n",
    .run = run,
};
