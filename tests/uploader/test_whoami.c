/*
 * test_whoami.c — uploader/whoami.c: the whoami-v2 parser (user, orgs with
 * roleInOrg, token role, a fine-grained token's scoped permissions, bounds
 * and malformed entries) and the write verdict per repo id (own namespace,
 * organisations by role, read tokens, fine-grained scopes on a namespace
 * or on one repo, unknown roles); the deep copy; uploader__hub_parse_whoami gives the
 * same name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "uploader_int.h"

#include <stdio.h>
#include <string.h>

#define ALICE                                                                                      \
    "{\"type\":\"user\",\"name\":\"alice\",\"orgs\":[{\"type\":\"org\",\"name\":\"acme\","         \
    "\"roleInOrg\":\"write\"},{\"name\":\"readers\",\"roleInOrg\":\"read\"},{\"name\":"            \
    "\"legacy\"},{\"fullname\":\"no name\"},42],\"auth\":{\"type\":\"access_token\","              \
    "\"accessToken\":{\"displayName\":\"ci\",\"role\":\"write\"}}}"

#define FINE                                                                                       \
    "{\"type\":\"user\",\"name\":\"dave\",\"orgs\":[{\"name\":\"acme\",\"roleInOrg\":"             \
    "\"write\"},{\"name\":\"lab\",\"roleInOrg\":\"admin\"}],\"auth\":{\"type\":\"access_token\","  \
    "\"accessToken\":{\"displayName\":\"fg\",\"role\":\"fineGrained\",\"fineGrained\":{"           \
    "\"canReadGatedRepos\":true,\"global\":[\"discussion.write\"],\"scoped\":["                    \
    "{\"entity\":{\"_id\":\"1\",\"type\":\"user\",\"name\":\"dave\"},\"permissions\":"             \
    "[\"repo.content.read\"]},"                                                                    \
    "{\"entity\":{\"_id\":\"2\",\"type\":\"org\",\"name\":\"acme\"},\"permissions\":"              \
    "[\"repo.content.read\",\"repo.write\"]},"                                                     \
    "{\"entity\":{\"_id\":\"3\",\"type\":\"model\",\"name\":\"lab/one\"},\"permissions\":"         \
    "[\"repo.write\"]},"                                                                           \
    "{\"entity\":\"bad\",\"permissions\":[]},7]}}}}"

static enum uploader_write_access verdict(const struct uploader_whoami *w, const char *repo,
                                          char *why)
{
    return uploader_whoami_can_write(w, repo, NULL, why, 512);
}

static void test_parse(void **s)
{
    (void)s;
    struct uploader_whoami w;
    struct hs_err err = {0};
    assert_int_equal(uploader_whoami_parse(ALICE, &w, &err), 0);
    assert_string_equal(w.name, "alice");
    assert_string_equal(w.type, "user");
    assert_int_equal(w.n_orgs, 3); /* the entry without a name and the number are skipped */
    assert_string_equal(w.orgs[0].name, "acme");
    assert_string_equal(w.orgs[0].role, "write");
    assert_string_equal(w.orgs[1].role, "read");
    assert_null(w.orgs[2].role);
    assert_string_equal(w.token_role, "write");
    assert_string_equal(w.token_name, "ci");
    assert_false(w.has_scopes);
    assert_int_equal(w.n_scoped, 0);
    uploader_whoami_clear(&w);
    assert_null(w.name);

    assert_int_equal(uploader_whoami_parse(FINE, &w, &err), 0);
    assert_string_equal(w.token_role, "fineGrained");
    assert_true(w.has_scopes);
    assert_int_equal(w.n_scoped, 3);
    assert_string_equal(w.scoped[1].entity_type, "org");
    assert_string_equal(w.scoped[1].entity_name, "acme");
    assert_int_equal(w.scoped[1].n_permissions, 2);
    assert_string_equal(w.scoped[1].permissions[1], "repo.write");
    assert_string_equal(w.scoped[2].entity_name, "lab/one");
    uploader_whoami_clear(&w);

    /* refusals say why */
    static const char *const bad[] = {
        "", "[]", "{\"name\":\"\"}", "{\"name\":3}", "{\"orgs\":[]}", "{\"name\":\"x\""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        memset(&err, 0, sizeof(err));
        assert_int_equal(uploader_whoami_parse(bad[i], &w, &err), HS_EPROTO);
        assert_non_null(strstr(err.msg, "whoami-v2"));
        assert_null(w.name);
    }
    assert_int_equal(uploader_whoami_parse(NULL, &w, &err), HS_EPROTO);

    /* a name is enough; odd types elsewhere are ignored, not fatal */
    assert_int_equal(
        uploader_whoami_parse("{\"name\":\"x\",\"orgs\":{},\"auth\":[1],\"type\":5}", &w, &err), 0);
    assert_string_equal(w.name, "x");
    assert_null(w.type);
    assert_null(w.token_role);
    uploader_whoami_clear(&w);
    uploader_whoami_clear(NULL);

    /* the push's namespace comes from the same parser */
    char *name = NULL;
    assert_int_equal(uploader__hub_parse_whoami(FINE, &name, &err), 0);
    assert_string_equal(name, "dave");
    free(name);
}

