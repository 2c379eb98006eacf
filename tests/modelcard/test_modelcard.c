/*
 * test_modelcard.c — golden and merge tests of modelcard/.
 *
 * Golden: data/<case>/run/<name> (built by make_fixtures.py) rendered with
 * data/<case>/meta.json must equal data/<case>/expected.md byte for byte.
 * The expected files were written by hand from the rules; data/DERIVATION.md
 * says how each line was derived. Merge: a human card keeps its text; the
 * Trainer's and hubsync's own cards are regenerated; modes; rule 6 order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "mc_meta_util.h"

/* data/<name>/meta.json and expected.md with the run of data/<run_case>. */
static void golden_of(const char *name, const char *run_case, const char *run, int world_size)
{
    char dir[HS_PATH_MAX], meta_path[HS_PATH_MAX], exp_path[HS_PATH_MAX], rel[256];
    snprintf(rel, sizeof(rel), "%s/run/%s", run_case, run);
    mc_data(dir, sizeof(dir), rel);
    snprintf(rel, sizeof(rel), "%s/meta.json", name);
    mc_data(meta_path, sizeof(meta_path), rel);
    snprintf(rel, sizeof(rel), "%s/expected.md", name);
    mc_data(exp_path, sizeof(exp_path), rel);
    struct modelcard_meta meta;
    assert_int_equal(mc_load_meta(meta_path, &meta), 0);
    meta.world_size = world_size;
    struct modelcard_warnings w;
    char *card = mc_render(dir, &meta, NULL, &w);
    assert_non_null(card);
    size_t elen = 0;
    char *expected = mc_slurp(exp_path, &elen);
    assert_non_null(expected);
    if (strlen(card) != elen || memcmp(card, expected, elen)) {
        char out[HS_PATH_MAX];
        snprintf(out, sizeof(out), "%s/%s.actual.md", HS_MC_OUT, name);
        mc_spit(out, card, strlen(card));
        fail_msg("%s: rendered card differs from %s (actual in %s)", name, exp_path, out);
    }
    assert_int_equal(w.n, 0);
    assert_null(strstr(card, "hf_fixture_secret"));
    free(card);
    free(expected);
    modelcard_meta_free(&meta);
}

static void golden(const char *name, const char *run, int world_size)
{
    golden_of(name, name, run, world_size);
}

static void test_golden_classification_epoch(void **state)
{
    (void)state;
    golden("cls_epoch", "bert-finetuned-mrpc", 1);
}

static void test_golden_causal_lm_steps(void **state)
{
    (void)state;
    golden("clm_steps", "gpt2-wikitext", 2);
}

static void test_golden_seq2seq_steps(void **state)
{
    (void)state;
    golden("s2s_steps", "t5-small-xsum", 1);
}

/* dataset_tags / dataset_config / dataset_args in model-index, and the
 * framework versions after Transformers (issue 15 item 12). */
static void test_golden_dataset_args_versions(void **state)
{
    (void)state;
    golden_of("s2s_args", "s2s_steps", "t5-small-xsum", 1);
}

/* A copy of the cls_epoch run in a temp dir, for tests that modify it. */
static char *tmp_run(char *tmpl)
{
    char *base = mkdtemp(tmpl);
    assert_non_null(base);
    char src[HS_PATH_MAX], dst[HS_PATH_MAX];
    mc_data(src, sizeof(src), "cls_epoch/run/bert-finetuned-mrpc");
    snprintf(dst, sizeof(dst), "%s/bert-finetuned-mrpc", base);
    assert_int_equal(mc_copy_tree(src, dst), 0);
    return base;
}

static char *expected_cls(void)
{
    char p[HS_PATH_MAX];
    mc_data(p, sizeof(p), "cls_epoch/expected.md");
    char *e = mc_slurp(p, NULL);
    assert_non_null(e);
    return e;
}

/* Replace the first "from" in s (which must be there) by "to"; malloc'd. */
static char *replaced(const char *s, const char *from, const char *to)
{
    const char *p = strstr(s, from);
    assert_non_null(p);
    size_t n = strlen(s) - strlen(from) + strlen(to) + 1;
    char *out = malloc(n);
    assert_non_null(out);
    snprintf(out, n, "%.*s%s%s", (int)(p - s), s, to, p + strlen(from));
    return out;
}

/* The cls_epoch run as another transformers version wrote it: the card is
 * the golden one with that version, and the optimizer line of that
 * version's modelcard.py (before 4.46.0: "Adam with betas=…", whatever
 * optim is; from 4.46.0, dev releases included: "Use <optim> with …"). */
