/*
 * service.c — the running service (see service.h): start-up order (config,
 * token, lock, journal, uploader, watcher, control socket, jobs, signals,
 * systemd readiness), the control socket's status and finish answers,
 * SIGHUP reloads (jobs added, removed and changed; an invalid config is
 * refused and the old one kept), finishing when a job's pid / pid_file
 * process exits (pidfd), and the clean stop. The per-job work is job.c's.
 */
#include "daemon_int.h"

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

static struct job *find_job(struct service *s, const char *name)
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
        cache = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "entries", (json_int_t)hc.entries,
                          "max_entries", (json_int_t)hc.max_entries, "hits", (json_int_t)hc.hits,
                          "misses", (json_int_t)hc.misses, "evictions", (json_int_t)hc.evictions,
                          "prehashed", (json_int_t)hc.prehashed, "files_read",
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
        struct job *j = name ? find_job(s, name) : NULL;
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

/* ---- pid / pid_file ------------------------------------------------------------ */

static void pid_closed(uv_handle_t *h)
{
    struct pidwatch *p = h->data;
    close(p->fd);
    free(p->job);
    free(p);
}

static void pid_exited(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    struct pidwatch *p = h->data;
    struct service *s = p->s;
    uv_poll_stop(h);
    struct job *j = find_job(s, p->job);
    struct hs_err err = {0};
    hs_log_info("job %s: the training process exited: finishing", p->job);
    if (j && job_finish(j, 0, NULL, NULL, &err) < 0)
        hs_log_error("%s", err.msg);
}

static int read_pid_file(const char *path, long *pid)
{
    char *text = NULL;
    size_t len;
    int rc = hs_read_file(path, 64, &text, &len);
    if (rc < 0)
        return rc;
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    while (*end == ' ' || *end == '\n' || *end == '\t' || *end == '\r')
        end++;
    rc = (errno || v <= 0 || *end || end == text) ? -EINVAL : 0;
    free(text);
    *pid = v;
    return rc;
}

static void watch_pids(struct service *s)
{
    for (size_t i = 0; i < s->cfg->n_jobs; i++) {
        const struct config_job *c = &s->cfg->jobs[i];
        long pid = c->pid;
        if (!pid && c->pid_file) {
            int rc = read_pid_file(c->pid_file, &pid);
            if (rc < 0) {
                hs_log_warn("job %s: pid_file %s: %s (not watched)", c->name, c->pid_file,
                            rc == -EINVAL ? "not a process id" : hs_strerror(rc));
                continue;
            }
        }
        if (!pid)
            continue;
        bool known = false;
        for (struct pidwatch *p = s->pids; p && !known; p = p->next)
            known = !strcmp(p->job, c->name);
        if (known)
            continue;
        int fd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
        if (fd < 0) {
            hs_log_warn("job %s: process %ld: %s (finishing now)", c->name, pid, strerror(errno));
            struct job *j = find_job(s, c->name);
            struct hs_err err = {0};
            if (errno == ESRCH && j && job_finish(j, 0, NULL, NULL, &err) < 0)
                hs_log_error("%s", err.msg);
            continue;
        }
        struct pidwatch *p = calloc(1, sizeof(*p));
        if (!p || !(p->job = strdup(c->name))) {
            free(p);
            close(fd);
            continue;
        }
        p->s = s;
        p->fd = fd;
        uv_poll_init(s->loop, &p->poll, fd);
        p->poll.data = p;
        uv_poll_start(&p->poll, UV_READABLE, pid_exited);
        p->next = s->pids;
        s->pids = p;
        hs_log_info("job %s: finishing when process %ld exits", c->name, pid);
    }
}

/* ---- the token check ------------------------------------------------------------ */

/* docs/design.md: "At start it checks the token with whoami-v2 and says clearly
 * when it lacks write access to the namespace". Jobs start held until the
 * answer; a job whose repo the token cannot write stays held with the
 * reason as its last_error (its saves are still journaled, and pushed once
 * a later check passes: SIGHUP re-checks). A 401 stops `hubsync daemon`
 * with exit 78; under `run` CMD keeps running, every job is held and the
 * final push fails with the reason. No answer (Hub unreachable, 5xx after
 * the retries) does not stop anything: uploads go ahead and the check is
 * retried later (HUBSYNC_WHOAMI_RETRY_SECONDS, 60). */

static void token_check(struct service *s);

static void describe_token_source(struct service *s)
{
    const struct config *c = s->cfg;
    const char *w = c->token_where ? c->token_where : "";
    if (c->token_warning)
        hs_log_warn("%s", c->token_warning); /* once: a reload does not repeat it */
    switch (c->token_source) {
    case CONFIG_TOKEN_INLINE:
        snprintf(s->token_from, sizeof(s->token_from), "the \"token\" of %s", s->config_path);
        break;
    case CONFIG_TOKEN_FILE:
        snprintf(s->token_from, sizeof(s->token_from), "token_file %s", w);
        break;
    case CONFIG_TOKEN_ENV:
    case CONFIG_TOKEN_ENV_LEGACY:
        snprintf(s->token_from, sizeof(s->token_from), "%s",
                 c->token_source == CONFIG_TOKEN_ENV ? "$HF_TOKEN" : "$HUGGING_FACE_HUB_TOKEN");
        break;
    case CONFIG_TOKEN_HF_FILE:
        snprintf(s->token_from, sizeof(s->token_from), "the huggingface_hub token file %s", w);
        break;
    case CONFIG_TOKEN_NONE:
        snprintf(s->token_from, sizeof(s->token_from), "(unknown)");
        break;
    }
}

