/*
 * cmd_check_config.c — `hubsync check-config FILE [-- CMD...]`: load FILE
 * with config/, resolve the token the way the daemon would (to say where it
 * comes from, never what it is), check each job's spool the way a snapshot
 * would (watcher_spool_check), and print the plan per job on stdout (exit
 * 0), or every problem on stderr (exit 78). With a training command (as
 * `run` would wrap it), the environment's WORLD_SIZE applies as under `run`
 * and a launcher with world size 1 is warned about (config_launcher_warning,
 * the rule `run` uses). Usage errors exit 2.
 */
#include "cli_int.h"
#include "common.h"
#include "config.h"
#include "sync.h"
#include "hubcheck.h"
#include "watcher.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define PLAN_MAX (4 * 1024 * 1024)

/* `-- CMD`: what `run` would say about it (WORLD_SIZE, the launcher
 * rule), for job (NULL: every job). Returns the number of problems. */
static int check_cmd(const char *file, struct config *cfg, const char *job, char **cmd)
{
    struct hs_err err = {0};
    if (config_apply_run_env(cfg, NULL, &err) < 0) {
        fprintf(stderr, "%s: %s\n", file, err.msg);
        return 1;
    }
    if (job && !config_job_find(cfg, job)) {
        fprintf(stderr, "%s: --job: no job named \"%s\"\n", file, job);
        return 1;
    }
    for (size_t i = 0; i < cfg->n_jobs; i++) {
        char msg[HS_ERR_MAX];
        if ((!job || strcmp(cfg->jobs[i].name, job) == 0) &&
            config_launcher_warning(cmd, &cfg->jobs[i], msg, sizeof(msg)))
            fprintf(stderr, "%s: warning: %s\n", file, msg);
    }
    return 0;
}

