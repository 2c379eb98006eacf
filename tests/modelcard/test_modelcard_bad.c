/*
 * test_modelcard_bad.c — bad input still gives a card, with a warning:
 * hostile training_args.bin, missing or truncated trainer_state.json,
 * NaN/Infinity literals, a local-path base model, a PEFT adapter, and a
 * 100k-entry log_history (time and peak memory printed, bounded).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "mc_meta_util.h"

#include <sys/resource.h>

static char *mk_run(char *tmpl, char *dir, size_t n)
{
    char *base = mkdtemp(tmpl);
    assert_non_null(base);
    char src[HS_PATH_MAX];
    mc_data(src, sizeof(src), "cls_epoch/run/bert-finetuned-mrpc");
    assert_int_equal(hs_path_join(dir, n, base, "bert-finetuned-mrpc"), 0);
    assert_int_equal(mc_copy_tree(src, dir), 0);
    return base;
}

static void put(const char *dir, const char *name, const char *text)
{
    char p[HS_PATH_MAX];
    assert_int_equal(hs_path_join(p, sizeof(p), dir, name), 0);
    assert_int_equal(mc_spit(p, text, strlen(text)), 0);
}

static void rm(const char *dir, const char *name)
{
    char p[HS_PATH_MAX];
    assert_int_equal(hs_path_join(p, sizeof(p), dir, name), 0);
    assert_int_equal(unlink(p), 0);
}

static void test_hostile_training_args(void **state)
{
    (void)state;
    const char *hostile[] = {"bad_os_system_p2.bin", "bad_laughs.bin", "bad_truncated.bin",
                             "bad_zip_deflated.bin"};
    for (size_t i = 0; i < HS_ARRAY_SIZE(hostile); i++) {
        char tmpl[] = "/tmp/hs-mcbad-XXXXXX", dir[HS_PATH_MAX], src[HS_PATH_MAX], rel[128];
        char *base = mk_run(tmpl, dir, sizeof(dir));
        snprintf(rel, sizeof(rel), "pickles/%s", hostile[i]);
        mc_data(src, sizeof(src), rel);
        size_t len = 0;
        char *data = mc_slurp(src, &len);
        char dst[2 * HS_PATH_MAX];
        snprintf(dst, sizeof(dst), "%s/training_args.bin", dir);
        assert_int_equal(mc_spit(dst, data, len), 0);
        free(data);
        struct modelcard_warnings w;
        char *card = mc_render(dir, NULL, NULL, &w);
        assert_non_null(card);
        assert_true(mc_warned(&w, "training_args.bin: ignored (hyperparameters unknown): "
                                  "training_args.bin: "));
        /* What trainer_state.json knows, and everything else of the card. */
        assert_non_null(strstr(card, "The following hyperparameters were used during training:\n"
                                     "- train_batch_size: 16\n- num_epochs: 3\n\n### Training "
                                     "results\n"));
        assert_non_null(strstr(card, "| 0.1902        | 3.0   | 345  | 0.3812          |"));
        free(card);
        mc_rm_tree(base);
    }
}

static void test_missing_state(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/hs-mcbad-XXXXXX", dir[HS_PATH_MAX];
    char *base = mk_run(tmpl, dir, sizeof(dir));
    rm(dir, "trainer_state.json");
    rm(dir, "checkpoint-230/trainer_state.json");
    struct modelcard_warnings w;
    char *card = mc_render(dir, NULL, NULL, &w);
    assert_non_null(card);
    assert_true(mc_warned(&w, "no trainer_state.json (nor in a checkpoint)"));
    assert_null(strstr(card, "### Training results"));
    assert_null(strstr(card, "It achieves"));
    assert_non_null(strstr(card, "- num_epochs: 3.0\n\n### Framework versions\n\n- Transformers "
                                 "4.56.1\n"));
    free(card);
    mc_rm_tree(base);
}

