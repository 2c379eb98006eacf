/*
 * cli.h — the public interface of cli/: the subcommand table of the
 * `hubsync` binary (main.c); the exit codes are daemon.h's (contract in
 * docs/design.md). Each subcommand lives in its own cmd_<name>.c with its
 * usage text. cli/ is the only code that writes to a terminal.
 */
#ifndef HUBSYNC_CLI_H
#define HUBSYNC_CLI_H

#include "daemon.h" /* the exit codes */

struct hs_command {
    const char *name;
    const char *summary;
    const char *usage;                 /* full --help text */
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
};

extern const struct hs_command cmd_push, cmd_pull, cmd_daemon, cmd_run, cmd_status, cmd_finish,
    cmd_check_config, cmd_card;

#endif
