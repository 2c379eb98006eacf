/*
 * cmd_run.c — `hubsync run --config FILE [--job NAME] -- CMD [ARG]...`:
 * start the service for one training command, run CMD (environment passed
 * through; WORLD_SIZE feeds the job's world_size), forward SIGINT, SIGTERM,
 * SIGUSR1 and SIGUSR2 to it, and when it exits finish the job (final push
 * and model card), then exit as docs/design.md says: CMD's status if CMD failed
 * (128+N when killed by signal N, 127 when not found, 126 when not
 * executable), 1 if CMD succeeded but the final push did not or a save was
 * lost (recorded, never committed; unless the job's lost_saves_fail_run is
 * false), 0 otherwise.
 * SIGINT/SIGTERM after CMD exited stop hubsync before the final push
 * completes: the journal keeps it and the message says how to complete it.
 *
 * Each signal reaches CMD once. With a controlling terminal CMD stays in
 * hubsync's process group (job control, reading the terminal, ^Z work as
 * without hubsync), and a signal the terminal generated (si_code
 * SI_KERNEL: ^C, which goes to the whole foreground group, CMD included)
 * is not forwarded again. Without one (batch jobs, setsid, services) CMD
 * gets its own process group, so a signal for hubsync's group (kill -INT
 * -PGID) reaches hubsync alone and is forwarded once. That is why CMD is
 * started with posix_spawn (libuv cannot set a process group) and the four
 * signals are caught with sigaction(SA_SIGINFO) (libuv does not pass
 * siginfo); the handler only counts and wakes the loop.
 *
 * With -v and stderr on a terminal the pushes draw a progress bar
 * (pbar_service_progress); otherwise progress is `hubsync status`'s.
 */
#include "cli_int.h"
#include "pbar.h"
#include "common.h"
#include "daemon.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

extern char **environ;

struct run_ctx {
    uv_loop_t *loop;
    struct service *s;
    const char *config;
    pid_t pid;        /* CMD */
    bool own_group;   /* CMD leads its own process group (no controlling terminal) */
    uv_signal_t chld; /* SIGCHLD: reap CMD */
    uv_async_t wake;  /* the signal handler's wake-up */
    bool child_running, signals_closed;
    int child_status; /* exit status or 128+signal */
    bool final_ok, interrupted;
    bool lost_fails; /* saves were lost and the job's lost_saves_fail_run says fail */
    char **cmd;
    bool started;     /* service_start returned: on_checked may act */
    int check_status; /* the token check's verdict before service_start returned */
    char *check_why;  /* ... its reason */
    bool checked;     /* the verdict arrived */
    int exit_status;  /* set when hubsync ends before CMD started (78, 128+N) */
};

enum { N_FWD = 4 };
static const int forwarded[N_FWD] = {SIGINT, SIGTERM, SIGUSR1, SIGUSR2};

/* Filled by the signal handler, drained on the loop: per signal, how many
 * arrived from a process or the kernel, and how many the terminal made. */
static atomic_uint g_sent[N_FWD], g_tty[N_FWD];
static uv_async_t *volatile g_wake;
static struct sigaction g_old[N_FWD];

static void on_sig(int signum, siginfo_t *si, void *uc)
{
    (void)uc;
    int saved = errno;
    for (int k = 0; k < N_FWD; k++) {
        if (forwarded[k] != signum)
            continue;
        if (si && si->si_code == SI_KERNEL)
            atomic_fetch_add(&g_tty[k], 1);
        else
            atomic_fetch_add(&g_sent[k], 1);
    }
    uv_async_t *w = g_wake;
    if (w)
        uv_async_send(w); /* async-signal-safe */
    errno = saved;
}

static void handlers_install(uv_async_t *wake)
{
    g_wake = wake;
    struct sigaction sa = {.sa_sigaction = on_sig, .sa_flags = SA_SIGINFO | SA_RESTART};
    sigemptyset(&sa.sa_mask);
    for (int k = 0; k < N_FWD; k++) {
        atomic_store(&g_sent[k], 0);
        atomic_store(&g_tty[k], 0);
        sigaction(forwarded[k], &sa, &g_old[k]);
    }
}