static void test_truncated_state_falls_back(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/hs-mcbad-XXXXXX", dir[HS_PATH_MAX], p[2 * HS_PATH_MAX];
    char *base = mk_run(tmpl, dir, sizeof(dir));
    snprintf(p, sizeof(p), "%s/trainer_state.json", dir);
    size_t len = 0;
    char *text = mc_slurp(p, &len);
    assert_int_equal(mc_spit(p, text, len / 2), 0); /* cut mid-write */
    free(text);
    /* A newer save interrupted before its trainer_state.json is not used. */
    snprintf(p, sizeof(p), "%s/checkpoint-345", dir);
    assert_int_equal(mkdir(p, 0755), 0);
    put(p, "config.json", "{\"architectures\": [\"Broken\"]}");
    struct modelcard_warnings w;
    char *card = mc_render(dir, NULL, NULL, &w);
    assert_non_null(card);
    assert_true(mc_warned(&w, "trainer_state.json: ignored: "));
    assert_true(mc_warned(&w, "checkpoint-345 has no trainer_state.json (save interrupted?)"));
    /* checkpoint-230's state: two eval rows, summary from its last eval. */
    assert_non_null(strstr(card, "| 0.2911        | 2.0   | 230  | 0.3521          | 0.8603   | "
                                 "0.9019 |\n\n\n### Framework"));
    assert_non_null(strstr(card, "- Loss: 0.3521\n"));
    free(card);
    /* Without the checkpoint either: a card without results. */
    rm(dir, "checkpoint-230/trainer_state.json");
    card = mc_render(dir, NULL, NULL, &w);
    assert_non_null(card);
    assert_null(strstr(card, "### Training results"));
    free(card);
    mc_rm_tree(base);
}

static void test_nan_infinity(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/hs-mcbad-XXXXXX", dir[HS_PATH_MAX];
    char *base = mk_run(tmpl, dir, sizeof(dir));
    put(dir, "trainer_state.json",
        "{\n  \"best_metric\": -Infinity,\n  \"log_history\": [\n"
        "    {\"epoch\": 0.5, \"grad_norm\": Infinity, \"loss\": NaN, \"step\": 10},\n"
        "    {\"epoch\": 1.0, \"eval_accuracy\": Infinity, \"eval_loss\": NaN, \"step\": 20},\n"
        "    {\"epoch\": 2.0, \"eval_accuracy\": -Infinity, \"eval_loss\": 1e-05, \"step\": 40},\n"
        "    {\"epoch\": 2.0, \"step\": 40, \"train_loss\": NaN, \"train_runtime\": 1.5}\n"
        "  ]\n}\n");
    struct modelcard_meta meta;
    assert_int_equal(mc_meta_from_text("{\"datasets\": [\"imdb\"]}", &meta), 0);
    struct modelcard_warnings w;
    char *card = mc_render(dir, &meta, NULL, &w);
    assert_non_null(card);
    assert_int_equal(w.n, 0);
    assert_non_null(
        strstr(card, "| nan           | 1.0   | 20   | nan             | inf      |\n"));
    assert_non_null(
        strstr(card, "| nan           | 2.0   | 40   | 1e-05           | -inf     |\n"));
    assert_non_null(strstr(card, "- Loss: 1e-05\n- Accuracy: -inf\n"));
    assert_non_null(strstr(card, "      type: accuracy\n      value: -.inf\n"));
    free(card);
    modelcard_meta_free(&meta);
    mc_rm_tree(base);
}

static void test_base_model_sources(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/hs-mcbad-XXXXXX", dir[HS_PATH_MAX];
    char *base = mk_run(tmpl, dir, sizeof(dir));
    /* A local path from another machine is not a Hub id: from scratch + warning. */
    put(dir, "config.json",
        "{\"_name_or_path\": \"/home/me/models/bert\", \"architectures\": "
        "[\"BertForSequenceClassification\"]}");
    struct modelcard_warnings w;
    char *card = mc_render(dir, NULL, NULL, &w);
    assert_true(mc_warned(&w, "base model \"/home/me/models/bert\" from config.json is not a Hub "
                              "model id"));
    assert_non_null(strstr(card, "This model was trained from scratch on an unknown dataset.\n"));
    assert_null(strstr(card, "base_model:"));
    free(card);
    /* PEFT: adapter_config.json names the base model. */
    put(dir, "adapter_config.json",
        "{\"base_model_name_or_path\": \"meta-llama/Llama-3.2-1B\", "
        "\"peft_type\": \"LORA\"}");
    card = mc_render(dir, NULL, NULL, &w);
    assert_non_null(strstr(card, "base_model: meta-llama/Llama-3.2-1B\n"));
    assert_non_null(strstr(card, "fine-tuned version of "
                                 "[meta-llama/Llama-3.2-1B](https://huggingface.co/meta-llama/"
                                 "Llama-3.2-1B) on an unknown dataset."));
    free(card);
    mc_rm_tree(base);
}

