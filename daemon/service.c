/*
 * service.c — the running service (see service.h): start-up order (config,
 * token, lock, journal, uploader, watcher, control socket, jobs, signals,
 * systemd readiness), the control socket's status and finish answers,
 * SIGHUP reloads (jobs added, removed and changed; an invalid config is
 * refused and the old one kept) and the clean stop. The token check is
 * token_check.c's, the pid / pid_file watch pidwatch.c's, the per-job work
 * sync/job.c's.
 */
#include "service_int.h"

#include "config.h"
#include "sync.h"
#include "state.h"
#include "uploader.h"
#include "watcher.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef HUBSYNC_VERSION
#define HUBSYNC_VERSION "0.0.0"
#endif

struct job *service__find_job(struct service *s, const char *name)
{
    for (size_t i = 0; i < s->n_jobs; i++)
        if (!strcmp(job_name(s->jobs[i]), name))
            return s->jobs[i];
    return NULL;
}

/* ---- watcher callbacks ------------------------------------------------------ */

static void on_ready(struct watcher_job *wj, const struct watcher_checkpoint *cp, void *ud)
{
    (void)ud;
    struct job *j = watcher_job_userdata(wj);
    if (j)
        job_on_checkpoint(j, cp);
}

static void on_lost(struct watcher_job *wj, const char *id, const char *why, void *ud)
{
    (void)ud;
    struct job *j = watcher_job_userdata(wj);
    if (j)
        job_on_checkpoint_lost(j, id, why);
}

static void on_protected(struct watcher_job *wj, const char *id, const char *path, void *ud)
{
    (void)ud;
    struct job *j = watcher_job_userdata(wj);
    if (j)
        job_on_file_protected(j, id, path);
}

static void on_growing(struct watcher_job *wj, const char *id, const char *path, void *ud)
{
    (void)ud;
    struct job *j = watcher_job_userdata(wj);
    if (j)
        job_on_file_growing(j, id, path);
}

static void on_output(struct watcher_job *wj, const struct watcher_output *out, void *ud)
{
    (void)ud;
    (void)out;
    struct job *j = watcher_job_userdata(wj);
    if (j)
        job_on_output(j);
}

static void on_notice(struct watcher_job *wj, enum watcher_notice_level level, const char *msg,
                      void *ud)
{
    (void)ud;
    struct job *j = wj ? watcher_job_userdata(wj) : NULL;
    enum hs_log_level l = level == WATCHER_NOTICE_ERROR  ? HS_LOG_ERROR
                          : level == WATCHER_NOTICE_WARN ? HS_LOG_WARN
                                                         : HS_LOG_INFO;
    hs_log(l, "%s%s%s%s", j ? "job " : "", j ? job_name(j) : "", j ? ": " : "", msg);
}

/* ---- status ------------------------------------------------------------------ */

static void on_changed(void *ud)
{
    struct service *s = ud;
    if (!notify_enabled() || s->stopping)
        return;
    char line[1024] = "", one[256];
    size_t off = 0;
    for (size_t i = 0; i < s->n_jobs && off < sizeof(line) - 1; i++) {
        job_status_line(s->jobs[i], one, sizeof(one));
        int w = snprintf(line + off, sizeof(line) - off, "%s%s", i ? "; " : "", one);
        if (w < 0)
            break;
        off += (size_t)w;
    }
    notify_status("%s", line);
}

static json_t *status_json(struct service *s)
{
    json_t *jobs = json_array();
    for (size_t i = 0; jobs && i < s->n_jobs; i++)
        json_array_append_new(jobs, job_status_json(s->jobs[i]));
    /* the uploader's hash cache (not while stopping: the uploader closes) */
    json_t *cache = NULL;
    if (s->up && !s->stopping) {
        struct uploader_hashcache_stats hc;
        uploader_hash_cache_stats(s->up, &hc);
        cache = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "entries",
                          (json_int_t)hc.entries, "max_entries", (json_int_t)hc.max_entries, "hits",
                          (json_int_t)hc.hits, "misses", (json_int_t)hc.misses, "evictions",
                          (json_int_t)hc.evictions, "prehashed", (json_int_t)hc.prehashed,
                          "hashed_while_written", (json_int_t)hc.grown_finished,
                          "verified_after_written", (json_int_t)hc.grown_verified,
                          "rewritten_after_hashed", (json_int_t)hc.grown_rejected,
                          "verify_bytes_read", (json_int_t)hc.grown_verify_read, "files_read",
                          (json_int_t)uploader_hash_files_read(s->up));
    }
    return json_pack("{s:I, s:s, s:I, s:s, s:s, s:o, s:o*}", "pid", (json_int_t)getpid(), "version",
                     HUBSYNC_VERSION, "uptime_seconds",
                     (json_int_t)((hs_now_monotonic() - s->started) / HS_USEC_PER_SEC), "state_dir",
                     s->cfg->state_dir, "config", s->config_path, "jobs", jobs, "hash_cache",
                     cache);
}

