/*
 * journal.h — part of state/ (state.h): the durable, append-only record log in
 * state_dir, with zstd-compressed compaction snapshots. Generic: a record is
 * a 16-bit type chosen by the owner plus a JSON object payload. What the
 * types mean (checkpoint ready, hashed, part ETag, commit sent, ...) is the
 * business of the layer above (jstate.c), not of this file.
 *
 * Files in the journal directory (G = generation, a decimal number):
 *   snapshot-G.zst   state as of the start of generation G (absent for G=0)
 *   log-G.jnl        records appended during generation G
 * Replay = snapshot-G then log-G, for the highest G that has a snapshot
 * (or G=0). Compaction writes snapshot-(G+1) atomically (tmp, fsync,
 * rename, directory fsync), then creates log-(G+1), then deletes the files
 * of G. A crash at any step leaves either generation G complete (snapshot
 * not yet renamed) or G+1 complete (its snapshot already holds everything
 * log-G had), never both half-applied: records are neither lost nor
 * replayed twice.
 *
 * Damage policy at open (never fatal for the log):
 *   - a torn or corrupt LAST record (power loss mid-append; no valid record
 *     after it) is cut away with ftruncate and reported in
 *     journal_report.torn_bytes;
 *   - damage followed by at least one valid-looking record ("corruption in
 *     the middle") stops replay at the damage; the damaged file is kept as
 *     log-G.jnl.corrupt-<unix time> for inspection and a clean log holding
 *     the valid prefix replaces it; reported in journal_report.corrupt.
 *   - a snapshot that cannot be read (it was fsync'd before it became
 *     visible, so this is media damage, not a crash) fails journal_open with
 *     -EBADMSG and a message naming the file; nothing is deleted (fail
 *     closed: the operator decides).
 *   - a file with an unknown format version fails with -EPROTONOSUPPORT.
 *
 * Threading: one journal is used by one thread at a time. journal_append*
 * and journal_compact are synchronous; journal_append and _batch block on
 * fdatasync. The daemon (jstate_use_loop) appends with
 * journal_append_nosync on the loop thread (a write into the page cache)
 * and runs the fdatasync of a journal_sync_fd() descriptor on the thread
 * pool, one for all records written meanwhile (group commit); what depends
 * on a record waits for that sync (jstate_when_durable). Measured with
 * tests/daemon/measure_loop_fsync.py (strace -T of `hubsync run`, 10 saves,
 * checkpoint strategy, this 2-core VM at load 13-20): before, the loop made
 * 4.4 journal fdatasyncs per save, median 0.6 ms, p90 2-5 ms, 5-9 ms per
 * save in all; now 3.9 per save on pool threads (median 1.0 ms), none on
 * the loop. Still on the loop: compaction (a few MiB zstd, once per 4 MiB
 * of log; rare) and, the larger share, the uploader's persist hook (job.c
 * persist_cb writes <state_dir>/push/<id>.json with hs_write_file_atomic:
 * fsync of the file and of its directory, 8.3 + 8.8 per save, 16-51 ms per
 * save in the same runs): its contract in uploader.h is synchronous
 * ("persisted before the step that depends on it"), so moving it needs an
 * asynchronous persist hook there.
 */
#ifndef HUBSYNC_STATE_JOURNAL_H
#define HUBSYNC_STATE_JOURNAL_H

#include "common.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* On-disk format version written in every file header and record header. */
#define JOURNAL_FORMAT_VERSION 1
/* Largest payload (compact JSON text) of one record. */
#define JOURNAL_RECORD_MAX (1u << 20)
/* Largest log file replayed; the owner compacts long before (journal_log_bytes). */
#define JOURNAL_LOG_MAX (UINT64_C(1) << 30)
/* Largest decompressed snapshot. */
#define JOURNAL_SNAPSHOT_MAX (UINT64_C(1) << 30)

struct journal;

/* One record handed to the replay callback. payload is borrowed: valid
 * during the callback only (json_incref it to keep it). */
struct journal_record {
    uint16_t type;
    uint64_t seq;          /* position in the log; snapshot records count 0.. */
    bool from_snapshot;    /* true for records of the compaction snapshot */
    const json_t *payload; /* always a JSON object */
};

/* One record to append (or one element of a compaction snapshot). */
struct journal_entry {
    uint16_t type;
    const json_t *payload; /* a JSON object; not stolen */
};

/* Return 0 to continue; a negative value aborts journal_open with it. */
typedef int (*journal_replay_fn)(const struct journal_record *rec, void *userdata);

