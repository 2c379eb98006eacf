/*
 * pidwatch.c — a job's configured `pid` / `pid_file` process (see
 * service_int.h): watched through a pidfd on the loop; when it exits, the
 * job finishes. A process already gone at start finishes the job at once.
 */
#include "service_int.h"

#include "config.h"
#include "sync.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

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
    struct job *j = service__find_job(s, p->job);
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

void service__watch_pids(struct service *s)
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
            struct job *j = service__find_job(s, c->name);
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

void service__pids_close(struct service *s)
{
    for (struct pidwatch *p = s->pids, *n; p; p = n) {
        n = p->next;
        uv_close((uv_handle_t *)&p->poll, pid_closed);
    }
    s->pids = NULL;
}