/* `run`: the finish of the run's job waits for a push that cannot happen. */
static void fail_run_finish(struct service *s, const char *why)
{
    service_finish_cb cb = s->fin_cb;
    s->fin_cb = NULL;
    if (cb)
        cb(-EACCES, why, s->fin_ud);
}

/* Hold or release one job after the last answer. */
static void judge_job(struct service *s, struct job *j)
{
    if (s->token_refused) {
        char why[HS_ERR_MAX];
        snprintf(why, sizeof(why),
                 "not pushing: the Hub refused the token from %.600s (401); its saves are kept "
                 "in the journal",
                 s->token_from);
        job_hold(j, why, true);
        if (s->run_job && !strcmp(job_name(j), s->run_job))
            fail_run_finish(s, why);
        return;
    }
    if (!s->who_ok) {
        job_hold(j, NULL, false); /* no answer: the pushes will tell */
        return;
    }
    const struct config_job *c = job_config(j);
    char why[768], msg[HS_ERR_MAX];
    enum uploader_write_access a =
        uploader_whoami_can_write(&s->who, c->hub_model_id, NULL, why, sizeof(why));
    if (a != UPLOADER_WRITE_DENIED) {
        if (a == UPLOADER_WRITE_UNKNOWN)
            hs_log_warn("job %s: cannot tell whether the token may write %s (%s): pushing anyway",
                        job_name(j), c->hub_model_id, why);
        job_hold(j, NULL, false);
        return;
    }
    snprintf(msg, sizeof(msg),
             "cannot push to %s: %s. Its saves are kept in the journal and pushed once the token "
             "can write there (fix the token's access or hub_model_id, then reload with SIGHUP "
             "or restart)",
             c->hub_model_id, why);
    job_hold(j, msg, true);
    if (s->run_job && !strcmp(job_name(j), s->run_job))
        fail_run_finish(s, msg);
}

static void judge_jobs(struct service *s)
{
    for (size_t i = 0; i < s->n_jobs; i++)
        judge_job(s, s->jobs[i]);
}

static void who_retry(uv_timer_t *t)
{
    token_check(t->data);
}

/* `run`: tell the caller whether every job can push (the first answer only). */
static void report_check(struct service *s, int status, long http_status, const struct hs_err *err)
{
    service_check_cb cb = s->check_cb;
    if (!cb)
        return;
    s->check_cb = NULL;
    char why[HS_ERR_MAX];
    if (status < 0 && http_status == 401) {
        snprintf(why, sizeof(why),
                 "the Hub refused the token from %.600s (401 Unauthorized): it is invalid, "
                 "expired or revoked; put a valid one there (`hf auth login`, or $HF_TOKEN)",
                 s->token_from);
        return cb(HS_EXIT_CONFIG, why, s->check_ud);
    }
    if (status < 0) {
        char ep[256];
        hs_url_redact(s->cfg->endpoint, ep, sizeof(ep));
        snprintf(why, sizeof(why),
                 "cannot ask the Hub (%.200s) whether the token from %.300s may push: %.400s", ep,
                 s->token_from, err ? err->msg : hs_strerror(status));
        hs_url_redact_in(why, sizeof(why), s->cfg->endpoint);
        return cb(HS_EXIT_CONFIG, why, s->check_ud);
    }
    for (size_t i = 0; i < s->n_jobs; i++) {
        const char *held = job_held(s->jobs[i]);
        if (held) {
            snprintf(why, sizeof(why), "job %s: %s", job_name(s->jobs[i]), held);
            return cb(HS_EXIT_CONFIG, why, s->check_ud);
        }
    }
    cb(0, NULL, s->check_ud);
}

