/*
 * preflight.c — `run`'s repo creation before CMD starts (preflight.h). The
 * Trainer calls create_repo(exist_ok=True) in its __init__ (init_hf_repo),
 * so a run whose repo cannot be created fails before any GPU time; this
 * does the same for every job. The creation itself (namespace, 409, the
 * 401/403 fallback to repo info) is uploader/push.c's, shared with every
 * push. Not here: the token check (service.c) and starting CMD (cmd_run.c).
 */
#include "daemon_int.h"

#include "config.h"
#include "uploader.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct repo_one {
    char *job, *repo;
    bool private_repo;
};

struct preflight {
    struct uploader *up;
    struct repo_one *repos;
    size_t n, next;
    service_check_cb cb;
    void *ud;
};

static void preflight_free(struct preflight *pf)
{
    for (size_t i = 0; i < pf->n; i++) {
        free(pf->repos[i].job);
        free(pf->repos[i].repo);
    }
    free(pf->repos);
    free(pf);
}

static void end(struct preflight *pf, int status, const char *why)
{
    service_check_cb cb = pf->cb;
    void *ud = pf->ud;
    preflight_free(pf);
    cb(status, why, ud);
}

static void create_next(struct preflight *pf);

static void created(int status, const struct uploader_result *res, const struct hs_err *err,
                    void *ud)
{
    (void)res;
    struct preflight *pf = ud;
    const struct repo_one *r = &pf->repos[pf->next];
    if (status < 0) {
        char why[HS_ERR_MAX];
        snprintf(why, sizeof(why),
                 "job %.100s: the repo %.200s does not exist and cannot be created: %.650s", r->job,
                 r->repo, err && err->msg[0] ? err->msg : hs_strerror(status));
        return end(pf, HS_EXIT_CONFIG, why);
    }
    pf->next++;
    create_next(pf);
}

static void create_next(struct preflight *pf)
{
    if (pf->next == pf->n)
        return end(pf, 0, NULL);
    const struct repo_one *r = &pf->repos[pf->next];
    struct uploader_push_request req = {
        .repo_id = r->repo,
        .private_repo = r->private_repo,
        .prepare_only = true,
    };
    struct uploader_push_hooks hooks = {.done = created, .userdata = pf};
    struct hs_err err = {0};
    if (uploader_push(pf->up, &req, &hooks, &err) < 0) {
        char why[HS_ERR_MAX];
        snprintf(why, sizeof(why), "job %.100s: cannot create the repo %.200s: %.650s", r->job,
                 r->repo, err.msg);
        end(pf, HS_EXIT_CONFIG, why);
    }
}

void preflight_create_repos(struct uploader *up, const struct config *cfg, service_check_cb cb,
                            void *ud)
{
    struct preflight *pf = calloc(1, sizeof(*pf));
    if (pf)
        pf->repos = calloc(cfg->n_jobs + 1, sizeof(*pf->repos));
    if (!pf || !pf->repos) {
        free(pf);
        return cb(HS_EXIT_FAILURE, "out of memory", ud);
    }
    *pf = (struct preflight){.up = up, .repos = pf->repos, .cb = cb, .ud = ud};
    for (size_t i = 0; i < cfg->n_jobs; i++) {
        const struct config_job *j = &cfg->jobs[i];
        struct repo_one *r = &pf->repos[pf->n++];
        r->job = strdup(j->name);
        r->repo = strdup(j->hub_model_id);
        r->private_repo = j->private_repo;
        if (!r->job || !r->repo) {
            preflight_free(pf);
            return cb(HS_EXIT_FAILURE, "out of memory", ud);
        }
    }
    create_next(pf);
}