static void test_copy(void **s)
{
    (void)s;
    struct uploader_whoami w, c = {0};
    struct hs_err err = {0};
    char why[512];
    assert_int_equal(uploader_whoami_parse(FINE, &w, &err), 0);
    assert_int_equal(uploader_whoami_copy(&c, &w), 0);
    uploader_whoami_clear(&w); /* the copy owns its own memory */
    assert_string_equal(c.name, "dave");
    assert_int_equal(c.n_orgs, 2);
    assert_string_equal(c.orgs[1].role, "admin");
    assert_int_equal(c.n_scoped, 3);
    assert_string_equal(c.scoped[1].permissions[1], "repo.write");
    assert_true(c.has_scopes);
    assert_int_equal(verdict(&c, "acme/m", why), UPLOADER_WRITE_OK);
    assert_int_equal(verdict(&c, "dave/m", why), UPLOADER_WRITE_DENIED);
    /* copying over a filled struct replaces it */
    assert_int_equal(uploader_whoami_parse(ALICE, &w, &err), 0);
    assert_int_equal(uploader_whoami_copy(&c, &w), 0);
    assert_string_equal(c.name, "alice");
    assert_int_equal(c.n_scoped, 0);
    assert_null(c.orgs[2].role);
    uploader_whoami_clear(&w);
    uploader_whoami_clear(&c);
}

static void test_bounds(void **s)
{
    (void)s;
    /* 3000 orgs: 1024 kept; a 600-byte name is unusable */
    size_t cap = 3000 * 40 + 2000;
    char *body = malloc(cap), *p = body;
    p += sprintf(p, "{\"name\":\"u\",\"orgs\":[");
    for (int i = 0; i < 3000; i++)
        p += sprintf(p, "%s{\"name\":\"o%d\",\"roleInOrg\":\"write\"}", i ? "," : "", i);
    p += sprintf(p, "],\"auth\":{\"accessToken\":{\"role\":\"write\",\"displayName\":\"");
    memset(p, 'a', 600);
    p += 600;
    sprintf(p, "\"}}}");
    struct uploader_whoami w;
    struct hs_err err = {0};
    assert_int_equal(uploader_whoami_parse(body, &w, &err), 0);
    assert_int_equal(w.n_orgs, 1024);
    assert_null(w.token_name);
    uploader_whoami_clear(&w);
    free(body);
}

