/*
 * plan.c — the human-readable plan `hubsync check-config` prints: for each
 * job, what is watched, which repo and branch receive what, with which
 * commit messages, under the job's hub_strategy (docs/design.md "Strategies",
 * docs/trainer-layouts.md), the effective include/exclude lists, and the
 * settings that decide when and how saves are taken; then the shared
 * settings (endpoint with any password in it redacted, where the token
 * comes from — never the token — state directory, parallelism, bandwidth).
 * What a save and the finish commit hold is printed from strategy.c's tables
 * (struct strategy_rule, strategy_model_files, strategy_finish_excluded,
 * the messages), the ones strategy_plan_save/_finish execute. Text only;
 * the caller prints it.
 */
#include "strategy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Appends to the caller's buffer, remembering the first failure (-E2BIG
 * when the plan outgrows the buffer's maximum). */
struct out {
    struct hs_buf *b;
    int rc;
};

static void __attribute__((format(printf, 2, 3))) outf(struct out *o, const char *fmt, ...)
{
    if (o->rc < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) {
        o->rc = -ENOMEM;
        return;
    }
    int rc = hs_buf_append(o->b, s, (size_t)n);
    free(s);
    if (rc < 0)
        o->rc = rc;
}

static const char *origin_note(enum config_origin o, const char *env_name)
{
    switch (o) {
    case CONFIG_FROM_FILE:
        return "set in the config";
    case CONFIG_FROM_ENV:
        return env_name;
    case CONFIG_FROM_DEFAULT:
        break;
    }
    return "default";
}

static void list(struct out *o, const struct config_strlist *l, const char *none)
{
    if (l->n == 0) {
        outf(o, "%s", none);
        return;
    }
    for (size_t i = 0; i < l->n; i++)
        outf(o, "%s%s", i ? ", " : "", l->v[i]);
}

static void seconds(struct out *o, hs_usec_t us)
{
    if (us % HS_USEC_PER_SEC == 0)
        outf(o, "%llus", (unsigned long long)(us / HS_USEC_PER_SEC));
    else
        outf(o, "%.3gs", (double)us / (double)HS_USEC_PER_SEC);
}

/* What one "save" is under each layout (docs/trainer-layouts.md);
 * the strategy lines below use the Trainer's name for it, checkpoint-N. */
static const char *save_unit(enum config_layout l)
{
    switch (l) {
    case CONFIG_LAYOUT_AUTO:
        return "detected at start: Trainer checkpoint-N/, accelerate checkpoint_I/, epoch_E/ "
               "or step_N/,\n                Lightning *.ckpt, DeepSpeed global_stepN/";
    case CONFIG_LAYOUT_TRAINER:
        return "checkpoint-N/ (transformers Trainer; tmp-checkpoint-* ignored)";
    case CONFIG_LAYOUT_ACCELERATE:
        return "checkpoints/checkpoint_I/, epoch_E/ or step_N/ (accelerate save_state)";
    case CONFIG_LAYOUT_LIGHTNING:
        return "*.ckpt files (Lightning ModelCheckpoint)";
    case CONFIG_LAYOUT_DEEPSPEED:
        return "global_stepN/ named by `latest` (DeepSpeed)";
    case CONFIG_LAYOUT_GENERIC:
        return "new folders, complete after settle_seconds of quiet";
    }
    return "?";
}

/* What lands at the repo root for each save: strategy_plan_save takes the
 * model files of a Trainer save, the whole save of the other layouts. */
static const char *root_part(enum config_layout l)
{
    switch (l) {
    case CONFIG_LAYOUT_TRAINER:
        return "model files of checkpoint-N";
    case CONFIG_LAYOUT_AUTO:
        return "model files of checkpoint-N";
    default:
        return "the whole save";
    }
}

