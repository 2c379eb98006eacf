/*
 * test_watcher_protect.c — protect-on-sight (issue 12, items 1 and 2): the
 * files of a checkpoint are hard-linked into the spool as they are seen
 * complete, so a save whose folder is deleted between its marker and READY
 * (the Trainer's end-of-training cleanup with save_total_limit=1 and
 * load_best_model_at_end) is still READY with every byte, from its
 * protected copy, and its snapshot is that copy; a folder renamed in
 * (tmp-checkpoint-N -> checkpoint-N) is protected at once; a file replaced
 * after protection is taken again; a partial save deleted by its writer is
 * neither READY nor lost and leaves nothing in the spool; a save deleted
 * before anything could be protected is reported lost exactly once; a save
 * deleted while its check runs (the check finds it GONE) is decided on its
 * protected copy, or reported lost, without touching freed memory (ASan).
 * Deterministic: watcher_test_hold_checks() keeps READY from being decided
 * until the test has deleted the folder, and watcher_test_pause_inotify()
 * keeps the deletion's events from the loop while a check runs.
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static uint64_t want_bytes;

static bool protected_all(struct wt *t)
{
    return wt_status(t).spool_bytes >= want_bytes;
}

static bool ready_one(struct wt *t)
{
    return t->n_ready >= 1;
}

static bool settled_empty(struct wt *t)
{
    struct watcher_job_status st = wt_status(t);
    return st.pending == 0 && st.spool_bytes == 0 && wt_spool_entries(t) == 0;
}

static bool lost_and_empty(struct wt *t)
{
    return t->n_lost >= 1 && settled_empty(t);
}

static bool never(struct wt *t)
{
    (void)t;
    return false;
}

static void start_mode(struct wt *t, const char *name, enum watcher_mode mode)
{
    wt_init(t, name);
    assert_int_equal(mkdir(t->root, 0755), 0);
    t->o.layout = WATCHER_LAYOUT_AUTO;
    t->o.mode = mode;
    t->take_snapshot = true;
    wt_add_job(t);
    wt_wait_scanned(t);
}

static void start(struct wt *t, const char *name)
{
    start_mode(t, name, WATCHER_MODE_INOTIFY);
}

/* A Trainer save with world size 1: weights, optimizer, config, then the
 * marker. Returns its bytes. */
static uint64_t write_save(struct wt_save *s, const char *base, int step)
{
    char state[128];
    snprintf(state, sizeof(state), "{\"global_step\": %d, \"epoch\": 1.0, \"log_history\": []}",
             step);
    wt_write(s, base, "model.safetensors", NULL, 400000);
    wt_write(s, base, "optimizer.pt", NULL, 250000);
    wt_write_text(s, base, "config.json", NULL, "{\"model_type\": \"bert\"}");
    wt_write_text(s, base, "trainer_state.json", NULL, state);
    uint64_t n = 0;
    for (size_t i = 0; i < s->n_files; i++)
        n += s->files[i].size;
    return n;
}

/* READY once, from the protected copy: every byte at READY and in the
 * snapshot, which is the protected entry itself (all hard links, no copy),
 * cp->folder still the original path. */
static void assert_ready_from_copy(struct wt *t, struct wt_save *s, const char *folder)
{
    t->writer_done = true;
    wt_run_until(t, wt_all_declared_ready, 10000);
    wt_assert_all_ready(t);
    assert_non_null(s->snap);
    assert_string_equal(s->snap->cp->folder, folder);
    assert_int_equal(s->snap->n_link, s->n_files);
    assert_int_equal(s->snap->n_copy, 0);
    assert_non_null(strstr(s->snap->dir, "/.hubsync/spool/checkpoint-"));
    assert_int_equal(t->n_lost, 0);
}

/* Folder deleted right after trainer_state.json closed, before READY
 * (inotify, or polling: protected when a scan first sees a file unchanged). */
