/* test_spool.c — watcher/spool.c: the spool is hubsync's alone. A planted
 * `.hubsync -> victim` or `.hubsync/spool -> victim`, a spool_dir set to an
 * existing non-empty folder, and a directory of another user are refused by
 * the snapshot's prepare, the start-up cleanup and check-config alike, and
 * the victim's files are byte for byte what they were; the cleanup removes
 * only hubsync's own entry names, never through a symlink; a default spool
 * of an older hubsync (no marker, only its own entries) is adopted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "internal.h"
#include "test_tmpdir.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void put(const char *dir, const char *rel, const char *text)
{
    char p[6000];
    snprintf(p, sizeof(p), "%.4090s/%.1000s", dir, rel);
    assert_int_equal(hs_write_file_atomic(p, text, strlen(text), 0600), 0);
}

static bool has(const char *dir, const char *rel, const char *text)
{
    char p[6000], *d = NULL;
    snprintf(p, sizeof(p), "%.4090s/%.1000s", dir, rel);
    if (hs_read_file(p, 1 << 20, &d, NULL) < 0)
        return false;
    bool ok = !text || !strcmp(d, text);
    free(d);
    return ok;
}

static bool exists(const char *dir, const char *rel)
{
    char p[6000];
    struct stat st;
    snprintf(p, sizeof(p), "%.4090s/%.1000s", dir, rel);
    return lstat(p, &st) == 0;
}

struct fx {
    char *t;
    char root[HS_PATH_MAX], victim[HS_PATH_MAX], spool[HS_PATH_MAX];
};

static void fx_make(struct fx *f)
{
    f->t = test_tmpdir_make("spool");
    snprintf(f->root, sizeof(f->root), "%.4000s/out", f->t);
    snprintf(f->victim, sizeof(f->victim), "%.4000s/victim", f->t);
    snprintf(f->spool, sizeof(f->spool), "%.4000s/.hubsync/spool", f->root);
    assert_int_equal(mkdir(f->root, 0755), 0);
    assert_int_equal(mkdir(f->victim, 0755), 0);
    put(f->victim, "precious.txt", "precious");
    /* victim entries that look like hubsync's own */
    char d[2 * HS_PATH_MAX];
    snprintf(d, sizeof(d), "%s/checkpoint-10-1", f->victim);
    assert_int_equal(mkdir(d, 0755), 0);
    put(d, "model.safetensors", "weights");
}

static void assert_victim_intact(const struct fx *f)
{
    assert_true(has(f->victim, "precious.txt", "precious"));
    assert_true(has(f->victim, "checkpoint-10-1/model.safetensors", "weights"));
    assert_false(exists(f->victim, WATCHER_SPOOL_MARKER));
    assert_false(exists(f->victim, "spool"));
}

/* Two threads (protection and a snapshot) prepare a new spool at once, each
 * making its first entry as soon as its prepare returned: neither may find
 * the other's marker or entry and call the spool foreign (seen under load:
 * a save lost with "exists and is not a hubsync spool"). */
struct racer {
    const struct fx *f;
    pthread_barrier_t *go;
    int id, rc;
    char msg[HS_ERR_MAX];
};

static void *race(void *arg)
{
    struct racer *r = arg;
    struct hs_err err = {0};
    pthread_barrier_wait(r->go);
    r->rc = watcher__spool_prepare(r->f->root, r->f->spool, &err);
    snprintf(r->msg, sizeof(r->msg), "%s", err.msg);
    if (r->rc == 0) {
        char d[2 * HS_PATH_MAX];
        snprintf(d, sizeof(d), "%s/checkpoint-%d-1", r->f->spool, r->id);
        mkdir(d, 0700);
    }
    return NULL;
}

static void test_prepare_race(void **state)
{
    (void)state;
    struct fx f;
    fx_make(&f);
    char hub[2 * HS_PATH_MAX];
    snprintf(hub, sizeof(hub), "%s/.hubsync", f.root);
    for (int round = 0; round < 300; round++) {
        assert_int_equal(hs_rm_tree(hub), 0);
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, 3);
        struct racer r[3];
        pthread_t th[3];
        for (int i = 0; i < 3; i++) {
            r[i] = (struct racer){.f = &f, .go = &go, .id = i};
            assert_int_equal(pthread_create(&th[i], NULL, race, &r[i]), 0);
        }
        for (int i = 0; i < 3; i++) {
            pthread_join(th[i], NULL);
            if (r[i].rc != 0)
                fail_msg("round %d, thread %d: %s", round, i, r[i].msg);
        }
        pthread_barrier_destroy(&go);
    }
    test_tmpdir_remove(f.t);
}