/* Absurdly long keys and values: the card still comes out. */
static void test_huge_values(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/hs-mcbad-XXXXXX", dir[HS_PATH_MAX], p[2 * HS_PATH_MAX];
    char *base = mk_run(tmpl, dir, sizeof(dir));
    struct hs_buf b;
    hs_buf_init(&b, 4u << 20);
    hs_buf_printf(&b, "{\"log_history\": [{\"loss\": 1.0, \"step\": 1}, {\"eval_");
    for (int i = 0; i < 200000; i++)
        hs_buf_append(&b, "k", 1);
    hs_buf_printf(&b, "\": 1, \"eval_note\": \"");
    for (int i = 0; i < 200000; i++)
        hs_buf_append(&b, "v", 1);
    hs_buf_printf(&b, "\", \"eval_loss\": 0.5, \"step\": 2}]}");
    snprintf(p, sizeof(p), "%s/trainer_state.json", dir);
    assert_int_equal(mc_spit(p, b.data, b.len), 0);
    hs_buf_free(&b);
    struct modelcard_warnings w;
    char *card = mc_render(dir, NULL, NULL, &w);
    assert_non_null(card);
    assert_non_null(strstr(card, "| Training Loss | Epoch | Step | Validation Loss | Note |"));
    assert_non_null(strstr(card, "| 1.0           | None  | 2    | 0.5             |      |\n"));
    free(card);
    mc_rm_tree(base);
}

/* 100k log entries (a 1000-eval run logging every step): linear time,
 * bounded memory. */
static void test_huge_log_history(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/hs-mcbad-XXXXXX", dir[HS_PATH_MAX], p[2 * HS_PATH_MAX];
    char *base = mk_run(tmpl, dir, sizeof(dir));
    struct hs_buf b;
    hs_buf_init(&b, 256u << 20);
    hs_buf_printf(&b, "{\n  \"log_history\": [\n");
    const int n = 100000;
    for (int i = 1; i <= n; i++) {
        if (i % 100 == 0)
            hs_buf_printf(&b,
                          "    {\n      \"epoch\": %.17g,\n      \"eval_accuracy\": %.17g,\n      "
                          "\"eval_loss\": %.17g,\n      \"eval_runtime\": 1.5,\n      "
                          "\"eval_samples_per_second\": 100.0,\n      \"step\": %d\n    },\n",
                          i / 3000.0, 0.5 + i / 400000.0, 1.0 / i, i);
        else
            hs_buf_printf(&b,
                          "    {\n      \"epoch\": %.17g,\n      \"grad_norm\": %.17g,\n      "
                          "\"learning_rate\": %.17g,\n      \"loss\": %.4f,\n      \"step\": "
                          "%d\n    },\n",
                          i / 3000.0, 1.0 + i / 1e6, 5e-5 * (1 - (double)i / n), 2.0 - i / 1e5, i);
    }
    hs_buf_printf(&b,
                  "    {\"epoch\": 33.3, \"step\": %d, \"train_loss\": 0.5, \"train_runtime\": "
                  "9.5}\n  ]\n}\n",
                  n);
    snprintf(p, sizeof(p), "%s/trainer_state.json", dir);
    assert_int_equal(mc_spit(p, b.data, b.len), 0);
    size_t bytes = b.len;
    hs_buf_free(&b);

    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    hs_usec_t t0 = hs_now_monotonic();
    struct modelcard_warnings w;
    char *card = mc_render(dir, NULL, NULL, &w);
    hs_usec_t dt = hs_now_monotonic() - t0;
    getrusage(RUSAGE_SELF, &ru1);
    assert_non_null(card);
    /* 1000 eval rows: count the table lines. */
    size_t rows = 0;
    for (const char *q = strstr(card, "|:-"); q && (q = strstr(q + 1, "\n| ")); rows++)
        ;
    assert_int_equal(rows, 1000);
    /* last row: loss 1.0000 in the file is the float 1.0; 1/100000 is 1e-05 */
    assert_non_null(
        strstr(card, "| 1.0           | 33.3333 | 100000 | 1e-05           | 0.75     |\n"));
    fprintf(stderr,
            "huge log_history: %d entries, %zu bytes, rendered in %.2f s, peak RSS %ld MiB\n",
            n + 1, bytes, dt / 1e6, ru1.ru_maxrss / 1024);
    assert_true(dt < 30 * HS_USEC_PER_SEC); /* generous: ASan CI machines */
    free(card);
    mc_rm_tree(base);
}

