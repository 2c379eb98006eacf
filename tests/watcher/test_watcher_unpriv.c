/*
 * test_watcher_unpriv.c — bad input, run as an unprivileged user (the test
 * drops to nobody when started as root, since root reads through any mode
 * bits): a subdirectory without permission, symlinks out of the root (to
 * /etc), symlink loops, and names with a newline or invalid UTF-8. The
 * watcher must keep working, report what it can, say what it skipped, and
 * never follow a symlink.
 */
#include "writers.h"

#include <grp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static void run_bad_input(enum watcher_mode mode, const char *label)
{
    struct wt *t = calloc(1, sizeof(*t));
    wt_init(t, label);
    t->o.mode = mode;
    t->take_snapshot = true;
    char p[1024];
    mkdir(t->root, 0755);
    /* a directory we may not read, with a file inside */
    snprintf(p, sizeof(p), "%s/locked", t->root);
    mkdir(p, 0755);
    wt_write(NULL, p, "secret.bin", NULL, 100);
    chmod(p, 0);
    /* symlinks out of the root and loops */
    snprintf(p, sizeof(p), "%s/escape", t->root);
    assert_int_equal(symlink("/etc", p), 0);
    snprintf(p, sizeof(p), "%s/loop", t->root);
    assert_int_equal(symlink("loop", p), 0);
    snprintf(p, sizeof(p), "%s/a", t->root);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/a/up", t->root);
    assert_int_equal(symlink("..", p), 0);
    wt_add_job(t);
    wt_wait_scanned(t);

    /* checkpoint-10 with symlinks inside: never listed, never followed */
    struct wt_save *s = write_trainer_save(t, 10, 1, false, false, true, false);
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/checkpoint-10", t->root);
    snprintf(p, sizeof(p), "%s/etc", dir);
    assert_int_equal(symlink("/etc", p), 0);
    snprintf(p, sizeof(p), "%s/self", dir);
    assert_int_equal(symlink(".", p), 0);
    /* names the Hub cannot take: skipped with a notice */
    wt_write(NULL, dir, "bad\nname.bin", NULL, 1000);
    wt_write(NULL, dir, "\xff\xfe.bin", NULL, 1000);
    wt_write_text(s, dir, "trainer_state.json", NULL, "{\"global_step\": 10, \"epoch\": 1.0}");
    wt_marker(t, s);
    /* a Lightning file whose own name is invalid UTF-8 */
    wt_write(NULL, t->root, "epoch=1\xff.ckpt", NULL, 500);
    t->writer_done = true;
    wt_run_until(t, wt_all_declared_ready, 10000);
    uv_sleep(300);
    uv_run(&t->loop, UV_RUN_NOWAIT);
    wt_assert_all_ready(t);
    assert_false(t->timed_out);
    assert_int_equal(t->n_ready, 1);
    assert_true(wt_has_notice(t, "skipped \"bad\\x0aname.bin\" in checkpoint-10"));
    assert_true(wt_has_notice(t, "skipped \"\\xff\\xfe.bin\""));
    assert_true(wt_has_notice(t, "skipped the save \"epoch=1\\xff.ckpt\""));
    assert_true(wt_has_notice(t, "Permission denied"));
    for (size_t i = 0; i < t->n_outputs; i++)
        assert_null(strstr(t->outputs[i], "escape"));
    /* the snapshot holds the good files only */
    assert_non_null(t->saves[0].snap);
    assert_int_equal(t->saves[0].snap->cp->n_files, t->saves[0].n_files);
    snprintf(p, sizeof(p), "%s/locked", t->root);
    chmod(p, 0755);
    wt_fini(t);
    free(t);
}

static void test_bad_input_inotify(void **state)
{
    (void)state;
    run_bad_input(WATCHER_MODE_INOTIFY, "bad-inotify");
}

static void test_bad_input_poll(void **state)
{
    (void)state;
    run_bad_input(WATCHER_MODE_POLL, "bad-poll");
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    wt_select_tests();
    if (geteuid() == 0) {
        /* root ignores permission bits: become nobody for a real EACCES */
        if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0) {
            perror("dropping privileges");
            return 1;
        }
        printf("running as uid %d\n", (int)getuid());
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_input_inotify),
        cmocka_unit_test(test_bad_input_poll),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