static void test_prepare_fresh(void **state)
{
    (void)state;
    struct fx f;
    fx_make(&f);
    struct hs_err err = {0};
    assert_int_equal(watcher_spool_check(f.root, f.spool, &err), 0); /* absent is fine */
    assert_int_equal(watcher__spool_prepare(f.root, f.spool, &err), 0);
    struct stat st;
    assert_int_equal(lstat(f.spool, &st), 0);
    assert_true(S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);
    char hub[2 * HS_PATH_MAX];
    snprintf(hub, sizeof(hub), "%s/.hubsync", f.root);
    assert_int_equal(lstat(hub, &st), 0);
    assert_true((st.st_mode & 0777) == 0700);
    assert_true(has(f.spool, WATCHER_SPOOL_MARKER, NULL));
    assert_int_equal(watcher__spool_prepare(f.root, f.spool, &err), 0); /* again: fine */
    assert_int_equal(watcher_spool_check(f.root, f.spool, &err), 0);
    test_tmpdir_remove(f.t);
}

static void test_planted_hubsync_link(void **state)
{
    (void)state;
    struct fx f;
    fx_make(&f);
    char hub[2 * HS_PATH_MAX];
    snprintf(hub, sizeof(hub), "%s/.hubsync", f.root);
    assert_int_equal(symlink(f.victim, hub), 0);
    /* also the layout the link would expose: victim/spool/<hubsync-like> */
    struct hs_err err = {0};
    assert_int_equal(watcher__spool_prepare(f.root, f.spool, &err), -ELOOP);
    assert_non_null(strstr(err.msg, "/out/.hubsync is a symbolic link: refusing"));
    assert_int_equal(watcher_spool_check(f.root, f.spool, &err), -ELOOP);
    assert_int_equal(watcher_spool_clean(f.root, f.spool, NULL, 0, NULL, NULL, &err), -ELOOP);
    assert_victim_intact(&f);
    test_tmpdir_remove(f.t);
}

static void test_planted_spool_link(void **state)
{
    (void)state;
    struct fx f;
    fx_make(&f);
    char hub[2 * HS_PATH_MAX];
    snprintf(hub, sizeof(hub), "%s/.hubsync", f.root);
    assert_int_equal(mkdir(hub, 0700), 0);
    assert_int_equal(symlink(f.victim, f.spool), 0);
    struct hs_err err = {0};
    assert_int_equal(watcher__spool_prepare(f.root, f.spool, &err), -ELOOP);
    assert_non_null(strstr(err.msg, "/out/.hubsync/spool is a symbolic link"));
    assert_int_equal(watcher_spool_check(f.root, f.spool, &err), -ELOOP);
    assert_int_equal(watcher_spool_clean(f.root, f.spool, NULL, 0, NULL, NULL, &err), -ELOOP);
    assert_victim_intact(&f);
    /* a victim that even carries a marker is not reached through the link */
    put(f.victim, WATCHER_SPOOL_MARKER, "x");
    assert_int_equal(watcher_spool_clean(f.root, f.spool, NULL, 0, NULL, NULL, &err), -ELOOP);
    assert_true(has(f.victim, "checkpoint-10-1/model.safetensors", "weights"));
    test_tmpdir_remove(f.t);
}

static void test_existing_folder_as_spool(void **state)
{
    (void)state;
    struct fx f;
    fx_make(&f);
    /* spool_dir pointed at an existing folder (outside the root) */
    struct hs_err err = {0};
    assert_int_equal(watcher__spool_prepare(f.root, f.victim, &err), -EEXIST);
    assert_non_null(strstr(err.msg, "/victim exists and is not a hubsync spool"));
    assert_int_equal(watcher_spool_check(f.root, f.victim, &err), -EEXIST);
    assert_int_equal(watcher_spool_clean(f.root, f.victim, NULL, 0, NULL, NULL, &err), -EEXIST);
    assert_victim_intact(&f);
    /* an empty existing folder is adopted */
    char empty[2 * HS_PATH_MAX];
    snprintf(empty, sizeof(empty), "%s/empty", f.t);
    assert_int_equal(mkdir(empty, 0700), 0);
    assert_int_equal(watcher_spool_check(f.root, empty, &err), 0);
    assert_int_equal(watcher__spool_prepare(f.root, empty, &err), 0);
    assert_true(has(empty, WATCHER_SPOOL_MARKER, NULL));
    test_tmpdir_remove(f.t);
}

static void test_other_owner(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    struct fx f;
    fx_make(&f);
    char hub[2 * HS_PATH_MAX];
    snprintf(hub, sizeof(hub), "%s/.hubsync", f.root);
    assert_int_equal(mkdir(hub, 0777), 0);
    assert_int_equal(chown(hub, 4242, 4242), 0);
    struct hs_err err = {0};
    assert_int_equal(watcher__spool_prepare(f.root, f.spool, &err), -EPERM);
    assert_non_null(strstr(err.msg, "/out/.hubsync is owned by another user (uid 4242)"));
    assert_false(exists(hub, "spool"));
    test_tmpdir_remove(f.t);
}

struct seen {
    char paths[8][HS_PATH_MAX];
    size_t n;
};

static void on_removed(const char *path, int status, void *ud)
{
    struct seen *s = ud;
    assert_int_equal(status, 0);
    if (s->n < 8)
        snprintf(s->paths[s->n++], HS_PATH_MAX, "%s", path);
}

