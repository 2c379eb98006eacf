/*
 * service.h — part of daemon/ (daemon.h): the running service behind `hubsync
 * daemon` and `hubsync run` (docs/design.md "Data flow", "Running as a
 * service"). It loads the config and the token, takes the state_dir lock,
 * opens and replays the journal, creates the watcher and the single
 * uploader on the caller's loop, one job (job.h) per configured job, the
 * control socket (status, finish), signal handling (SIGHUP reload; SIGTERM
 * and SIGINT stop unless the caller handles them) and systemd notify and
 * watchdog. Policy and logging live here; cmd_daemon.c and cmd_run.c are
 * thin command lines around it.
 *
 * At start (and after each SIGHUP) it checks the token with whoami-v2:
 * jobs stay held (job_hold) until the answer; a job whose repo the token
 * cannot write stays held with the reason as its last_error; a 401 at the
 * start stops `hubsync daemon` (exit 78) and, under `run`, holds every job
 * and fails the final push with the reason while CMD runs on. No answer
 * does not stop anything: the check is retried later.
 *
 * Knobs in the environment (tests and operators; not config keys):
 *   HUBSYNC_COMMIT_BUDGET (120) and HUBSYNC_COMMIT_WINDOW_SECONDS (3600):
 *     commits per job and window before queued saves are coalesced (the Hub
 *     allows about 128 per repo and hour); 0 turns the budget off.
 *   HUBSYNC_JOB_RETRY_MS (5000): first delay before a failed commit is
 *     retried (doubling, at most 5 minutes; 30 s for `run` once CMD exited,
 *     which gives up after the job's final_push_timeout_minutes — a config
 *     key — and leaves the journal to `hubsync daemon` or the next `run`).
 *   HUBSYNC_RETRY_BASE_MS, HUBSYNC_STALL_SECONDS: the uploader's request
 *     retry base and stall timeout.
 *   HUBSYNC_WHOAMI_RETRY_SECONDS (60): the next token check after one the
 *     Hub did not answer.
 *   HUBSYNC_LOG_LEVEL (error, warn, info, debug): over the config's
 *     log_level; -q / -v of `run` and `daemon` win over both.
 *   HUBSYNC_PREHASH (1): 0 turns off hashing a pending save's files as
 *     they are protected (sync/job_prehash.c); they are hashed at READY.
 */
#ifndef HUBSYNC_DAEMON_SERVICE_H
#define HUBSYNC_DAEMON_SERVICE_H

#include "common.h"

#include <stdbool.h>
#include <uv.h>

struct uploader_progress;

/* `run`, before CMD starts (service_options.on_checked): cb(0, NULL, ud)
 * once the first token check says every job's repo may be pushed to and
 * every job's repo exists (created if needed, as the Trainer's
 * create_repo(exist_ok=True): preflight.h); cb(HS_EXIT_CONFIG, why, ud)
 * when the Hub refused the token, a job's repo is not writable with it or
 * cannot be created (why names the job and the repo), or the Hub gave no
 * answer (after the request's retries). Called once, from the loop. */
typedef void (*service_check_cb)(int status, const char *why, void *userdata);

struct service_options {
    const char *config_path;
    bool run_mode;               /* `hubsync run`: WORLD_SIZE from the environment; SIGINT/SIGTERM
                                    are the caller's; a finish left by an earlier run is not resumed
                                    until this run's finish */
    const char *run_job;         /* run mode: the job CMD trains (NULL: the only one) */
    service_check_cb on_checked; /* NULL: nobody waits for the token check */
    char *const *cmd;            /* run mode: CMD's argv, for the launcher check (or NULL) */
    int verbosity;               /* -1: -q (warnings, errors), 1: -v (debug), 0: the config's
                                    log_level or $HUBSYNC_LOG_LEVEL */
    void *check_ud;
    /* Each job push's progress (p NULL: that push ended), on the loop;
     * NULL: none. `run` and `daemon` draw a bar with it under -v on a
     * terminal. */
    void (*on_progress)(const char *job, const struct uploader_progress *p, void *ud);
    void *progress_ud;
};

struct service;

/* Start everything. On failure prints the reason (stderr/log) and returns
 * the exit code to use (HS_EXIT_CONFIG for the config, HS_EXIT_FAILURE for
 * the rest, e.g. a state_dir held by another process); 0 on success. After
 * a failure that created handles, *out is still set: call service_stop,
 * run the loop, then service_free. */
int service_start(uv_loop_t *loop, const struct service_options *o, struct service **out);

/* True while on_checked waits to be called (false when the config's
 * check_hub_before_run is false or the verdict was given). */
bool service_check_pending(const struct service *s);

/* Run mode: the name of the job CMD trains. */
const char *service_run_job(const struct service *s);

/* Training of job ended with exit_status; cb(status, msg, ud) when its
 * final commit is made (status 0; msg non-NULL when the card was refused)
 * or failed for good (status < 0). */
typedef void (*service_finish_cb)(int status, const char *msg, void *userdata);
int service_finish_job(struct service *s, const char *job, int exit_status, service_finish_cb cb,
                       void *userdata);

/* The saves of job recorded lost by this process (job_lost), the last
 * one's name and reason (valid until the loop runs again), and whether the
 * job's lost_saves_fail_run makes them a failure of `run`. -ENOENT when
 * there is no such job. */
struct service_lost {
    uint64_t n;
    const char *name, *reason;
    bool fails_run;
};
int service_job_lost(const struct service *s, const char *job, struct service_lost *out);

/* Begin a clean stop: no new work, uploads cancelled with their state kept
 * (journal + resume files), every handle closed; the loop then returns.
 * why goes to the log and systemd's STATUS=. Idempotent. */
void service_stop(struct service *s, const char *why);
bool service_stopping(const struct service *s);

/* After the loop returned: 0, or the exit code a failure after the start
 * calls for (HS_EXIT_CONFIG: the Hub refused the token at start). */
int service_exit_status(const struct service *s);

/* After the loop returned: close the journal, release the lock, free. */
struct service *service_free(struct service *s);

#endif