static void deleted_after_marker(enum watcher_mode mode)
{
    static struct wt t; /* large: not on the stack */
    start_mode(&t, "prot-del", mode);
    watcher_test_hold_checks(t.w, true);
    char base[320];
    snprintf(base, sizeof(base), "%s/checkpoint-24", t.root);
    struct wt_save *s = wt_declare(&t, "checkpoint-24");
    want_bytes = write_save(s, base, 24);
    wt_run_until(&t, protected_all, 10000);
    assert_false(t.timed_out);
    assert_int_equal(t.n_ready, 0);
    wt_rm_rf(base); /* the end-of-training rotation */
    watcher_test_hold_checks(t.w, false);
    assert_ready_from_copy(&t, s, base);
    wt_fini(&t);
}

static void test_deleted_after_marker(void **state)
{
    (void)state;
    deleted_after_marker(WATCHER_MODE_INOTIFY);
}

static void test_deleted_after_marker_poll(void **state)
{
    (void)state;
    deleted_after_marker(WATCHER_MODE_POLL);
}

/* transformers 4.36-4.38: tmp-checkpoint-N renamed into checkpoint-N, then
 * deleted: the rename protects every file at once. */
static void test_staged_rename_then_deleted(void **state)
{
    (void)state;
    static struct wt t; /* large: not on the stack */
    start(&t, "prot-stage");
    watcher_test_hold_checks(t.w, true);
    char tmp[320], base[320];
    snprintf(tmp, sizeof(tmp), "%s/tmp-checkpoint-30", t.root);
    snprintf(base, sizeof(base), "%s/checkpoint-30", t.root);
    struct wt_save *s = wt_declare(&t, "checkpoint-30");
    want_bytes = write_save(s, tmp, 30);
    wt_run_until(&t, never, 100); /* the staging folder is ignored */
    assert_int_equal(wt_status(&t).spool_bytes, 0);
    assert_int_equal(rename(tmp, base), 0);
    wt_run_until(&t, protected_all, 10000);
    assert_false(t.timed_out);
    assert_int_equal(t.n_ready, 0); /* the bytes are the protected entry's, not a snapshot's */
    wt_rm_rf(base);
    watcher_test_hold_checks(t.w, false);
    assert_ready_from_copy(&t, s, base);
    wt_fini(&t);
}

/* A file rewritten in place and one replaced (new inode) after they were
 * protected: the snapshot has the new bytes and the new identity. */
static void test_rewrite_after_protection(void **state)
{
    (void)state;
    static struct wt t; /* large: not on the stack */
    start(&t, "prot-rewrite");
    watcher_test_hold_checks(t.w, true);
    char base[320], p[400], q[400];
    snprintf(base, sizeof(base), "%s/checkpoint-8", t.root);
    struct wt_save *s = wt_declare(&t, "checkpoint-8");
    wt_write(s, base, "model.safetensors", NULL, 100000);
    wt_write(s, base, "optimizer.pt", NULL, 50000);
    want_bytes = 150000;
    wt_run_until(&t, protected_all, 10000);
    assert_false(t.timed_out);
    wt_write(s, base, "model.safetensors", NULL, 120000); /* same inode, new bytes */
    wt_write(s, base, ".optimizer.tmp", "optimizer.pt", 70000);
    snprintf(p, sizeof(p), "%s/.optimizer.tmp", base);
    snprintf(q, sizeof(q), "%s/optimizer.pt", base);
    assert_int_equal(rename(p, q), 0); /* a new inode */
    wt_write_text(s, base, "trainer_state.json", NULL, "{\"global_step\": 8}");
    watcher_test_hold_checks(t.w, false);
    t.writer_done = true;
    wt_run_until(&t, wt_all_declared_ready, 10000);
    wt_assert_all_ready(&t); /* new sizes and hashes, at READY and in the snapshot */
    struct stat orig, snap;
    snprintf(p, sizeof(p), "%s/optimizer.pt", s->snap->dir);
    assert_int_equal(stat(q, &orig), 0);
    assert_int_equal(stat(p, &snap), 0);
    assert_int_equal(orig.st_ino, snap.st_ino);
    assert_int_equal(snap.st_size, 70000);
    wt_fini(&t);
}

/* A partial save removed by its writer: neither READY nor lost, and its
 * protected files are released. */