static json_t *control_cb(const char *cmd, const json_t *req, void *ud)
{
    struct service *s = ud;
    if (!strcmp(cmd, "status"))
        return status_json(s);
    if (!strcmp(cmd, "finish")) {
        const char *name = json_string_value(json_object_get(req, "job"));
        struct job *j = name ? service__find_job(s, name) : NULL;
        if (!j) {
            char names[512] = "";
            size_t off = 0;
            for (size_t i = 0; i < s->n_jobs && off < sizeof(names); i++)
                off += (size_t)snprintf(names + off, sizeof(names) - off, "%s%s", i ? ", " : "",
                                        job_name(s->jobs[i]));
            return json_pack("{s:b, s:s+++}", "ok", 0, "error", "no job named \"", name ? name : "",
                             "\"; jobs: ", names);
        }
        struct hs_err err = {0};
        if (job_finish(j, 0, NULL, NULL, &err) < 0)
            return json_pack("{s:b, s:s}", "ok", 0, "error", err.msg);
        return json_pack("{s:s+++}", "message", "job ", name,
                         ": finish requested; the daemon pushes the final model and model card "
                         "after the queued saves (see hubsync status)",
                         "");
    }
    return json_pack("{s:b, s:s++}", "ok", 0, "error", "unknown command ", cmd);
}

/* The log level: the config's log_level, else $HUBSYNC_LOG_LEVEL over it,
 * else -q (warnings and errors) / -v (debug) over both: no config edit to
 * quieten or debug one run. */
static void apply_log_level(const struct service *s, const struct config *cfg)
{
    enum hs_log_level level = cfg->log_level;
    const char *env = getenv("HUBSYNC_LOG_LEVEL");
    if (env && *env && !config_log_level_parse(env, &level))
        hs_log_warn("HUBSYNC_LOG_LEVEL=\"%s\" is not error, warn, info or debug: ignored", env);
    if (s->o.verbosity < 0)
        level = HS_LOG_WARN;
    else if (s->o.verbosity > 0)
        level = HS_LOG_DEBUG;
    hs_log_set_level(level);
}

/* ---- config and reload ------------------------------------------------------------ */

static int load_config(struct service *s, struct config **out)
{
    struct config_errors errs = {0};
    int rc = config_load(s->config_path, out, &errs);
    for (size_t i = 0; i < errs.n; i++) {
        hs_secret_scrub(errs.v[i]);
        hs_log_error("%s", errs.v[i]);
    }
    config_errors_free(&errs);
    if (rc < 0)
        return rc;
    for (size_t i = 0; !s->o.run_mode && i < (*out)->n_jobs; i++) {
        if (!(*out)->jobs[i].watch_relative)
            continue;
        hs_log_error("%s: jobs[%zu].watch is relative (%s here): only `hubsync run` takes that "
                     "(against its working directory); write the absolute path for the daemon",
                     s->config_path, i, (*out)->jobs[i].watch);
        rc = HS_ECONFIG;
    }
    if (rc != 0) {
        *out = config_free(*out);
        return rc;
    }
    struct hs_err err = {0};
    if (s->o.run_mode && config_apply_run_env(*out, NULL, &err) < 0) {
        hs_log_error("%s", err.msg);
        *out = config_free(*out);
        return HS_ECONFIG;
    }
    return 0;
}

static void retire_job(struct service *s, struct job *j)
{
    struct job **g = realloc(s->gone, (s->n_gone + 1) * sizeof(*g));
    if (!g) {
        /* cannot keep it for later: it stays allocated until exit, unreachable */
        hs_log_warn("job %s: out of memory: its memory is not released", job_name(j));
        return;
    }
    s->gone = g;
    s->gone[s->n_gone++] = j;
}

static bool config_holds(const struct config *c, const struct config_job *jc)
{
    for (size_t k = 0; k < c->n_jobs; k++)
        if (&c->jobs[k] == jc)
            return true;
    return false;
}