static void render_saves(struct out *o, const struct config_job *j)
{
    const struct strategy_rule *r = strategy_rule(j->hub_strategy);
    outf(o, "  a save:       %s\n", save_unit(j->layout));
    if (!r->per_save) {
        outf(o, "  each save:    nothing is uploaded\n");
        return;
    }
    outf(o, "  each save:    one commit: %s -> /", root_part(j->layout));
    if (r->copy == STRATEGY_COPY_SYNCED)
        outf(o, " , and the whole\n                save -> %s (files absent from it deleted there)",
             r->copy_prefix);
    else if (r->copy == STRATEGY_COPY_OWN_PATH)
        outf(o, " , and the whole\n                save -> its own path (%s)",
             j->layout == CONFIG_LAYOUT_TRAINER ? "checkpoint-N/"
             : j->layout == CONFIG_LAYOUT_AUTO  ? "checkpoint-N/ for the Trainer, else as under "
                                                  "the watch root"
                                                : "as under the watch root");
    outf(o, " ;\n                message \"" STRATEGY_MSG_STEP "N\" (\"epoch E\" when the run "
            "saves per epoch)\n");
    if (j->layout == CONFIG_LAYOUT_TRAINER || j->layout == CONFIG_LAYOUT_AUTO) {
        /* the names, wrapped under the first one */
        if (j->layout == CONFIG_LAYOUT_AUTO)
            outf(o,
                 "                (a layout other than the Trainer's: the whole save instead)\n");
        size_t col = 29;
        outf(o, "                model files: ");
        for (size_t i = 0; strategy_model_files[i]; i++) {
            size_t w = strlen(strategy_model_files[i]) + 2;
            if (i && col + w > 96) {
                outf(o, ",\n                             ");
                col = 29;
            } else if (i) {
                outf(o, ", ");
            }
            outf(o, "%s", strategy_model_files[i]);
            col += w;
        }
        outf(o, ",\n                             and the shards an index json names\n");
    }
    if (j->hub_keep_checkpoints)
        outf(o,
             "  retention:    the same commit deletes the oldest checkpoint-*/ on the Hub "
             "beyond the\n"
             "                newest %u (hub_keep_checkpoints), never the best_model_checkpoint "
             "of\n"
             "                the newest trainer_state.json\n",
             j->hub_keep_checkpoints);
    if (j->tag_saves) {
        char tag[512];
        if (config_tag_name(j->tag_saves, 500, tag, sizeof(tag)) < 0)
            snprintf(tag, sizeof(tag), "%s", j->tag_saves);
        outf(o,
             "  tags:         each save's commit is tagged \"%s\" (e.g. %s for step 500); "
             "`hubsync\n"
             "                pull --checkpoint %s` restores it\n",
             j->tag_saves, tag, tag);
    }
    outf(o, "  queued saves: %s\n",
         j->supersede && r->newest_wins
             ? "a save still queued when a newer one completes is skipped and recorded "
               "as superseded"
             : "every save is committed, in order");
}

static void render_finish(struct out *o, const struct config_job *j)
{
    bool card = j->model_card.mode != CONFIG_CARD_OFF;
    outf(o,
         "  at finish:    one commit: output dir root (model files, *_results.json, "
         "runs/)%s -> / ;\n"
         "                message \"" STRATEGY_MSG_FINISH "\"\n",
         card ? "\n                + README.md (model card)" : "");
    const struct strategy_rule *r = strategy_rule(j->hub_strategy);
    if (r->kept)
        outf(o, "                %s stays in the repo\n", r->kept);
    outf(o, "  finish when:  `hubsync finish %s`, or the command of `hubsync run` exits", j->name);
    if (j->pid)
        outf(o, ", or process %ld exits", j->pid);
    if (j->pid_file)
        outf(o, ", or the process in %s exits", j->pid_file);
    if (j->finish_after_idle_usec) {
        outf(o, ", or after ");
        seconds(o, j->finish_after_idle_usec);
        outf(o, " without a new save");
    }
    outf(o, "\n");
    outf(o, "  `run`:        retries the final push through outages for ");
    seconds(o, j->final_push_timeout_usec);
    outf(o, "; a lost save (one that can never be committed) %s\n",
         j->lost_saves_fail_run ? "makes it exit 1" : "is reported, exit status unchanged");
    outf(o, "  failed CMD:   %s\n",
         j->finish_failed_runs ? "finished anyway (End of training commit and model card)"
                               : "its completed saves are committed; no End of training "
                                 "commit, no model card");
}

static void render_card(struct out *o, const struct config_model_card *m)
{
    outf(o, "  model card:   %s", config_card_mode_name(m->mode));
    if (m->mode == CONFIG_CARD_OFF) {
        outf(o, " (README.md is not generated)\n");
        return;
    }
    const struct {
        const char *key;
        const struct config_strlist *l;
        const char *s;
    } f[] = {
        {"model_name", NULL, m->model_name},
        {"base_model", &m->base_model, NULL},
        {"datasets", &m->datasets, NULL},
        {"dataset_args", &m->dataset_args, NULL},
        {"dataset_config", &m->dataset_config, NULL},
        {"dataset_name", NULL, m->dataset_name},
        {"Pytorch", NULL, m->framework_versions.pytorch},
        {"Datasets", NULL, m->framework_versions.datasets},
        {"Tokenizers", NULL, m->framework_versions.tokenizers},
        {"language", &m->language, NULL},
        {"license", NULL, m->license},
        {"tags", &m->tags, NULL},
        {"task", NULL, m->task},
        {"metrics_order", &m->metrics_order, NULL},
    };
    for (size_t i = 0; i < HS_ARRAY_SIZE(f); i++) {
        if (f[i].s)
            outf(o, "; %s %s", f[i].key, f[i].s);
        else if (f[i].l && f[i].l->n) {
            outf(o, "; %s ", f[i].key);
            list(o, f[i].l, "");
        }
    }
    outf(o, "\n");
}