static void test_partial_deleted_released(void **state)
{
    (void)state;
    static struct wt t; /* large: not on the stack */
    start(&t, "prot-partial");
    char base[320];
    snprintf(base, sizeof(base), "%s/checkpoint-9", t.root);
    wt_write(NULL, base, "model.safetensors", NULL, 200000);
    wt_write(NULL, base, "optimizer.pt", NULL, 100000);
    want_bytes = 300000;
    wt_run_until(&t, protected_all, 10000);
    assert_false(t.timed_out);
    assert_true(wt_spool_entries(&t) == 1);
    wt_rm_rf(base);
    wt_run_until(&t, settled_empty, 10000);
    assert_false(t.timed_out);
    assert_int_equal(t.n_ready, 0);
    assert_int_equal(t.n_lost, 0);
    wt_fini(&t);
}

/* Written and deleted while the watcher did not read its events: seen
 * complete (the marker's close arrives), nothing could be protected. */
static bool has_cand(struct wt *t)
{
    return wt_status(t).pending == 1;
}

static void test_deleted_before_protection_lost_once(void **state)
{
    (void)state;
    static struct wt t; /* large: not on the stack */
    start(&t, "prot-lost");
    char base[320];
    snprintf(base, sizeof(base), "%s/checkpoint-11", t.root);
    assert_int_equal(mkdir(base, 0755), 0);
    wt_run_until(&t, has_cand, 5000); /* its directory is watched */
    assert_false(t.timed_out);
    assert_int_equal(watcher_test_pause_inotify(t.w, true), 0);
    struct wt_save dummy = {.owner = &t};
    write_save(&dummy, base, 11);
    wt_rm_rf(base);
    assert_int_equal(watcher_test_pause_inotify(t.w, false), 0);
    wt_run_until(&t, lost_and_empty, 10000);
    assert_false(t.timed_out);
    wt_run_until(&t, never, 300); /* and nothing more */
    assert_int_equal(t.n_lost, 1);
    assert_string_equal(t.lost_id, "checkpoint-11");
    assert_non_null(strstr(t.lost_why, "deleted before"));
    assert_int_equal(t.n_ready, 0);
    assert_int_equal(wt_spool_entries(&t), 0);
    wt_fini(&t);
}

/* Only part of a save could be protected (a file vanished before its link
 * was taken), then the folder went: not a complete save, lost, named. */
static void test_incomplete_copy_lost(void **state)
{
    (void)state;
    static struct wt t; /* large: not on the stack */
    start(&t, "prot-part-lost");
    char base[320], f[400];
    snprintf(base, sizeof(base), "%s/checkpoint-12", t.root);
    assert_int_equal(mkdir(base, 0755), 0);
    wt_run_until(&t, has_cand, 5000);
    assert_false(t.timed_out);
    watcher_test_hold_checks(t.w, true);
    assert_int_equal(watcher_test_pause_inotify(t.w, true), 0);
    struct wt_save dummy = {.owner = &t};
    want_bytes = write_save(&dummy, base, 12) - 400000;
    snprintf(f, sizeof(f), "%s/model.safetensors", base);
    assert_int_equal(unlink(f), 0);
    assert_int_equal(watcher_test_pause_inotify(t.w, false), 0);
    wt_run_until(&t, protected_all, 10000);
    assert_false(t.timed_out);
    wt_rm_rf(base);
    watcher_test_hold_checks(t.w, false);
    wt_run_until(&t, lost_and_empty, 10000);
    assert_false(t.timed_out);
    assert_int_equal(t.n_lost, 1);
    assert_non_null(strstr(t.lost_why, "model.safetensors"));
    assert_int_equal(t.n_ready, 0);
    wt_fini(&t);
}

/* The check runs while the folder is already gone and its deletion not yet
 * seen (WCHECK_GONE): a protected Trainer save is READY from its copy. */