static void handlers_remove(void)
{
    for (int k = 0; k < N_FWD; k++)
        sigaction(forwarded[k], &g_old[k], NULL);
    g_wake = NULL;
}

static void close_signals(struct run_ctx *c)
{
    if (c->signals_closed)
        return;
    c->signals_closed = true;
    handlers_remove();
    uv_close((uv_handle_t *)&c->wake, NULL);
    uv_close((uv_handle_t *)&c->chld, NULL);
}

static void stop_all(struct run_ctx *c, const char *why)
{
    close_signals(c);
    service_stop(c->s, why);
}

/* Saves lost during the run are a failure unless the job says otherwise. */
static void report_lost(struct run_ctx *c)
{
    struct service_lost l;
    if (service_job_lost(c->s, service_run_job(c->s), &l) < 0 || !l.n)
        return;
    hs_log_error("%" PRIu64 " save%s lost (never committed); the last: %s: %s%s", l.n,
                 l.n == 1 ? "" : "s", l.name ? l.name : "?", l.reason ? l.reason : "?",
                 l.fails_run ? "" : " (lost_saves_fail_run is false: the exit status ignores it)");
    c->lost_fails = l.fails_run;
}

static void on_finished(int status, const char *msg, void *ud)
{
    struct run_ctx *c = ud;
    c->final_ok = status == 0;
    if (status == 0 && msg)
        hs_log_warn("%s", msg);
    if (status < 0)
        hs_log_error("the final push failed: %s", msg ? msg : "unknown error");
    /* how to complete it: only where running again can (an outage, not a
     * missing output dir; a token that cannot push needs fixing first) */
    if (status == -EACCES)
        hs_log_info("the journal keeps the saves and the finish: once the token can push, "
                    "`hubsync daemon --config %s` pushes them",
                    c->config);
    else if (status < 0 && status != -ENOENT && status != -ENOTDIR && status != -ELOOP)
        hs_log_info("the state is kept in the journal; `hubsync daemon --config %s` completes it, "
                    "or `hubsync run` again",
                    c->config);
    report_lost(c);
    stop_all(c, status == 0 ? "final push done" : "final push failed");
}

static void child_ended(struct run_ctx *c, int wstatus)
{
    c->child_running = false;
    int term_signal = WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0;
    int exit_status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 0;
    c->child_status = term_signal ? 128 + term_signal : exit_status;
    if (term_signal)
        hs_log_info("the training command was killed by signal %d (%s)", term_signal,
                    strsignal(term_signal));
    else
        hs_log_info("the training command exited with status %d", exit_status);
    if (service_stopping(c->s))
        return;
    if (service_finish_job(c->s, service_run_job(c->s), c->child_status, on_finished, c) < 0)
        stop_all(c, "finish failed");
}

static void on_chld(uv_signal_t *h, int signum)
{
    (void)signum;
    struct run_ctx *c = h->data;
    int st;
    if (!c->child_running)
        return;
    pid_t r;
    do
        r = waitpid(c->pid, &st, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == c->pid)
        child_ended(c, st);
}

/* One signal for hubsync. tty: the terminal generated it for its
 * foreground process group. */
static void handle_signal(struct run_ctx *c, int signum, bool tty)
{
    if (c->child_running) {
        if (tty && !c->own_group && getpgid(c->pid) == getpgrp()) {
            hs_log_info("%s from the terminal reached the training command directly (same "
                        "process group): not forwarded",
                        strsignal(signum));
            return;
        }
        hs_log_info("forwarding %s to the training command", strsignal(signum));
        if (kill(c->pid, signum) < 0 && errno != ESRCH)
            hs_log_warn("cannot forward %s: %s", strsignal(signum), strerror(errno));
        return;
    }
    if (signum != SIGINT && signum != SIGTERM)
        return;
    if (!c->pid) {
        hs_log_warn("stopped by %s before the training command started",
                    signum == SIGINT ? "SIGINT" : "SIGTERM");
        c->exit_status = 128 + signum;
        return stop_all(c, "stopped before the training command started");
    }
    c->interrupted = true;
    hs_log_warn("stopped by %s before the final push completed; the journal keeps it: run "
                "`hubsync daemon --config %s` (it completes the push) or `hubsync run` again",
                signum == SIGINT ? "SIGINT" : "SIGTERM", c->config);
    stop_all(c, "stopped before the final push completed");
}

