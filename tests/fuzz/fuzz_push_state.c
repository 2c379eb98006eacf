/*
 * fuzz_push_state.c — fuzz target for the resumable push state the
 * uploader writes to disk and reads back after a restart (uploader__push_state_load,
 * uploader/state.c). A damaged state file must be refused with a message,
 * never crash; an accepted one dumps, reloads and dumps to the same bytes.
 *
 * Not registered in ctest yet: it finds a NULL dereference in
 * uploader__push_state_load (corpus/push_state/repro-parts-without-chunk-size, see
 * README.md); register it in CMakeLists.txt once uploader/state.c is fixed.
 */
#include "uploader_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_push_state: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *body = malloc(size + 1);
    if (!body)
        return 0;
    memcpy(body, data, size);
    body[size] = 0;
    struct push_state s, s2;
    struct hs_err err = {0};
    int rc = uploader__push_state_load(body, &s, &err);
    if (rc != 0) {
        if (rc >= 0 || (rc != -ENOMEM && !err.msg[0]))
            fail("refusal without a negative code and a message", NULL);
        uploader__push_state_clear(&s);
        free(body);
        return 0;
    }
    size_t len1 = 0, len2 = 0;
    char *d1 = uploader__push_state_dump(&s, &len1);
    if (!d1)
        fail("accepted push state does not dump", NULL);
    if (uploader__push_state_load(d1, &s2, &err) != 0)
        fail("dumped push state does not load", err.msg);
    char *d2 = uploader__push_state_dump(&s2, &len2);
    if (!d2 || len1 != len2 || memcmp(d1, d2, len1) != 0)
        fail("push state dump/load/dump differs", d1);
    free(d1);
    free(d2);
    uploader__push_state_clear(&s);
    uploader__push_state_clear(&s2);
    free(body);
    return 0;
}