static void test_gone_while_checking_protected(void **state)
{
    (void)state;
    static struct wt t; /* large: not on the stack */
    start(&t, "prot-gone");
    watcher_test_hold_checks(t.w, true);
    char base[320];
    snprintf(base, sizeof(base), "%s/checkpoint-40", t.root);
    struct wt_save *s = wt_declare(&t, "checkpoint-40");
    want_bytes = write_save(s, base, 40);
    wt_run_until(&t, protected_all, 10000);
    assert_false(t.timed_out);
    assert_int_equal(t.n_ready, 0);
    assert_int_equal(watcher_test_pause_inotify(t.w, true), 0);
    wt_rm_rf(base);
    watcher_test_hold_checks(t.w, false);
    wt_run_until(&t, ready_one, 10000);
    assert_int_equal(watcher_test_pause_inotify(t.w, false), 0);
    assert_ready_from_copy(&t, s, base);
    wt_fini(&t);
}

/* The same with a save that is never protected (a Lightning file): the
 * check's GONE frees the save, which its check item must not touch
 * afterwards (the use-after-free ASan saw), and the loss is reported. */
static bool marker_seen(struct wt *t)
{
    return wt_dump_has(t, "marker=1");
}

static void test_gone_while_checking_lost(void **state)
{
    (void)state;
    static struct wt t; /* large: not on the stack */
    start(&t, "prot-gone-file");
    watcher_test_hold_checks(t.w, true);
    char dir[320];
    snprintf(dir, sizeof(dir), "%s/lightning_logs/version_0/checkpoints", t.root);
    wt_write(NULL, dir, "epoch=0-step=10.ckpt", NULL, 50000);
    wt_run_until(&t, marker_seen, 5000);
    assert_false(t.timed_out);
    assert_int_equal(watcher_test_pause_inotify(t.w, true), 0);
    char f[400];
    snprintf(f, sizeof(f), "%s/epoch=0-step=10.ckpt", dir);
    assert_int_equal(unlink(f), 0);
    watcher_test_hold_checks(t.w, false);
    wt_run_until(&t, lost_and_empty, 10000);
    assert_false(t.timed_out);
    assert_int_equal(watcher_test_pause_inotify(t.w, false), 0);
    wt_run_until(&t, never, 200);
    assert_int_equal(t.n_lost, 1);
    assert_int_equal(t.n_ready, 0);
    wt_fini(&t);
}

/* Spool on another file system: neither a link nor a reflink works, so the
 * job says once that it copies at READY instead, and still reports. */
static void test_no_link_copies_at_ready(void **state)
{
    (void)state;
    static struct wt t; /* large: not on the stack */
    char spool[64] = "/dev/shm/hs-wt-spool-XXXXXX";
    if (!mkdtemp(spool)) {
        printf("no /dev/shm: skipped\n");
        return;
    }
    wt_init(&t, "prot-xdev");
    assert_int_equal(mkdir(t.root, 0755), 0);
    t.o.spool_dir = spool;
    t.take_snapshot = true;
    wt_add_job(&t);
    wt_wait_scanned(&t);
    char base[320];
    snprintf(base, sizeof(base), "%s/checkpoint-5", t.root);
    struct wt_save *s = wt_declare(&t, "checkpoint-5");
    write_save(s, base, 5);
    t.writer_done = true;
    wt_run_until(&t, wt_all_declared_ready, 10000);
    wt_assert_all_ready(&t);
    assert_int_equal(s->snap->n_copy, s->n_files);
    size_t n = 0;
    for (size_t i = 0; i < t.n_notices; i++)
        n += strstr(t.notices[i], "cannot protect checkpoint files on sight") != NULL;
    assert_int_equal(n, 1);
    wt_fini(&t);
    wt_rm_rf(spool);
}

int main(void)
{
    wt_select_tests();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deleted_after_marker),
        cmocka_unit_test(test_deleted_after_marker_poll),
        cmocka_unit_test(test_staged_rename_then_deleted),
        cmocka_unit_test(test_rewrite_after_protection),
        cmocka_unit_test(test_partial_deleted_released),
        cmocka_unit_test(test_deleted_before_protection_lost_once),
        cmocka_unit_test(test_incomplete_copy_lost),
        cmocka_unit_test(test_gone_while_checking_protected),
        cmocka_unit_test(test_gone_while_checking_lost),
        cmocka_unit_test(test_no_link_copies_at_ready),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
