/*
 * service_int.h — the running service's state, shared by service.c (start,
 * reload, stop), token_check.c (whoami-v2 and holding jobs) and
 * pidwatch.c (a job's pid / pid_file process). Loop thread only.
 */
#ifndef HUBSYNC_DAEMON_SERVICE_INT_H
#define HUBSYNC_DAEMON_SERVICE_INT_H

#include "daemon_int.h"

#include "sync.h"
#include "uploader.h"

#include <stdbool.h>

/* A job's configured pid / pid_file process, watched through a pidfd. */
struct pidwatch {
    uv_poll_t poll;
    struct service *s;
    char *job;
    int fd;
    struct pidwatch *next;
};

struct service {
    uv_loop_t *loop;
    struct service_options o;
    char *config_path;
    struct config *cfg;
    struct config *first; /* the start config: env, uploader and token point into it */
    struct config **old;  /* replaced configs a stopped job still points into (release_retired) */
    size_t n_old;
    struct statelock *lock;
    struct jstate *js;
    struct watcher *w;
    struct uploader *up;
    struct control_server *ctl;
    struct job_env env;
    struct job **jobs;
    size_t n_jobs;
    struct job **gone; /* removed by a reload; freed once job_stopped (release_retired) */
    size_t n_gone;
    uv_signal_t sig_hup, sig_term, sig_int;
    bool sig_init;
    struct notify_watchdog wd;
    bool wd_started;
    struct pidwatch *pids;
    bool stopping;
    uv_timer_t stop_timer; /* the stop runs from the loop, outside any callback chain */
    hs_usec_t started;
    service_finish_cb fin_cb;
    void *fin_ud;
    char *run_job;
    /* the token check (whoami-v2) */
    struct uploader_whoami who; /* the last answer (who_ok) */
    bool who_ok, who_pending, who_started, who_recheck;
    bool token_refused;                /* the Hub answered 401 */
    uv_timer_t who_timer;              /* retries a check the Hub did not answer */
    char token_from[HS_PATH_MAX + 64]; /* where the token came from, for messages */
    int exit_status;                   /* a failure after the start (service_exit_status) */
    const char *token;                 /* the uploader's token (the start config's, kept in old) */
    service_check_cb check_cb;         /* `run`: the first check's verdict (o.on_checked) */
    void *check_ud;
};

#define HELD_CHECKING "checking the token (whoami-v2) before the first push"

/* service.c: the job named name, or NULL. */
struct job *service__find_job(struct service *s, const char *name);

/* token_check.c: where the token came from, into s->token_from (and the
 * config's token warning, once); ask whoami-v2 (again: a reload) and judge
 * every job by the answer; `run`'s finish failed with why when its job can
 * never push. */
void service__describe_token_source(struct service *s);
void service__token_check(struct service *s);
void service__fail_run_finish(struct service *s, const char *why);

/* pidwatch.c: watch each job's pid / pid_file process not yet watched (at
 * start and after a reload); close the watches (the stop). */
void service__watch_pids(struct service *s);
void service__pids_close(struct service *s);

#endif
