/*
 * harness.c — see harness.h.
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ULL;
    }
    return h;
}
#define FNV_INIT 14695981039346656037ULL

uint64_t wt_hash_file(const char *path, uint64_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char buf[65536];
    uint64_t h = FNV_INIT, n = 0;
    ssize_t r;
    while ((r = read(fd, buf, sizeof(buf))) > 0) {
        h = fnv(h, buf, (size_t)r);
        n += (uint64_t)r;
    }
    close(fd);
    if (size)
        *size = n;
    return h;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)f;
    if (flag == FTW_DP)
        rmdir(p);
    else
        unlink(p);
    return 0;
}

void wt_output_readme(struct wt *t, const char *text, struct watcher_file *rf,
                      struct watcher_checkpoint *out)
{
    wt_write_text(NULL, t->root, "README.md", NULL, text);
    char readme[640];
    snprintf(readme, sizeof(readme), "%s/README.md", t->root);
    struct stat rst;
    assert_int_equal(stat(readme, &rst), 0);
    *rf = (struct watcher_file){
        .path = "README.md", .size = (uint64_t)rst.st_size, .ino = rst.st_ino};
    *out = (struct watcher_checkpoint){.id = "output",
                                       .folder = t->root,
                                       .base = t->root,
                                       .layout = "output",
                                       .files = rf,
                                       .n_files = 1,
                                       .total_bytes = rf->size};
}

void wt_rm_rf(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static struct wt_save *find_save(struct wt *t, const char *id)
{
    for (size_t i = 0; i < t->n_saves; i++)
        if (!strcmp(t->saves[i].id, id))
            return &t->saves[i];
    return NULL;
}

static void on_ready(struct watcher_job *job, const struct watcher_checkpoint *cp, void *ud)
{
    struct wt *t = ud;
    (void)job;
    pthread_mutex_lock(&t->lock);
    t->n_ready++;
    if (t->on_ready) {
        t->on_ready(t, job, cp);
        pthread_mutex_unlock(&t->lock);
        return;
    }
    struct wt_save *s = find_save(t, cp->id);
    if (!s) {
        if (t->n_unexpected < 8)
            snprintf(t->unexpected[t->n_unexpected], 256, "%s", cp->id);
        t->n_unexpected++;
        printf("unexpected READY %s (%zu files)\n", cp->id, cp->n_files);
        pthread_mutex_unlock(&t->lock);
        return;
    }
    s->n_ready++;
    s->ready_at = cp->ready_at;
    s->ok = true;
    if (s->n_ready > 1) {
        s->ok = false;
        snprintf(s->problem, sizeof(s->problem), "READY %d times", s->n_ready);
    }
    if (cp->n_files != s->n_files) {
        s->ok = false;
        snprintf(s->problem, sizeof(s->problem), "%zu files reported, %zu written", cp->n_files,
                 s->n_files);
    }
    for (size_t i = 0; s->ok && i < s->n_files; i++) {
        const struct watcher_file *f = NULL;
        for (size_t k = 0; k < cp->n_files; k++)
            if (!strcmp(cp->files[k].path, s->files[i].rel))
                f = &cp->files[k];
        if (!f) {
            s->ok = false;
            snprintf(s->problem, sizeof(s->problem), "%s missing from the list", s->files[i].rel);
        } else if (f->size != s->files[i].size) {
            s->ok = false;
            snprintf(s->problem, sizeof(s->problem), "%s: %llu bytes reported, %llu written",
                     f->path, (unsigned long long)f->size, (unsigned long long)s->files[i].size);
        } else if (t->verify_content) {
            char p[4096];
            uint64_t n = 0;
            snprintf(p, sizeof(p), "%s/%s", cp->base, f->path);
            if (wt_hash_file(p, &n) != s->files[i].hash || n != s->files[i].size) {
                s->ok = false;
                snprintf(s->problem, sizeof(s->problem), "%s: content differs at READY", f->path);
            }
        }
    }
    if (t->take_snapshot && !s->snap) {
        struct hs_err err = {0};
        if (watcher_snapshot(job, cp, &s->snap, &err) < 0) {
            s->ok = false;
            snprintf(s->problem, sizeof(s->problem), "snapshot: %.400s", err.msg);
        }
    }
    pthread_mutex_unlock(&t->lock);
}

static void on_lost(struct watcher_job *job, const char *id, const char *why, void *ud)
{
    struct wt *t = ud;
    (void)job;
    printf("lost: %s: %s\n", id, why);
    pthread_mutex_lock(&t->lock);
    t->n_lost++;
    snprintf(t->lost_id, sizeof(t->lost_id), "%s", id);
    snprintf(t->lost_why, sizeof(t->lost_why), "%s", why);
    pthread_mutex_unlock(&t->lock);
}

static void on_output(struct watcher_job *job, const struct watcher_output *out, void *ud)
{
    struct wt *t = ud;
    (void)job;
    for (size_t i = 0; i < out->n_files && t->n_outputs < WT_MAX_OUTPUTS; i++)
        snprintf(t->outputs[t->n_outputs++], 256, "%s", out->files[i].path);
}

static void on_notice(struct watcher_job *job, enum watcher_notice_level level, const char *msg,
                      void *ud)
{
    struct wt *t = ud;
    (void)job;
    printf("notice[%d]: %s\n", (int)level, msg);
    char line[512];
    snprintf(line, sizeof(line), "%.500s", msg);
    if (t->n_notices < 64)
        memcpy(t->notices[t->n_notices++], line, sizeof(line));
}

/* The test in progress. A failed cmocka assertion longjmps out of the test
 * before its wt_fini: the next wt_init (or wt_cleanup_failed) closes what
 * that test left open, so libinotifytools is free again (-EBUSY otherwise)
 * and one failure does not cascade into the rest of the binary. */