static int run(int argc, char **argv)
{
    const char *file = NULL, *job = NULL;
    char **cmd = NULL;
    bool ask_hub = true;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--no-hub") == 0) {
            ask_hub = false;
            continue;
        }
        if ((strcmp(argv[i], "--config") == 0 || strcmp(argv[i], "--job") == 0) && i + 1 < argc) {
            const char **dst = argv[i][2] == 'c' ? &file : &job;
            if (*dst)
                goto usage;
            *dst = argv[++i];
            continue;
        }
        if (strcmp(argv[i], "--") == 0 && file) { /* FILE -- CMD [ARG]... */
            if (i + 1 == argc)
                goto usage;
            cmd = argv + i + 1;
            break;
        }
        if (strcmp(argv[i], "--") == 0 && i + 1 < argc) { /* -- FILE [-- CMD...] */
            file = argv[++i];
            if (i + 1 < argc && (strcmp(argv[i + 1], "--") != 0 || i + 2 == argc))
                goto usage;
            cmd = i + 1 < argc ? argv + i + 2 : NULL;
            break;
        }
        if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "hubsync check-config: unknown option '%s'\n", argv[i]);
            goto usage;
        }
        if (file)
            goto usage;
        file = argv[i];
    }
    if (!file)
        goto usage;
    if (job && !cmd) {
        fprintf(stderr, "hubsync check-config: --job NAME goes with the training command "
                        "(FILE --job NAME -- CMD)\n");
        goto usage;
    }

    struct config_errors errs = {0};
    struct config *cfg = NULL;
    int rc = config_load(file, &cfg, &errs);
    if (rc == 0) {
        /* What the daemon would refuse at start is a problem here too. */
        struct hs_err err = {0};
        int n = 0;
        if (config_check_online(NULL, &err) < 0) {
            fprintf(stderr, "%s: %s\n", file, err.msg);
            n++;
        }
        if (config_token_load(cfg, NULL, &err) < 0) {
            hs_secret_scrub(err.msg);
            fprintf(stderr, "%s: token: %s\n", file, err.msg);
            n++;
        } else if (ask_hub && n == 0) {
            n += hubcheck_token(cfg, file, 10, stderr); /* a read-only token, a foreign org */
        }
        if (cmd)
            n += check_cmd(file, cfg, job, cmd);
        if (cfg->token_warning)
            fprintf(stderr, "%s: warning: %s\n", file, cfg->token_warning);
        /* a spool_dir hubsync would refuse (not its spool, a symlink) */
        for (size_t i = 0; i < cfg->n_jobs; i++) {
            const struct config_job *job = &cfg->jobs[i];
            struct stat st;
            if (lstat(job->watch, &st) == 0 && S_ISLNK(st.st_mode)) {
                /* the finish reads the root with O_NOFOLLOW (common/tree.c) */
                fprintf(stderr,
                        "%s: jobs[%zu].watch: %s is a symbolic link: name the real folder "
                        "(hubsync follows no link in a watched tree)\n",
                        file, i, job->watch);
                n++;
            }
            if (watcher_spool_check(job->watch, job->spool_dir, &err) < 0) {
                fprintf(stderr, "%s: jobs[%zu].spool_dir: %s\n", file, i, err.msg);
                n++;
            }
        }
        if (n) {
            fprintf(stderr, "%s: %d problem%s found\n", file, n, n == 1 ? "" : "s");
            config_free(cfg);
            return HS_EXIT_CONFIG;
        }
        struct hs_buf b;
        hs_buf_init(&b, PLAN_MAX);
        rc = strategy_plan_render(cfg, &b);
        config_free(cfg);
        if (rc < 0) {
            fprintf(stderr, "hubsync check-config: cannot render the plan: %s\n", hs_strerror(rc));
            hs_buf_free(&b);
            return HS_EXIT_FAILURE;
        }
        if (b.data) {
            hs_secret_scrub(b.data); /* belt and braces: the plan never names the token */
            fwrite(b.data, 1, b.len, stdout);
        }
        hs_buf_free(&b);
        return fflush(stdout) == 0 ? HS_EXIT_OK : HS_EXIT_FAILURE;
    }
    for (size_t i = 0; i < errs.n; i++) {
        hs_secret_scrub(errs.v[i]);
        fprintf(stderr, "%s\n", errs.v[i]);
    }
    if (rc == HS_ECONFIG)
        fprintf(stderr, "%s: %zu problem%s found\n", file, errs.n, errs.n == 1 ? "" : "s");
    config_errors_free(&errs);
    /* A file that cannot be read is a configuration error too: the daemon
     * would refuse to start for the same reason. */
    if (rc == -ENOMEM)
        return HS_EXIT_FAILURE;
    return HS_EXIT_CONFIG;

usage:
    fputs(cmd_check_config.usage, stderr);
    return HS_EXIT_USAGE;
}

const struct hs_command cmd_check_config = {
    .name = "check-config",
    .summary = "validate a config file and print the plan",
    .usage = "Usage: hubsync check-config [--no-hub] FILE [--job NAME] [-- CMD [ARG]...]\n"
             "       (or --config FILE)\n\nValidate FILE and print, per job, "
             "which paths go where and with which commit\nmessages, and where the token comes "
             "from (never the token). It asks the Hub\n(whoami-v2, at most 10 s) whether the "
             "token may push each job's repo; a Hub\nthat does not answer is a note, not a "
             "problem. Exits 0 when valid, 78 listing\nevery problem otherwise, 2 on usage "
             "errors.\nWith the training command `hubsync run` would wrap, it applies WORLD_SIZE "
             "as run\ndoes and warns (exit unchanged) when CMD is a multi-process launcher\n"
             "(torchrun, accelerate, deepspeed, srun, mpirun) and the world size is 1.\n"
             "\nOptions:\n  --config FILE   FILE, as run takes it\n  --no-hub        do not ask "
             "the Hub\n  --job NAME      the job CMD trains (default: every job)\n  -h, --help     "
             " show this help\n",
    .run = run,
};
