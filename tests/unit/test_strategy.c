/* test_strategy.c — what each hub_strategy commits for a save and at the
 * finish (docs/trainer-layouts.md): model files at the root, shards from
 * the index, last-checkpoint/ synced, checkpoint-N/ kept, patterns applied. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sync.h"

#include <stdio.h>
#include <string.h>

static char tmpdir[64];

static struct config *load_job(const char *strategy, const char *extra)
{
    char text[1024];
    snprintf(text, sizeof(text),
             "{\"state_dir\": \"/tmp/x\", \"jobs\": [{\"name\": \"j\", \"watch\": \"/data/run\", "
             "\"hub_model_id\": \"acme/m\", \"hub_strategy\": \"%s\"%s}]}",
             strategy, extra);
    struct config *cfg = NULL;
    struct config_errors errs = {0};
    int rc = config_load_text("t.json", text, strlen(text), 0600, NULL, &cfg, &errs);
    for (size_t i = 0; i < errs.n; i++)
        fprintf(stderr, "%s\n", errs.v[i]);
    config_errors_free(&errs);
    assert_int_equal(rc, 0);
    return cfg;
}

static const char *const ckpt_files[] = {
    "config.json",
    "generation_config.json",
    "model-00001-of-00002.safetensors",
    "model-00002-of-00002.safetensors",
    "model.safetensors.index.json",
    "optimizer.pt",
    "rng_state.pth",
    "scheduler.pt",
    "tokenizer.json",
    "trainer_state.json",
    "training_args.bin",
    "_private.txt",
};

static void make_cp(struct watcher_checkpoint *cp, struct watcher_file *files)
{
    memset(cp, 0, sizeof(*cp));
    cp->id = "checkpoint-500";
    cp->layout = "trainer";
    cp->step = 500;
    cp->epoch = 2.7;
    cp->folder = tmpdir;
    cp->base = tmpdir;
    cp->n_files = HS_ARRAY_SIZE(ckpt_files);
    cp->files = files;
    for (size_t i = 0; i < cp->n_files; i++) {
        memset(&files[i], 0, sizeof(files[i]));
        files[i].path = (char *)ckpt_files[i];
    }
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/hs_strategy_XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    char path[128];
    snprintf(path, sizeof(path), "%s/model.safetensors.index.json", tmpdir);
    const char *index = "{\"metadata\": {\"total_size\": 10}, \"weight_map\": {"
                        "\"a.weight\": \"model-00001-of-00002.safetensors\","
                        "\"b.weight\": \"model-00002-of-00002.safetensors\"}}";
    return hs_write_file_atomic(path, index, strlen(index), 0644);
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    return system(cmd);
}

static void assert_repo_paths(const struct strategy_commit *c, const char *const *want, size_t n)
{
    for (size_t i = 0; i < c->n_files && i < n; i++)
        assert_string_equal(c->files[i].repo_path, want[i]);
    assert_int_equal(c->n_files, n);
}

static void test_every_save(void **state)
{
    (void)state;
    struct config *cfg = load_job("every_save", "");
    struct watcher_file files[HS_ARRAY_SIZE(ckpt_files)];
    struct watcher_checkpoint cp;
    make_cp(&cp, files);
    struct strategy_commit c;
    struct hs_err err = {0};
    assert_int_equal(strategy_plan_save(&cfg->jobs[0], &cp, false, &c, &err), 0);
    assert_string_equal(c.message, "Training in progress, step 500");
    static const char *const want[] = {
        "config.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model.safetensors.index.json",
        "tokenizer.json",
        "training_args.bin",
    };
    assert_repo_paths(&c, want, HS_ARRAY_SIZE(want));
    char local[128];
    snprintf(local, sizeof(local), "%s/config.json", tmpdir);
    assert_string_equal(c.files[0].local_path, local);
    assert_int_equal(c.n_sync, 0);
    strategy_commit_free(&c);
    assert_int_equal(strategy_plan_save(&cfg->jobs[0], &cp, true, &c, &err), 0);
    assert_string_equal(c.message, "Training in progress, epoch 2");
    strategy_commit_free(&c);
    config_free(cfg);
}

static void test_checkpoint_and_all(void **state)
{
    (void)state;
    struct watcher_file files[HS_ARRAY_SIZE(ckpt_files)];
    struct watcher_checkpoint cp;
    make_cp(&cp, files);
    struct strategy_commit c;
    struct hs_err err = {0};

    struct config *cfg = load_job("checkpoint", "");
    assert_int_equal(strategy_plan_save(&cfg->jobs[0], &cp, false, &c, &err), 0);
    assert_int_equal(c.n_files, 6 + HS_ARRAY_SIZE(ckpt_files));
    assert_int_equal(c.n_sync, 1);
    assert_string_equal(c.sync_prefixes[0], "last-checkpoint/");
    size_t in_last = 0;
    for (size_t i = 0; i < c.n_files; i++)
        in_last += strncmp(c.files[i].repo_path, "last-checkpoint/", 16) == 0;
    assert_int_equal(in_last, HS_ARRAY_SIZE(ckpt_files));
    /* sorted: config.json < last-checkpoint/... < model-... */
    assert_string_equal(c.files[1].repo_path, "last-checkpoint/_private.txt");
    strategy_commit_free(&c);
    config_free(cfg);

    cfg = load_job("all_checkpoints", ", \"exclude\": [\"*.pt\", \"*.pth\"]");
    assert_int_equal(strategy_plan_save(&cfg->jobs[0], &cp, false, &c, &err), 0);
    assert_int_equal(c.n_sync, 0);
    for (size_t i = 0; i < c.n_files; i++)
        assert_null(strstr(c.files[i].repo_path, ".pt"));
    /* 6 root files + 12 - 3 (*.pt, *.pth) in checkpoint-500/ */
    assert_int_equal(c.n_files, 6 + 9);
    assert_string_equal(c.files[0].repo_path, "checkpoint-500/_private.txt");
    strategy_commit_free(&c);
    config_free(cfg);

    cfg = load_job("end", "");
    assert_int_equal(strategy_plan_save(&cfg->jobs[0], &cp, false, &c, &err), 0);
    assert_int_equal(c.n_files, 0);
    assert_null(c.message);
    strategy_commit_free(&c);
    config_free(cfg);
}

