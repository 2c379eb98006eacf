/*
 * test_watcher_robust.c — the watcher under load and abuse: thousands of
 * files in hundreds of new directories (inotify and polling: nothing
 * missed), a real kernel queue overflow (the inotify thread is paused while
 * 20,000+ events pile up) recovered by a rescan, a root missing at start and
 * a root deleted mid-run, the spool budget, and the copy fallback when the
 * spool is on another filesystem.
 */
#include "writers.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static int g_dirs, g_files;

static void *many_dirs_writer(void *arg)
{
    struct wt *t = arg;
    for (int d = 0; d < g_dirs; d++) {
        char id[32], dir[512];
        snprintf(id, sizeof(id), "run%03d", d);
        snprintf(dir, sizeof(dir), "%s/%s", t->root, id);
        struct wt_save *s = wt_declare(t, id);
        for (int f = 0; f < g_files; f++) {
            char rel[64];
            /* half of them one level deeper: new directories inside new directories */
            snprintf(rel, sizeof(rel), f % 2 ? "sub/f%03d.bin" : "f%03d.bin", f);
            wt_write(s, dir, rel, NULL, 512 + (uint64_t)(f * 37 % 1000));
        }
    }
    t->writer_done = true;
    return NULL;
}

static void run_many(enum watcher_mode mode, int dirs, int files, const char *label)
{
    struct wt *t = calloc(1, sizeof(*t));
    wt_init(t, label);
    t->o.mode = mode;
    t->o.layout = WATCHER_LAYOUT_GENERIC;
    mkdir(t->root, 0755);
    wt_add_job(t);
    wt_wait_scanned(t);
    g_dirs = dirs;
    g_files = files;
    hs_usec_t t0 = hs_now_monotonic();
    wt_start_writer(t, many_dirs_writer);
    wt_join_writer(t);
    printf("%s: wrote %d files in %d new directories in %.0f ms\n", label, dirs * files, dirs * 2,
           (hs_now_monotonic() - t0) / 1000.0);
    wt_run_until(t, wt_all_declared_ready, 30000);
    wt_assert_all_ready(t);
    assert_false(t->timed_out);
    assert_int_equal(t->n_ready, (size_t)dirs);
    struct watcher_job_status st;
    watcher_job_status(t->job, &st);
    assert_int_equal(st.pending, 0);
    if (mode == WATCHER_MODE_INOTIFY) {
        /* idle costs nothing: no timer armed, the inotify thread asleep */
        assert_int_equal(wt_active_timers(t), 0);
        uint64_t w = wt_idle_wakeups(t, 500);
        printf("%s: %llu wakeups of the watcher's threads in 500 ms idle%s\n", label,
               (unsigned long long)w,
               WT_WAKEUPS_COUNTABLE ? "" : " (not checked: ThreadSanitizer)");
        if (WT_WAKEUPS_COUNTABLE)
            assert_int_equal(w, 0);
    }
    wt_fini(t);
    free(t);
}

static void test_many_inotify(void **state)
{
    (void)state;
    run_many(WATCHER_MODE_INOTIFY, 200, 20, "many-inotify");
}

static void test_many_poll(void **state)
{
    (void)state;
    run_many(WATCHER_MODE_POLL, 100, 20, "many-poll");
}

/* ---- overflow -------------------------------------------------------------- */

static void test_overflow_rescan(void **state)
{
    (void)state;
    struct wt *t = calloc(1, sizeof(*t));
    wt_init(t, "overflow");
    t->o.mode = WATCHER_MODE_INOTIFY;
    t->o.layout = WATCHER_LAYOUT_TRAINER;
    mkdir(t->root, 0755);
    enum { SAVES = 60, PARTS = 120 };
    for (int i = 1; i <= SAVES; i++) {
        char p[512];
        snprintf(p, sizeof(p), "%s/checkpoint-%d", t->root, i);
        mkdir(p, 0755); /* watched before the pause, so their events queue up */
    }
    wt_add_job(t);
    uv_sleep(200);
    uv_run(&t->loop, UV_RUN_NOWAIT);
    assert_int_equal(watcher_test_pause_inotify(t->w, true), 0);
    uv_sleep(50);
    for (int i = 1; i <= SAVES; i++) {
        char id[64], dir[512], state_json[128];
        snprintf(id, sizeof(id), "checkpoint-%d", i);
        snprintf(dir, sizeof(dir), "%s/%s", t->root, id);
        struct wt_save *s = wt_declare(t, id);
        for (int k = 0; k < PARTS; k++) {
            char rel[64];
            snprintf(rel, sizeof(rel), "part-%03d.bin", k);
            wt_write(s, dir, rel, NULL, 300);
        }
        snprintf(state_json, sizeof(state_json), "{\"global_step\": %d, \"epoch\": 1}", i);
        wt_write_text(s, dir, "trainer_state.json", NULL, state_json);
    }
    t->writer_done = true;
    /* 60 × 121 files × (create, modify, close) > 16384 queued events */
    assert_int_equal(watcher_test_pause_inotify(t->w, false), 0);
    wt_run_until(t, wt_all_declared_ready, 20000);
    wt_assert_all_ready(t);
    assert_false(t->timed_out);
    assert_true(wt_has_notice(t, "overflowed"));
    struct watcher_job_status st;
    watcher_job_status(t->job, &st);
    assert_true(st.rescans >= 1);
    printf("overflow: %llu rescan(s), %llu READY\n", (unsigned long long)st.rescans,
           (unsigned long long)st.ready);
    wt_fini(t);
    free(t);
}