static struct wt *current;

void wt_cleanup_failed(void)
{
    struct wt *t = current;
    current = NULL;
    if (!t)
        return;
    printf("cleanup: closing the watcher left by a failed test (%s)\n", t->dir);
    t->writer_done = true;
    wt_join_writer(t);
    for (size_t i = 0; i < t->n_saves; i++) {
        struct hs_err err = {0};
        if (t->saves[i].snap && t->job)
            watcher_snapshot_release(t->job, t->saves[i].snap, &err);
        t->saves[i].snap = NULL;
    }
    watcher_close(t->w);
    if (!uv_is_closing((uv_handle_t *)&t->tick))
        uv_close((uv_handle_t *)&t->tick, NULL);
    uv_run(&t->loop, UV_RUN_DEFAULT);
    uv_loop_close(&t->loop);
    chmod(t->dir, 0700);
    wt_rm_rf(t->dir);
}

void wt_select_tests(void)
{
    const char *f = getenv("WT_FILTER");
    if (f && *f)
        cmocka_set_test_filter(f);
}

void wt_init(struct wt *t, const char *name)
{
    wt_cleanup_failed();
    memset(t, 0, sizeof(*t));
    current = t;
    snprintf(t->dir, sizeof(t->dir), "/tmp/hs-wt-%s-XXXXXX", name);
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->root, sizeof(t->root), "%s/out", t->dir);
    pthread_mutex_init(&t->lock, NULL);
    t->verify_content = true;
    assert_int_equal(uv_loop_init(&t->loop), 0);
    struct watcher_callbacks cb = {.on_checkpoint_ready = on_ready,
                                   .on_training_output = on_output,
                                   .on_checkpoint_lost = on_lost,
                                   .on_notice = on_notice};
    struct hs_err err = {0};
    assert_int_equal(watcher_new(&t->loop, &cb, t, &t->w, &err), 0);
    watcher_options_init(&t->o);
    t->o.root = t->root;
    t->o.settle = 300 * HS_USEC_PER_MSEC;
    t->o.marker_quiet = 150 * HS_USEC_PER_MSEC;
    t->o.poll_interval = 50 * HS_USEC_PER_MSEC;
    assert_int_equal(uv_timer_init(&t->loop, &t->tick), 0);
    t->tick.data = t;
}

void wt_add_job(struct wt *t)
{
    struct hs_err err = {0};
    int r = watcher_add_job(t->w, &t->o, &t->job, &err);
    if (r < 0)
        printf("watcher_add_job: %s\n", err.msg);
    assert_int_equal(r, 0);
}

static bool scanned(struct wt *t)
{
    struct watcher_job_status st;
    watcher_job_status(t->job, &st);
    return st.scanned;
}

void wt_wait_scanned(struct wt *t)
{
    wt_run_until(t, scanned, 5000);
    assert_true(scanned(t));
}

static void tick_cb(uv_timer_t *h)
{
    struct wt *t = h->data;
    if (t->until(t))
        uv_stop(&t->loop);
}

static void deadline_cb(uv_timer_t *h)
{
    struct wt *t = h->data;
    t->timed_out = true;
    uv_stop(&t->loop);
}

