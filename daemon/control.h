/*
 * control.h — part of daemon/ (daemon.h): the control socket through which
 * `hubsync status` and `hubsync finish` talk to a running daemon.
 *
 * Protocol: a unix stream socket; the client writes one JSON object per
 * line, the server answers each with one JSON object per line, in order.
 * Requests: {"cmd":"status"} and {"cmd":"finish","job":"NAME"} (the daemon
 * may add more). Every answer has "ok": true or false; a false answer has
 * "error": "message". Requests longer than CONTROL_REQUEST_MAX bytes, or
 * lines that are not a JSON object with a string "cmd", get an error answer
 * (a too-long line also closes the connection). A connection idle for
 * idle_timeout is closed; at most max_clients connections at once (more are
 * closed right after accept).
 *
 * Status answer (filled by the daemon, formatted by the client):
 *   {"ok":true, "pid":N, "version":"X.Y.Z", "uptime_seconds":N,
 *    "jobs":[{"name":"...", "state":"idle|waiting|hashing|uploading|
 *             committing|finishing|finished|failed|...",
 *             "checkpoint":"checkpoint-500" | null,
 *             "bytes_done":N, "bytes_total":N, "rate_bytes_per_sec":N,
 *             "eta_seconds":N | null, "queued":N,
 *             "last_commit_url":"..." | null, "last_error":"..." | null,
 *             "notes":["checkpoint-400 superseded by checkpoint-500", ...]}]}
 * Every job field but "name" is optional.
 */
#ifndef HUBSYNC_DAEMON_CONTROL_H
#define HUBSYNC_DAEMON_CONTROL_H

#include "common.h"

#include <jansson.h>
#include <uv.h>

#define CONTROL_SOCKET_NAME  "hubsync.sock"
#define CONTROL_REQUEST_MAX  (64 * 1024)
#define CONTROL_RESPONSE_MAX (8 * 1024 * 1024)
#define CONTROL_MAX_CLIENTS  16
#define CONTROL_IDLE_TIMEOUT (10 * HS_USEC_PER_SEC)

/* Where the socket lives: $RUNTIME_DIRECTORY/hubsync.sock when the variable
 * is set (its first entry when systemd lists several, ':'-separated), else
 * <state_dir>/hubsync.sock. -ENAMETOOLONG when the result does not fit a
 * unix socket address (107 bytes) or out. */
int control_socket_path(const char *state_dir, char *out, size_t n);

/* ---- server (on the caller's libuv loop) ------------------------------- */

/* Called on the loop thread for each well-formed request (cmd is
 * request["cmd"]). Return a new JSON object; the server sets "ok": true
 * unless the handler set "ok" itself. NULL answers {"ok":false,"error":
 * "internal error"}. The handler must not block. */
typedef json_t *(*control_handler_fn)(const char *cmd, const json_t *request, void *userdata);

struct control_options {
    hs_usec_t idle_timeout; /* 0: CONTROL_IDLE_TIMEOUT */
    unsigned max_clients;   /* 0: CONTROL_MAX_CLIENTS */
    size_t max_request;     /* 0: CONTROL_REQUEST_MAX */
    const char *alias;      /* optional second path made a symlink to the socket
                               (the daemon passes <state_dir>/hubsync.sock when
                               the socket is in $RUNTIME_DIRECTORY, so a client
                               that only knows the config still finds it) */
};

struct control_server;

/* Bind path with mode 0660 and listen on loop. An existing socket file at
 * path is replaced only when nobody answers on it (-EADDRINUSE when a
 * process does); any other kind of file is left alone (-EEXIST). When a
 * failure happens after the listener handle was created (uv_listen, the
 * alias), its close is pending: run the loop once before uv_loop_close. */
int control_server_start(uv_loop_t *loop, const char *path, const struct control_options *opts,
                         control_handler_fn fn, void *userdata, struct control_server **out,
                         struct hs_err *err);

/* Drop every connection, close the listener and remove the socket file (and
 * alias). done (may be NULL) runs once every handle is closed and the
 * server's memory is freed. */
void control_server_stop(struct control_server *s, void (*done)(void *arg), void *arg);

/* ---- client (blocking; for the CLI) ------------------------------------ */

/* Send one request and wait (up to timeout) for its answer. Errors:
 * -ENOENT / -ECONNREFUSED: nobody listens on path (no daemon);
 * -ETIMEDOUT: connected but no answer in time; -EACCES: no permission;
 * -EPROTO: the answer is not a JSON object. err names the path. */
int control_request(const char *path, const json_t *request, hs_usec_t timeout, json_t **response,
                    struct hs_err *err);

#endif