/* What journal_open found. */
struct journal_report {
    uint64_t generation;
    uint64_t snapshot_records;
    uint64_t log_records;
    uint64_t torn_bytes;            /* bytes of a torn last record cut away (0: none) */
    bool corrupt;                   /* damage before the end: replay stopped there */
    uint64_t corrupt_offset;        /* byte offset of the damage in the log */
    uint64_t lost_bytes;            /* bytes after the damage not replayed */
    char corrupt_copy[HS_PATH_MAX]; /* where the damaged log was kept */
    unsigned removed_files;         /* leftovers of an interrupted compaction */
};

/* Open (creating dir with mode 0700 if needed) and replay the journal:
 * fn is called for every valid record in order, snapshot first. On success
 * *out is ready for appends and report (may be NULL) says what was found;
 * err is filled on failure. Call statelock_acquire first: one process per
 * journal directory. */
int journal_open(const char *dir, journal_replay_fn fn, void *userdata, struct journal **out,
                 struct journal_report *report, struct hs_err *err);

/* Append one record and make it durable (fdatasync) before returning. */
int journal_append(struct journal *j, uint16_t type, const json_t *payload, struct hs_err *err);

/* Group commit: append n records with one write and one fdatasync. All or
 * nothing: on failure (ENOSPC, EIO, ...) the log is cut back to where it
 * was, so no half-written record is left for replay. If even that fails the
 * journal refuses every later append (-EIO) until it is reopened. */
int journal_append_batch(struct journal *j, const struct journal_entry *entries, size_t n,
                         struct hs_err *err);

/* Deferred durability (group commit off the caller's thread): append as
 * journal_append_batch does (all or nothing) but without the fdatasync.
 * The records are durable once an fdatasync of a descriptor from
 * journal_sync_fd(), taken after the append, has returned 0. */
int journal_append_nosync(struct journal *j, const struct journal_entry *entries, size_t n,
                          struct hs_err *err);
/* A new descriptor of the current log (close it after use), -EIO when the
 * journal is broken. Valid across a compaction: syncing the old log then
 * is harmless (the snapshot was made durable by the compaction). */
int journal_sync_fd(struct journal *j);
/* fdatasync(fd) through the test hooks; 0 or -errno. Any thread. */
int journal_fdatasync(int fd);
/* After a failed fdatasync of a deferred append: the page cache cannot be
 * trusted, so every later append fails with -EIO until a reopen. */
void journal_set_broken(struct journal *j);

/* Replace the log by a snapshot of the owner's current state (entries, in
 * the order replay should return them) and start generation G+1. On
 * failure the journal stays on generation G and keeps working. */
int journal_compact(struct journal *j, const struct journal_entry *entries, size_t n,
                    struct hs_err *err);

/* Bytes in the current log (header included) and records appended to it:
 * the owner's compaction trigger. */
uint64_t journal_log_bytes(const struct journal *j);
uint64_t journal_log_records(const struct journal *j);
uint64_t journal_generation(const struct journal *j);

/* Close the file; NULL is fine. Returns NULL. */
struct journal *journal_close(struct journal *j);

/* CRC32C (Castagnoli), the checksum of every header and record.
 * crc = journal_crc32c(0, data, len); chainable. */
uint32_t journal_crc32c(uint32_t crc, const void *data, size_t len);

/* ---- test hooks (never set in production) ------------------------------ */

/* Compaction steps at which crash_point is called. */
enum journal_step {
    JOURNAL_STEP_SNAPSHOT_WRITTEN = 1, /* tmp file written and fsync'd, not renamed */
    JOURNAL_STEP_SNAPSHOT_RENAMED,     /* snapshot-(G+1) visible, log-(G+1) missing */
    JOURNAL_STEP_LOG_CREATED,          /* log-(G+1) created, old files still there */
};

struct journal_hooks {
    /* Replace pwrite/fdatasync of the log (inject ENOSPC, short writes, EIO);
     * pwrite also serves the compaction snapshot's write. */
    ssize_t (*pwrite)(int fd, const void *buf, size_t len, off_t off);
    int (*fdatasync)(int fd);
    /* Return non-zero to stop compaction right there, as a crash would
     * (journal_compact returns -ECANCELED; the journal must be closed). */
    int (*crash_point)(enum journal_step step);
};

/* Install hooks process-wide (NULL restores the real calls). */
void journal_set_test_hooks(const struct journal_hooks *hooks);

#endif
