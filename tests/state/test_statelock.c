/* test_statelock.c — state/statelock: a second process on the same
 * state_dir is refused with the holder's PID; the lock dies with its
 * holder (SIGKILL) and is not inherited across exec. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../unit/test_tmpdir.h"

#include "statelock.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void test_second_process_refused(void **state)
{
    (void)state;
    char *dir = test_tmpdir_make("lock");
    char sub[HS_PATH_MAX];
    snprintf(sub, sizeof(sub), "%s/state", dir); /* created on demand */
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct statelock *l = NULL;
        struct hs_err err = {0};
        char ok = statelock_acquire(sub, &l, NULL, &err) == 0 ? 'y' : 'n';
        if (write(ready[1], &ok, 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    char c = 0;
    assert_int_equal(read(ready[0], &c, 1), 1);
    assert_int_equal(c, 'y');

    struct statelock *l = NULL;
    struct hs_err err = {0};
    pid_t holder = -1;
    assert_int_equal(statelock_acquire(sub, &l, &holder, &err), -EWOULDBLOCK);
    assert_null(l);
    assert_int_equal(holder, pid);
    char want[64];
    snprintf(want, sizeof(want), "in use by hubsync process %ld", (long)pid);
    assert_non_null(strstr(err.msg, want));
    assert_non_null(strstr(err.msg, sub));

    /* the kernel drops the lock when the holder dies, even by SIGKILL */
    kill(pid, SIGKILL);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(statelock_acquire(sub, &l, &holder, &err), 0);
    assert_non_null(l);

    /* a second lock in the same process is refused too (OFD semantics) */
    struct statelock *l2 = NULL;
    assert_int_equal(statelock_acquire(sub, &l2, &holder, &err), -EWOULDBLOCK);
    assert_int_equal(holder, getpid());

    /* an exec'd child does not inherit it: a shell can't see an open fd */
    char cmd[HS_PATH_MAX + 64];
    snprintf(cmd, sizeof(cmd), "ls -l /proc/self/fd/ | grep -q hubsync.lock");
    assert_int_not_equal(system(cmd), 0);

    l = statelock_release(l);
    assert_null(l);
    assert_int_equal(statelock_acquire(sub, &l2, &holder, &err), 0);
    statelock_release(l2);
    close(ready[0]);
    close(ready[1]);
    test_tmpdir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_second_process_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
