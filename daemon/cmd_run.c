/*
 * cmd_run.c — `hubsync run --config FILE [--job NAME] -- CMD [ARG]...`:
 * start the service for one training command, run CMD (environment passed
 * through; WORLD_SIZE feeds the job's world_size), forward SIGINT, SIGTERM,
 * SIGUSR1 and SIGUSR2 to it, and when it exits finish the job (final push
 * and model card), then exit as DESIGN.md says: CMD's status if CMD failed
 * (128+N when killed by signal N, 127 when not found, 126 when not
 * executable), 1 if CMD succeeded but the final push did not, 0 otherwise.
 * SIGINT/SIGTERM after CMD exited stop hubsync before the final push
 * completes: the journal keeps it and the message says how to complete it.
 */
#include "cli.h"
#include "common.h"
#include "service.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

struct run_ctx {
    uv_loop_t *loop;
    struct service *s;
    const char *config;
    uv_process_t proc;
    uv_signal_t sig[4];
    bool child_running, signals_closed;
    int child_status; /* exit status or 128+signal */
    bool final_ok, interrupted;
};

static const int forwarded[4] = {SIGINT, SIGTERM, SIGUSR1, SIGUSR2};

static void close_signals(struct run_ctx *c)
{
    if (c->signals_closed)
        return;
    c->signals_closed = true;
    for (int i = 0; i < 4; i++)
        uv_close((uv_handle_t *)&c->sig[i], NULL);
}

static void stop_all(struct run_ctx *c, const char *why)
{
    close_signals(c);
    service_stop(c->s, why);
}

static void on_finished(int status, const char *msg, void *ud)
{
    struct run_ctx *c = ud;
    c->final_ok = status == 0;
    if (status == 0 && msg)
        fprintf(stderr, "hubsync run: %s\n", msg);
    if (status < 0)
        fprintf(stderr,
                "hubsync run: the final push failed: %s\nhubsync run: the state is kept; "
                "`hubsync daemon --config %s` completes it\n",
                msg ? msg : "unknown error", c->config);
    stop_all(c, status == 0 ? "final push done" : "final push failed");
}

static void on_exit_cb(uv_process_t *p, int64_t exit_status, int term_signal)
{
    struct run_ctx *c = p->data;
    c->child_running = false;
    c->child_status = term_signal ? 128 + term_signal : (int)exit_status;
    uv_close((uv_handle_t *)p, NULL);
    if (term_signal)
        hs_log_info("the training command was killed by signal %d (%s)", term_signal,
                    strsignal(term_signal));
    else
        hs_log_info("the training command exited with status %d", (int)exit_status);
    if (service_stopping(c->s))
        return;
    if (service_finish_job(c->s, service_run_job(c->s), c->child_status, on_finished, c) < 0)
        stop_all(c, "finish failed");
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct run_ctx *c = h->data;
    if (c->child_running) {
        hs_log_info("forwarding %s to the training command", strsignal(signum));
        uv_process_kill(&c->proc, signum);
        return;
    }
    if (signum != SIGINT && signum != SIGTERM)
        return;
    c->interrupted = true;
    fprintf(stderr,
            "hubsync run: stopped by %s before the final push completed; the journal keeps "
            "it: run `hubsync daemon --config %s` (it completes the push) or `hubsync run` "
            "again\n",
            signum == SIGINT ? "SIGINT" : "SIGTERM", c->config);
    stop_all(c, "stopped before the final push completed");
}

