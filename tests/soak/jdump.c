/*
 * jdump.c — test tool of the soak tests: replays the journal of a state_dir
 * (after the daemon stopped) and prints the daemon's durable state as JSON
 * (jstate_dump: every save with its state, objects, commits, jobs), so a
 * test can check that every save that became READY ended committed or
 * superseded. Exit 0, or 1 with the journal's error on stderr.
 *
 * usage: soak_jdump STATE_DIR
 */
#include "state.h"

#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: soak_jdump STATE_DIR\n");
        return 2;
    }
    struct jstate *js = NULL;
    struct journal_report rep = {0};
    struct hs_err err = {0};
    if (jstate_open(argv[1], &js, &rep, &err) < 0) {
        fprintf(stderr, "soak_jdump: %s\n", err.msg);
        return 1;
    }
    json_t *d = jstate_dump(js);
    json_object_set_new(d, "torn_bytes", json_integer((json_int_t)rep.torn_bytes));
    json_object_set_new(d, "corrupt", json_boolean(rep.corrupt));
    char *text = json_dumps(d, JSON_COMPACT);
    int rc = text && puts(text) >= 0 ? 0 : 1;
    free(text);
    json_decref(d);
    jstate_close(js);
    return rc;
}
