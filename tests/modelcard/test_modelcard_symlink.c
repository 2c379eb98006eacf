/*
 * test_modelcard_symlink.c — the output dir is written by whoever trains,
 * so nothing the card reads may come through a symlink: README.md ->
 * a token file, all_results.json / eval_results.json -> a secret JSON,
 * trainer_state.json and config.json -> elsewhere, a symlinked
 * checkpoint-N, a FIFO named README.md. Each is ignored with a warning
 * naming it (the card is rendered as if it were absent) and no byte of any
 * target reaches the card.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "mc_test_util.h"

#define SECRET "hf_SymlinkedSecretTokenValue1234"

struct fx {
    char base[64];
    char dir[HS_PATH_MAX];
    char secret[HS_PATH_MAX];
};

static void fx_make(struct fx *f)
{
    snprintf(f->base, sizeof(f->base), "/tmp/hs-mclink-XXXXXX");
    assert_non_null(mkdtemp(f->base));
    char src[HS_PATH_MAX];
    mc_data(src, sizeof(src), "cls_epoch/run/bert-finetuned-mrpc");
    snprintf(f->dir, sizeof(f->dir), "%s/out", f->base);
    assert_int_equal(mc_copy_tree(src, f->dir), 0);
    /* the victim: a JSON object whose first word would reach the card as a
     * metric, and a token-looking line that would be kept as human text */
    snprintf(f->secret, sizeof(f->secret), "%s/secret", f->base);
    const char *text = "{\"eval_" SECRET "\": 1.0, \"epoch\": 3.0}\n";
    assert_int_equal(mc_spit(f->secret, text, strlen(text)), 0);
}

static void link_in(const struct fx *f, const char *name, const char *target)
{
    char p[2 * HS_PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s", f->dir, name);
    unlink(p);
    assert_int_equal(symlink(target, p), 0);
}

static void assert_clean(const char *card)
{
    assert_non_null(card);
    assert_null(strstr(card, SECRET));
    assert_null(strstr(card, "SymlinkedSecret"));
}

static void test_readme_symlink_to_token(void **state)
{
    (void)state;
    struct fx f;
    fx_make(&f);
    char tok[2 * HS_PATH_MAX];
    snprintf(tok, sizeof(tok), "%s/token", f.base);
    assert_int_equal(mc_spit(tok, SECRET "\n", strlen(SECRET) + 1), 0);
    link_in(&f, "README.md", tok);
    struct modelcard_warnings w;
    char *card = mc_render(f.dir, NULL, NULL, &w);
    assert_clean(card);
    assert_true(mc_warned(&w, "/out/README.md: ignored: a symbolic link (not followed)"));
    /* as if absent: the same card as without a README.md */
    char p[2 * HS_PATH_MAX];
    snprintf(p, sizeof(p), "%s/README.md", f.dir);
    assert_int_equal(unlink(p), 0);
    struct modelcard_warnings w2;
    char *plain = mc_render(f.dir, NULL, NULL, &w2);
    assert_non_null(plain);
    assert_string_equal(card, plain);
    free(card);
    free(plain);
    mc_rm_tree(f.base);
}

static void test_results_symlinks(void **state)
{
    (void)state;
    struct fx f;
    fx_make(&f);
    link_in(&f, "all_results.json", f.secret);
    link_in(&f, "eval_results.json", f.secret);
    struct modelcard_warnings w;
    char *card = mc_render(f.dir, NULL, NULL, &w);
    assert_clean(card);
    assert_true(mc_warned(&w, "/out/all_results.json: ignored: a symbolic link"));
    assert_true(mc_warned(&w, "/out/eval_results.json: ignored: a symbolic link"));
    /* one warning per path */
    size_t n = 0;
    for (size_t i = 0; i < w.n; i++)
        n += strstr(w.msg[i], "/out/all_results.json") != NULL;
    assert_int_equal(n, 1);
    free(card);
    mc_rm_tree(f.base);
}

static void test_state_and_config_symlinks(void **state)
{
    (void)state;
    struct fx f;
    fx_make(&f);
    /* the run's own state and config replaced by links: the checkpoint's
     * are used, and nothing of the victim */
    link_in(&f, "trainer_state.json", f.secret);
    link_in(&f, "config.json", f.secret);
    link_in(&f, "training_args.bin", f.secret);
    struct modelcard_warnings w;
    char *card = mc_render(f.dir, NULL, NULL, &w);
    assert_clean(card);
    assert_true(mc_warned(&w, "/out/trainer_state.json: ignored: a symbolic link"));
    assert_true(mc_warned(&w, "/out/config.json: ignored: a symbolic link"));
    assert_true(mc_warned(&w, "/out/training_args.bin: ignored: a symbolic link"));
    free(card);
    mc_rm_tree(f.base);
}

static void test_symlinked_checkpoint_dir(void **state)
{
    (void)state;
    struct fx f;
    fx_make(&f);
    /* a checkpoint-999 -> elsewhere with a trainer_state.json of its own */
    char other[2 * HS_PATH_MAX], st[3 * HS_PATH_MAX];
    snprintf(other, sizeof(other), "%s/elsewhere", f.base);
    assert_int_equal(mkdir(other, 0700), 0);
    snprintf(st, sizeof(st), "%s/trainer_state.json", other);
    const char *text = "{\"log_history\": [{\"" SECRET "\": 1}], \"global_step\": 999}";
    assert_int_equal(mc_spit(st, text, strlen(text)), 0);
    link_in(&f, "checkpoint-999", other);
    char own[2 * HS_PATH_MAX];
    snprintf(own, sizeof(own), "%s/trainer_state.json", f.dir);
    assert_int_equal(unlink(own), 0); /* so the newest checkpoint's would be used */
    struct modelcard_warnings w;
    char *card = mc_render(f.dir, NULL, NULL, &w);
    assert_clean(card);
    free(card);
    mc_rm_tree(f.base);
}

static void test_fifo_readme_does_not_block(void **state)
{
    (void)state;
    struct fx f;
    fx_make(&f);
    char p[2 * HS_PATH_MAX];
    snprintf(p, sizeof(p), "%s/README.md", f.dir);
    assert_int_equal(mkfifo(p, 0600), 0);
    struct modelcard_warnings w;
    char *card = mc_render(f.dir, NULL, NULL, &w);
    assert_non_null(card);
    assert_true(mc_warned(&w, "/out/README.md: ignored: not a regular file"));
    free(card);
    mc_rm_tree(f.base);
}

static void test_symlinked_root_refused(void **state)
{
    (void)state;
    struct fx f;
    fx_make(&f);
    char l[2 * HS_PATH_MAX];
    snprintf(l, sizeof(l), "%s/link", f.base);
    assert_int_equal(symlink(f.dir, l), 0);
    struct modelcard_run run;
    struct modelcard_warnings w = {0};
    struct hs_err err = {0};
    assert_int_equal(modelcard_run_read(l, &run, &w, &err), -ELOOP);
    assert_non_null(strstr(err.msg, "/link: a symbolic link (not followed)"));
    mc_rm_tree(f.base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_readme_symlink_to_token),
        cmocka_unit_test(test_results_symlinks),
        cmocka_unit_test(test_state_and_config_symlinks),
        cmocka_unit_test(test_symlinked_checkpoint_dir),
        cmocka_unit_test(test_fifo_readme_does_not_block),
        cmocka_unit_test(test_symlinked_root_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
