/*
 * ctlcli.h — internal to cli/: what `hubsync status` and `hubsync
 * finish` share on the client side: option parsing (--config / --socket /
 * --json), finding the control socket, asking the daemon with the right
 * exit codes, and the human rendering of a status answer.
 */
#ifndef HUBSYNC_CLI_CTLCLI_H
#define HUBSYNC_CLI_CTLCLI_H

#include "common.h"

#include <jansson.h>
#include <stdbool.h>

/* How long the CLI waits for an answer. */
#define CTLCLI_TIMEOUT (10 * HS_USEC_PER_SEC)

struct ctlcli_args {
    const char *config; /* --config FILE */
    const char *socket; /* --socket PATH */
    bool json;          /* --json (status only) */
    bool wait;          /* --wait (finish only) */
    const char *job;    /* JOB (finish only) */
    char unit[128];     /* set by ctlcli_socket: the systemd unit running this config
                           ("hubsync@alice", "hubsync"), or "" when not known */
};

/* Parse argv (argv[0] is the subcommand name). Prints a usage error and
 * returns HS_EXIT_USAGE on bad arguments, 0 otherwise. */
int ctlcli_parse(const char *cmd, int argc, char **argv, bool allow_json, bool want_job,
                 struct ctlcli_args *a);

/* The socket to ask: --socket; else the config's state_dir (through
 * control_socket_path, so $RUNTIME_DIRECTORY wins when set); else the
 * default state_dir ($STATE_DIRECTORY, $XDG_STATE_HOME/hubsync,
 * ~/.local/state/hubsync). A config /etc/hubsync/NAME.json is the one of
 * unit hubsync@NAME (hubsync for NAME "hubsync"): a->unit names it, and
 * when the config sets no state_dir and no socket is at the path above, the
 * unit's RuntimeDirectory socket is asked (/run/hubsync-users/NAME/
 * hubsync.sock, /run/hubsync/hubsync.sock). $HUBSYNC_UNIT_ROOT, when set,
 * stands for / in those two paths (a test hook). Returns 0, or an exit code
 * (78 for a bad config) after printing why. */
int ctlcli_socket(const char *cmd, struct ctlcli_args *a, char *out, size_t n);

/* Send req to path and wait for the answer. Returns 0 with *resp, or an
 * exit code after printing why (with a hint naming a->unit): HS_EXIT_NO_DAEMON
 * (3) when nobody answers (no socket, refused, no answer in time),
 * HS_EXIT_FAILURE otherwise. */
int ctlcli_ask(const char *cmd, const struct ctlcli_args *a, const char *path, const json_t *req,
               json_t **resp);

/* Render a status answer (control.h) for humans. */
int ctlcli_format_status(const json_t *status, struct hs_buf *out);

/* "1.5 GiB", "12.0 MiB/s" helpers, exposed for tests. */
void ctlcli_format_bytes(uint64_t bytes, char *out, size_t n);
void ctlcli_format_duration(uint64_t seconds, char *out, size_t n);

#endif