/* ---- root missing / deleted ------------------------------------------------ */

static bool never(struct wt *t)
{
    (void)t;
    return false;
}

static bool notice_missing(struct wt *t)
{
    return wt_has_notice(t, "does not exist");
}

static bool notice_deleted(struct wt *t)
{
    return wt_has_notice(t, "deleted");
}

static void run_root_lifecycle(enum watcher_mode mode, const char *label)
{
    struct wt *t = calloc(1, sizeof(*t));
    wt_init(t, label);
    t->o.mode = mode;
    snprintf(t->root, sizeof(t->root), "%s/a/b/out", t->dir); /* three levels missing */
    wt_add_job(t);
    wt_run_until(t, notice_missing, 3000);
    assert_true(notice_missing(t));
    char p[512];
    snprintf(p, sizeof(p), "%s/a", t->dir);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/a/b", t->dir);
    mkdir(p, 0755);
    mkdir(t->root, 0755);
    write_trainer_save(t, 10, 1, false, false, true, true);
    t->writer_done = true;
    wt_run_until(t, wt_all_declared_ready, 5000);
    wt_assert_all_ready(t);
    assert_false(t->timed_out);

    /* the root is deleted mid-run, then re-created by a new run */
    snprintf(p, sizeof(p), "%s/a", t->dir);
    wt_rm_rf(p);
    wt_run_until(t, notice_deleted, 3000);
    assert_true(notice_deleted(t));
    snprintf(p, sizeof(p), "%s/a/b", t->dir);
    hs_mkdir_p(t->root, 0755);
    t->writer_done = false;
    write_trainer_save(t, 20, 1, false, false, true, true);
    t->writer_done = true;
    wt_run_until(t, wt_all_declared_ready, 5000);
    wt_assert_all_ready(t);
    assert_false(t->timed_out);
    assert_int_equal(t->n_ready, 2);
    wt_fini(t);
    free(t);
}

static void test_root_lifecycle_inotify(void **state)
{
    (void)state;
    run_root_lifecycle(WATCHER_MODE_INOTIFY, "root-inotify");
}

static void test_root_lifecycle_poll(void **state)
{
    (void)state;
    run_root_lifecycle(WATCHER_MODE_POLL, "root-poll");
}

/* Two missing roots under the same missing parent share the watch on the
 * nearest existing ancestor: both must wake when the parent appears (the
 * library must not be asked to watch that ancestor twice either: under ASan
 * a duplicate watch shows up as a leak). */
static size_t count_notices(struct wt *t, const char *needle)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n_notices; i++)
        n += strstr(t->notices[i], needle) != NULL;
    return n;
}

static bool both_missing(struct wt *t)
{
    return count_notices(t, "does not exist") >= 2;
}

