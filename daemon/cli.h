/*
 * cli.h — internal to daemon/: the subcommand table and the exit codes of
 * the `hubsync` binary (contract in docs/design.md). Each
 * subcommand lives in its own cmd_<name>.c with its usage text.
 */
#ifndef HUBSYNC_DAEMON_CLI_H
#define HUBSYNC_DAEMON_CLI_H

enum {
    HS_EXIT_OK = 0,
    HS_EXIT_FAILURE = 1,
    HS_EXIT_USAGE = 2,
    HS_EXIT_NO_DAEMON = 3,
    HS_EXIT_CONFIG = 78,
};

struct hs_command {
    const char *name;
    const char *summary;
    const char *usage;                 /* full --help text */
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
};

extern const struct hs_command cmd_push, cmd_pull, cmd_daemon, cmd_run, cmd_status, cmd_finish,
    cmd_check_config, cmd_card;

/* For subcommands whose behaviour is not built yet: says so plainly on
 * stderr and returns HS_EXIT_FAILURE. Never a fake success. */
int cli_not_available(const char *name);

#endif