static void test_lightning_file_save(void **state)
{
    (void)state;
    struct watcher_file f = {.path = "epoch=1-step=20.ckpt"};
    struct watcher_checkpoint cp = {
        .id = "lightning_logs/version_0/checkpoints/epoch=1-step=20.ckpt",
        .layout = "lightning",
        .step = 20,
        .epoch = 1,
        .folder = "/data/run/lightning_logs/version_0/checkpoints/epoch=1-step=20.ckpt",
        .base = "/data/run/lightning_logs/version_0/checkpoints",
        .n_files = 1,
        .files = &f,
    };
    struct strategy_commit c;
    struct hs_err err = {0};
    struct config *cfg = load_job("all_checkpoints", "");
    assert_int_equal(strategy_plan_save(&cfg->jobs[0], &cp, false, &c, &err), 0);
    static const char *const want[] = {
        "epoch=1-step=20.ckpt",
        "lightning_logs/version_0/checkpoints/epoch=1-step=20.ckpt",
    };
    assert_repo_paths(&c, want, 2);
    strategy_commit_free(&c);
    config_free(cfg);
}

static void test_finish(void **state)
{
    (void)state;
    struct config *cfg = load_job("every_save", ", \"exclude\": [\"runs/\"]");
    static const char *const rel[] = {
        "README.md",        "_cache/x",
        "all_results.json", "checkpoint-500/config.json",
        "config.json",      "model.safetensors",
        "runs/events.out",  "tmp-checkpoint-9/a",
        ".git/HEAD",        "sub/.cache/huggingface/x",
    };
    struct strategy_commit c;
    struct hs_err err = {0};
    assert_int_equal(strategy_plan_finish(&cfg->jobs[0], "/data/run", rel, HS_ARRAY_SIZE(rel),
                                          "/tmp/card.md", &c, &err),
                     0);
    assert_string_equal(c.message, "End of training");
    static const char *const want[] = {"README.md", "all_results.json", "config.json",
                                       "model.safetensors"};
    assert_repo_paths(&c, want, HS_ARRAY_SIZE(want));
    assert_string_equal(c.files[0].local_path, "/tmp/card.md");
    assert_string_equal(c.files[1].local_path, "/data/run/all_results.json");
    strategy_commit_free(&c);
    static const char *const bad[] = {"../etc/passwd"};
    assert_int_not_equal(strategy_plan_finish(&cfg->jobs[0], "/data/run", bad, 1, NULL, &c, &err),
                         0);
    assert_non_null(strstr(err.msg, "/data/run"));
    config_free(cfg);
}