static void test_missing_roots_share_parent(void **state)
{
    (void)state;
    struct wt *t = calloc(1, sizeof(*t));
    wt_init(t, "shared-anchor");
    t->o.mode = WATCHER_MODE_INOTIFY;
    char parent[160], root2[200];
    snprintf(parent, sizeof(parent), "%s/p", t->dir);
    snprintf(t->root, sizeof(t->root), "%s/a", parent);
    snprintf(root2, sizeof(root2), "%s/b", parent);
    wt_add_job(t);
    struct watcher_options o2 = t->o;
    o2.root = root2;
    o2.layout = WATCHER_LAYOUT_LIGHTNING;
    struct watcher_job *job2 = NULL;
    struct hs_err err = {0};
    assert_int_equal(watcher_add_job(t->w, &o2, &job2, &err), 0);
    wt_run_until(t, both_missing, 3000);
    assert_true(both_missing(t));
    /* the shared parent appears first, then each root (separate events) */
    assert_int_equal(mkdir(parent, 0755), 0);
    uv_sleep(50);
    assert_int_equal(mkdir(t->root, 0755), 0);
    assert_int_equal(mkdir(root2, 0755), 0);
    write_trainer_save(t, 10, 1, false, false, true, true);
    struct wt_save *s = wt_declare(t, "epoch=0-step=5.ckpt");
    wt_write(s, root2, "epoch=0-step=5.ckpt", NULL, 70000);
    t->writer_done = true;
    wt_run_until(t, wt_all_declared_ready, 5000);
    wt_assert_all_ready(t);
    assert_false(t->timed_out);
    assert_int_equal(t->n_ready, 2);
    assert_int_equal(count_notices(t, "directory appeared"), 2);
    struct watcher_job_status st;
    watcher_job_status(job2, &st);
    assert_string_equal(st.mode, "inotify");
    assert_int_equal(st.ready, 1);

    /* both deleted with their parent and re-created at once (mkdir -p): both
     * wait on the same ancestor again and both wake */
    wt_rm_rf(parent);
    wt_run_until(t, never, 300);
    assert_int_equal(hs_mkdir_p(t->root, 0755), 0);
    assert_int_equal(hs_mkdir_p(root2, 0755), 0);
    t->writer_done = false;
    write_trainer_save(t, 20, 1, false, false, true, true);
    s = wt_declare(t, "epoch=1-step=10.ckpt");
    wt_write(s, root2, "epoch=1-step=10.ckpt", NULL, 70000);
    t->writer_done = true;
    wt_run_until(t, wt_all_declared_ready, 5000);
    wt_assert_all_ready(t);
    assert_false(t->timed_out);
    assert_int_equal(t->n_ready, 4);
    wt_fini(t);
    free(t);
}

/* ---- a close that never comes --------------------------------------------- */

static bool notice_treated_closed(struct wt *t)
{
    return wt_has_notice(t, "treating it as closed");
}

/* A file seen written whose close-after-write never arrives (here: still
 * open) must not block its save forever: once it has not changed for
 * settle, it counts as closed, with a notice; not before. */
