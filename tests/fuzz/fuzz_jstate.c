/*
 * fuzz_jstate.c — fuzz target for the daemon's state model replay
 * (jstate_open, state/jstate.h): fuzzed bytes become <state>/journal/
 * log-0.jnl or a snapshot (fuzz_journal_files.h; with bit 0 of the mode
 * byte the checksums are fixed so the JSON payloads reach the model).
 *
 * Promises checked: open never crashes and fails only with a message; an
 * opened state dumps, compacts into a snapshot, and reopens to the same
 * dump (the snapshot is the model itself, so replaying it must rebuild
 * exactly what the log built); queries over every save and commit answer.
 */
#include "fuzz_journal_files.h"

#include "common.h"
#include "jstate.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_jstate: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *state = fj_scratch(NULL);
    char dir[HS_PATH_MAX];
    if (hs_path_join(dir, sizeof(dir), state, "journal") < 0 || mkdir(dir, 0700) < 0)
        abort();
    uint8_t *bytes;
    size_t len;
    fj_write(dir, data, size, &bytes, &len);
    free(bytes);

    struct jstate *js = NULL;
    struct hs_err err = {0};
    int rc = jstate_open(state, &js, NULL, &err);
    if (getenv("FUZZ_DEBUG"))
        fprintf(stderr, "jstate_open: %d (%s)\n", rc, err.msg);
    if (rc < 0) {
        if (js)
            fail("failed open returned a state", NULL);
        if (!err.msg[0])
            fail("failed open without a message", NULL);
        return 0;
    }
    if (!js)
        fail("open returned no state", NULL);
    for (size_t i = 0; jstate_save_at(js, i); i++)
        if (jstate_save_get(js, jstate_save_at(js, i)->id) != jstate_save_at(js, i))
            fail("jstate_save_get misses a save", NULL);
    for (size_t i = 0; jstate_commit_at(js, i); i++)
        if (jstate_commit_get(js, jstate_commit_at(js, i)->id) != jstate_commit_at(js, i))
            fail("jstate_commit_get misses a commit", NULL);
    json_t *before = jstate_dump(js);
    if (getenv("FUZZ_DEBUG")) {
        char *t = json_dumps(before, JSON_COMPACT);
        fprintf(stderr, "skipped %" PRIu64 ": %s\n", jstate_skipped_records(js), t);
        free(t);
    }
    if (!before)
        fail("opened state does not dump", NULL);
    if (jstate_compact(js, &err) != 0)
        fail("compaction failed", err.msg);
    jstate_close(js);
    js = NULL;
    if (jstate_open(state, &js, NULL, &err) != 0)
        fail("reopen from the snapshot failed", err.msg);
    json_t *after = jstate_dump(js);
    if (!json_equal(before, after)) {
        char *a = json_dumps(before, JSON_COMPACT), *b = json_dumps(after, JSON_COMPACT);
        fprintf(stderr, "before: %s\nafter:  %s\n", a, b);
        fail("the model rebuilt from its snapshot differs", NULL);
    }
    json_decref(before);
    json_decref(after);
    jstate_close(js);
    return 0;
}