static void whoami_answer(struct service *s, int status, const struct uploader_whoami *w,
                          long http_status, const struct hs_err *err)
{
    bool first = !s->who_started;
    s->who_started = true;
    if (status == 0) {
        bool was_ok = s->who_ok, was_refused = s->token_refused;
        uploader_whoami_clear(&s->who);
        s->who_ok = false;
        s->token_refused = false;
        /* keep our own copy: w lives during the call only */
        s->who_ok = uploader_whoami_copy(&s->who, w) == 0;
        char orgs[512] = "";
        size_t off = 0;
        for (size_t i = 0; i < w->n_orgs && off < sizeof(orgs); i++)
            off += (size_t)snprintf(orgs + off, sizeof(orgs) - off, "%s%s (%s)", i ? ", " : "",
                                    w->orgs[i].name, w->orgs[i].role ? w->orgs[i].role : "?");
        if (first || !was_ok || was_refused)
            hs_log_info("token from %s: user %s, %s token, organizations: %s", s->token_from,
                        w->name, w->token_role ? w->token_role : "unknown role",
                        orgs[0] ? orgs : "none");
        judge_jobs(s);
        return report_check(s, 0, 200, NULL);
    }
    if (http_status == 401) {
        s->token_refused = true;
        s->who_ok = false;
        hs_log_error("the Hub refused the token from %s (401 Unauthorized): it is invalid, expired "
                     "or revoked. Put a valid token there (https://huggingface.co/settings/tokens)",
                     s->token_from);
        if (first && !s->o.run_mode) {
            s->exit_status = HS_EXIT_CONFIG;
            service_stop(s, "stopping: the token was refused");
            return;
        }
        judge_jobs(s);
        return report_check(s, status, http_status, err);
    }
    unsigned secs = hs_env_uint("HUBSYNC_WHOAMI_RETRY_SECONDS", 60);
    hs_log_warn("cannot check the token now (%s); uploads go ahead and the check is retried in "
                "%u s",
                err ? err->msg : hs_strerror(status), secs);
    judge_jobs(s); /* the last answer if any, else released */
    uv_timer_start(&s->who_timer, who_retry, (uint64_t)secs * 1000, 0);
    report_check(s, status, http_status, err);
}

static void on_whoami(int status, const struct uploader_whoami *w, long http_status,
                      const struct hs_err *err, void *ud)
{
    struct service *s = ud;
    s->who_pending = false;
    if (s->stopping || status == -ECANCELED)
        return;
    whoami_answer(s, status, w, http_status, err);
    if (s->who_recheck && !s->stopping) {
        s->who_recheck = false; /* a reload asked while this one was on its way */
        token_check(s);
    }
}

static void token_check(struct service *s)
{
    if (s->stopping)
        return;
    if (s->who_pending) {
        s->who_recheck = true;
        return;
    }
    uv_timer_stop(&s->who_timer);
    struct hs_err err = {0};
    if (uploader_whoami(s->up, on_whoami, s, &err) < 0) {
        hs_log_warn("cannot check the token: %s", err.msg);
        judge_jobs(s);
        return report_check(s, -EIO, 0, &err);
    }
    s->who_pending = true;
}

/* The log level: the config's log_level, else $HUBSYNC_LOG_LEVEL over it,
 * else -q (warnings and errors) / -v (debug) over both: no config edit to
 * quieten or debug one run. */
static void apply_log_level(const struct service *s, const struct config *cfg)
{
    enum hs_log_level level = cfg->log_level;
    const char *env = getenv("HUBSYNC_LOG_LEVEL");
    bool known = false;
    for (int l = HS_LOG_ERROR; env && *env && !known && l <= HS_LOG_DEBUG; l++)
        if (strcmp(env, config_log_level_name((enum hs_log_level)l)) == 0) {
            level = (enum hs_log_level)l;
            known = true;
        }
    if (env && *env && !known) {
        level = cfg->log_level;
        hs_log_warn("HUBSYNC_LOG_LEVEL=\"%s\" is not error, warn, info or debug: ignored", env);
    }
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
        struct job *j = find_job(s, nc->jobs[i].name);
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
    watch_pids(s);
    hs_log_info("config reloaded: %zu job%s", s->n_jobs, s->n_jobs == 1 ? "" : "s");
    token_check(s); /* access may have changed: the new jobs wait for it */
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
 * call a checkpoint complete before the other ranks' files are in it. */
static void warn_launcher(char *const *cmd, const struct config_job *j)
{
    static const char *const launchers[] = {"torchrun", "accelerate", "deepspeed", "srun",
                                            "mpirun"};
    if (!cmd || !cmd[0] || j->world_size != 1)
        return;
    const char *base = strrchr(cmd[0], '/');
    base = base ? base + 1 : cmd[0];
    for (size_t i = 0; i < HS_ARRAY_SIZE(launchers); i++) {
        if (strcmp(base, launchers[i]) != 0)
            continue;
        hs_log_warn("job %s: the training command is started by %s, but the world size is 1: "
                    "set \"world_size\" in the config or export WORLD_SIZE (the number of ranks, "
                    "e.g. torchrun's --nproc_per_node times --nnodes), so hubsync waits for "
                    "every rank's files of a checkpoint",
                    j->name, base);
        return;
    }
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
    describe_token_source(s);
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
    watch_pids(s);
    token_check(s);
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
    struct job *j = find_job(s, job);
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
        fail_run_finish(s, job_held(j)); /* the token cannot push it: say so now */
    }
    return rc;
}

int service_job_lost(const struct service *s, const char *job, struct service_lost *out)
{
    memset(out, 0, sizeof(*out));
    struct job *j = find_job((struct service *)s, job);
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
    for (struct pidwatch *p = s->pids, *n; p; p = n) {
        n = p->next;
        uv_close((uv_handle_t *)&p->poll, pid_closed);
    }
    s->pids = NULL;
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