void wt_run_until(struct wt *t, bool (*pred)(struct wt *t), unsigned timeout_ms)
{
    uv_timer_t deadline;
    uv_timer_init(&t->loop, &deadline);
    deadline.data = t;
    t->until = pred;
    t->timed_out = false;
    /* the loop's clock is cached: after the caller blocked (joining a writer
     * that took 30 s under load) the deadline would already be past, and
     * the loop would stop after one iteration with work half done */
    uv_update_time(&t->loop);
    uv_timer_start(&deadline, deadline_cb, timeout_ms, 0);
    uv_timer_start(&t->tick, tick_cb, 5, 5);
    if (!pred(t))
        uv_run(&t->loop, UV_RUN_DEFAULT);
    uv_timer_stop(&t->tick);
    uv_close((uv_handle_t *)&deadline, NULL);
    uv_run(&t->loop, UV_RUN_NOWAIT);
}

void wt_start_writer(struct wt *t, void *(*fn)(void *))
{
    t->writer_done = false;
    assert_int_equal(pthread_create(&t->writer, NULL, fn, t), 0);
    t->writer_running = true;
}

void wt_join_writer(struct wt *t)
{
    if (t->writer_running)
        pthread_join(t->writer, NULL);
    t->writer_running = false;
}

void wt_fini(struct wt *t)
{
    if (current == t)
        current = NULL;
    wt_join_writer(t);
    for (size_t i = 0; i < t->n_saves; i++) {
        struct hs_err err = {0};
        if (t->saves[i].snap)
            assert_int_equal(watcher_snapshot_release(t->job, t->saves[i].snap, &err), 0);
        t->saves[i].snap = NULL;
    }
    watcher_close(t->w);
    uv_close((uv_handle_t *)&t->tick, NULL);
    uv_run(&t->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&t->loop), 0);
    pthread_mutex_destroy(&t->lock);
    chmod(t->dir, 0700);
    wt_rm_rf(t->dir);
}

struct wt_save *wt_declare(struct wt *t, const char *id)
{
    pthread_mutex_lock(&t->lock);
    assert_true(t->n_saves < WT_MAX_SAVES);
    struct wt_save *s = &t->saves[t->n_saves++];
    memset(s, 0, sizeof(*s));
    snprintf(s->id, sizeof(s->id), "%s", id);
    s->declared = true;
    s->owner = t;
    pthread_mutex_unlock(&t->lock);
    return s;
}

static void mkparents(const char *path)
{
    char p[4096];
    snprintf(p, sizeof(p), "%s", path);
    for (char *s = p + 1; *s; s++) {
        if (*s == '/') {
            *s = 0;
            mkdir(p, 0755);
            *s = '/';
        }
    }
}

/* Under the lock: on_ready reads the files on the loop thread, and a READY
 * can come as soon as the file is closed, before it is recorded here. */
static void record(struct wt_save *s, const char *srel, uint64_t size, uint64_t hash)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->owner->lock);
    struct wt_file *f = NULL;
    for (size_t i = 0; !f && i < s->n_files; i++)
        if (!strcmp(s->files[i].rel, srel))
            f = &s->files[i];
    if (!f && s->n_files < WT_MAX_FILES) {
        f = &s->files[s->n_files++];
        snprintf(f->rel, sizeof(f->rel), "%s", srel);
    }
    if (f) {
        f->size = size;
        f->hash = hash;
    }
    pthread_mutex_unlock(&s->owner->lock);
    assert_non_null(f); /* at most WT_MAX_FILES per save */
}

void wt_write(struct wt_save *s, const char *base, const char *rel, const char *srel, uint64_t size)
{
    char p[4096];
    snprintf(p, sizeof(p), "%s/%s", base, rel);
    mkparents(p);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    uint64_t h = FNV_INIT, seed = fnv(FNV_INIT, rel, strlen(rel)) ^ size;
    char buf[16384];
    for (uint64_t off = 0; off < size;) {
        size_t n = size - off < sizeof(buf) ? (size_t)(size - off) : sizeof(buf);
        for (size_t i = 0; i < n; i++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            buf[i] = (char)(seed >> 56);
        }
        assert_int_equal(write(fd, buf, n), (ssize_t)n);
        h = fnv(h, buf, n);
        off += n;
        if (size > 65536)
            usleep(200); /* a trainer's writes take time: let the watcher look */
    }
    assert_int_equal(close(fd), 0);
    record(s, srel ? srel : rel, size, h);
}

void wt_write_text(struct wt_save *s, const char *base, const char *rel, const char *srel,
                   const char *text)
{
    char p[4096];
    snprintf(p, sizeof(p), "%s/%s", base, rel);
    mkparents(p);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    assert_int_equal(close(fd), 0);
    record(s, srel ? srel : rel, n, fnv(FNV_INIT, text, n));
}

void wt_marker(struct wt *t, struct wt_save *s)
{
    pthread_mutex_lock(&t->lock);
    s->marker_at = hs_now_monotonic();
    pthread_mutex_unlock(&t->lock);
}

