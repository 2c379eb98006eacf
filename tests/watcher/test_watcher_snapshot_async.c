/*
 * test_watcher_snapshot_async.c — watcher_snapshot_start(): the snapshot runs
 * on libuv's thread pool. Copy fallback onto a /dev/shm spool (another
 * filesystem: links impossible) with the bytes compared; the budget counts
 * bytes reserved by snapshots still in flight; removing the job or closing
 * the watcher while one is in flight cancels it, removes its spool directory
 * and leaves the loop closable (uv_loop_close == 0, checked by wt_fini).
 * A save that changed after READY (its snapshot fails with HS_ECHANGED) is
 * reported again by watcher_checkpoint_changed() once quiet, with its new
 * file list.
 */
#include "harness.h"
#include "writers.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

struct done {
    int calls;
    int status;
    char msg[HS_ERR_MAX];
    struct watcher_snapshot *snap;
};

static void on_snap(struct watcher_job *job, struct watcher_snapshot *snap, int status,
                    const struct hs_err *err, void *userdata)
{
    (void)job;
    struct done *d = userdata;
    d->calls++;
    d->status = status;
    d->snap = snap;
    snprintf(d->msg, sizeof(d->msg), "%s", err ? err->msg : "");
}

static struct done *g_d1, *g_d2;
static bool both_done(struct wt *t)
{
    (void)t;
    return g_d1->calls && (!g_d2 || g_d2->calls);
}

/* two files outside the job root; c describes them */
struct src {
    char dir[256];
    struct watcher_file files[2];
    uint64_t hash[2];
    struct watcher_checkpoint c;
};

static void make_src(struct wt *t, struct src *s)
{
    snprintf(s->dir, sizeof(s->dir), "%s/src", t->dir);
    assert_int_equal(mkdir(s->dir, 0755), 0);
    static const char *names[2] = {"model.safetensors", "optimizer.pt"};
    static const uint64_t sizes[2] = {300000, 200001};
    memset(&s->c, 0, sizeof(s->c));
    for (int i = 0; i < 2; i++) {
        char p[512];
        snprintf(p, sizeof(p), "%s/%s", s->dir, names[i]);
        FILE *f = fopen(p, "wb");
        assert_non_null(f);
        for (uint64_t k = 0; k < sizes[i]; k++)
            fputc((int)((k * 31 + (uint64_t)i * 7) & 0xff), f);
        assert_int_equal(fclose(f), 0);
        struct stat st;
        assert_int_equal(stat(p, &st), 0);
        s->files[i] = (struct watcher_file){.path = (char *)names[i],
                                            .size = (uint64_t)st.st_size,
                                            .dev = st.st_dev,
                                            .ino = st.st_ino};
        uint64_t sz = 0;
        s->hash[i] = wt_hash_file(p, &sz);
        s->c.total_bytes += sz;
    }
    s->c.id = "checkpoint-7";
    s->c.folder = s->dir;
    s->c.base = s->dir;
    s->c.layout = "trainer";
    s->c.files = s->files;
    s->c.n_files = 2;
}

static void setup(struct wt *t, const char *name, char *shm, size_t cap, uint64_t budget)
{
    wt_init(t, name);
    snprintf(shm, cap, "/dev/shm/hs-wt-async-%s-%d", name, (int)getpid());
    t->o.spool_dir = shm;
    t->o.spool_max_bytes = budget;
    mkdir(t->root, 0755);
    wt_add_job(t);
    wt_wait_scanned(t);
}