/* SIGHUP must not grow memory: free the removed jobs whose handles are
 * closed and that have nothing in flight, then the replaced configs no
 * remaining removed job points into (live jobs point into s->cfg; the
 * start config is kept for env and the uploader). What is still busy is
 * looked at again at the next reload, and freed at exit in any case. */
static void release_retired(struct service *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n_gone; i++) {
        if (job_stopped(s->gone[i]))
            job_free(s->gone[i]);
        else
            s->gone[n++] = s->gone[i];
    }
    s->n_gone = n;
    n = 0;
    for (size_t i = 0; i < s->n_old; i++) {
        bool used = false;
        for (size_t k = 0; k < s->n_gone && !used; k++)
            used = config_holds(s->old[i], job_config(s->gone[k]));
        if (used)
            s->old[n++] = s->old[i];
        else
            config_free(s->old[i]);
    }
    s->n_old = n;
}

static void reload(struct service *s)
{
    notify_reloading();
    hs_log_info("SIGHUP: reloading %s", s->config_path);
    struct config *nc = NULL;
    if (load_config(s, &nc) < 0) {
        hs_log_error("config reload refused: %s is invalid; the running configuration is kept",
                     s->config_path);
        notify_ready("config reload refused; running configuration kept");
        return;
    }
    if (strcmp(nc->state_dir, s->cfg->state_dir) || strcmp(nc->endpoint, s->cfg->endpoint) ||
        nc->max_parallel_uploads != s->cfg->max_parallel_uploads ||
        nc->bandwidth_limit_bytes_per_sec != s->cfg->bandwidth_limit_bytes_per_sec)
        hs_log_warn("config reload: state_dir, endpoint, max_parallel_uploads and "
                    "bandwidth_limit_mbps take effect at the next start");
    struct hs_err terr = {0};
    if (config_token_load(nc, NULL, &terr) < 0)
        hs_log_warn("config reload: %s (the running process keeps its token)", terr.msg);
    else if (s->token && strcmp(nc->token, s->token) != 0)
        hs_log_warn("config reload: the token changed; a new token takes effect at the next "
                    "start (this process keeps the token from %s)",
                    s->token_from);
    /* removed jobs */
    for (size_t i = 0; i < s->n_jobs;) {
        struct job *j = s->jobs[i];
        if (config_job_find(nc, job_name(j))) {
            i++;
            continue;
        }
        hs_log_info("config reload: job %s removed%s", job_name(j),
                    job_busy(j) ? " (its queued saves stay in the journal)" : "");
        job_stop(j);
        retire_job(s, j);
        memmove(s->jobs + i, s->jobs + i + 1, (s->n_jobs - i - 1) * sizeof(*s->jobs));
        s->n_jobs--;
    }
    /* changed and added jobs */
    for (size_t i = 0; i < nc->n_jobs; i++) {
        struct job *j = service__find_job(s, nc->jobs[i].name);
        struct hs_err err = {0};
        if (j) {
            if (job_reconfigure(j, &nc->jobs[i], &err) < 0)
                hs_log_error("job %s: %s", nc->jobs[i].name, err.msg);
            continue;
        }
        struct job **v = realloc(s->jobs, (s->n_jobs + 1) * sizeof(*v));
        if (!v)
            continue;
        s->jobs = v;
        if (job_new(&s->env, &nc->jobs[i], &j, &err) < 0) {
            hs_log_error("job %s: %s", nc->jobs[i].name, err.msg);
            if (j)
                retire_job(s, j);
            continue;
        }
        hs_log_info("config reload: job %s added (watching %s)", job_name(j), nc->jobs[i].watch);
        s->jobs[s->n_jobs++] = j;
    }
    if (s->cfg != s->first) {
        struct config **old = realloc(s->old, (s->n_old + 1) * sizeof(*old));
        if (old) {
            s->old = old;
            s->old[s->n_old++] = s->cfg;
        } else {
            hs_log_warn("config reload: out of memory: the replaced config is not released");
        }
    }
    s->cfg = nc;
    release_retired(s);
    apply_log_level(s, nc);
    service__watch_pids(s);
    hs_log_info("config reloaded: %zu job%s", s->n_jobs, s->n_jobs == 1 ? "" : "s");
    service__token_check(s); /* access may have changed: the new jobs wait for it */
    notify_ready("configuration reloaded");
}

/* Resume states (<state_dir>/push/<commit>.json) of commits the journal
 * no longer waits for: a crash between the confirmation and the unlink. */
