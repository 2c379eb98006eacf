/*
 * job_resume.c — is last-checkpoint/ enough to resume from? Under
 * hub_strategy "checkpoint" the repo's last-checkpoint/ is what
 * `trainer.train(resume_from_checkpoint=...)` gets on another machine
 * (after `hubsync pull`). Before each such commit, the plan is compared
 * with the save: a file the Trainer reads at resume (optimizer, scheduler,
 * scaler, RNG states, trainer_state.json, DeepSpeed's global_step*) that the
 * local checkpoint has but the commit does not bring (excluded by the job's
 * patterns, or a name the Hub cannot store) is a warning, and so is a
 * best_model_checkpoint that names another folder (only last-checkpoint/ is
 * in the repo, so load_best_model_at_end cannot find it after a resume).
 * The warning is logged when it changes and stays in `hubsync status`
 * ("resume" in the human form, "resume_warning" in --json) until a commit
 * has none. Not here: the commit itself (job_commit.c).
 */
#include "sync_int.h"

#include <stdio.h>
#include <string.h>

/* Files the Trainer's _load_optimizer_and_scheduler, _load_rng_state and
 * state loading read from the checkpoint (transformers trainer.py). */
static bool needed_for_resume(const char *path)
{
    static const char *const pre[] = {"optimizer", "scheduler",          "scaler",
                                      "rng_state", "trainer_state.json", "global_step"};
    const char *base = strrchr(path, '/');
    for (size_t i = 0; i < HS_ARRAY_SIZE(pre); i++)
        if (!strncmp(path, pre[i], strlen(pre[i])) ||
            (base && !strncmp(base + 1, pre[i], strlen(pre[i]))))
            return true;
    return false;
}

static bool plan_has(const struct strategy_commit *c, const char *prefix, const char *path)
{
    size_t pl = strlen(prefix);
    for (size_t i = 0; i < c->n_files; i++)
        if (!strncmp(c->files[i].repo_path, prefix, pl) &&
            !strcmp(c->files[i].repo_path + pl, path))
            return true;
    return false;
}

void job__resume_check(struct job *j, const struct job_op *op)
{
    if (j->cfg->hub_strategy != CONFIG_STRATEGY_CHECKPOINT || op->final || !op->n_saves)
        return;
    const struct jstate_save *s = jstate_save_get(j->env->js, op->saves[op->n_saves - 1]);
    if (!s)
        return;
    char msg[1024] = "";
    size_t n = 0, missing = 0;
    for (size_t i = 0; i < s->n_files; i++) {
        const char *p = s->files[i].path;
        if (!needed_for_resume(p) || plan_has(&op->plan, "last-checkpoint/", p))
            continue;
        if (missing++ < 4) {
            int w = snprintf(msg + n, sizeof(msg) - n, "%s%s", n ? ", " : "", p);
            if (w > 0 && (size_t)w < sizeof(msg) - n)
                n += (size_t)w;
        }
    }
    char text[1400] = "";
    if (missing)
        snprintf(text, sizeof(text),
                 "last-checkpoint/ is not enough to resume: the checkpoint has %s%s, which the "
                 "job's include/exclude patterns leave out (or the Hub cannot store)",
                 msg, missing > 4 ? " and more" : "");
    const char *best = json_string_value(json_object_get(s->meta, "best"));
    if (best && strcmp(best, s->name) != 0) {
        size_t l = strlen(text);
        snprintf(text + l, sizeof(text) - l,
                 "%sbest_model_checkpoint is %s, which is not in the repo (hub_strategy "
                 "checkpoint keeps only last-checkpoint/): load_best_model_at_end after a resume "
                 "cannot load it (all_checkpoints keeps it)",
                 l ? "; " : "", best);
    }
    if (!text[0]) {
        job__set_str(&j->resume_warning, NULL);
        return;
    }
    if (!j->resume_warning || strcmp(j->resume_warning, text) != 0) {
        hs_log_warn("job %s: %s", j->name, text);
        job__set_str(&j->resume_warning, text);
        job__changed(j);
    }
}
