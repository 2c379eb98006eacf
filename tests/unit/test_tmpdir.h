/*
 * test_tmpdir.h — scratch directories for the cmocka tests: a fresh
 * /tmp/hs-NAME-XXXXXX made with mkdtemp, and its removal with everything
 * under it. Header-only (static functions) so each test binary stays one
 * source file plus the code under test; include after <cmocka.h>.
 */
#ifndef HS_TEST_TMPDIR_H
#define HS_TEST_TMPDIR_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A new empty directory /tmp/hs-NAME-XXXXXX; free it with test_tmpdir_remove. */
static inline char *test_tmpdir_make(const char *name)
{
    char tmpl[256];
    snprintf(tmpl, sizeof(tmpl), "/tmp/hs-%s-XXXXXX", name);
    assert_non_null(mkdtemp(tmpl));
    char *dir = strdup(tmpl);
    assert_non_null(dir);
    return dir;
}

/* Remove DIR and everything in it, then free the string. */
static inline void test_tmpdir_remove(char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    free(dir);
}

#endif