/* An output dir with nothing to push (issue 12, finding 8): an empty plan,
 * no qsort of a NULL array (UBSan's nonnull-attribute check failed here in
 * the --sanitize build); with the card, the card alone. A save whose files
 * all are excluded plans no file either. */
static void test_finish_empty(void **state)
{
    (void)state;
    struct config *cfg = load_job("every_save", ", \"exclude\": [\"runs/\"]");
    struct strategy_commit c;
    struct hs_err err = {0};
    assert_int_equal(strategy_plan_finish(&cfg->jobs[0], "/data/run", NULL, 0, NULL, &c, &err), 0);
    assert_int_equal(c.n_files, 0);
    assert_string_equal(c.message, "End of training");
    strategy_commit_free(&c);
    static const char *const only_ignored[] = {"runs/events.out", "checkpoint-5/config.json"};
    assert_int_equal(
        strategy_plan_finish(&cfg->jobs[0], "/data/run", only_ignored, 2, NULL, &c, &err), 0);
    assert_int_equal(c.n_files, 0);
    strategy_commit_free(&c);
    assert_int_equal(
        strategy_plan_finish(&cfg->jobs[0], "/data/run", NULL, 0, "/tmp/card.md", &c, &err), 0);
    static const char *const want[] = {"README.md"};
    assert_repo_paths(&c, want, HS_ARRAY_SIZE(want));
    strategy_commit_free(&c);
    config_free(cfg);
}

static bool has_repo_path(const struct strategy_commit *c, const char *path)
{
    for (size_t i = 0; i < c->n_files; i++)
        if (!strcmp(c->files[i].repo_path, path))
            return true;
    return false;
}

/* The plan check-config prints says what strategy_plan_save does, for
 * every strategy and for a Trainer save and one of another layout (before
 * the plan came from strategy.c's tables it promised "model files" at the
 * root and checkpoint-N/ for a DeepSpeed save, which gets neither). */
static void test_plan_matches_execution(void **state)
{
    (void)state;
    static const char *const strategies[] = {"end", "every_save", "checkpoint", "all_checkpoints"};
    static const struct {
        const char *layout, *id;
    } layouts[] = {{"trainer", "checkpoint-500"}, {"deepspeed", "global_step500"}};
    for (size_t s = 0; s < HS_ARRAY_SIZE(strategies); s++) {
        for (size_t l = 0; l < HS_ARRAY_SIZE(layouts); l++) {
            char extra[64];
            snprintf(extra, sizeof(extra), ", \"layout\": \"%s\"", layouts[l].layout);
            struct config *cfg = load_job(strategies[s], extra);
            struct hs_buf plan;
            hs_buf_init(&plan, 1 << 20);
            assert_int_equal(strategy_plan_render(cfg, &plan), 0);
            struct watcher_file files[HS_ARRAY_SIZE(ckpt_files)];
            struct watcher_checkpoint cp;
            make_cp(&cp, files);
            cp.layout = layouts[l].layout;
            cp.id = (char *)layouts[l].id;
            struct strategy_commit c;
            struct hs_err err = {0};
            assert_int_equal(strategy_plan_save(&cfg->jobs[0], &cp, false, &c, &err), 0);
            const char *p = plan.data;
            char own[64];
            snprintf(own, sizeof(own), "%s/optimizer.pt", layouts[l].id);
            assert_int_equal(strstr(p, "each save:    nothing is uploaded") != NULL,
                             c.n_files == 0);
            assert_int_equal(strstr(p, "one commit: the whole save -> /") != NULL,
                             has_repo_path(&c, "optimizer.pt"));
            assert_int_equal(strstr(p, "one commit: model files of checkpoint-N -> /") != NULL,
                             c.n_files && !has_repo_path(&c, "optimizer.pt"));
            assert_int_equal(strstr(p, "save -> last-checkpoint/ (files absent from it deleted") !=
                                 NULL,
                             has_repo_path(&c, "last-checkpoint/optimizer.pt") && c.n_sync == 1);
            assert_int_equal(strstr(p, "save -> its own path") != NULL, has_repo_path(&c, own));
            strategy_commit_free(&c);
            hs_buf_free(&plan);
            config_free(cfg);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_save),          cmocka_unit_test(test_checkpoint_and_all),
        cmocka_unit_test(test_lightning_file_save), cmocka_unit_test(test_finish),
        cmocka_unit_test(test_finish_empty),        cmocka_unit_test(test_plan_matches_execution),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
