/* test_fstree.c — common/tree.c: reading below a root never follows a
 * symlink (last component or any directory on the way), refuses what is not
 * a regular file without blocking on a FIFO, bounds the size; removing a
 * tree unlinks symlinks met on the way and leaves their targets intact;
 * the one tree walk reports symlinks without following them, visits in
 * order when asked, prunes, and hands unreadable levels to dir_error;
 * hs_url_redact hides a URL's password. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common.h"
#include "test_tmpdir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void put(const char *dir, const char *rel, const char *text)
{
    char p[HS_PATH_MAX];
    assert_int_equal(hs_path_join(p, sizeof(p), dir, rel), 0);
    assert_int_equal(hs_write_file_atomic(p, text, strlen(text), 0600), 0);
}

static void link_at(const char *dir, const char *rel, const char *target)
{
    char p[HS_PATH_MAX];
    assert_int_equal(hs_path_join(p, sizeof(p), dir, rel), 0);
    assert_int_equal(symlink(target, p), 0);
}

static void sub(const char *dir, const char *rel)
{
    char p[HS_PATH_MAX];
    assert_int_equal(hs_path_join(p, sizeof(p), dir, rel), 0);
    assert_int_equal(mkdir(p, 0700), 0);
}

/* t/root (the tree) and t/victim/secret (outside it, what a link targets). */
static void root_and_victim(const char *t, char *root, char *victim)
{
    snprintf(root, HS_PATH_MAX, "%s/root", t);
    snprintf(victim, HS_PATH_MAX, "%s/victim", t);
    assert_int_equal(mkdir(root, 0700), 0);
    assert_int_equal(mkdir(victim, 0700), 0);
    put(victim, "secret", "hf_secret");
}