static int run(int argc, char **argv)
{
    const char *config = NULL, *job = NULL;
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            i++;
            break;
        }
        if ((!strcmp(a, "--config") || !strcmp(a, "--job")) && i + 1 < argc) {
            *(!strcmp(a, "--config") ? &config : &job) = argv[++i];
        } else if (a[0] == '-') {
            fprintf(stderr, "hubsync run: unknown option or missing value '%s'\n", a);
            fputs(cmd_run.usage, stderr);
            return HS_EXIT_USAGE;
        } else {
            break; /* CMD without "--" */
        }
    }
    if (!config || i >= argc) {
        fprintf(stderr, "hubsync run: %s\n",
                !config ? "--config FILE is required" : "no command given after --");
        fputs(cmd_run.usage, stderr);
        return HS_EXIT_USAGE;
    }
    char **cmd = argv + i;

    uv_loop_t loop;
    if (uv_loop_init(&loop) < 0) {
        fprintf(stderr, "hubsync run: cannot create the event loop\n");
        return HS_EXIT_FAILURE;
    }
    struct run_ctx c = {.loop = &loop, .config = config, .signals_closed = true};
    struct service_options o = {.config_path = config, .run_mode = true, .run_job = job};
    int rc = service_start(&loop, &o, &c.s);
    if (rc != 0) {
        service_stop(c.s, "start failed");
        uv_run(&loop, UV_RUN_DEFAULT);
        service_free(c.s);
        uv_loop_close(&loop);
        return rc;
    }
    c.signals_closed = false;
    for (int k = 0; k < 4; k++) {
        uv_signal_init(&loop, &c.sig[k]);
        c.sig[k].data = &c;
        uv_signal_start(&c.sig[k], on_signal, forwarded[k]);
    }
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_INHERIT_FD, .data.fd = 0},
        {.flags = UV_INHERIT_FD, .data.fd = 1},
        {.flags = UV_INHERIT_FD, .data.fd = 2},
    };
    uv_process_options_t po = {
        .exit_cb = on_exit_cb,
        .file = cmd[0],
        .args = cmd,
        .stdio_count = 3,
        .stdio = stdio,
    };
    c.proc.data = &c;
    int sr = uv_spawn(&loop, &c.proc, &po);
    if (sr < 0) {
        fprintf(stderr, "hubsync run: %s: %s\n", cmd[0],
                sr == UV_ENOENT ? "command not found" : uv_strerror(sr));
        c.child_status = sr == UV_EACCES ? 126 : 127;
        if (sr != UV_ENOENT && sr != UV_EACCES)
            c.child_status = 127;
        uv_close((uv_handle_t *)&c.proc, NULL);
        stop_all(&c, "the training command could not start");
        uv_run(&loop, UV_RUN_DEFAULT);
        service_free(c.s);
        uv_loop_close(&loop);
        return c.child_status;
    }
    c.child_running = true;
    hs_log_info("started the training command (pid %d): %s", c.proc.pid, cmd[0]);
    uv_run(&loop, UV_RUN_DEFAULT);
    service_free(c.s);
    if (uv_loop_close(&loop) != 0)
        hs_log_warn("event loop still had handles at exit");
    if (c.child_status != 0)
        return c.child_status;
    return c.final_ok && !c.interrupted ? HS_EXIT_OK : HS_EXIT_FAILURE;
}

const struct hs_command cmd_run = {
    .name = "run",
    .summary = "run a training command and sync while it runs",
    .usage = "Usage: hubsync run --config FILE [--job NAME] -- CMD [ARG]...\n\nStart CMD, push its "
             "checkpoints while it runs, then finish the job (final push\nand model card) when CMD "
             "exits. Exits with CMD's status if CMD failed (128+N if\nkilled by signal N, 127 if "
             "not found), 1 if CMD succeeded but the final push did\nnot, 0 otherwise. SIGINT, "
             "SIGTERM, SIGUSR1 and SIGUSR2 are forwarded to CMD.\nStopped (SIGINT/SIGTERM) after "
             "CMD exited, it keeps the final push in its journal:\n`hubsync daemon` with the same "
             "config, or `run` again, completes it.\n\nOptions:\n  --config FILE   the JSON "
             "configuration\n  --job NAME      the job CMD trains (default: the only job "
             "of FILE)\n  -h, --help      show this help\n",
    .run = run,
};