static void test_clean_only_own_names(void **state)
{
    (void)state;
    struct fx f;
    fx_make(&f);
    struct hs_err err = {0};
    assert_int_equal(watcher__spool_prepare(f.root, f.spool, &err), 0);
    char d[2 * HS_PATH_MAX];
    const char *mine[] = {"checkpoint-10-1", "checkpoint-20-2", "checkpoint-30-3"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(d, sizeof(d), "%s/%s", f.spool, mine[i]);
        assert_int_equal(mkdir(d, 0700), 0);
        put(d, "f", "x");
    }
    /* an entry of ours holding a link to the victim: the link goes, not the victim */
    snprintf(d, sizeof(d), "%s/checkpoint-30-3/escape", f.spool);
    assert_int_equal(symlink(f.victim, d), 0);
    put(f.spool, "notes.txt", "not hubsync's");
    snprintf(d, sizeof(d), "%s/.hidden-7", f.spool);
    assert_int_equal(mkdir(d, 0700), 0);
    char kept[2 * HS_PATH_MAX];
    snprintf(kept, sizeof(kept), "%s/checkpoint-20-2", f.spool);
    const char *keep[] = {kept};
    struct seen s = {0};
    assert_int_equal(watcher_spool_clean(f.root, f.spool, keep, 1, on_removed, &s, &err), 2);
    assert_int_equal(s.n, 2);
    assert_false(exists(f.spool, "checkpoint-10-1"));
    assert_true(exists(f.spool, "checkpoint-20-2/f"));
    assert_false(exists(f.spool, "checkpoint-30-3"));
    assert_true(has(f.spool, "notes.txt", "not hubsync's"));
    assert_true(exists(f.spool, ".hidden-7"));
    assert_true(exists(f.spool, WATCHER_SPOOL_MARKER));
    assert_victim_intact(&f);
    assert_true(watcher__spool_name_ok("checkpoint-500-12"));
    assert_true(watcher__spool_name_ok("epoch=1-step=10.ckpt-3"));
    assert_false(watcher__spool_name_ok("checkpoint-500-"));
    assert_false(watcher__spool_name_ok("notes"));
    assert_false(watcher__spool_name_ok("-5"));
    test_tmpdir_remove(f.t);
}

static void test_legacy_default_spool_adopted(void **state)
{
    (void)state;
    struct fx f;
    fx_make(&f);
    /* a spool of a hubsync from before the marker: only its own entries */
    char d[2 * HS_PATH_MAX];
    assert_int_equal(hs_mkdir_p(f.spool, 0700), 0);
    snprintf(d, sizeof(d), "%s/checkpoint-10-1", f.spool);
    assert_int_equal(mkdir(d, 0700), 0);
    struct hs_err err = {0};
    assert_int_equal(watcher_spool_check(f.root, f.spool, &err), 0);
    assert_int_equal(watcher_spool_clean(f.root, f.spool, NULL, 0, NULL, NULL, &err), 1);
    assert_false(exists(f.spool, "checkpoint-10-1"));
    assert_int_equal(mkdir(d, 0700), 0);
    assert_int_equal(watcher__spool_prepare(f.root, f.spool, &err), 0);
    assert_true(exists(f.spool, WATCHER_SPOOL_MARKER));
    /* the same names elsewhere (a configured spool_dir) are not adopted */
    char other[2 * HS_PATH_MAX];
    snprintf(other, sizeof(other), "%.4000s/other", f.t);
    assert_int_equal(mkdir(other, 0700), 0);
    snprintf(d, sizeof(d), "%.4000s/checkpoint-10-1", other);
    assert_int_equal(mkdir(d, 0700), 0);
    assert_int_equal(watcher_spool_check(f.root, other, &err), -EEXIST);
    assert_int_equal(watcher_spool_clean(f.root, other, NULL, 0, NULL, NULL, &err), -EEXIST);
    assert_true(exists(other, "checkpoint-10-1"));
    /* nor a default spool holding anything else */
    char root2[2 * HS_PATH_MAX], spool2[3 * HS_PATH_MAX];
    snprintf(root2, sizeof(root2), "%s/out2", f.t);
    snprintf(spool2, sizeof(spool2), "%s/.hubsync/spool", root2);
    assert_int_equal(hs_mkdir_p(spool2, 0700), 0);
    put(spool2, "notes.txt", "mine");
    assert_int_equal(watcher__spool_prepare(root2, spool2, &err), -EEXIST);
    assert_true(has(spool2, "notes.txt", "mine"));
    test_tmpdir_remove(f.t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prepare_fresh),
        cmocka_unit_test(test_prepare_race),
        cmocka_unit_test(test_planted_hubsync_link),
        cmocka_unit_test(test_planted_spool_link),
        cmocka_unit_test(test_existing_folder_as_spool),
        cmocka_unit_test(test_other_owner),
        cmocka_unit_test(test_clean_only_own_names),
        cmocka_unit_test(test_legacy_default_spool_adopted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