static void clean_push_states(struct service *s)
{
    char dir[HS_PATH_MAX];
    if (hs_path_join(dir, sizeof(dir), s->cfg->state_dir, "push") < 0)
        return;
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        char *end;
        unsigned long long id = strtoull(e->d_name, &end, 10);
        if (end == e->d_name || strcmp(end, ".json") != 0)
            continue;
        const struct jstate_commit *c = jstate_commit_get(s->js, id);
        if (c && c->state == JCOMMIT_SENT)
            continue;
        char path[HS_PATH_MAX];
        if (hs_path_join(path, sizeof(path), dir, e->d_name) == 0 && unlink(path) == 0)
            hs_log_debug("removed the resume state of finished commit %llu", id);
    }
    closedir(d);
}

/* ---- signals -------------------------------------------------------------------- */

static void on_signal(uv_signal_t *h, int signum)
{
    struct service *s = h->data;
    if (signum == SIGHUP)
        return reload(s);
    char why[64];
    snprintf(why, sizeof(why), "stopping on %s", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    service_stop(s, why);
}

/* ---- start / stop ------------------------------------------------------------------ */

/* `run` around a multi-process launcher with world size 1: hubsync would
 * call a checkpoint complete before the other ranks' files are in it (the
 * rule is config_launcher_warning's, shared with check-config). */
static void warn_launcher(char *const *cmd, const struct config_job *j)
{
    char msg[HS_ERR_MAX];
    if (config_launcher_warning(cmd, j, msg, sizeof(msg)))
        hs_log_warn("%s", msg);
}

int service_start(uv_loop_t *loop, const struct service_options *o, struct service **out)
{
    *out = NULL;
    struct service *s = calloc(1, sizeof(*s));
    if (s) /* absolute in status and messages; the file named as given if it cannot be */
        s->config_path = realpath(o->config_path, NULL);
    if (s && !s->config_path)
        s->config_path = strdup(o->config_path);
    if (!s || !s->config_path) {
        free(s);
        hs_log_error("out of memory");
        return HS_EXIT_FAILURE;
    }
    s->loop = loop;
    uv_timer_init(loop, &s->stop_timer);
    s->stop_timer.data = s;
    uv_timer_init(loop, &s->who_timer);
    s->who_timer.data = s;
    s->o = *o;
    s->o.config_path = s->config_path;
    s->check_cb = o->on_checked;
    s->check_ud = o->check_ud;
    s->started = hs_now_monotonic();
    struct hs_err err = {0};
    *out = s;
    if (load_config(s, &s->cfg) < 0)
        return HS_EXIT_CONFIG;
    s->first = s->cfg;
    apply_log_level(s, s->cfg);
    log_sinks_setup(s->cfg);
    if (!s->cfg->check_hub_before_run)
        s->check_cb = NULL; /* the config says: start CMD without waiting */
    if (o->run_mode) {
        const struct config_job *rj = o->run_job            ? config_job_find(s->cfg, o->run_job)
                                      : s->cfg->n_jobs == 1 ? &s->cfg->jobs[0]
                                                            : NULL;
        if (!rj) {
            if (o->run_job)
                hs_log_error("%s: no job named \"%s\"", s->config_path, o->run_job);
            else
                hs_log_error("%s has %zu jobs: say which one CMD trains with --job NAME",
                             s->config_path, s->cfg->n_jobs);
            return o->run_job ? HS_EXIT_CONFIG : HS_EXIT_USAGE;
        }
        s->run_job = strdup(rj->name);
        warn_launcher(o->cmd, rj);
    }
    if (config_check_online(NULL, &err) < 0 || config_token_load(s->cfg, NULL, &err) < 0) {
        hs_log_error("%s", err.msg);
        return HS_EXIT_CONFIG;
    }
    service__describe_token_source(s);
    s->token = s->cfg->token;
    pid_t holder = 0;
    if (statelock_acquire(s->cfg->state_dir, &s->lock, &holder, &err) < 0) {
        hs_log_error("%s", err.msg);
        return HS_EXIT_FAILURE;
    }
    struct journal_report rep = {0};
    if (jstate_open(s->cfg->state_dir, &s->js, &rep, &err) < 0) {
        hs_log_error("journal: %s", err.msg);
        return HS_EXIT_FAILURE;
    }
    jstate_use_loop(s->js, loop); /* its fdatasync on the thread pool (jstate.h) */
    if (rep.torn_bytes)
        hs_log_warn("journal: a torn last record (%" PRIu64 " bytes) was cut away", rep.torn_bytes);
    if (rep.corrupt)
        hs_log_error("journal: damage at byte %" PRIu64 "; the damaged log is kept as %s",
                     rep.corrupt_offset, rep.corrupt_copy);
    clean_push_states(s);
    unsigned retry_ms = hs_env_uint("HUBSYNC_RETRY_BASE_MS", 0);
    struct uploader_options uo = {
        .endpoint = s->cfg->endpoint,
        .token = s->cfg->token,
        .ca_file = s->cfg->ca_file,
        .max_parallel = s->cfg->max_parallel_uploads,
        .bandwidth_bytes_per_sec = s->cfg->bandwidth_limit_bytes_per_sec,
        .retry_base = (hs_usec_t)retry_ms * HS_USEC_PER_MSEC,
        .stall_seconds = hs_env_uint("HUBSYNC_STALL_SECONDS", 0),
    };
    if (uploader_new(loop, &uo, &s->up, &err) < 0) {
        hs_log_error("uploader: %s", err.msg);
        return HS_EXIT_FAILURE;
    }
    struct watcher_callbacks wcb = {
        .on_checkpoint_ready = on_ready,
        .on_training_output = on_output,
        .on_checkpoint_lost = on_lost,
        .on_notice = on_notice,
        .on_file_protected = on_protected,
        .on_file_growing = on_growing,
    };
    if (watcher_new(loop, &wcb, s, &s->w, &err) < 0) {
        hs_log_error("watcher: %s", err.msg);
        return HS_EXIT_FAILURE;
    }
    char sock[HS_PATH_MAX], alias[HS_PATH_MAX];
    struct control_options co = {0};
    if (control_socket_path(s->cfg->state_dir, sock, sizeof(sock)) < 0) {
        hs_log_error("control socket path too long under %s", s->cfg->state_dir);
        return HS_EXIT_FAILURE;
    }
    if (getenv("RUNTIME_DIRECTORY") &&
        hs_path_join(alias, sizeof(alias), s->cfg->state_dir, CONTROL_SOCKET_NAME) == 0 &&
        strcmp(alias, sock) != 0)
        co.alias = alias;
    if (control_server_start(loop, sock, &co, control_cb, s, &s->ctl, &err) < 0) {
        hs_log_error("control socket: %s", err.msg);
        return HS_EXIT_FAILURE;
    }
    s->env = (struct job_env){
        .loop = loop,
        .uploader = s->up,
        .watcher = s->w,
        .js = s->js,
        .state_dir = s->cfg->state_dir,
        .endpoint = s->cfg->endpoint,
        .run_mode = o->run_mode,
        .retry_delay = (hs_usec_t)hs_env_uint("HUBSYNC_JOB_RETRY_MS", 5000) * HS_USEC_PER_MSEC,
        /* the Hub allows about 128 commits per repo and hour: keep some for
         * other writers and the finish (test knobs in the environment) */
        .commit_budget = hs_env_uint("HUBSYNC_COMMIT_BUDGET", 120),
        .commit_window =
            (hs_usec_t)hs_env_uint("HUBSYNC_COMMIT_WINDOW_SECONDS", 3600) * HS_USEC_PER_SEC,
        .changed = on_changed,
        .changed_ud = s,
        .progress = o->on_progress,
        .progress_ud = o->progress_ud,
        .start_held = HELD_CHECKING, /* until the token check answers (judge_job) */
        .prehash = hs_env_uint("HUBSYNC_PREHASH", 1) != 0,
    };
    s->jobs = calloc(s->cfg->n_jobs + 1, sizeof(*s->jobs));
    if (!s->jobs)
        return HS_EXIT_FAILURE;
    for (size_t i = 0; i < s->cfg->n_jobs; i++) {
        struct job *j = NULL;
        int rc = job_new(&s->env, &s->cfg->jobs[i], &j, &err);
        if (j)
            s->jobs[s->n_jobs++] = j;
        if (rc < 0) {
            hs_log_error("job %s: %s", s->cfg->jobs[i].name, err.msg);
            return HS_EXIT_FAILURE;
        }
        hs_log_info("job %s: watching %s → %s (%s)", s->cfg->jobs[i].name, s->cfg->jobs[i].watch,
                    s->cfg->jobs[i].hub_model_id,
                    config_strategy_name(s->cfg->jobs[i].hub_strategy));
    }
    uv_signal_init(loop, &s->sig_hup);
    uv_signal_init(loop, &s->sig_term);
    uv_signal_init(loop, &s->sig_int);
    s->sig_hup.data = s->sig_term.data = s->sig_int.data = s;
    s->sig_init = true;
    uv_signal_start(&s->sig_hup, on_signal, SIGHUP);
    if (!o->run_mode) {
        uv_signal_start(&s->sig_term, on_signal, SIGTERM);
        uv_signal_start(&s->sig_int, on_signal, SIGINT);
    }
    service__watch_pids(s);
    service__token_check(s);
    s->wd_started = notify_watchdog_start(&s->wd, loop) == 1;
    hs_log_info("hubsync %s: %zu job%s, state in %s, control socket %s", HUBSYNC_VERSION, s->n_jobs,
                s->n_jobs == 1 ? "" : "s", s->cfg->state_dir, sock);
    notify_ready("watching");
    on_changed(s);
    return 0;
}

bool service_check_pending(const struct service *s)
{
    return s->check_cb != NULL;
}

const char *service_run_job(const struct service *s)
{
    return s->run_job;
}

static void finish_cb(struct job *j, int status, const char *msg, void *ud)
{
    (void)j;
    struct service *s = ud;
    service_finish_cb cb = s->fin_cb;
    s->fin_cb = NULL;
    if (cb)
        cb(status, msg, s->fin_ud);
}

int service_finish_job(struct service *s, const char *job, int exit_status, service_finish_cb cb,
                       void *userdata)
{
    struct job *j = service__find_job(s, job);
    struct hs_err err = {0};
    if (!j)
        return hs_err_set(&err, -ENOENT, "no job %s", job);
    s->fin_cb = cb;
    s->fin_ud = userdata;
    int rc = job_finish(j, exit_status, finish_cb, s, &err);
    if (rc < 0) {
        hs_log_error("%s", err.msg);
        s->fin_cb = NULL;
    } else if (job_held(j) && strcmp(job_held(j), HELD_CHECKING) != 0) {
        service__fail_run_finish(s, job_held(j)); /* the token cannot push it: say so now */
    }
    return rc;
}

int service_job_lost(const struct service *s, const char *job, struct service_lost *out)
{
    memset(out, 0, sizeof(*out));
    struct job *j = service__find_job((struct service *)s, job);
    if (!j)
        return -ENOENT;
    out->n = job_lost(j, &out->name, &out->reason);
    out->fails_run = job_config(j)->lost_saves_fail_run;
    return 0;
}

int service_exit_status(const struct service *s)
{
    return s ? s->exit_status : 0;
}

bool service_stopping(const struct service *s)
{
    return s->stopping;
}

/* The stop itself, from a timer callback: service_stop may be called from
 * inside an uploader or job callback, whose objects closing would free. */
static void do_stop(uv_timer_t *t)
{
    struct service *s = t->data;
    for (size_t i = 0; i < s->n_jobs; i++)
        job_stop(s->jobs[i]);
    if (s->up)
        uploader_close(s->up);
    if (s->w)
        watcher_close(s->w);
    if (s->ctl)
        control_server_stop(s->ctl, NULL, NULL);
    s->ctl = NULL;
    if (s->sig_init) {
        uv_close((uv_handle_t *)&s->sig_hup, NULL);
        uv_close((uv_handle_t *)&s->sig_term, NULL);
        uv_close((uv_handle_t *)&s->sig_int, NULL);
    }
    if (s->wd_started)
        notify_watchdog_stop(&s->wd, NULL);
    service__pids_close(s);
    uv_close((uv_handle_t *)&s->who_timer, NULL);
    uv_close((uv_handle_t *)&s->stop_timer, NULL);
}

void service_stop(struct service *s, const char *why)
{
    if (!s || s->stopping)
        return;
    s->stopping = true;
    if (why)
        hs_log_info("%s", why);
    notify_stopping(why);
    uv_timer_start(&s->stop_timer, do_stop, 0, 0);
}

struct service *service_free(struct service *s)
{
    if (!s)
        return NULL;
    for (size_t i = 0; i < s->n_jobs; i++)
        job_free(s->jobs[i]);
    for (size_t i = 0; i < s->n_gone; i++)
        job_free(s->gone[i]);
    free(s->jobs);
    free(s->gone);
    jstate_close(s->js);
    statelock_release(s->lock);
    if (s->first != s->cfg)
        config_free(s->first);
    config_free(s->cfg);
    for (size_t i = 0; i < s->n_old; i++)
        config_free(s->old[i]);
    free(s->old);
    free(s->run_job);
    uploader_whoami_clear(&s->who);
    free(s->config_path);
    free(s);
    log_sinks_teardown();
    return NULL;
}
