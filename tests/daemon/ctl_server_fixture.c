/* ctl_server_fixture.c — the real control socket server (daemon/control.c)
 * with a canned handler, for the CLI test of `hubsync status` / `finish`.
 * Usage: ctl_server_fixture SOCKET [ALIAS]; prints "ready" once listening;
 * SIGTERM stops the server (removing the socket and alias) and exits 0. */
#include "control.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static const char *status_json =
    "{\"pid\": 4242, \"version\": \"0.1.0\", \"uptime_seconds\": 7384, \"jobs\": ["
    "{\"name\": \"bert\", \"state\": \"uploading\", \"checkpoint\": \"checkpoint-500\","
    " \"bytes_done\": 1288490189, \"bytes_total\": 3650722201, \"rate_bytes_per_sec\": 12897485,"
    " \"eta_seconds\": 185, \"queued\": 2,"
    " \"committed\": 4, \"superseded\": 1, \"coalesced\": 2, \"bytes_sent\": 5368709120,"
    " \"last_commit_url\": \"https://huggingface.co/acme/bert/commit/abc123\","
    " \"notes\": [\"checkpoint-400 superseded by checkpoint-500\"]},"
    "{\"name\": \"gpt\", \"state\": \"idle\", \"last_error\": \"HTTP 429\\ninjected\"}]}";

static json_t *handler(const char *cmd, const json_t *req, void *ud)
{
    (void)ud;
    if (strcmp(cmd, "status") == 0)
        return json_loads(status_json, 0, NULL);
    if (strcmp(cmd, "finish") == 0) {
        const char *job = json_string_value(json_object_get(req, "job"));
        if (job && strcmp(job, "bert") == 0)
            return json_pack("{s:s}", "message", "job bert: finishing (final push queued)");
        return json_pack("{s:b, s:s++}", "ok", 0, "error", "no job named '", job ? job : "?", "'");
    }
    return json_pack("{s:b, s:s}", "ok", 0, "error", "unknown command");
}

static struct control_server *srv;

static void on_term(uv_signal_t *sig, int signum)
{
    (void)signum;
    control_server_stop(srv, NULL, NULL);
    uv_close((uv_handle_t *)sig, NULL);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct control_options o = {.alias = argc > 2 ? argv[2] : NULL};
    struct hs_err err = {0};
    if (control_server_start(&loop, argv[1], &o, handler, NULL, &srv, &err) != 0) {
        fprintf(stderr, "ctl_server_fixture: %s\n", err.msg);
        return 1;
    }
    uv_signal_t sig;
    uv_signal_init(&loop, &sig);
    uv_signal_start(&sig, on_term, SIGTERM);
    printf("ready\n");
    fflush(stdout);
    uv_run(&loop, UV_RUN_DEFAULT);
    return uv_loop_close(&loop) == 0 ? 0 : 1;
}