static void test_read_regular_and_refusals(void **state)
{
    (void)state;
    char *t = test_tmpdir_make("tree");
    char root[HS_PATH_MAX], victim[HS_PATH_MAX];
    root_and_victim(t, root, victim);
    put(root, "ok.json", "{}");
    sub(root, "d");
    put(root, "d/inner.json", "[1]");
    char vs[2 * HS_PATH_MAX];
    snprintf(vs, sizeof(vs), "%s/secret", victim);
    link_at(root, "README.md", vs);
    link_at(root, "dl", victim); /* a directory symlink on the way */
    char fifo[2 * HS_PATH_MAX];
    snprintf(fifo, sizeof(fifo), "%s/fifo", root);
    assert_int_equal(mkfifo(fifo, 0600), 0);

    int fd = hs_tree_open_root(root);
    assert_true(fd >= 0);
    char *data = NULL;
    size_t len = 0;
    struct stat st;
    assert_int_equal(hs_tree_read(fd, "ok.json", 100, &data, &len, &st), 0);
    assert_string_equal(data, "{}");
    assert_true(S_ISREG(st.st_mode) && st.st_size == 2);
    free(data);
    assert_int_equal(hs_tree_read(fd, "d/inner.json", 100, &data, &len, NULL), 0);
    assert_string_equal(data, "[1]");
    free(data);
    assert_int_equal(hs_tree_read(fd, "ok.json", 1, &data, &len, NULL), -EFBIG);
    assert_int_equal(hs_tree_read(fd, "README.md", 100, &data, &len, NULL), -ELOOP);
    assert_int_equal(hs_tree_read(fd, "dl/secret", 100, &data, &len, NULL), -ELOOP);
    assert_int_equal(hs_tree_open_dir(fd, "dl"), -ELOOP);
    assert_int_equal(hs_tree_read(fd, "fifo", 100, &data, &len, NULL), HS_ENOTREG);
    assert_int_equal(hs_tree_read(fd, "d", 100, &data, &len, NULL), -EISDIR);
    assert_int_equal(hs_tree_read(fd, "../victim/secret", 100, &data, &len, NULL), -EINVAL);
    assert_int_equal(hs_tree_read(fd, "absent", 100, &data, &len, NULL), -ENOENT);
    assert_int_equal(hs_tree_lstat(fd, "README.md", &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(hs_tree_lstat(fd, "dl/secret", &st), -ELOOP);
    assert_string_equal(hs_tree_strerror(-ELOOP), "a symbolic link (not followed)");
    assert_string_equal(hs_tree_strerror(HS_ENOTREG), "not a regular file");
    close(fd);

    char rl[2 * HS_PATH_MAX];
    snprintf(rl, sizeof(rl), "%s/rootlink", t);
    assert_int_equal(symlink(root, rl), 0);
    assert_int_equal(hs_tree_open_root(rl), -ELOOP);
    test_tmpdir_remove(t);
}

static void test_rm_tree_never_follows(void **state)
{
    (void)state;
    char *t = test_tmpdir_make("rmtree");
    char victim[HS_PATH_MAX], doomed[HS_PATH_MAX], p[2 * HS_PATH_MAX];
    snprintf(victim, sizeof(victim), "%s/victim", t);
    snprintf(doomed, sizeof(doomed), "%s/doomed", t);
    assert_int_equal(mkdir(victim, 0700), 0);
    put(victim, "keep.txt", "precious");
    assert_int_equal(mkdir(doomed, 0700), 0);
    sub(doomed, "a");
    sub(doomed, "a/b");
    put(doomed, "a/b/f", "x");
    put(doomed, "top", "y");
    link_at(doomed, "a/tovictim", victim);
    snprintf(p, sizeof(p), "%s/keep.txt", victim);
    link_at(doomed, "a/b/tofile", p);
    assert_int_equal(hs_rm_tree(doomed), 0);
    struct stat st;
    assert_int_equal(lstat(doomed, &st), -1);
    assert_int_equal(errno, ENOENT);
    char *data = NULL;
    assert_int_equal(hs_read_file(p, 100, &data, NULL), 0);
    assert_string_equal(data, "precious");
    free(data);
    /* a name that is itself a symlink to a directory: the link goes, not the target */
    char l[2 * HS_PATH_MAX];
    snprintf(l, sizeof(l), "%s/link", t);
    assert_int_equal(symlink(victim, l), 0);
    assert_int_equal(hs_rm_tree(l), 0);
    assert_int_equal(lstat(l, &st), -1);
    assert_int_equal(lstat(p, &st), 0);
    assert_int_equal(hs_rm_tree(l), 0); /* absent: fine */
    int dfd = open(t, O_RDONLY | O_DIRECTORY);
    assert_int_equal(hs_rm_tree_at(dfd, ".."), -EINVAL);
    assert_int_equal(hs_rm_tree_at(dfd, "a/b"), -EINVAL);
    close(dfd);
    test_tmpdir_remove(t);
}

static void test_url_redact(void **state)
{
    (void)state;
    char b[256];
    assert_string_equal(hs_url_redact("https://user:pw@hub.example/x?y", b, sizeof(b)),
                        "https://user:***@hub.example/x?y");
    assert_string_equal(hs_url_redact("http://tok@host:8080", b, sizeof(b)),
                        "http://***@host:8080");
    assert_string_equal(hs_url_redact("https://huggingface.co", b, sizeof(b)),
                        "https://huggingface.co");
    assert_string_equal(hs_url_redact("https://h.example/a@b", b, sizeof(b)),
                        "https://h.example/a@b");
    assert_string_equal(hs_url_redact("https://u:p@ss@h", b, sizeof(b)), "https://u:***@h");
}

struct walk_log {
    char text[2048];
    int prune_dir; /* prune entries named "skip" */
    int stop_at_err;
    const char *swap_root, *swap_target; /* replace "locked" by a link to target */
};

static int log_visit(const struct hs_walk_entry *e, void *ud)
{
    struct walk_log *l = ud;
    static const char kind[] = {'f', 'd', 'l', 'o'};
    size_t n = strlen(l->text);
    snprintf(l->text + n, sizeof(l->text) - n, "%c:%s:%u ", kind[e->type], e->rel, e->depth);
    if (e->type == HS_WALK_REG)
        assert_true(S_ISREG(e->st.st_mode)); /* .stat: the entry's lstat */
    if (l->swap_root && !strcmp(e->rel, "locked")) {
        char from[HS_PATH_MAX], to[HS_PATH_MAX];
        snprintf(from, sizeof(from), "%s/locked", l->swap_root);
        snprintf(to, sizeof(to), "%s/locked.moved", l->swap_root);
        assert_int_equal(rename(from, to), 0);
        assert_int_equal(symlink(l->swap_target, from), 0);
    }
    return l->prune_dir && !strcmp(e->name, "skip") ? HS_WALK_PRUNE : 0;
}

static int log_leave(const struct hs_walk_entry *e, void *ud)
{
    struct walk_log *l = ud;
    size_t n = strlen(l->text);
    snprintf(l->text + n, sizeof(l->text) - n, "L:%s ", e->rel);
    return 0;
}

static int log_dir_error(const char *rel, int err, void *ud)
{
    struct walk_log *l = ud;
    size_t n = strlen(l->text);
    snprintf(l->text + n, sizeof(l->text) - n, "E:%s:%d ", rel, -err);
    return l->stop_at_err ? err : 0;
}

static void test_walk(void **state)
{
    (void)state;
    char *t = test_tmpdir_make("walk");
    char root[HS_PATH_MAX], victim[HS_PATH_MAX];
    root_and_victim(t, root, victim);
    put(root, "b.txt", "b");
    sub(root, "a");
    put(root, "a/z.bin", "z");
    sub(root, "a/skip");
    put(root, "a/skip/hidden", "h");
    link_at(root, "c-link", victim); /* a directory symlink: reported, not entered */
    sub(root, "locked");
    put(root, "locked/x", "x");
    int fd = hs_tree_open_root(root);
    assert_true(fd >= 0);

    struct walk_log l = {.prune_dir = 1};
    struct hs_walk w = {
        .visit = log_visit, .dir_error = log_dir_error, .ud = &l, .sorted = true, .stat = true};
    w.leave = log_leave; /* postorder, never for a pruned directory */
    assert_int_equal(hs_tree_walk(fd, "", &w), 0);
    assert_string_equal(l.text, "d:a:0 d:a/skip:1 f:a/z.bin:1 L:a f:b.txt:0 l:c-link:0 "
                                "d:locked:0 f:locked/x:1 L:locked ");
    w.leave = NULL;

    /* under a prefix, unsorted: the same set, names carry the prefix */
    memset(&l, 0, sizeof(l));
    w.sorted = false;
    assert_int_equal(hs_tree_walk(fd, "out", &w), 0);
    assert_non_null(strstr(l.text, "f:out/a/skip/hidden:2 "));
    assert_non_null(strstr(l.text, "l:out/c-link:0 "));
    assert_null(strstr(l.text, "secret"));

    /* a directory swapped for a symlink between its listing and its
     * opening: ELOOP to dir_error, nothing below the link visited */
    memset(&l, 0, sizeof(l));
    w.sorted = true;
    l.swap_root = root;
    l.swap_target = victim;
    assert_int_equal(hs_tree_walk(fd, "", &w), 0);
    assert_non_null(strstr(l.text, "d:locked:0 E:locked:40 "));
    assert_null(strstr(l.text, "secret"));
    assert_null(strstr(l.text, "locked/x"));
    char from[2 * HS_PATH_MAX], to[2 * HS_PATH_MAX];
    snprintf(from, sizeof(from), "%s/locked", root);
    snprintf(to, sizeof(to), "%s/locked.moved", root);
    assert_int_equal(unlink(from), 0);
    assert_int_equal(rename(to, from), 0);
    memset(&l, 0, sizeof(l));
    l.swap_root = root;
    l.swap_target = victim;
    l.stop_at_err = 1; /* dir_error's error ends the walk */
    assert_int_equal(hs_tree_walk(fd, "", &w), -ELOOP);
    close(fd);
    test_tmpdir_remove(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_regular_and_refusals),
        cmocka_unit_test(test_rm_tree_never_follows),
        cmocka_unit_test(test_walk),
        cmocka_unit_test(test_url_redact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
