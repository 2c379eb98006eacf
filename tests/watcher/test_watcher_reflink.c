/*
 * test_watcher_reflink.c — the FICLONE (reflink) path of snapshots, on a
 * real btrfs mounted from a loop image: a checkpoint snapshotted into a
 * spool in another subvolume (hard links fail there with EXDEV, reflinks
 * work) is reported as "reflink" for every file and still holds every byte
 * after the folder is deleted; an output-root file (never hard-linked: the
 * trainer rewrites it in place) is reflinked into the default spool and the
 * snapshot keeps the old bytes after the rewrite. The job reports the
 * filesystem as btrfs and watches it with inotify.
 *
 * Needs root, loop devices, mkfs.btrfs and btrfs (btrfs-progs). Otherwise
 * it prints "skipped: <reason>" and exits 77, which ctest reports as
 * skipped (SKIP_RETURN_CODE).
 */
#include "writers.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define SKIP 77

static char base[64], mnt[96], img[96];
static bool mounted;

static const char *find_tool(const char *name)
{
    static const char *const dirs[] = {"/usr/sbin", "/sbin", "/usr/bin", "/bin"};
    static char path[4][64];
    static int k;
    for (size_t i = 0; i < HS_ARRAY_SIZE(dirs); i++) {
        char *p = path[k++ % 4];
        snprintf(p, 64, "%s/%s", dirs[i], name);
        if (access(p, X_OK) == 0)
            return p;
    }
    return NULL;
}

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    char full[1100];
    snprintf(full, sizeof(full), "%s >/dev/null 2>&1", cmd);
    return system(full);
}

static void teardown_mount(void)
{
    if (mounted && run("umount %s", mnt) != 0)
        run("umount -l %s", mnt);
    mounted = false;
    if (base[0])
        wt_rm_rf(base);
}

/* Returns NULL when the btrfs is mounted at mnt, else why not. */
static const char *setup_mount(void)
{
    if (geteuid() != 0)
        return "needs root for a loop mount";
    const char *mkfs = find_tool("mkfs.btrfs"), *btrfs = find_tool("btrfs");
    if (!mkfs || !btrfs)
        return "mkfs.btrfs/btrfs not installed (btrfs-progs)";
    snprintf(base, sizeof(base), "/tmp/hs-wt-reflink-XXXXXX");
    if (!mkdtemp(base))
        return "mkdtemp failed";
    snprintf(img, sizeof(img), "%s/img", base);
    snprintf(mnt, sizeof(mnt), "%s/mnt", base);
    if (mkdir(mnt, 0755) != 0)
        return "mkdir failed";
    FILE *f = fopen(img, "w");
    if (!f || ftruncate(fileno(f), 160 << 20) != 0) {
        if (f)
            fclose(f);
        return "cannot create the image file";
    }
    fclose(f);
    if (run("%s -q -f %s", mkfs, img) != 0)
        return "mkfs.btrfs failed";
    if (run("mount -o loop %s %s", img, mnt) != 0)
        return "mount -o loop failed (no loop devices in this container?)";
    mounted = true;
    if (run("%s subvolume create %s/spool", btrfs, mnt) != 0)
        return "btrfs subvolume create failed";
    return NULL;
}

static void job_on_btrfs(struct wt *t, const char *label, const char *sub)
{
    wt_init(t, label);
    snprintf(t->root, sizeof(t->root), "%s/%s", mnt, sub);
    assert_int_equal(mkdir(t->root, 0755), 0);
    t->o.mode = WATCHER_MODE_AUTO;
    t->o.layout = WATCHER_LAYOUT_TRAINER;
}

static void test_checkpoint_reflinked(void **state)
{
    (void)state;
    struct wt *t = calloc(1, sizeof(*t));
    job_on_btrfs(t, "reflink-ckpt", "out1");
    char spool[256];
    snprintf(spool, sizeof(spool), "%s/spool/out1", mnt); /* another subvolume */
    t->o.spool_dir = spool;
    t->take_snapshot = true;
    wt_add_job(t);
    wt_wait_scanned(t);
    struct watcher_job_status st;
    watcher_job_status(t->job, &st);
    assert_string_equal(st.fs_type, "btrfs");
    assert_string_equal(st.mode, "inotify");
    struct wt_save *s = write_trainer_save(t, 10, 1, true, false, true, true);
    t->writer_done = true;
    wt_run_until(t, wt_all_declared_ready, 5000);
    assert_false(t->timed_out);
    assert_non_null(s->snap);
    printf("snapshot: method %s (%zu link, %zu reflink, %zu copy)\n",
           watcher_snapshot_method_name(s->snap->method), s->snap->n_link, s->snap->n_reflink,
           s->snap->n_copy);
    assert_int_equal(s->snap->method, WATCHER_SNAPSHOT_REFLINK);
    assert_int_equal(s->snap->n_reflink, s->n_files);
    assert_int_equal(s->snap->n_link + s->snap->n_copy, 0);
    /* rotation deletes the folder: the reflinked copies hold every byte */
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/checkpoint-10", t->root);
    wt_rm_rf(dir);
    wt_assert_all_ready(t); /* also hashes each file of the snapshot */
    wt_fini(t);
    free(t);
}

static void test_output_file_reflinked(void **state)
{
    (void)state;
    struct wt *t = calloc(1, sizeof(*t));
    job_on_btrfs(t, "reflink-out", "out2");
    wt_add_job(t); /* default spool: <root>/.hubsync/spool, same subvolume */
    wt_wait_scanned(t);
    struct watcher_file rf;
    struct watcher_checkpoint out;
    wt_output_readme(t, "# first version\n", &rf, &out);
    char readme[640];
    snprintf(readme, sizeof(readme), "%s/README.md", t->root);
    struct watcher_snapshot *snap = NULL;
    struct hs_err err = {0};
    int r = watcher_snapshot(t->job, &out, &snap, &err);
    if (r < 0)
        printf("snapshot: %s\n", err.msg);
    assert_int_equal(r, 0);
    printf("output snapshot: method %s\n", watcher_snapshot_method_name(snap->method));
    assert_int_equal(snap->method, WATCHER_SNAPSHOT_REFLINK);
    assert_int_equal(snap->n_reflink, 1);
    FILE *rw = fopen(readme, "w"); /* open-truncate-write, as the trainer does */
    fputs("# rewritten\n", rw);
    fclose(rw);
    char snapped[640], *text = NULL;
    snprintf(snapped, sizeof(snapped), "%s/README.md", snap->dir);
    assert_int_equal(hs_read_file(snapped, 1024, &text, NULL), 0);
    assert_string_equal(text, "# first version\n");
    free(text);
    assert_int_equal(watcher_snapshot_release(t->job, snap, &err), 0);
    wt_fini(t);
    free(t);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    wt_select_tests();
    atexit(teardown_mount);
    const char *why = setup_mount();
    if (why) {
        printf("skipped: %s\n", why);
        teardown_mount();
        return SKIP;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checkpoint_reflinked),
        cmocka_unit_test(test_output_file_reflinked),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    wt_cleanup_failed();
    teardown_mount();
    return rc;
}