static void on_wake(uv_async_t *h)
{
    struct run_ctx *c = h->data;
    /* reap first: a signal that arrived after CMD ended is hubsync's own */
    if (c->child_running)
        on_chld(&c->chld, SIGCHLD);
    for (int k = 0; k < N_FWD && !c->signals_closed; k++) {
        unsigned tty = atomic_exchange(&g_tty[k], 0), sent = atomic_exchange(&g_sent[k], 0);
        for (unsigned i = 0; i < tty && !c->signals_closed; i++)
            handle_signal(c, forwarded[k], true);
        for (unsigned i = 0; i < sent && !c->signals_closed; i++)
            handle_signal(c, forwarded[k], false);
    }
}

/* True when the process has a controlling terminal. */
static bool has_ctty(void)
{
    int fd = open("/dev/tty", O_RDONLY | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

/* Start CMD: the environment passed through, every signal at its default
 * and unblocked, its own process group when asked. 0 or an errno. */
static int spawn_cmd(char **cmd, bool own_group, pid_t *pid)
{
    posix_spawnattr_t attr;
    int rc = posix_spawnattr_init(&attr);
    if (rc)
        return rc;
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    if (own_group) {
        flags |= POSIX_SPAWN_SETPGROUP;
        posix_spawnattr_setpgroup(&attr, 0);
    }
    posix_spawnattr_setflags(&attr, flags);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    rc = posix_spawnp(pid, cmd[0], NULL, &attr, cmd, environ);
    posix_spawnattr_destroy(&attr);
    return rc;
}

/* Start CMD (the token check passed or was skipped). */
static void start_cmd(struct run_ctx *c)
{
    int sr = spawn_cmd(c->cmd, c->own_group, &c->pid);
    if (sr) {
        c->pid = 0;
        hs_log_error("%s: %s", c->cmd[0], sr == ENOENT ? "command not found" : strerror(sr));
        c->exit_status = sr == EACCES ? 126 : 127;
        return stop_all(c, "the training command could not start");
    }
    c->child_running = true;
    priority_apply_defaults(c->loop); /* after the spawn: CMD keeps its own priority */
    hs_log_info("started the training command (pid %d%s): %s", (int)c->pid,
                c->own_group ? ", its own process group" : "", c->cmd[0]);
    on_chld(&c->chld, SIGCHLD); /* it may have ended before the handler was there */
}

/* The token check's verdict: start CMD, or say why not and exit 78. */
static void checked_act(struct run_ctx *c, int status, const char *why)
{
    if (service_stopping(c->s))
        return;
    if (status == 0)
        return start_cmd(c);
    hs_log_error("not starting the training command: %s", why ? why : "the token cannot push");
    hs_log_info("fix the token or hub_model_id; to start anyway (offline), give --no-hub-check or "
                "set \"check_hub_before_run\": false");
    c->exit_status = status;
    stop_all(c, NULL); /* said above */
}

static void on_checked(int status, const char *why, void *ud)
{
    struct run_ctx *c = ud;
    if (c->started)
        return checked_act(c, status, why);
    c->checked = true; /* during service_start: acted on when it returns */
    c->check_status = status;
    c->check_why = why ? strdup(why) : NULL;
}

static int run(int argc, char **argv)
{
    const char *config = NULL, *job = NULL;
    bool no_check = false;
    int verbosity = 0, i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            i++;
            break;
        }
        if ((!strcmp(a, "--config") || !strcmp(a, "--job")) && i + 1 < argc) {
            *(!strcmp(a, "--config") ? &config : &job) = argv[++i];
        } else if (!strcmp(a, "--no-hub-check")) {
            no_check = true;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            verbosity = -1;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            verbosity = 1;
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

    uv_loop_t loop;
    if (uv_loop_init(&loop) < 0) {
        fprintf(stderr, "hubsync run: cannot create the event loop\n");
        return HS_EXIT_FAILURE;
    }
    struct run_ctx c = {.loop = &loop, .config = config, .signals_closed = true, .cmd = argv + i};
    /* -v on a terminal: a bar for the pushes (never beside -q, never in a log file) */
    struct pbar_service bar = {0};
    bool show_bar = verbosity == 1 && isatty(STDERR_FILENO);
    struct service_options o = {.config_path = config,
                                .on_progress = show_bar ? pbar_service_progress : NULL,
                                .progress_ud = &bar,
                                .run_mode = true,
                                .run_job = job,
                                .on_checked = no_check ? NULL : on_checked,
                                .check_ud = &c,
                                .cmd = argv + i,
                                .verbosity = verbosity};
    hs_log_stderr_style(true);
    int rc = service_start(&loop, &o, &c.s);
    if (rc != 0) {
        service_stop(c.s, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
        service_free(c.s);
        uv_loop_close(&loop);
        free(c.check_why);
        return rc;
    }
    c.started = true;
    c.signals_closed = false;
    c.own_group = !has_ctty();
    uv_async_init(&loop, &c.wake, on_wake);
    c.wake.data = &c;
    uv_signal_init(&loop, &c.chld);
    c.chld.data = &c;
    uv_signal_start(&c.chld, on_chld, SIGCHLD);
    handlers_install(&c.wake);
    if (c.checked) {
        checked_act(&c, c.check_status, c.check_why);
    } else if (no_check || !service_check_pending(c.s)) {
        hs_log_warn("starting the training command without checking that the token can push "
                    "(%s): a token that cannot push shows only at the first push",
                    no_check ? "--no-hub-check" : "check_hub_before_run is false");
        start_cmd(&c);
    } else {
        hs_log_info("checking that the token can push before starting the training command");
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    service_free(c.s);
    free(c.check_why);
    if (uv_loop_close(&loop) != 0)
        hs_log_warn("event loop still had handles at exit");
    if (!c.pid)
        return c.exit_status ? c.exit_status : HS_EXIT_FAILURE;
    if (c.child_status != 0)
        return c.child_status;
    return c.final_ok && !c.interrupted && !c.lost_fails ? HS_EXIT_OK : HS_EXIT_FAILURE;
}

const struct hs_command cmd_run = {
    .name = "run",
    .summary = "run a training command and sync while it runs",
    .usage = "Usage: hubsync run --config FILE [--job NAME] [--no-hub-check] [-q | -v] -- CMD "
             "[ARG]...\n\nStart CMD, push its "
             "checkpoints while it runs, then finish the job (final push\nand model card) when CMD "
             "exits. Exits with CMD's status if CMD failed (128+N if\nkilled by signal N, 127 if "
             "not found), 1 if CMD succeeded but the final push did\nnot or a save was lost (never "
             "committed: see `hubsync status`; the job key\nlost_saves_fail_run false ignores "
             "that), 0 otherwise. The final push is retried\nthrough outages for the job's "
             "final_push_timeout_minutes (30). SIGINT,\n"
             "SIGTERM, SIGUSR1 and SIGUSR2 are forwarded to CMD.\nStopped (SIGINT/SIGTERM) after "
             "CMD exited, it keeps the final push in its journal:\n`hubsync daemon` with the same "
             "config, or `run` again, completes it.\nBefore CMD starts, it checks that the token "
             "can push to every job's repo,\ncreates the repos that do not exist, and exits 78 "
             "with the reason if it cannot.\n\nOptions:\n"
             "  --config FILE   the JSON configuration\n  --job NAME      the job CMD trains "
             "(default: the only job of FILE)\n  --no-hub-check  start CMD without that check "
             "(offline starts; the config\n                  key check_hub_before_run false does "
             "the same)\n  -q, --quiet     warnings and errors only\n  -v, --verbose   debug "
             "lines too (over log_level and $HUBSYNC_LOG_LEVEL), and on a terminal a\n"
             "                  progress bar of the pushes\n  -h, --help      show this "
             "help\n\nIts lines are whole, time-stamped and start with \"hubsync: LEVEL:\"; on a "
             "terminal\neach clears the line first, so a trainer's progress bar is not glued to "
             "it.\n",
    .run = run,
};