static void test_close_never_seen(void **state)
{
    (void)state;
    struct wt *t = calloc(1, sizeof(*t));
    wt_init(t, "never-closed");
    t->o.mode = WATCHER_MODE_INOTIFY;
    mkdir(t->root, 0755);
    wt_add_job(t);
    wt_wait_scanned(t);
    struct wt_save *s = write_trainer_save(t, 10, 1, false, false, true, false);
    char dir[512], opt[640];
    snprintf(dir, sizeof(dir), "%s/checkpoint-10", t->root);
    snprintf(opt, sizeof(opt), "%s/optimizer.pt", dir);
    /* rewrite one byte in place and keep the file open: IN_MODIFY, no close */
    int fd = open(opt, O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    char c;
    assert_int_equal(pread(fd, &c, 1, 0), 1);
    assert_int_equal(pwrite(fd, &c, 1, 0), 1);
    hs_usec_t last_write = hs_now_monotonic();
    wt_write_text(s, dir, "trainer_state.json", NULL,
                  "{\"global_step\": 10, \"epoch\": 1.0, \"log_history\": []}\n");
    wt_marker(t, s);
    t->writer_done = true;
    /* the marker alone would fire in ~20 ms: the open file holds it */
    wt_run_until(t, never, 150);
    assert_int_equal(t->n_ready, 0);
    wt_run_until(t, wt_all_declared_ready, 5000);
    assert_false(t->timed_out);
    wt_assert_all_ready(t);
    assert_true(notice_treated_closed(t));
    assert_true(s->ready_at >= last_write + t->o.settle);
    printf("never-closed: READY %.0f ms after the last write (settle %.0f ms)\n",
           (s->ready_at - last_write) / 1000.0, t->o.settle / 1000.0);
    /* the late close changes nothing: no second READY */
    close(fd);
    wt_run_until(t, never, 200);
    assert_int_equal(t->n_ready, 1);
    wt_fini(t);
    free(t);
}

/* ---- inotify watch limit -------------------------------------------------- */

static void *four_saves(void *arg)
{
    struct wt *t = arg;
    for (int i = 1; i <= 4; i++) {
        write_trainer_save(t, i * 10, 1, false, false, true, true);
        usleep(150000);
    }
    t->writer_done = true;
    return NULL;
}

static void test_watch_limit_falls_back_to_poll(void **state)
{
    (void)state;
    struct wt *t = calloc(1, sizeof(*t));
    wt_init(t, "limit");
    t->o.mode = WATCHER_MODE_INOTIFY;
    mkdir(t->root, 0755);
    /* the root and two checkpoint folders fit, the third does not */
    assert_int_equal(watcher_test_watch_limit(t->w, 3), 0);
    wt_add_job(t);
    wt_wait_scanned(t);
    wt_start_writer(t, four_saves);
    wt_run_until(t, wt_all_declared_ready, 20000);
    wt_join_writer(t);
    wt_assert_all_ready(t);
    assert_false(t->timed_out);
    assert_true(wt_has_notice(t, "fs.inotify.max_user_watches"));
    struct watcher_job_status st;
    watcher_job_status(t->job, &st);
    assert_string_equal(st.mode, "poll");
    printf("limit: now %s on %s\n", st.mode, st.fs_type);
    wt_fini(t);
    free(t);
}

/* ---- several jobs, removal --------------------------------------------------- */

static void test_two_jobs_and_removal(void **state)
{
    (void)state;
    struct wt *t = calloc(1, sizeof(*t));
    wt_init(t, "two");
    t->o.mode = WATCHER_MODE_INOTIFY;
    mkdir(t->root, 0755);
    wt_add_job(t);
    struct watcher_options o2 = t->o;
    char root2[256];
    snprintf(root2, sizeof(root2), "%s/other", t->dir);
    mkdir(root2, 0755);
    o2.root = root2;
    o2.layout = WATCHER_LAYOUT_LIGHTNING;
    struct watcher_job *job2 = NULL;
    struct hs_err err = {0};
    assert_int_equal(watcher_add_job(t->w, &o2, &job2, &err), 0);
    wt_wait_scanned(t);
    write_trainer_save(t, 10, 1, false, false, true, true);
    struct wt_save *s = wt_declare(t, "epoch=0-step=5.ckpt");
    wt_write(s, root2, "epoch=0-step=5.ckpt", NULL, 70000);
    t->writer_done = true;
    wt_run_until(t, wt_all_declared_ready, 5000);
    wt_assert_all_ready(t);
    assert_false(t->timed_out);
    /* a removed job reports nothing more, the other one carries on */
    assert_int_equal(watcher_remove_job(t->w, job2), 0);
    wt_write(NULL, root2, "epoch=1-step=10.ckpt", NULL, 70000);
    t->writer_done = false;
    write_trainer_save(t, 20, 1, false, false, true, true);
    t->writer_done = true;
    wt_run_until(t, wt_all_declared_ready, 5000);
    wt_run_until(t, never, 300); /* time for a READY of the removed job, if any */
    wt_assert_all_ready(t);
    assert_int_equal(t->n_ready, 3);
    wt_fini(t);
    free(t);
}

/* ---- spool ---------------------------------------------------------------- */

static void test_spool_budget_and_copy(void **state)
{
    (void)state;
    struct wt *t = calloc(1, sizeof(*t));
    wt_init(t, "spool");
    char shm[128];
    snprintf(shm, sizeof(shm), "/dev/shm/hs-wt-spool-%d", (int)getpid());
    t->o.spool_dir = shm;          /* another filesystem: links impossible */
    t->o.spool_max_bytes = 800000; /* one snapshot of ~550 kB fits, two do not */
    mkdir(t->root, 0755);
    wt_add_job(t);
    wt_wait_scanned(t);
    write_trainer_save(t, 10, 1, false, false, true, true);
    t->writer_done = true;
    wt_run_until(t, wt_all_declared_ready, 5000);
    wt_assert_all_ready(t);
    struct hs_err err = {0};
    struct watcher_checkpoint *cp = NULL;
    /* rebuild the checkpoint from what READY reported through a snapshot */
    struct watcher_snapshot *s1 = NULL, *s2 = NULL;
    /* take snapshots of the same save twice: the second exceeds the budget */
    t->take_snapshot = false;
    struct wt_save *sv = &t->saves[0];
    (void)sv;
    (void)cp;
    /* use watcher_snapshot on a checkpoint struct built here */
    struct watcher_checkpoint c = {0};
    char folder[512];
    snprintf(folder, sizeof(folder), "%s/checkpoint-10", t->root);
    c.id = "checkpoint-10";
    c.folder = folder;
    c.base = folder;
    c.layout = "trainer";
    struct watcher_file files[WT_MAX_FILES];
    for (size_t i = 0; i < sv->n_files; i++) {
        char p[1024];
        struct stat st;
        snprintf(p, sizeof(p), "%s/%s", folder, sv->files[i].rel);
        assert_int_equal(stat(p, &st), 0);
        files[i] = (struct watcher_file){.path = sv->files[i].rel,
                                         .size = (uint64_t)st.st_size,
                                         .dev = st.st_dev,
                                         .ino = st.st_ino};
        c.total_bytes += (uint64_t)st.st_size;
    }
    c.files = files;
    c.n_files = sv->n_files;
    assert_int_equal(watcher_snapshot(t->job, &c, &s1, &err), 0);
    printf("snapshot on tmpfs: method %s (%zu link, %zu reflink, %zu copy)\n",
           watcher_snapshot_method_name(s1->method), s1->n_link, s1->n_reflink, s1->n_copy);
    assert_int_equal(s1->method, WATCHER_SNAPSHOT_COPY);
    for (size_t i = 0; i < sv->n_files; i++) {
        char p[1024];
        uint64_t n;
        snprintf(p, sizeof(p), "%s/%s", s1->dir, sv->files[i].rel);
        assert_true(wt_hash_file(p, &n) == sv->files[i].hash);
    }
    assert_int_equal(watcher_snapshot(t->job, &c, &s2, &err), -ENOSPC);
    assert_non_null(strstr(err.msg, "spool budget"));
    struct watcher_job_status st;
    watcher_job_status(t->job, &st);
    assert_true(st.spool_full);
    assert_int_equal(st.spool_bytes, c.total_bytes);
    assert_true(wt_has_notice(t, "spool budget reached"));
    char dir1[512];
    snprintf(dir1, sizeof(dir1), "%s", s1->dir);
    assert_int_equal(watcher_snapshot_release(t->job, s1, &err), 0);
    assert_int_not_equal(access(dir1, F_OK), 0);
    int r = watcher_snapshot(t->job, &c, &s2, &err);
    if (r < 0)
        printf("snapshot after release: %s\n", err.msg);
    assert_int_equal(r, 0);
    /* a file that changed since READY is refused */
    char opt[640];
    snprintf(opt, sizeof(opt), "%s/optimizer.pt", folder);
    FILE *f = fopen(opt, "a");
    fputs("more", f);
    fclose(f);
    struct watcher_snapshot *s3 = NULL;
    t->o.spool_max_bytes = 0;
    assert_int_equal(watcher_snapshot_release(t->job, s2, &err), 0);
    assert_int_equal(watcher_snapshot(t->job, &c, &s3, &err), HS_ECHANGED);
    assert_null(s3);

    /* output-root files (rewritten in place by the trainer) are copied even
     * when the spool is on the same filesystem, so a later rewrite does not
     * reach into the snapshot */
    t->o.spool_dir = NULL;
    struct watcher_job *job2 = NULL;
    struct watcher_options o2 = t->o;
    o2.spool_dir = NULL;
    assert_int_equal(watcher_add_job(t->w, &o2, &job2, &err), -EEXIST); /* same tree */
    assert_non_null(strstr(err.msg, "overlaps"));
    o2.mode = WATCHER_MODE_POLL;
    assert_int_equal(watcher_add_job(t->w, &o2, &job2, &err), 0);
    struct watcher_file rf;
    struct watcher_checkpoint out;
    wt_output_readme(t, "# first version\n", &rf, &out);
    char readme[640];
    snprintf(readme, sizeof(readme), "%s/README.md", t->root);
    struct watcher_snapshot *s4 = NULL;
    assert_int_equal(watcher_snapshot(job2, &out, &s4, &err), 0);
    assert_int_equal(s4->n_link, 0);
    FILE *rw = fopen(readme, "w"); /* open-truncate-write, as the trainer does */
    fputs("# rewritten\n", rw);
    fclose(rw);
    char snapped[640], *text = NULL;
    snprintf(snapped, sizeof(snapped), "%s/README.md", s4->dir);
    assert_int_equal(hs_read_file(snapped, 1024, &text, NULL), 0);
    assert_string_equal(text, "# first version\n");
    free(text);
    assert_int_equal(watcher_snapshot_release(job2, s4, &err), 0);
    wt_fini(t);
    wt_rm_rf(shm);
    free(t);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    wt_select_tests();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_inotify),
        cmocka_unit_test(test_many_poll),
        cmocka_unit_test(test_overflow_rescan),
        cmocka_unit_test(test_root_lifecycle_inotify),
        cmocka_unit_test(test_root_lifecycle_poll),
        cmocka_unit_test(test_missing_roots_share_parent),
        cmocka_unit_test(test_close_never_seen),
        cmocka_unit_test(test_spool_budget_and_copy),
        cmocka_unit_test(test_watch_limit_falls_back_to_poll),
        cmocka_unit_test(test_two_jobs_and_removal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