static void test_verdict_roles(void **s)
{
    (void)s;
    struct uploader_whoami w;
    struct hs_err err = {0};
    char why[512];
    assert_int_equal(uploader_whoami_parse(ALICE, &w, &err), 0);
    assert_int_equal(verdict(&w, "alice/m", why), UPLOADER_WRITE_OK);
    assert_int_equal(verdict(&w, "m", why), UPLOADER_WRITE_OK); /* bare name: the user's */
    assert_int_equal(verdict(&w, "acme/m", why), UPLOADER_WRITE_OK);
    assert_int_equal(verdict(&w, "legacy/m", why), UPLOADER_WRITE_OK); /* role not said */
    assert_int_equal(verdict(&w, "readers/m", why), UPLOADER_WRITE_DENIED);
    assert_non_null(strstr(why, "\"read\" role in organization \"readers\""));
    assert_int_equal(verdict(&w, "carol/m", why), UPLOADER_WRITE_DENIED);
    assert_non_null(strstr(why, "namespace \"carol\" is neither"));
    assert_non_null(strstr(why, "acme, readers, legacy"));
    free(w.token_role);
    w.token_role = strdup("read");
    assert_int_equal(verdict(&w, "alice/m", why), UPLOADER_WRITE_DENIED);
    assert_non_null(strstr(why, "read-only"));
    free(w.token_role);
    w.token_role = strdup("someNewRole");
    assert_int_equal(verdict(&w, "alice/m", why), UPLOADER_WRITE_UNKNOWN);
    free(w.token_role);
    w.token_role = NULL;
    assert_int_equal(verdict(&w, "alice/m", why), UPLOADER_WRITE_UNKNOWN);
    uploader_whoami_clear(&w);

    /* bob: read token, no orgs (the emulator's answer) */
    assert_int_equal(uploader_whoami_parse("{\"type\":\"user\",\"name\":\"bob\",\"orgs\":[],"
                                           "\"auth\":{\"accessToken\":{\"role\":\"read\"}}}",
                                           &w, &err),
                     0);
    assert_int_equal(verdict(&w, "bob/m", why), UPLOADER_WRITE_DENIED);
    assert_non_null(strstr(why, "user \"bob\" is read-only"));
    uploader_whoami_clear(&w);
    /* an org token: cannot judge */
    assert_int_equal(uploader_whoami_parse("{\"type\":\"org\",\"name\":\"acme\"}", &w, &err), 0);
    assert_int_equal(verdict(&w, "acme/m", why), UPLOADER_WRITE_UNKNOWN);
    uploader_whoami_clear(&w);
}

static void test_verdict_fine_grained(void **s)
{
    (void)s;
    struct uploader_whoami w;
    struct hs_err err = {0};
    char why[512];
    assert_int_equal(uploader_whoami_parse(FINE, &w, &err), 0);
    assert_int_equal(verdict(&w, "acme/m", why), UPLOADER_WRITE_OK);
    assert_non_null(strstr(why, "repo.write on org \"acme\""));
    /* its own namespace only with repo.content.read */
    assert_int_equal(verdict(&w, "dave/m", why), UPLOADER_WRITE_DENIED);
    assert_non_null(strstr(why, "no repo.write permission on \"dave\""));
    /* one repo of lab: that repo yes, its neighbour no */
    assert_int_equal(verdict(&w, "lab/one", why), UPLOADER_WRITE_OK);
    assert_int_equal(verdict(&w, "lab/two", why), UPLOADER_WRITE_DENIED);
    assert_int_equal(uploader_whoami_can_write(&w, "lab/one", "dataset", why, sizeof(why)),
                     UPLOADER_WRITE_DENIED);
    /* not a member at all */
    assert_int_equal(verdict(&w, "other/m", why), UPLOADER_WRITE_DENIED);
    assert_non_null(strstr(why, "neither"));
    uploader_whoami_clear(&w);
    /* fine-grained without any scoped list */
    assert_int_equal(
        uploader_whoami_parse("{\"name\":\"e\",\"type\":\"user\",\"auth\":{\"accessToken\":{"
                              "\"role\":\"fineGrained\"}}}",
                              &w, &err),
        0);
    assert_int_equal(verdict(&w, "e/m", why), UPLOADER_WRITE_DENIED);
    assert_non_null(strstr(why, "lists no scoped permissions"));
    uploader_whoami_clear(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_copy),
        cmocka_unit_test(test_verdict_roles),
        cmocka_unit_test(test_verdict_fine_grained),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
