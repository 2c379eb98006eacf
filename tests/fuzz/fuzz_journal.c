/*
 * fuzz_journal.c — fuzz target for journal replay (journal_open,
 * state/journal.h): fuzzed bytes become a log or a snapshot in a fresh
 * directory (fuzz_journal_files.h explains the input), then the journal is
 * opened, appended to, closed and opened again.
 *
 * Promises checked: open never crashes and fails only with a message;
 * after a successful open every byte of the log is accounted for (kept,
 * reported as torn, or reported as corrupt with the damaged file kept as
 * a copy holding the original bytes); log records arrive with consecutive
 * seqs and object payloads, as many as the report says; the repaired
 * journal takes an append, and a second open finds no damage and exactly
 * one more record.
 */
#include "fuzz_journal_files.h"

#include "common.h"
#include "journal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
    uint64_t snap, log, next_seq;
    bool first_log;
};

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_journal: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

static int on_record(const struct journal_record *r, void *ud)
{
    struct seen *s = ud;
    if (!json_is_object(r->payload))
        fail("replayed payload is not an object", NULL);
    if (r->from_snapshot) {
        if (s->log)
            fail("snapshot record after a log record", NULL);
        if (r->seq != s->snap)
            fail("snapshot records out of order", NULL);
        s->snap++;
        return 0;
    }
    if (s->first_log && r->seq != s->next_seq)
        fail("log seqs are not consecutive", NULL);
    s->first_log = true;
    s->next_seq = r->seq + 1;
    s->log++;
    return 0;
}

static off_t file_size(const char *dir, const char *name)
{
    char path[HS_PATH_MAX];
    struct stat st;
    if (hs_path_join(path, sizeof(path), dir, name) < 0 || stat(path, &st) < 0)
        return -1;
    return st.st_size;
}

static void check_accounting(const char *dir, const struct journal_report *rep, size_t len)
{
    off_t now = file_size(dir, "log-0.jnl");
    if (rep->corrupt) {
        if (rep->corrupt_offset + rep->lost_bytes != len)
            fail("corrupt offset + lost bytes != file size", NULL);
        if (now != (off_t)rep->corrupt_offset)
            fail("log not cut back to the damage", NULL);
        struct stat st;
        if (stat(rep->corrupt_copy, &st) < 0 || st.st_size != (off_t)len)
            fail("damaged log not kept whole", rep->corrupt_copy);
    } else if (now != (off_t)(len - rep->torn_bytes)) {
        fail("bytes of the log vanished without being reported", NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *dir = fj_scratch(NULL);
    uint8_t *bytes;
    size_t len;
    unsigned mode = fj_write(dir, data, size, &bytes, &len);
    free(bytes);

    struct seen s = {0};
    struct journal *j = NULL;
    struct journal_report rep;
    memset(&rep, 0, sizeof(rep));
    struct hs_err err = {0};
    int rc = journal_open(dir, on_record, &s, &j, &rep, &err);
    if (getenv("FUZZ_DEBUG"))
        fprintf(stderr,
                "journal_open: %d (%s) snap=%" PRIu64 " log=%" PRIu64 " torn=%" PRIu64
                " corrupt=%d\n",
                rc, err.msg, rep.snapshot_records, rep.log_records, rep.torn_bytes, rep.corrupt);
    if (rc < 0) {
        if (j)
            fail("failed open returned a journal", NULL);
        if (!err.msg[0])
            fail("failed open without a message", NULL);
        return 0;
    }
    if (rc != 0 || !j)
        fail("open returned no journal", NULL);
    if (s.log != rep.log_records || s.snap != rep.snapshot_records)
        fail("report counts differ from the records replayed", NULL);
    if (!(mode & FJ_SNAPSHOT))
        check_accounting(dir, &rep, len);

    json_t *payload = json_pack("{s:s, s:i}", "fuzz", "append", "n", 1);
    if (journal_append(j, 7, payload, &err) != 0)
        fail("append after a successful open failed", err.msg);
    journal_close(j);

    struct seen s2 = {0};
    struct journal_report rep2;
    memset(&rep2, 0, sizeof(rep2));
    j = NULL;
    if (journal_open(dir, on_record, &s2, &j, &rep2, &err) != 0)
        fail("reopen after repair failed", err.msg);
    if (rep2.torn_bytes || rep2.corrupt)
        fail("reopen after repair still finds damage", NULL);
    if (s2.snap != s.snap || s2.log != s.log + 1)
        fail("reopen does not find the same records plus the append", NULL);
    journal_close(j);
    json_decref(payload);
    return 0;
}
