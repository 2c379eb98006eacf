/* test_job_policy.c — sync/job.c and job_lost.c's failure policy (issue
 * 12): which errors end a save as lost instead of being retried, and the
 * retry delays of transient ones (first delay, doubling, the caps of the
 * daemon and of `run` after its command ended). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sync_int.h"

#include <errno.h>

static void test_permanent(void **state)
{
    (void)state;
    assert_true(job__error_permanent(HS_EREFUSED)); /* the Hub refused it for good */
    assert_true(job__error_permanent(-ENOENT));     /* a file of the plan is gone */
    assert_true(job__error_permanent(-ENOTDIR));
    /* retried: network, server, rate limit, full disk, I/O, the Hub's 5xx */
    assert_false(job__error_permanent(HS_EHTTP));
    assert_false(job__error_permanent(-EIO));
    assert_false(job__error_permanent(-ENOSPC));
    assert_false(job__error_permanent(-ETIMEDOUT));
    assert_false(job__error_permanent(-ECONNREFUSED));
    assert_false(job__error_permanent(-ENOMEM));
}

static void test_retry_delay(void **state)
{
    (void)state;
    const hs_usec_t s = HS_USEC_PER_SEC;
    assert_int_equal(job__retry_delay(0, 1, false), 5 * s); /* default first delay */
    assert_int_equal(job__retry_delay(5 * s, 2, false), 10 * s);
    assert_int_equal(job__retry_delay(5 * s, 3, false), 20 * s);
    assert_int_equal(job__retry_delay(5 * s, 7, false), 300 * s); /* 320 s capped at 5 min */
    assert_int_equal(job__retry_delay(5 * s, 1000, false), 300 * s);
    assert_int_equal(job__retry_delay(5 * s, 3, true), 20 * s);
    assert_int_equal(job__retry_delay(5 * s, 4, true), 30 * s); /* run: capped at 30 s */
    assert_int_equal(job__retry_delay(5 * s, 1000, true), 30 * s);
    assert_int_equal(job__retry_delay(200 * HS_USEC_PER_MSEC, 1, true), 200 * HS_USEC_PER_MSEC);
    assert_int_equal(job__retry_delay(400 * s, 1, false), 300 * s); /* first above the cap */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_permanent),
        cmocka_unit_test(test_retry_delay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