static void test_async_copy_and_budget(void **state)
{
    (void)state;
    struct wt *t = calloc(1, sizeof(*t));
    char shm[128];
    setup(t, "copy", shm, sizeof(shm), 800000); /* one ~500 kB snapshot fits, two do not */
    struct src *s = calloc(1, sizeof(*s));
    make_src(t, s);
    struct done d1 = {0}, d2 = {0};
    struct hs_err err = {0};
    assert_int_equal(watcher_snapshot_start(t->job, &s->c, on_snap, &d1, &err), 0);
    /* the first one's bytes are reserved while it is in flight */
    assert_int_equal(watcher_snapshot_start(t->job, &s->c, on_snap, &d2, &err), -ENOSPC);
    assert_non_null(strstr(err.msg, "spool budget of 800000 bytes reached"));
    /* ... and the synchronous path sees the reservation too */
    struct watcher_snapshot *sync = NULL;
    assert_int_equal(watcher_snapshot(t->job, &s->c, &sync, &err), -ENOSPC);
    assert_null(sync);
    g_d1 = &d1;
    g_d2 = NULL;
    wt_run_until(t, both_done, 10000);
    assert_int_equal(d1.calls, 1);
    assert_int_equal(d1.status, 0);
    assert_non_null(d1.snap);
    assert_int_equal(d1.snap->method, WATCHER_SNAPSHOT_COPY);
    assert_int_equal(d1.snap->n_copy + d1.snap->n_reflink, 2);
    assert_int_equal(d1.snap->n_link, 0);
    assert_int_equal(d1.snap->bytes, s->c.total_bytes);
    assert_string_equal(d1.snap->cp->base, d1.snap->dir);
    assert_int_equal(strncmp(d1.snap->dir, shm, strlen(shm)), 0);
    for (int i = 0; i < 2; i++) {
        char p[1024];
        uint64_t sz = 0;
        snprintf(p, sizeof(p), "%s/%s", d1.snap->dir, s->files[i].path);
        assert_int_equal(wt_hash_file(p, &sz), s->hash[i]);
        assert_int_equal(sz, s->files[i].size);
    }
    /* held now (no longer reserved): still over budget */
    assert_int_equal(watcher_snapshot_start(t->job, &s->c, on_snap, &d2, &err), -ENOSPC);
    char dir[512];
    snprintf(dir, sizeof(dir), "%s", d1.snap->dir);
    assert_int_equal(watcher_snapshot_release(t->job, d1.snap, &err), 0);
    struct stat st;
    assert_int_not_equal(stat(dir, &st), 0);
    /* released: fits again */
    memset(&d1, 0, sizeof(d1));
    assert_int_equal(watcher_snapshot_start(t->job, &s->c, on_snap, &d1, &err), 0);
    wt_run_until(t, both_done, 10000);
    assert_int_equal(d1.status, 0);
    assert_int_equal(watcher_snapshot_release(t->job, d1.snap, &err), 0);
    /* a file changed after it was found complete fails with a message */
    s->files[1].size++;
    memset(&d1, 0, sizeof(d1));
    assert_int_equal(watcher_snapshot_start(t->job, &s->c, on_snap, &d1, &err), 0);
    wt_run_until(t, both_done, 10000);
    assert_int_equal(d1.status, HS_ECHANGED);
    assert_null(d1.snap);
    assert_non_null(strstr(d1.msg, "optimizer.pt changed since it was found complete"));
    wt_fini(t);
    wt_rm_rf(shm);
    free(s);
    free(t);
}

/* removing the job (or closing the watcher) while snapshots are in flight */
static void cancel_case(bool close_watcher)
{
    struct wt *t = calloc(1, sizeof(*t));
    char shm[128];
    setup(t, close_watcher ? "close" : "remove", shm, sizeof(shm), 0);
    struct src *s = calloc(1, sizeof(*s));
    make_src(t, s);
    struct done d1 = {0}, d2 = {0};
    struct hs_err err = {0};
    assert_int_equal(watcher_snapshot_start(t->job, &s->c, on_snap, &d1, &err), 0);
    assert_int_equal(watcher_snapshot_start(t->job, &s->c, on_snap, &d2, &err), 0);
    if (close_watcher) {
        watcher_close(t->w);
        t->w = NULL;
    } else {
        assert_int_equal(watcher_remove_job(t->w, t->job), 0);
    }
    g_d1 = &d1;
    g_d2 = &d2;
    wt_run_until(t, both_done, 10000);
    assert_int_equal(d1.calls, 1);
    assert_int_equal(d2.calls, 1);
    assert_int_equal(d1.status, -ECANCELED);
    assert_int_equal(d2.status, -ECANCELED);
    assert_null(d1.snap);
    assert_non_null(strstr(d1.msg, "snapshot cancelled"));
    /* nothing left in the spool */
    char p[512];
    snprintf(p, sizeof(p), "%s/checkpoint-7-1", shm);
    struct stat st;
    assert_int_not_equal(stat(p, &st), 0);
    snprintf(p, sizeof(p), "%s/checkpoint-7-2", shm);
    assert_int_not_equal(stat(p, &st), 0);
    t->job = NULL;
    wt_fini(t);
    wt_rm_rf(shm);
    free(s);
    free(t);
}

