/*
 * test_watcher_fake_trainer.c — the watcher against tests/fake_trainer
 * (the project's realistic writer of Trainer, Accelerate, Lightning and
 * DeepSpeed runs), under inotify and polling. The fake trainer's --events
 * file lists every completed save with its files, sizes and sha256 and the
 * monotonic time its marker was written; after the run we check: exactly
 * one READY per save and none for anything else, the complete file list
 * with every file at its final size at READY, the snapshot taken in the
 * READY callback still holds every file (sha256 equal to the trainer's)
 * after rotation deleted the originals, the final save reported as training
 * output, and we print the marker → READY latency.
 */
#include "harness.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#ifndef HS_SOURCE_DIR
#error "HS_SOURCE_DIR must be defined"
#endif

#define MAX_SEEN 256

struct seen {
    struct watcher_checkpoint *cp;
    char (*sha)[65];
    struct watcher_snapshot *snap;
};

struct ft {
    struct seen seen[MAX_SEEN];
    size_t n_seen;
    bool exited;
    int64_t status;
};

static void sha256_file(const char *path, char out[65])
{
    unsigned char md[32], buf[65536];
    unsigned int n = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    FILE *f = fopen(path, "rb");
    size_t r;
    while (f && (r = fread(buf, 1, sizeof(buf), f)) > 0)
        EVP_DigestUpdate(c, buf, r);
    if (f)
        fclose(f);
    EVP_DigestFinal_ex(c, md, &n);
    EVP_MD_CTX_free(c);
    for (unsigned i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", md[i]);
    if (!f)
        strcpy(out, "missing");
}

static void ft_ready(struct wt *t, struct watcher_job *job, const struct watcher_checkpoint *cp)
{
    struct ft *ft = t->user;
    if (ft->n_seen == MAX_SEEN)
        return;
    struct seen *s = &ft->seen[ft->n_seen++];
    s->cp = watcher_checkpoint_dup(cp);
    s->sha = calloc(cp->n_files ? cp->n_files : 1, sizeof(*s->sha));
    /* snapshot first, as a consumer must (rotation may follow the next
     * save), then hash what it holds: hard links share the bytes READY saw */
    struct hs_err err = {0};
    if (watcher_snapshot(job, cp, &s->snap, &err) < 0)
        printf("snapshot of %s failed: %s\n", cp->id, err.msg);
    /* hashing waits until after the run: a consumer hashes off the loop */
}

/* Hash what each snapshot holds (hard links: the inodes READY listed, with
 * the sizes it saw; copies: the bytes as they were at READY). */
static void hash_snapshots(struct ft *ft)
{
    for (size_t k = 0; k < ft->n_seen; k++) {
        struct seen *s = &ft->seen[k];
        for (size_t i = 0; i < s->cp->n_files; i++) {
            char p[4096];
            snprintf(p, sizeof(p), "%s/%s", s->snap ? s->snap->dir : s->cp->base,
                     s->cp->files[i].path);
            sha256_file(p, s->sha[i]);
        }
    }
}

static void exit_cb(uv_process_t *p, int64_t status, int sig)
{
    struct wt *t = p->data;
    struct ft *ft = t->user;
    ft->exited = true;
    ft->status = sig ? 128 + sig : status;
    uv_close((uv_handle_t *)p, NULL);
}

static bool exited(struct wt *t)
{
    return ((struct ft *)t->user)->exited;
}

static size_t g_expect;
static bool enough_ready(struct wt *t)
{
    return ((struct ft *)t->user)->n_seen >= g_expect;
}

static json_t *g_final;
static bool all_reported(struct wt *t)
{
    if (!enough_ready(t))
        return false;
    json_t *fe, *files = g_final ? json_object_get(g_final, "files") : NULL;
    size_t fi;
    json_array_foreach(files, fi, fe)
    {
        const char *path = json_string_value(json_object_get(fe, "path"));
        bool found = false;
        for (size_t k = 0; k < t->n_outputs; k++)
            found |= !strcmp(t->outputs[k], path);
        if (!found)
            return false;
    }
    return true;
}

static bool never(struct wt *t)
{
    (void)t;
    return false;
}

/* The path of a READY file relative to the root. */
static void rel_to_root(struct wt *t, const struct watcher_checkpoint *cp, const char *path,
                        char *out, size_t n)
{
    size_t rl = strlen(t->root);
    const char *pre = !strncmp(cp->base, t->root, rl) ? cp->base + rl : cp->base;
    if (*pre == '/')
        pre++;
    snprintf(out, n, "%s%s%s", pre, *pre ? "/" : "", path);
}

static void run_ft(const char *label, enum watcher_mode mode, unsigned world,
                   const char *const *extra)
{
    struct wt *t = calloc(1, sizeof(*t));
    struct ft *ft = calloc(1, sizeof(*ft));
    wt_init(t, label);
    t->user = ft;
    t->on_ready = ft_ready;
    t->o.mode = mode;
    t->o.world_size = world;
    mkdir(t->root, 0755);
    wt_add_job(t);
    wt_wait_scanned(t);

    char events[256], script[512], ws[16];
    snprintf(events, sizeof(events), "%s/events.jsonl", t->dir);
    snprintf(script, sizeof(script), "%s/tests/fake_trainer/fake_trainer.py", HS_SOURCE_DIR);
    snprintf(ws, sizeof(ws), "%u", world);
    char *args[64];
    size_t n = 0;
    args[n++] = "/usr/bin/python3";
    args[n++] = script;
    args[n++] = "--out";
    args[n++] = t->root;
    args[n++] = "--events";
    args[n++] = events;
    args[n++] = "--world-size";
    args[n++] = ws;
    args[n++] = "--quiet";
    args[n++] = "--tmpdir";
    args[n++] = t->dir;
    for (size_t i = 0; extra[i]; i++)
        args[n++] = (char *)extra[i];
    args[n] = NULL;
    uv_process_t proc;
    uv_stdio_container_t stdio[3] = {{.flags = UV_IGNORE},
                                     {.flags = UV_INHERIT_FD, .data.fd = 1},
                                     {.flags = UV_INHERIT_FD, .data.fd = 2}};
    uv_process_options_t po = {
        .file = args[0], .args = args, .exit_cb = exit_cb, .stdio_count = 3, .stdio = stdio};
    proc.data = t;
    hs_usec_t t0 = hs_now_monotonic();
    assert_int_equal(uv_spawn(&t->loop, &proc, &po), 0);
    wt_run_until(t, exited, 60000);
    assert_true(ft->exited);
    assert_int_equal(ft->status, 0);
    printf("%s: fake trainer ran %.0f ms\n", label, (hs_now_monotonic() - t0) / 1000.0);

    /* what the fake trainer says it saved */
    json_t *saves = json_array();
    json_t *final = NULL;
    FILE *f = fopen(events, "r");
    assert_non_null(f);
    char line[1 << 16];
    while (fgets(line, sizeof(line), f)) {
        json_t *e = json_loads(line, 0, NULL);
        assert_non_null(e);
        const char *ev = json_string_value(json_object_get(e, "event"));
        const char *kind = json_string_value(json_object_get(e, "kind"));
        if (ev && !strcmp(ev, "save") && kind && !strcmp(kind, "checkpoint"))
            json_array_append(saves, e);
        else if (ev && !strcmp(ev, "save") && kind && !strcmp(kind, "final"))
            final = json_incref(e);
        json_decref(e);
    }
    fclose(f);
    g_expect = json_array_size(saves);
    assert_true(g_expect > 0);
    g_final = final;
    wt_run_until(t, all_reported, 10000);
    wt_run_until(t, never, 300); /* anything more would be a duplicate */

    hash_snapshots(ft);
    uint64_t lat[MAX_SEEN];
    size_t n_lat = 0, bad = 0;
    size_t i;
    json_t *e;
    json_array_foreach(saves, i, e)
    {
        const char *name = json_string_value(json_object_get(e, "name"));
        json_t *files = json_object_get(e, "files");
        struct seen *s = NULL;
        int count = 0;
        for (size_t k = 0; k < ft->n_seen; k++)
            if (!strcmp(ft->seen[k].cp->id, name)) {
                s = &ft->seen[k];
                count++;
            }
        if (count != 1) {
            printf("%s: %s READY %d times\n", label, name, count);
            bad++;
            continue;
        }
        if (json_array_size(files) != s->cp->n_files) {
            printf("%s: %s: %zu files written, %zu reported\n", label, name, json_array_size(files),
                   s->cp->n_files);
            bad++;
        }
        size_t fi;
        json_t *fe;
        json_array_foreach(files, fi, fe)
        {
            const char *path = json_string_value(json_object_get(fe, "path"));
            const char *sha = json_string_value(json_object_get(fe, "sha256"));
            json_int_t size = json_integer_value(json_object_get(fe, "size"));
            size_t k;
            char rel[4096];
            for (k = 0; k < s->cp->n_files; k++) {
                rel_to_root(t, s->cp, s->cp->files[k].path, rel, sizeof(rel));
                if (!strcmp(rel, path))
                    break;
            }
            if (k == s->cp->n_files) {
                printf("%s: %s: %s not reported\n", label, name, path);
                bad++;
                continue;
            }
            if ((json_int_t)s->cp->files[k].size != size || strcmp(s->sha[k], sha) != 0) {
                printf("%s: %s: %s differs at READY (size %llu vs %lld)\n", label, name, path,
                       (unsigned long long)s->cp->files[k].size, (long long)size);
                bad++;
            }
            char snap[4096], ssha[65];
            if (!s->snap) {
                bad++;
                continue;
            }
            snprintf(snap, sizeof(snap), "%s/%s", s->snap->dir, s->cp->files[k].path);
            sha256_file(snap, ssha);
            if (strcmp(ssha, sha) != 0) {
                printf("%s: %s: snapshot of %s differs\n", label, name, path);
                bad++;
            }
        }
        hs_usec_t mono = (hs_usec_t)json_integer_value(json_object_get(e, "monotonic_us"));
        if (s->cp->ready_at > mono)
            lat[n_lat++] = s->cp->ready_at - mono;
    }
    size_t unexpected = ft->n_seen > g_expect ? ft->n_seen - g_expect : 0;
    for (size_t k = 0; k < ft->n_seen; k++) {
        bool known = false;
        json_array_foreach(saves, i, e) known |=
            !strcmp(ft->seen[k].cp->id, json_string_value(json_object_get(e, "name")));
        if (!known) {
            printf("%s: unexpected READY %s\n", label, ft->seen[k].cp->id);
            unexpected++;
        }
    }
    /* the final save: every file reported as training output */
    if (final) {
        json_t *files = json_object_get(final, "files"), *fe;
        size_t fi;
        json_array_foreach(files, fi, fe)
        {
            const char *path = json_string_value(json_object_get(fe, "path"));
            bool found = false;
            for (size_t k = 0; k < t->n_outputs; k++)
                found |= !strcmp(t->outputs[k], path);
            if (!found) {
                printf("%s: final file %s not reported as training output\n", label, path);
                bad++;
            }
        }
        json_decref(final);
    }
    if (n_lat) {
        for (size_t a = 1; a < n_lat; a++)
            for (size_t b = a; b > 0 && lat[b - 1] > lat[b]; b--) {
                uint64_t x = lat[b];
                lat[b] = lat[b - 1];
                lat[b - 1] = x;
            }
        printf("latency %s (fake trainer marker -> READY): n=%zu min=%.1f median=%.1f max=%.1f "
               "ms\n",
               label, n_lat, lat[0] / 1000.0, lat[n_lat / 2] / 1000.0, lat[n_lat - 1] / 1000.0);
    }
    json_decref(saves);
    for (size_t k = 0; k < ft->n_seen; k++) {
        struct hs_err err = {0};
        watcher_snapshot_release(t->job, ft->seen[k].snap, &err);
        watcher_checkpoint_free(ft->seen[k].cp);
        free(ft->seen[k].sha);
    }
    assert_int_equal(bad, 0);
    assert_int_equal(unexpected, 0);
    wt_fini(t);
    free(ft);
    free(t);
}

/* Full speed (no pauses at all), sharded weights, final save. */
static const char *const trainer_args[] = {"--layout",     "trainer", "--max-steps", "60",
                                           "--save-steps", "10",      "--shards",    "2",
                                           "--model-size", "1000000", NULL};
/* Rotation to one checkpoint: the previous folder is deleted right after the
 * next save, so the snapshot taken at READY must hold it. --save-pause keeps
 * the interval between saves (minutes in real runs) above scheduling noise on
 * a loaded CI machine; the deletion itself is immediate. */
static const char *const trainer_tmp_args[] = {"--layout",
                                               "trainer",
                                               "--max-steps",
                                               "40",
                                               "--save-steps",
                                               "10",
                                               "--save-total-limit",
                                               "1",
                                               "--tmp-checkpoint",
                                               "fixed",
                                               "--save-pause",
                                               "0.25",
                                               "--model-size",
                                               "1000000",
                                               NULL};
/* Two ranks whose files land after the marker; saves spaced like a real run. */
static const char *const trainer_w2_args[] = {"--layout",
                                              "trainer",
                                              "--max-steps",
                                              "30",
                                              "--save-steps",
                                              "10",
                                              "--save-total-limit",
                                              "1",
                                              "--rank-files",
                                              "late",
                                              "--late-rank-delay",
                                              "0.05",
                                              "--save-pause",
                                              "0.3",
                                              "--model-size",
                                              "1000000",
                                              NULL};
static const char *const slow_trainer_args[] = {"--layout",
                                                "trainer",
                                                "--max-steps",
                                                "40",
                                                "--save-steps",
                                                "10",
                                                "--save-total-limit",
                                                "1",
                                                "--save-pause",
                                                "0.3",
                                                "--model-size",
                                                "1000000",
                                                NULL};
/* The most common configuration (issue 12): limit 1 with load_best_model_at_end.
 * At the end of train() every checkpoint but the best is deleted, the last
 * one within milliseconds of its trainer_state.json: protected on sight, it
 * is still READY from the spool. One evaluation has eval_loss NaN (Python
 * writes NaN into trainer_state.json). */
static const char *const trainer_best_args[] = {"--layout",
                                                "trainer",
                                                "--max-steps",
                                                "40",
                                                "--save-steps",
                                                "10",
                                                "--eval-strategy",
                                                "steps",
                                                "--eval-steps",
                                                "10",
                                                "--save-total-limit",
                                                "1",
                                                "--load-best-model-at-end",
                                                "--nan-eval-loss",
                                                "3",
                                                "--save-pause",
                                                "0.3",
                                                "--model-size",
                                                "1000000",
                                                NULL};
static const char *const accelerate_args[] = {"--layout",
                                              "accelerate",
                                              "--max-steps",
                                              "40",
                                              "--save-steps",
                                              "10",
                                              "--save-total-limit",
                                              "1",
                                              "--save-pause",
                                              "0.4",
                                              "--model-size",
                                              "1000000",
                                              NULL};
/* Full speed, every file kept (top-k -1), last.ckpt a symlink. */
static const char *const lightning_args[] = {
    "--layout", "lightning",   "--max-steps", "50",           "--save-steps", "10", "--save-top-k",
    "-1",       "--save-last", "link",        "--model-size", "1000000",      NULL};
/* Written in place, top-k 1 deletes the previous file after the next save. */
static const char *const lightning_inplace_args[] = {
    "--layout",     "lightning",         "--max-steps", "30",           "--save-steps",
    "10",           "--lightning-write", "inplace",     "--save-pause", "0.25",
    "--model-size", "1000000",           NULL};
static const char *const deepspeed_args[] = {
    "--layout", "deepspeed",    "--max-steps", "40", "--save-steps", "10", "--save-pause",
    "0.4",      "--model-size", "1000000",     NULL};

static void test_ft_trainer(void **s)
{
    (void)s;
    run_ft("ft-trainer-inotify", WATCHER_MODE_INOTIFY, 1, trainer_args);
}
static void test_ft_trainer_tmp(void **s)
{
    (void)s;
    run_ft("ft-trainer-tmp-inotify", WATCHER_MODE_INOTIFY, 1, trainer_tmp_args);
}
static void test_ft_trainer_best(void **s)
{
    (void)s;
    run_ft("ft-trainer-best-inotify", WATCHER_MODE_INOTIFY, 1, trainer_best_args);
}
static void test_ft_trainer_w2(void **s)
{
    (void)s;
    run_ft("ft-trainer-w2-inotify", WATCHER_MODE_INOTIFY, 2, trainer_w2_args);
}
static void test_ft_trainer_poll(void **s)
{
    (void)s;
    run_ft("ft-trainer-poll", WATCHER_MODE_POLL, 1, slow_trainer_args);
}
static void test_ft_accelerate(void **s)
{
    (void)s;
    run_ft("ft-accelerate-inotify", WATCHER_MODE_INOTIFY, 2, accelerate_args);
}
static void test_ft_accelerate_poll(void **s)
{
    (void)s;
    run_ft("ft-accelerate-poll", WATCHER_MODE_POLL, 2, accelerate_args);
}
static void test_ft_lightning(void **s)
{
    (void)s;
    run_ft("ft-lightning-inotify", WATCHER_MODE_INOTIFY, 1, lightning_args);
}
static void test_ft_lightning_inplace_poll(void **s)
{
    (void)s;
    run_ft("ft-lightning-inplace-poll", WATCHER_MODE_POLL, 1, lightning_inplace_args);
}
static void test_ft_deepspeed(void **s)
{
    (void)s;
    run_ft("ft-deepspeed-inotify", WATCHER_MODE_INOTIFY, 2, deepspeed_args);
}
static void test_ft_deepspeed_poll(void **s)
{
    (void)s;
    run_ft("ft-deepspeed-poll", WATCHER_MODE_POLL, 2, deepspeed_args);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    wt_select_tests();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ft_trainer),
        cmocka_unit_test(test_ft_trainer_tmp),
        cmocka_unit_test(test_ft_trainer_best),
        cmocka_unit_test(test_ft_trainer_w2),
        cmocka_unit_test(test_ft_trainer_poll),
        cmocka_unit_test(test_ft_accelerate),
        cmocka_unit_test(test_ft_accelerate_poll),
        cmocka_unit_test(test_ft_lightning),
        cmocka_unit_test(test_ft_lightning_inplace_poll),
        cmocka_unit_test(test_ft_deepspeed),
        cmocka_unit_test(test_ft_deepspeed_poll),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