bool wt_all_declared_ready(struct wt *t)
{
    pthread_mutex_lock(&t->lock);
    bool all = t->writer_done;
    for (size_t i = 0; all && i < t->n_saves; i++)
        all = t->saves[i].n_ready > 0;
    pthread_mutex_unlock(&t->lock);
    return all;
}

void wt_assert_all_ready(struct wt *t)
{
    size_t bad = 0;
    for (size_t i = 0; i < t->n_saves; i++) {
        struct wt_save *s = &t->saves[i];
        if (s->n_ready != 1 || !s->ok) {
            if (bad++ < 10)
                printf("save %s: READY %d times%s%s\n", s->id, s->n_ready, s->ok ? "" : ": ",
                       s->problem);
            continue;
        }
        if (s->snap) {
            for (size_t k = 0; k < s->n_files; k++) {
                char p[4096];
                uint64_t n = 0;
                snprintf(p, sizeof(p), "%s/%s", s->snap->dir, s->files[k].rel);
                if (wt_hash_file(p, &n) != s->files[k].hash || n != s->files[k].size) {
                    if (bad++ < 10)
                        printf("save %s: snapshot of %s differs\n", s->id, s->files[k].rel);
                }
            }
        }
    }
    if (bad)
        watcher_test_dump(t->job, stdout);
    if (t->n_unexpected)
        printf("%zu unexpected READY (first: %s)\n", t->n_unexpected, t->unexpected[0]);
    assert_int_equal(bad, 0);
    assert_int_equal(t->n_unexpected, 0);
}

bool wt_has_notice(struct wt *t, const char *needle)
{
    for (size_t i = 0; i < t->n_notices; i++)
        if (strstr(t->notices[i], needle))
            return true;
    return false;
}

struct watcher_job_status wt_status(struct wt *t)
{
    struct watcher_job_status st;
    watcher_job_status(t->job, &st);
    return st;
}

size_t wt_spool_entries(struct wt *t)
{
    char p[320];
    snprintf(p, sizeof(p), "%s/.hubsync/spool", t->root);
    DIR *d = opendir(p);
    size_t n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)))
        n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
             strcmp(de->d_name, ".hubsync-spool") != 0; /* the marker (spool.c) */
    if (d)
        closedir(d);
    return n;
}

bool wt_dump_has(struct wt *t, const char *needle)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return false;
    watcher_test_dump(t->job, f);
    fclose(f);
    bool has = buf && strstr(buf, needle);
    free(buf);
    return has;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void wt_report_latency(struct wt *t, const char *label)
{
    uint64_t v[WT_MAX_SAVES];
    size_t n = 0;
    for (size_t i = 0; i < t->n_saves; i++)
        if (t->saves[i].n_ready && t->saves[i].marker_at && t->saves[i].ready_at)
            v[n++] = t->saves[i].ready_at > t->saves[i].marker_at
                         ? t->saves[i].ready_at - t->saves[i].marker_at
                         : 0;
    if (!n)
        return;
    qsort(v, n, sizeof(*v), cmp_u64);
    printf("latency %s (marker written -> READY): n=%zu min=%.1f median=%.1f max=%.1f ms\n", label,
           n, v[0] / 1000.0, v[n / 2] / 1000.0, v[n - 1] / 1000.0);
}

static void count_timer(uv_handle_t *h, void *arg)
{
    void **a = arg;
    struct wt *t = a[0];
    if (h->type == UV_TIMER && h != (uv_handle_t *)&t->tick && uv_is_active(h))
        (*(int *)a[1])++;
}

int wt_active_timers(struct wt *t)
{
    int n = 0;
    void *a[2] = {t, &n};
    uv_walk(&t->loop, count_timer, a);
    return n;
}

/* Sum of context switches of every thread but the main one. */
static uint64_t other_threads_switches(void)
{
    uint64_t sum = 0;
    DIR *d = opendir("/proc/self/task");
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.' || atoi(de->d_name) == (int)getpid())
            continue;
        char p[320], line[256];
        snprintf(p, sizeof(p), "/proc/self/task/%s/status", de->d_name);
        FILE *f = fopen(p, "r");
        while (f && fgets(line, sizeof(line), f)) {
            unsigned long long v;
            if (sscanf(line, "voluntary_ctxt_switches: %llu", &v) == 1 ||
                sscanf(line, "nonvoluntary_ctxt_switches: %llu", &v) == 1)
                sum += v;
        }
        if (f)
            fclose(f);
    }
    if (d)
        closedir(d);
    return sum;
}

static bool never_true(struct wt *t)
{
    (void)t;
    return false;
}

uint64_t wt_idle_wakeups(struct wt *t, unsigned ms)
{
    uint64_t before = other_threads_switches();
    wt_run_until(t, never_true, ms);
    return other_threads_switches() - before;
}