static void test_remove_job_during_snapshot(void **state)
{
    (void)state;
    cancel_case(false);
}

static void test_close_during_snapshot(void **state)
{
    (void)state;
    cancel_case(true);
}

/* READY, then a file of the save grows: the snapshot fails with HS_ECHANGED;
 * watcher_checkpoint_changed() makes the watcher look again and report the
 * save a second time with the new size (nothing is dropped). */
static struct watcher_checkpoint *g_seen[4];
static size_t g_n_seen;
static void keep_ready(struct wt *t, struct watcher_job *job, const struct watcher_checkpoint *cp)
{
    (void)t;
    (void)job;
    if (g_n_seen < 4)
        g_seen[g_n_seen++] = watcher_checkpoint_dup(cp);
}
static bool seen_one(struct wt *t)
{
    (void)t;
    return g_n_seen >= 1;
}
static bool seen_two(struct wt *t)
{
    (void)t;
    return g_n_seen >= 2;
}
static uint64_t file_size(const struct watcher_checkpoint *cp, const char *name)
{
    for (size_t i = 0; i < cp->n_files; i++)
        if (!strcmp(cp->files[i].path, name))
            return cp->files[i].size;
    return 0;
}

static void test_changed_after_ready(void **state)
{
    (void)state;
    struct wt *t = calloc(1, sizeof(*t));
    char shm[128];
    g_n_seen = 0;
    setup(t, "changed", shm, sizeof(shm), 0);
    t->on_ready = keep_ready;
    write_trainer_save(t, 5, 1, false, false, false, true);
    wt_run_until(t, seen_one, 10000);
    assert_int_equal(g_n_seen, 1);
    assert_string_equal(g_seen[0]->id, "checkpoint-5");
    uint64_t before = file_size(g_seen[0], "optimizer.pt");
    assert_int_not_equal(before, 0);
    /* the save grows after it was found complete */
    char p[512];
    snprintf(p, sizeof(p), "%s/checkpoint-5/optimizer.pt", t->root);
    FILE *f = fopen(p, "ab");
    assert_non_null(f);
    assert_int_equal(fwrite("more", 1, 4, f), 4);
    assert_int_equal(fclose(f), 0);
    struct watcher_snapshot *snap = NULL;
    struct hs_err err = {0};
    assert_int_equal(watcher_snapshot(t->job, g_seen[0], &snap, &err), HS_ECHANGED);
    assert_null(snap);
    assert_int_equal(watcher_checkpoint_changed(t->job, "checkpoint-9"), -ENOENT);
    assert_int_equal(watcher_checkpoint_changed(t->job, "checkpoint-5"), 0);
    wt_run_until(t, seen_two, 10000);
    assert_int_equal(g_n_seen, 2);
    assert_string_equal(g_seen[1]->id, "checkpoint-5");
    assert_int_equal(file_size(g_seen[1], "optimizer.pt"), before + 4);
    assert_int_equal(g_seen[1]->n_files, g_seen[0]->n_files);
    assert_int_equal(watcher_snapshot(t->job, g_seen[1], &snap, &err), 0);
    assert_non_null(snap);
    assert_int_equal(watcher_snapshot_release(t->job, snap, &err), 0);
    for (size_t i = 0; i < g_n_seen; i++)
        watcher_checkpoint_free(g_seen[i]);
    wt_fini(t);
    wt_rm_rf(shm);
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_async_copy_and_budget),
        cmocka_unit_test(test_remove_job_during_snapshot),
        cmocka_unit_test(test_close_during_snapshot),
        cmocka_unit_test(test_changed_after_ready),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
