/*
 * harness.h — shared scaffolding of the watcher tests: a loop with a
 * watcher and one job on a temporary directory, a recorder of READY events
 * that verifies each one against what the writer declared (complete file
 * list, every byte: FNV-1a of each file read at READY time), snapshots taken
 * in the callback and checked again after rotation deleted the originals,
 * latency from the writer's marker to READY, and small writers that follow
 * docs/trainer-layouts.md's write order.
 */
#ifndef HS_TEST_WATCHER_HARNESS_H
#define HS_TEST_WATCHER_HARNESS_H

#include "watcher.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define WT_MAX_SAVES   400
#define WT_MAX_FILES   160
#define WT_MAX_OUTPUTS 256

struct wt_file {
    char rel[256]; /* relative to the save's base */
    uint64_t size;
    uint64_t hash;
};

/* What the writer says a save contains, and what the watcher reported. */
struct wt_save {
    char id[256];
    size_t n_files;
    struct wt_file files[WT_MAX_FILES];
    hs_usec_t marker_at; /* monotonic: the completion marker was written */
    bool declared;
    struct wt *owner; /* its lock guards files and n_files (written by the writer thread) */
    /* filled on READY */
    int n_ready;
    bool ok;
    char problem[512];
    hs_usec_t ready_at;
    struct watcher_snapshot *snap;
};

struct wt {
    uv_loop_t loop;
    struct watcher *w;
    struct watcher_job *job;
    struct watcher_options o;
    char dir[128];  /* temporary base directory */
    char root[192]; /* the job root: dir/out */
    pthread_mutex_t lock;
    struct wt_save saves[WT_MAX_SAVES];
    size_t n_saves;
    size_t n_ready, n_unexpected;
    char unexpected[8][256];
    bool verify_content; /* read and hash every file at READY */
    /* when set, READY goes here instead of the declared-save checks */
    void (*on_ready)(struct wt *t, struct watcher_job *job, const struct watcher_checkpoint *cp);
    void *user;
    bool take_snapshot;
    char notices[64][512];
    size_t n_notices;
    /* on_checkpoint_lost: how many, and the last id and reason */
    size_t n_lost;
    char lost_id[256];
    char lost_why[512];
    char outputs[WT_MAX_OUTPUTS][256];
    size_t n_outputs;
    pthread_t writer;
    bool writer_running;
    _Atomic bool writer_done; /* set by the writer thread, read under lock by the loop */
    uv_timer_t tick;
    bool (*until)(struct wt *t);
    bool timed_out;
};

void wt_init(struct wt *t, const char *name);
/* Add the job (t->o is prefilled with defaults and root; tweak before). */
void wt_add_job(struct wt *t);
/* Run the loop until the job's first scan is complete (root must exist). */
void wt_wait_scanned(struct wt *t);
/* Run the loop until pred(t) holds or timeout_ms passes (then timed_out). */
void wt_run_until(struct wt *t, bool (*pred)(struct wt *t), unsigned timeout_ms);
void wt_start_writer(struct wt *t, void *(*fn)(void *));
void wt_join_writer(struct wt *t);
/* Close the watcher, release snapshots, assert uv_loop_close() == 0, rm -rf. */
void wt_fini(struct wt *t);
/* Close what a test that failed before its wt_fini left open (wt_init does
 * it too), so one failure does not cascade -EBUSY into the next tests. */
void wt_cleanup_failed(void);
/* Run only the tests matching $WT_FILTER (cmocka's pattern), when set. */
void wt_select_tests(void);

/* Declare a save before writing it (the id is relative to the root). */
struct wt_save *wt_declare(struct wt *t, const char *id);
/* Write base/rel (created dirs as needed) with size deterministic bytes in
 * chunks, record it in s (when s is not NULL) under the name srel. */
void wt_write(struct wt_save *s, const char *base, const char *rel, const char *srel,
              uint64_t size);
void wt_write_text(struct wt_save *s, const char *base, const char *rel, const char *srel,
                   const char *text);
void wt_marker(struct wt *t, struct wt_save *s);
void wt_rm_rf(const char *path);
/* Write <root>/README.md with text and describe it as training output
 * (a checkpoint whose folder and base are the root) in *rf and *out. */
void wt_output_readme(struct wt *t, const char *text, struct watcher_file *rf,
                      struct watcher_checkpoint *out);
uint64_t wt_hash_file(const char *path, uint64_t *size);

/* All declared saves reported exactly once, each ok; snapshots intact. */
void wt_assert_all_ready(struct wt *t);
bool wt_all_declared_ready(struct wt *t);
bool wt_has_notice(struct wt *t, const char *needle);
/* The job's status (watcher_job_status). */
struct watcher_job_status wt_status(struct wt *t);
/* Entries in the job's spool directory (<root>/.hubsync/spool), 0 if none. */
size_t wt_spool_entries(struct wt *t);
/* Does watcher_test_dump() of the job print needle? */
bool wt_dump_has(struct wt *t, const char *needle);
/* Print latency lines "latency LABEL: n=.. min=.. median=.. max=.. ms". */
void wt_report_latency(struct wt *t, const char *label);
/* Context switches of the process's threads other than the main one (the
 * watcher's threads) while the loop runs idle for ms. Not countable in a
 * ThreadSanitizer build (WT_WAKEUPS_COUNTABLE 0): TSan's own background
 * thread wakes every 100 ms. */
uint64_t wt_idle_wakeups(struct wt *t, unsigned ms);
#ifdef __SANITIZE_THREAD__
#define WT_WAKEUPS_COUNTABLE 0
#else
#define WT_WAKEUPS_COUNTABLE 1
#endif
/* Active uv timers other than the harness's own. */
int wt_active_timers(struct wt *t);

#endif