static void render_job(struct out *o, const struct config *cfg, const struct config_job *j)
{
    (void)cfg;
    outf(o, "job %s\n", j->name);
    outf(o, "  watch:        %s (layout %s; watch mode %s", j->watch, config_layout_name(j->layout),
         config_watch_mode_name(j->watch_mode));
    if (j->watch_mode == CONFIG_WATCH_AUTO)
        outf(o, ": inotify, or polling on network filesystems");
    if (j->watch_mode != CONFIG_WATCH_INOTIFY) {
        outf(o, "; poll every ");
        seconds(o, j->poll_interval_usec);
    }
    outf(o, ")\n");
    if (j->watch_relative)
        outf(o, "                (written relative: against the working directory, which only "
                "`hubsync run` takes)\n");
    struct stat st;
    if (stat(j->watch, &st) != 0 && errno == ENOENT)
        outf(o, "                does not exist yet: hubsync waits for it to appear\n");
    const char *slash = strchr(j->hub_model_id, '/');
    outf(o, "  repo:         %s%s, revision %s%s, %s\n", j->hub_model_id,
         slash ? "" : " (in the token owner's namespace)", j->revision,
         strcmp(j->revision, "main") ? " (created from main if missing)" : "",
         j->private_repo ? "private (when hubsync creates it)"
                         : "public (when hubsync creates it)");
    outf(o, "  hub_strategy: %s\n", config_strategy_name(j->hub_strategy));
    render_saves(o, j);
    render_finish(o, j);
    outf(o, "  include:      ");
    list(o, &j->include, "(nothing)");
    outf(o, "\n  exclude:      ");
    list(o, &j->exclude, "(none)");
    outf(o, "\n                always: ");
    for (size_t i = 0; config_always_excluded[i]; i++)
        outf(o, "%s%s", i ? ", " : "", config_always_excluded[i]);
    outf(o, "\n                from the output dir root: ");
    for (size_t i = 0; strategy_finish_excluded[i]; i++)
        outf(o, "%s%s", i ? ", " : "", strategy_finish_excluded[i]);
    outf(o, "\n  spool:        %s (%s; ", j->spool_dir,
         j->spool_dir_origin == CONFIG_FROM_FILE ? "set in the config" : "default");
    if (j->spool_max_bytes)
        outf(o, "cap %g GB)\n", j->spool_max_gb);
    else
        outf(o, "no size cap)\n");
    outf(o, "  saves:        settle ");
    seconds(o, j->settle_usec);
    outf(o, ", marker quiet ");
    seconds(o, j->marker_quiet_usec);
    outf(o, ", world size %u (%s), existing checkpoints at start: %s\n", j->world_size,
         origin_note(j->world_size_origin, "from WORLD_SIZE"),
         config_existing_name(j->existing_checkpoints));
    render_card(o, &j->model_card);
}

int strategy_plan_render(const struct config *cfg, struct hs_buf *b)
{
    struct out out = {.b = b}, *o = &out;
    outf(o, "%s: %zu job%s\n", cfg->path, cfg->n_jobs, cfg->n_jobs == 1 ? "" : "s");
    char ep[HS_PATH_MAX];
    outf(o, "endpoint:       %s (%s)\n", hs_url_redact(cfg->endpoint, ep, sizeof(ep)),
         origin_note(cfg->endpoint_origin, "from HF_ENDPOINT"));
    outf(o, "token:          ");
    const char *where = cfg->token_where ? cfg->token_where : "";
    switch (cfg->token_source) {
    case CONFIG_TOKEN_NONE:
        outf(o, "not resolved\n");
        break;
    case CONFIG_TOKEN_INLINE:
        outf(o, "inline in the config file\n");
        break;
    case CONFIG_TOKEN_FILE:
        outf(o, "token_file %s\n", where);
        break;
    case CONFIG_TOKEN_ENV:
    case CONFIG_TOKEN_ENV_LEGACY:
        outf(o, "%s\n", where);
        break;
    case CONFIG_TOKEN_HF_FILE:
        outf(o, "huggingface_hub token file %s\n", where);
        break;
    }
    outf(o, "state_dir:      %s (%s)\n", cfg->state_dir,
         origin_note(cfg->state_dir_origin, "from the environment"));
    outf(o, "uploads:        %u in flight", cfg->max_parallel_uploads);
    if (cfg->bandwidth_limit_mbps > 0)
        outf(o, ", at most %g Mbit/s\n", cfg->bandwidth_limit_mbps);
    else
        outf(o, ", bandwidth unlimited\n");
    outf(o, "ca_file:        %s\n", cfg->ca_file ? cfg->ca_file : "(system store)");
    outf(o, "before `run`:   %s\n",
         cfg->check_hub_before_run ? "checks that the token can push every job (exit 78 if not)"
                                   : "starts CMD without checking the token "
                                     "(check_hub_before_run false)");
    outf(o, "log:            %s, to %s\n", config_log_level_name(cfg->log_level),
         cfg->log_file ? cfg->log_file : "stderr (journald under systemd)");
    for (size_t i = 0; i < cfg->n_jobs; i++) {
        outf(o, "\n");
        render_job(o, cfg, &cfg->jobs[i]);
    }
    return out.rc;
}
