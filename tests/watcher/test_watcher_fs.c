/*
 * test_watcher_fs.c — network-filesystem auto-detection: the statfs f_type
 * → (name, remote) table checked against the kernel's own constants
 * (linux/magic.h), the watch_mode decision (auto polls exactly on remote
 * filesystems), and a real statfs of local filesystems (the job on a local
 * directory uses inotify, "fs_type" names it). Filesystems we cannot mount
 * here (NFS, CIFS, FUSE…) are covered by the table.
 */
#include "internal.h"
#include "harness.h"

#include <linux/magic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include <cmocka.h>

static void expect(unsigned long magic, const char *name, bool remote)
{
    bool r = !remote;
    const char *got = watcher__fs_name(magic, &r);
    printf("f_type %#lx -> %s%s\n", magic, got, r ? " (remote: poll)" : "");
    assert_string_equal(got, name);
    assert_int_equal(r, remote);
    assert_int_equal(watcher__use_poll(WATCHER_MODE_AUTO, r), remote);
}

static void test_fs_table(void **state)
{
    (void)state;
    /* where inotify misses other hosts' writes */
    expect(NFS_SUPER_MAGIC, "nfs", true);
    expect(CIFS_SUPER_MAGIC, "cifs", true);
    expect(SMB2_SUPER_MAGIC, "smb2", true);
    expect(SMB_SUPER_MAGIC, "smb", true);
    expect(FUSE_SUPER_MAGIC, "fuse", true);
    expect(CEPH_SUPER_MAGIC, "ceph", true);
    expect(AFS_SUPER_MAGIC, "afs", true);
    expect(AFS_FS_MAGIC, "afs", true);
    expect(OCFS2_SUPER_MAGIC, "ocfs2", true);
    expect(0x0BD00BD0, "lustre", true); /* LL_SUPER_MAGIC, not in uapi */
    expect(0x47504653, "gpfs", true);   /* "GPFS" */
    expect(0x19830326, "beegfs", true);
    /* local */
    expect(EXT4_SUPER_MAGIC, "ext4", false);
    expect(XFS_SUPER_MAGIC, "xfs", false);
    expect(BTRFS_SUPER_MAGIC, "btrfs", false);
    expect(TMPFS_MAGIC, "tmpfs", false);
    expect(OVERLAYFS_SUPER_MAGIC, "overlay", false);
    expect(MSDOS_SUPER_MAGIC, "vfat", false);
    /* not in the table: named unknown, watched with inotify */
    expect(PROC_SUPER_MAGIC, "unknown", false);
    expect(0xdeadbeef, "unknown", false);
}

static void test_mode_decision(void **state)
{
    (void)state;
    assert_false(watcher__use_poll(WATCHER_MODE_AUTO, false));
    assert_true(watcher__use_poll(WATCHER_MODE_AUTO, true));
    assert_true(watcher__use_poll(WATCHER_MODE_POLL, false));
    assert_false(watcher__use_poll(WATCHER_MODE_INOTIFY, true)); /* the user insists */
}

/* statfs of real paths goes through the same table; a job in auto mode on a
 * local filesystem uses inotify and reports the filesystem's name. */
static void test_real_statfs(void **state)
{
    (void)state;
    struct wt *t = calloc(1, sizeof(*t));
    wt_init(t, "fs");
    mkdir(t->root, 0755);
    struct statfs sf;
    assert_int_equal(statfs(t->root, &sf), 0);
    bool remote = true;
    const char *want = watcher__fs_name((unsigned long)sf.f_type, &remote);
    bool r2 = true;
    assert_string_equal(watcher__fs_type(t->root, &r2), want);
    assert_int_equal(r2, remote);
    assert_string_equal(watcher__fs_type("/proc/self", &r2), "unknown");
    assert_false(r2);
    assert_string_equal(watcher__fs_type("/nonexistent/hs", &r2), "unknown");
    t->o.mode = WATCHER_MODE_AUTO;
    wt_add_job(t);
    wt_wait_scanned(t);
    struct watcher_job_status st;
    watcher_job_status(t->job, &st);
    printf("%s: %s, mode %s\n", t->root, st.fs_type, st.mode);
    assert_string_equal(st.fs_type, want);
    assert_string_equal(st.mode, remote ? "poll" : "inotify");
    wt_fini(t);
    free(t);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    wt_select_tests();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fs_table),
        cmocka_unit_test(test_mode_decision),
        cmocka_unit_test(test_real_statfs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