/* A person's card with a huge front matter (150k keys, repeated license
 * lines, flow-style tags) merges in linear time and keeps every line. */
static void test_merge_large_front_matter(void **state)
{
    (void)state;
    char dir[HS_PATH_MAX];
    mc_data(dir, sizeof(dir), "cls_epoch/run/bert-finetuned-mrpc");
    struct hs_buf b;
    hs_buf_init(&b, 16u << 20);
    hs_buf_printf(&b, "---\ntags: [mine, other]\n");
    for (int i = 0; i < 150000; i++)
        hs_buf_printf(&b, i % 1000 == 0 ? "license: x%d\n" : "key%d: v\n", i);
    hs_buf_printf(&b, "---\nBody.\n");
    struct modelcard_warnings w;
    hs_usec_t t0 = hs_now_monotonic();
    char *card = mc_render(dir, NULL, b.data, &w);
    hs_usec_t dt = hs_now_monotonic() - t0;
    assert_non_null(card);
    assert_true(dt < 10 * HS_USEC_PER_SEC);
    assert_non_null(strstr(card, "---\ntags: [mine, other]\nlicense: x0\nkey1: v\n"));
    assert_non_null(strstr(card, "key149999: v\n"));
    assert_null(strstr(card, "license: x1000\n")); /* duplicates: the first one is kept */
    assert_non_null(strstr(card, "---\nBody.\n\n" MODELCARD_BEGIN_MARKER "\n"));
    free(card);
    hs_buf_free(&b);
}

/* Random existing cards built from the pieces the merger looks for
 * (front matter fences, CR/LF, markers, top-level keys, list items, the
 * Trainer's comment, junk bytes): rendering always succeeds and the result
 * always carries hubsync's section. Deterministic; ASan checks memory. */
static void test_merge_random_cards(void **state)
{
    (void)state;
    char dir[HS_PATH_MAX];
    mc_data(dir, sizeof(dir), "cls_epoch/run/bert-finetuned-mrpc");
    static const char *const pieces[] = {
        "---",
        "\n",
        "\r\n",
        "\r",
        MODELCARD_BEGIN_MARKER,
        MODELCARD_END_MARKER,
        "tags:",
        "- x",
        "'q'",
        "license: mit",
        "model-index:",
        "  results: []",
        "library_name: peft",
        ":",
        " ",
        "#",
        ("This model card has been generated automatically according to the information the "
         "Trainer had access to"), /* one line of the card, split at 100 columns */
        "| Training Loss | Epoch | F1 |",
        "\xc3\xa9",
        "\xff",
        "[a, b]",
        "tags: [a]",
    };
    uint64_t x = 88172645463325252ULL;
    struct modelcard_meta meta = {0};
    for (int it = 0; it < 600; it++) {
        char text[2048];
        size_t n = 0;
        int parts = 1 + (int)(x % 40);
        for (int k = 0; k < parts; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
            const char *pc = pieces[x % HS_ARRAY_SIZE(pieces)];
            size_t l = strlen(pc);
            if (n + l + 1 >= sizeof(text))
                break;
            memcpy(text + n, pc, l);
            n += l;
        }
        text[n] = '\0';
        meta.mode = (x >> 20) % 3 == 0 ? MODELCARD_OVERWRITE : MODELCARD_MERGE;
        struct modelcard_warnings w;
        char *card = mc_render(dir, &meta, text, &w);
        if (!card)
            fail_msg("iteration %d: render failed on %s", it, text);
        assert_non_null(strstr(card, MODELCARD_BEGIN_MARKER));
        assert_non_null(strstr(card, MODELCARD_END_MARKER));
        assert_true(!strncmp(card, "---", 3));
        free(card);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostile_training_args),
        cmocka_unit_test(test_missing_state),
        cmocka_unit_test(test_truncated_state_falls_back),
        cmocka_unit_test(test_nan_infinity),
        cmocka_unit_test(test_base_model_sources),
        cmocka_unit_test(test_huge_log_history),
        cmocka_unit_test(test_merge_large_front_matter),
        cmocka_unit_test(test_merge_random_cards),
        cmocka_unit_test(test_huge_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