static void optimizer_for_version(const char *version, bool old_text)
{
    char tmpl[] = "/tmp/hs-mc-XXXXXX";
    char *base = tmp_run(tmpl);
    char dir[HS_PATH_MAX], cfg[HS_PATH_MAX + 16], mp[HS_PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/bert-finetuned-mrpc", base);
    snprintf(cfg, sizeof(cfg), "%s/config.json", dir);
    char *text = mc_slurp(cfg, NULL);
    assert_non_null(text);
    char want_v[64];
    snprintf(want_v, sizeof(want_v), "\"transformers_version\": \"%s\"", version);
    char *patched = replaced(text, "\"transformers_version\": \"4.56.1\"", want_v);
    assert_int_equal(mc_spit(cfg, patched, strlen(patched)), 0);
    struct modelcard_meta meta;
    mc_data(mp, sizeof(mp), "cls_epoch/meta.json");
    assert_int_equal(mc_load_meta(mp, &meta), 0);
    struct modelcard_warnings w;
    char *card = mc_render(dir, &meta, NULL, &w);
    assert_non_null(card);
    char *exp = expected_cls(), line[64];
    snprintf(line, sizeof(line), "- Transformers %s\n", version);
    char *e1 = replaced(exp, "- Transformers 4.56.1\n", line);
    char *e2 = old_text ? replaced(e1,
                                   "- optimizer: Use adamw_torch with betas=(0.9,0.999) and "
                                   "epsilon=1e-08 and optimizer_args=No additional optimizer "
                                   "arguments\n",
                                   "- optimizer: Adam with betas=(0.9,0.999) and epsilon=1e-08\n")
                        : strdup(e1);
    assert_string_equal(card, e2);
    free(e2);
    free(e1);
    free(exp);
    free(card);
    free(patched);
    free(text);
    modelcard_meta_free(&meta);
    mc_rm_tree(base);
}

static void test_optimizer_line_by_version(void **state)
{
    (void)state;
    optimizer_for_version("4.38.2", true); /* the Trainer */
    optimizer_for_version("4.45.2", true);
    optimizer_for_version("4.46.0.dev0", false);
    optimizer_for_version("4.46.0", false);
}

static const char human_card[] = "---\n"
                                 "license: other\n"
                                 "license_name: acme-research\n"
                                 "tags:\n"
                                 "- nlp\n"
                                 "- 'paraphrase'\n"
                                 "widget:\n"
                                 "- text: \"I love this\"\n"
                                 "  example_title: Positive\n"
                                 "---\n"
                                 "# BERT for MRPC, by hand\n"
                                 "\n"
                                 "We fine-tuned this on a Tuesday. Please cite:\n"
                                 "\n"
                                 "    @misc{us2026, title={Paraphrases}}\n"
                                 "\n"
                                 "| Not | A results table |\n"
                                 "|-----|-----------------|\n";

static const char *body_of(const char *card)
{
    const char *p = strstr(card + 3, "\n---\n");
    return p ? p + 5 : NULL;
}

static void test_merge_keeps_human_text(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/hs-mc-XXXXXX";
    char *base = tmp_run(tmpl);
    char dir[HS_PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/bert-finetuned-mrpc", base);
    struct modelcard_meta meta;
    char mp[HS_PATH_MAX];
    mc_data(mp, sizeof(mp), "cls_epoch/meta.json");
    assert_int_equal(mc_load_meta(mp, &meta), 0);
    struct modelcard_warnings w;
    char *card = mc_render(dir, &meta, human_card, &w);
    assert_non_null(card);

    /* The person's body, byte for byte, then our marked section. */
    const char *hbody = body_of(human_card);
    const char *body = body_of(card);
    assert_non_null(body);
    assert_memory_equal(body, hbody, strlen(hbody));
    const char *gen = body + strlen(hbody);
    char *exp = expected_cls();
    const char *ebody = strstr(exp, "<!-- hubsync:begin");
    assert_string_equal(gen, ebody - 1); /* "\n" separator + the same marked body */
    assert_int_equal(gen[0], '\n');

    /* Their metadata: other keys kept verbatim; tags kept and ours added;
     * license replaced by the configured one; our keys appended. */
    assert_non_null(strstr(card, "license_name: acme-research\n"));
    assert_non_null(strstr(card, "widget:\n- text: \"I love this\"\n  example_title: Positive\n"));
    assert_non_null(strstr(card, "tags:\n- nlp\n- 'paraphrase'\n- generated_from_trainer\n"));
    assert_non_null(strstr(card, "---\nlicense: apache-2.0\nlicense_name"));
    assert_null(strstr(card, "license: other"));
    assert_non_null(strstr(card, "model-index:\n- name: bert-finetuned-mrpc\n  results:\n"));
    assert_non_null(strstr(card, "library_name: transformers\n"));

    /* Merging again with the result changes nothing (idempotent), and a
     * person's edit after our section survives a regeneration. */
    char *again = mc_render(dir, &meta, card, &w);
    assert_string_equal(again, card);
    size_t l = strlen(card);
    char *edited = malloc(l + 64);
    snprintf(edited, l + 64, "%s\nAdded later by a person.\n", card);
    char *again2 = mc_render(dir, &meta, edited, &w);
    assert_string_equal(again2, edited);

    free(again2);
    free(edited);
    free(again);
    free(exp);
    free(card);
    modelcard_meta_free(&meta);
    mc_rm_tree(base);
}

static void test_merge_markers_in_human_card(void **state)
{
    (void)state;
    char dir[HS_PATH_MAX], mp[HS_PATH_MAX];
    mc_data(dir, sizeof(dir), "cls_epoch/run/bert-finetuned-mrpc");
    mc_data(mp, sizeof(mp), "cls_epoch/meta.json");
    struct modelcard_meta meta;
    assert_int_equal(mc_load_meta(mp, &meta), 0);
    /* Stale generated text between the markers, human text around them. */
    const char *existing = "Intro by a person.\n\n" MODELCARD_BEGIN_MARKER
                           "\nold stuff\n" MODELCARD_END_MARKER "\nOutro by a person.\n";
    struct modelcard_warnings w;
    char *card = mc_render(dir, &meta, existing, &w);
    char *exp = expected_cls();
    const char *ebody = strstr(exp, MODELCARD_BEGIN_MARKER);
    const char *body = body_of(card);
    assert_non_null(body);
    assert_true(!strncmp(body, "Intro by a person.\n\n", 20));
    assert_true(!strncmp(body + 20, ebody, strlen(ebody)));
    assert_string_equal(body + 20 + strlen(ebody), "Outro by a person.\n");
    assert_null(strstr(card, "old stuff"));
    free(card);
    free(exp);
    modelcard_meta_free(&meta);
}

static void test_regenerates_trainer_and_own_cards(void **state)
{
    (void)state;
    char dir[HS_PATH_MAX], mp[HS_PATH_MAX];
    mc_data(dir, sizeof(dir), "cls_epoch/run/bert-finetuned-mrpc");
    mc_data(mp, sizeof(mp), "cls_epoch/meta.json");
    struct modelcard_meta meta;
    assert_int_equal(mc_load_meta(mp, &meta), 0);
    char *exp = expected_cls();
    struct modelcard_warnings w;
    /* The Trainer's own card (its comment) is replaced entirely. */
    const char *trainer =
        "---\nlicense: mit\ntags:\n- generated_from_trainer\nmodel-index:\n- name: x\n  results: "
        "[]\n---\n\n<!-- This model card has been generated automatically according to the "
        "information the Trainer had access to. You\nshould probably proofread and complete it, "
        "then remove this comment. -->\n\n# x\n\nSomething old.\n";
    char *card = mc_render(dir, &meta, trainer, &w);
    assert_string_equal(card, exp);
    free(card);
    /* hubsync's own card (nothing outside the markers): same. */
    const char *own =
        "---\nlicense: mit\n---\n" MODELCARD_BEGIN_MARKER "\nold\n" MODELCARD_END_MARKER "\n";
    card = mc_render(dir, &meta, own, &w);
    assert_string_equal(card, exp);
    free(card);
    /* overwrite mode ignores a human card; off renders nothing. */
    meta.mode = MODELCARD_OVERWRITE;
    card = mc_render(dir, &meta, human_card, &w);
    assert_string_equal(card, exp);
    free(card);
    meta.mode = MODELCARD_OFF;
    card = mc_render(dir, &meta, human_card, &w);
    assert_string_equal(card, "");
    free(card);
    free(exp);
    modelcard_meta_free(&meta);
}

/* Rule 6: the column order of a Trainer-written table in the existing card
 * wins over the file's sorted order; it also orders the summary. */
static void test_rule6_order_from_existing_table(void **state)
{
    (void)state;
    char dir[HS_PATH_MAX];
    mc_data(dir, sizeof(dir), "cls_epoch/run/bert-finetuned-mrpc");
    const char *existing =
        "\n<!-- This model card has been generated automatically according to the information the "
        "Trainer had access to. You\nshould probably proofread and complete it, then remove this "
        "comment. -->\n\n### Training results\n\n| Training Loss | Epoch | Step | Validation Loss "
        "| F1     | Accuracy |\n|:---:|:---:|:---:|:---:|:---:|:---:|\n";
    struct modelcard_warnings w;
    char *card = mc_render(dir, NULL, existing, &w);
    assert_non_null(strstr(card, "| Training Loss | Epoch | Step | Validation Loss | F1     | "
                                 "Accuracy |\n"));
    assert_non_null(strstr(card, "| 0.4838        | 1.0   | 115  | 0.3964          | 0.8791 | "
                                 "0.8284   |\n"));
    assert_non_null(strstr(card, "- Loss: 0.3812\n- F1: 0.8995\n- Accuracy: 0.8554\n"));
    /* Without metadata: unknown dataset, no model-index results, model name
     * from the directory, base model from config.json. */
    assert_non_null(strstr(card, "on an unknown dataset.\n"));
    assert_non_null(strstr(card, "- name: bert-finetuned-mrpc\n  results: []\n"));
    assert_non_null(strstr(card, "metrics:\n- f1\n- accuracy\n"));
    free(card);
}

/* A CRLF card stays CRLF: no lone LF anywhere, the person's bytes intact,
 * and merging again changes nothing. */
static void test_merge_crlf_card(void **state)
{
    (void)state;
    char dir[HS_PATH_MAX];
    mc_data(dir, sizeof(dir), "cls_epoch/run/bert-finetuned-mrpc");
    const char *human = "---\r\nlicense: mit\r\ntags:\r\n- nlp\r\n---\r\n# Mine\r\n\r\nText.\r\n";
    struct modelcard_warnings w;
    char *card = mc_render(dir, NULL, human, &w);
    assert_non_null(card);
    for (const char *p = card; (p = strchr(p, '\n')); p++)
        assert_true(p > card && p[-1] == '\r');
    assert_non_null(
        strstr(card, "---\r\n# Mine\r\n\r\nText.\r\n\r\n" MODELCARD_BEGIN_MARKER "\r\n"));
    assert_non_null(strstr(card, "tags:\r\n- nlp\r\n- generated_from_trainer\r\n"));
    assert_non_null(strstr(card, "should probably proofread and complete it, then remove this "
                                 "comment. -->\r\n\r\n# bert-finetuned-mrpc\r\n"));
    char *again = mc_render(dir, NULL, card, &w);
    assert_string_equal(again, card);
    free(again);
    free(card);
}

/* Several datasets, a task override, all_results.json as the summary. */
static void test_wording_variants(void **state)
{
    (void)state;
    char src[HS_PATH_MAX], dir[2 * HS_PATH_MAX];
    char tmpl[] = "/tmp/hs-mc-XXXXXX";
    char *base = mkdtemp(tmpl);
    assert_non_null(base);
    mc_data(src, sizeof(src), "s2s_steps/run/t5-small-xsum");
    snprintf(dir, sizeof(dir), "%s/t5", base);
    assert_int_equal(mc_copy_tree(src, dir), 0);
    char p[3 * HS_PATH_MAX];
    snprintf(p, sizeof(p), "%s/eval_results.json", dir);
    assert_int_equal(unlink(p), 0);
    snprintf(p, sizeof(p), "%s/all_results.json", dir);
    const char *all = "{\"epoch\": 1.0, \"eval_loss\": 2.5, \"eval_rouge1\": 30.123456, "
                      "\"eval_samples\": 10, \"total_flos\": 1e15, \"train_loss\": 2.9, "
                      "\"train_runtime\": 900.0, \"train_samples\": 1000}\n";
    assert_int_equal(mc_spit(p, all, strlen(all)), 0);

    struct modelcard_meta meta;
    assert_int_equal(
        mc_meta_from_text("{\"datasets\": [\"a\", \"b\", \"c\"], \"task\": \"summarization\"}",
                          &meta),
        0);
    struct modelcard_warnings w;
    char *card = mc_render(dir, &meta, NULL, &w);
    assert_non_null(strstr(card,
                           "on the a, the b and the c datasets.\nIt achieves the following "
                           "results on the evaluation set:\n- Loss: 2.5\n- Rouge1: 30.1235\n\n"));
    /* One result per dataset tag, task from the config. */
    const char *r = card;
    int results = 0;
    while ((r = strstr(r, "  - task:\n      name: Summarization\n      type: summarization\n")))
        results++, r++;
    assert_int_equal(results, 3);
    assert_non_null(strstr(card,
                           "      name: c\n      type: c\n    metrics:\n    - name: Rouge1\n      "
                           "type: rouge\n      value: 30.123456\n"));
    free(card);
    /* A display name pairs with the first tag only (zip). */
    meta.dataset_name = strdup("The A set");
    card = mc_render(dir, &meta, NULL, &w);
    assert_non_null(strstr(card, "on the The A set dataset."));
    results = 0;
    for (r = card; (r = strstr(r, "  - task:\n")); r++)
        results++;
    assert_int_equal(results, 1);
    assert_non_null(strstr(card, "    dataset:\n      name: The A set\n      type: a\n"));
    free(card);
    modelcard_meta_free(&meta);
    mc_rm_tree(base);
}

/* Render a run assembled in memory (state + args JSON), no files. */
static char *render_mem(const char *state_json, const char *args_json)
{
    struct modelcard_run run;
    memset(&run, 0, sizeof(run));
    snprintf(run.dir, sizeof(run.dir), "/nonexistent/mem-run");
    struct hs_err err = {0};
    run.state = hs_json_loads_tolerant(state_json, strlen(state_json), &err);
    assert_non_null(run.state);
    run.args = args_json ? json_loads(args_json, 0, NULL) : NULL;
    struct modelcard_meta meta = {0};
    struct modelcard_warnings w = {0};
    struct hs_buf b;
    hs_buf_init(&b, 1 << 20);
    assert_int_equal(modelcard_render(&run, &meta, NULL, 0, &b, &w, &err), 0);
    modelcard_run_free(&run);
    return b.data;
}

#define EVAL(step, loss) "{\"epoch\": 1.0, \"eval_loss\": " loss ", \"step\": " step "}"

/* Summary source: the last eval entry; with load_best_model_at_end the
 * best checkpoint's entry (a checkpoint state has no later evaluate());
 * an eval entry at index 0 is never used (parse_log_history's idx > 0). */
static void test_summary_choice(void **state)
{
    (void)state;
    const char *st =
        "{\"best_global_step\": 230, \"log_history\": [{\"loss\": 0.5, \"step\": 50}, " EVAL(
            "115", "0.39") ", " EVAL("230", "0.35") ", " EVAL("345", "0.38") "]}";
    char *c = render_mem(st, NULL);
    assert_non_null(strstr(c, "- Loss: 0.38\n"));
    free(c);
    c = render_mem(st, "{\"load_best_model_at_end\": true}");
    assert_non_null(strstr(c, "- Loss: 0.35\n"));
    free(c);
    /* An evaluate() after the summary entry wins even with load_best. */
    const char *st2 =
        "{\"best_global_step\": 230, \"log_history\": [{\"loss\": 0.5, \"step\": 50}, " EVAL(
            "230", "0.35") ", " EVAL("345", "0.38") ", {\"step\": 345, \"train_loss\": 0.4, "
                                                    "\"train_runtime\": 3.0}, " EVAL("345",
                                                                                     "0.3333") "]}";
    c = render_mem(st2, "{\"load_best_model_at_end\": true}");
    assert_non_null(strstr(c, "- Loss: 0.3333\n"));
    /* ... and is not a table row (rows stop at the summary). */
    assert_null(strstr(c, "| 0.3333"));
    free(c);
    /* Index 0 only: no summary; still a table row. */
    c = render_mem("{\"log_history\": [" EVAL("10", "0.7") "]}", NULL);
    assert_null(strstr(c, "It achieves"));
    assert_non_null(strstr(c, "| No log        | 1.0   | 10   | 0.7             |\n"));
    free(c);
    /* include_num_input_tokens_seen: train_runtime in every entry; the
     * summary is the one with train_loss too, so rows are kept. */
    c = render_mem(
        "{\"log_history\": [{\"loss\": 0.9, \"step\": 5, \"train_runtime\": 1.0}, " EVAL(
            "10", "0.7") ", {\"step\": 10, \"train_loss\": 0.8, \"train_runtime\": 2.0}]}",
        NULL);
    assert_non_null(strstr(c, "| 0.9           | 1.0   | 10   | 0.7             |\n"));
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_classification_epoch),
        cmocka_unit_test(test_golden_causal_lm_steps),
        cmocka_unit_test(test_golden_seq2seq_steps),
        cmocka_unit_test(test_golden_dataset_args_versions),
        cmocka_unit_test(test_optimizer_line_by_version),
        cmocka_unit_test(test_merge_keeps_human_text),
        cmocka_unit_test(test_merge_markers_in_human_card),
        cmocka_unit_test(test_regenerates_trainer_and_own_cards),
        cmocka_unit_test(test_rule6_order_from_existing_table),
        cmocka_unit_test(test_summary_choice),
        cmocka_unit_test(test_merge_crlf_card),
        cmocka_unit_test(test_wording_variants),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
