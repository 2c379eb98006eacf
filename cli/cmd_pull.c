/*
 * cmd_pull.c — `hubsync pull REPO [--revision R] [--checkpoint latest|N|TAG]
 * [--to DIR] [--dry-run]`: restore a checkpoint folder pushed by hubsync (or
 * the Trainer) so that `trainer.train(resume_from_checkpoint=DIR/checkpoint-N)`
 * works. This file owns the command line, choosing the checkpoint from the
 * repo listing, the staging folder and the final rename; the transfers and
 * the hash checks are uploader/download.c's.
 *
 * Which checkpoint: `checkpoint-N/` folders (all_checkpoints) and
 * `last-checkpoint/` (checkpoint strategy; its N is the global_step of its
 * trainer_state.json, fetched and verified first). `latest` (default) is the
 * highest N of all; a number picks that step; anything else is a tag or
 * revision whose latest checkpoint is taken.
 *
 * Atomicity: files land in DIR/.hubsync-pull/checkpoint-N/ (each as
 * <path>.part until its hash matched the listing), and that folder is
 * renamed to DIR/checkpoint-N once every file is verified. An interrupted
 * or failed pull leaves only the staging folder; running it again resumes
 * each .part with a Range request and keeps every verified file.
 *
 * Exit codes: 0 restored (or already there), 1 runtime failure (corrupt
 * download, missing checkpoint/tag, repo without checkpoints, target
 * exists and differs), 2 usage, 78 configuration (no token for a repo
 * that needs one, bad HF_ENDPOINT, offline), 130/143 interrupted.
 *
 * Test knobs (environment): HUBSYNC_MAX_PARALLEL, HUBSYNC_PROGRESS_INTERVAL_MS.
 */
#include "cli_int.h"
#include "common.h"
#include "config.h"
#include "uploader.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define STAGING ".hubsync-pull"

struct pull_cli {
    const char *repo, *revision, *checkpoint, *to;
    bool dry_run;
};

/* One run of the loop for a listing or a download. */
struct wait {
    bool finished;
    int status;
    struct hs_err err;
    struct uploader_tree tree; /* listing result (moved out) */
    char oid[48];              /* the commit the revision points at */
    char code[48];             /* its X-Error-Code when it failed */
    long http_status;
    /* download */
    bool dry_run, tty;
    unsigned have, fetch;
    uint64_t fetch_bytes;
    hs_usec_t started, last_line, interval;
    struct uploader_download_result res;
};

/* ---- small helpers ----------------------------------------------------- */

/* "checkpoint-N/..." → N (and the folder length), else -1. */
static long long checkpoint_step(const char *path, size_t *dirlen)
{
    static const char pre[] = "checkpoint-";
    if (strncmp(path, pre, sizeof(pre) - 1) != 0)
        return -1;
    const char *p = path + sizeof(pre) - 1, *s = p;
    long long n = 0;
    while (*p >= '0' && *p <= '9' && p - s < 18)
        n = n * 10 + (*p++ - '0');
    if (p == s || *p != '/')
        return -1;
    *dirlen = (size_t)(p - path);
    return n;
}

static bool is_number(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

/* ---- loop runs ---------------------------------------------------------- */

static void tree_done(int status, const struct uploader_tree *t, const struct hs_err *err, void *ud)
{
    struct wait *w = ud;
    w->finished = true;
    w->status = status;
    if (status == 0) {
        w->tree = *t; /* take the entries: t is ours to empty */
        struct uploader_tree *mt = (struct uploader_tree *)t;
        mt->entries = NULL;
        mt->n = mt->cap = 0;
    } else {
        w->err = *err;
    }
}

static void commit_done(int status, const char *oid, long http_status, const char *code,
                        const struct hs_err *err, void *ud)
{
    struct wait *w = ud;
    w->finished = true;
    w->status = status;
    w->http_status = http_status;
    snprintf(w->code, sizeof(w->code), "%s", code ? code : "");
    if (status == 0)
        snprintf(w->oid, sizeof(w->oid), "%s", oid);
    else
        w->err = *err;
}

static void plan(const struct uploader_download_file *f, bool have, uint64_t partial, void *ud)
{
    struct wait *w = ud;
    if (have) {
        w->have++;
    } else {
        w->fetch++;
        w->fetch_bytes += f->size - partial;
    }
    if (w->dry_run) {
        printf("%s\t%llu\t%s", f->repo_path, (unsigned long long)f->size, have ? "have" : "fetch");
        if (!have && partial)
            printf(" (%llu bytes kept)", (unsigned long long)partial);
        printf("\n");
    }
}

static void dl_progress(const struct uploader_download_progress *p, void *ud)
{
    struct wait *w = ud;
    hs_usec_t now = hs_now_monotonic();
    bool last = p->files_done == p->files_fetch;
    if (!w->tty && !last && now - w->last_line < w->interval)
        return;
    if (!p->fetch_total)
        return;
    w->last_line = now;
    char done[32], total[32], rate[48] = "";
    hs_format_bytes(p->got_bytes, done, sizeof(done));
    hs_format_bytes(p->fetch_total, total, sizeof(total));
    double secs = (double)(now - w->started) / 1e6;
    double bps = secs > 0.5 ? (double)w->res.bytes_fetched / secs : 0;
    if (bps > 0) {
        char r[24];
        hs_format_bytes((uint64_t)bps, r, sizeof(r));
        snprintf(rate, sizeof(rate), "%s/s", r);
    }
    int pct = (int)(100.0 * (double)p->got_bytes / (double)p->fetch_total);
    int eta = bps > 0 ? (int)((double)(p->fetch_total - p->got_bytes) / bps) : 0;
    if (w->tty)
        fprintf(stderr, "\r%u/%u files  %s / %s (%3d%%)  %s  ETA %d:%02d   ", p->files_done,
                p->files_fetch, done, total, pct, rate, eta / 60, eta % 60);
    else
        fprintf(stderr, "hubsync: download: %s / %s (%d%%) %s ETA %ds, %u of %u files\n", done,
                total, pct, rate, eta, p->files_done, p->files_fetch);
    fflush(stderr);
}

static void dl_done(int status, const struct uploader_download_result *res,
                    const struct hs_err *err, void *ud)
{
    struct wait *w = ud;
    w->finished = true;
    w->status = status;
    if (status == 0)
        w->res = *res;
    else
        w->err = *err;
}

static int run_download(uv_loop_t *loop, struct uploader *u,
                        const struct uploader_download_request *req, struct wait *w)
{
    struct uploader_download_hooks hooks = {
        .plan = plan, .progress = dl_progress, .done = dl_done, .userdata = w};
    w->started = w->last_line = hs_now_monotonic();
    int rc = uploader_download(u, req, &hooks, &w->err);
    if (rc < 0)
        return w->status = rc;
    uv_run(loop, UV_RUN_DEFAULT);
    if (w->tty && !req->plan_only && w->fetch)
        fprintf(stderr, "\n");
    return w->finished ? w->status : -EIO;
}

/* ---- signals: the .part files are the state; nothing else to save ------ */

static void on_signal(int signum)
{
    static const char msg[] =
        "\nhubsync: interrupted; run the same command again to resume the download\n";
    ssize_t k = write(STDERR_FILENO, msg, sizeof(msg) - 1);
    (void)k;
    _exit(128 + signum);
}

/* ---- main -------------------------------------------------------------- */

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "hubsync pull: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nRun 'hubsync pull --help' for usage.\n");
    return HS_EXIT_USAGE;
}

static int parse_args(int argc, char **argv, struct pull_cli *c)
{
    static const struct option opts[] = {
        {"revision", required_argument, NULL, 'v'},
        {"checkpoint", required_argument, NULL, 'c'},
        {"to", required_argument, NULL, 't'},
        {"dry-run", no_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    opterr = 0;
    while (optind < argc) {
        const char *a = argv[optind];
        if (a[0] != '-' || a[1] == 0) {
            if (c->repo)
                return usage_error("unexpected argument '%s'", a);
            c->repo = a;
            optind++;
            continue;
        }
        int ch = getopt_long(argc, argv, "+", opts, NULL);
        switch (ch) {
        case 'v':
            c->revision = optarg;
            break;
        case 'c':
            c->checkpoint = optarg;
            break;
        case 't':
            c->to = optarg;
            break;
        case 'n':
            c->dry_run = true;
            break;
        default:
            return usage_error("unknown or incomplete option '%s'", a);
        }
    }
    if (!c->repo)
        return usage_error("missing REPO%s", "");
    return 0;
}

struct choice {
    char folder[64]; /* repo folder: "checkpoint-N" or "last-checkpoint" */
    long long step;
};

/* Finding the revision's commit (or listing it) failed: which exit code
 * and what to say. miss: the Hub's X-Error-Code of a 404. */
static int lookup_failed(const struct pull_cli *c, const char *rev, const struct wait *w,
                         const char *miss, bool anonymous)
{
    bool not_found = w->http_status == 404 || miss[0];
    if (w->status == HS_EAUTH || (anonymous && not_found && strcmp(miss, "RevisionNotFound"))) {
        fprintf(stderr, "hubsync pull: %s: %s\n", c->repo,
                anonymous ? "the repo is private or does not exist, and no token is set (set "
                            "HF_TOKEN or log in with huggingface-cli)"
                          : "the Hub refused the token (check HF_TOKEN / the token file)");
        if (!anonymous)
            fprintf(stderr, "hubsync pull: %s\n", w->err.msg);
        return HS_EXIT_CONFIG;
    }
    if (w->status < 0 && !not_found)
        fprintf(stderr, "hubsync pull: %s\n", w->err.msg);
    else if (strcmp(miss, "RevisionNotFound") == 0)
        fprintf(stderr, "hubsync pull: %s: no revision or tag \"%s\"\n", c->repo, rev);
    else
        fprintf(stderr, "hubsync pull: %s: repo not found (or the token cannot read it)\n",
                c->repo);
    return HS_EXIT_FAILURE;
}

/* The global_step of last-checkpoint/trainer_state.json, downloaded (and
 * verified) into the staging folder. */
static int last_checkpoint_step(uv_loop_t *loop, struct uploader *u, const struct pull_cli *c,
                                const char *rev, const struct uploader_tree *t, const char *staging,
                                long long *step)
{
    const struct uploader_tree_entry *ts = NULL;
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->entries[i].path, "last-checkpoint/trainer_state.json") == 0)
            ts = &t->entries[i];
    if (!ts) {
        fprintf(stderr,
                "hubsync pull: %s: last-checkpoint/ has no trainer_state.json: its step is "
                "unknown\n",
                c->repo);
        return HS_EXIT_FAILURE;
    }
    char local[HS_PATH_MAX];
    if (snprintf(local, sizeof(local), "%s/last-checkpoint.trainer_state.json", staging) >=
        (int)sizeof(local)) {
        fprintf(stderr, "hubsync pull: %s: path too long\n", staging);
        return HS_EXIT_FAILURE;
    }
    struct uploader_download_file f = {.repo_path = ts->path,
                                       .local_path = local,
                                       .size = ts->size,
                                       .sha256 = ts->lfs_oid,
                                       .git_oid = ts->oid};
    struct uploader_download_request req = {
        .repo_id = c->repo, .revision = rev, .files = &f, .n_files = 1};
    struct wait w = {.interval = HS_USEC_PER_SEC};
    int mk = hs_mkdir_p(staging, 0755); /* a dry run has none yet */
    if (mk < 0) {
        fprintf(stderr, "hubsync pull: %s: %s\n", staging, strerror(-mk));
        return HS_EXIT_FAILURE;
    }
    if (run_download(loop, u, &req, &w) < 0) {
        fprintf(stderr, "hubsync pull: %s\n", w.err.msg);
        return HS_EXIT_FAILURE;
    }
    struct hs_err err = {0};
    json_t *j = hs_json_load_tolerant(local, 64u << 20, &err);
    double v;
    bool ok = j && hs_json_number(json_object_get(j, "global_step"), &v) && v >= 0;
    json_decref(j);
    unlink(local);
    rmdir(staging); /* only when empty: a dry run leaves nothing */
    if (!ok) {
        fprintf(stderr,
                "hubsync pull: %s: last-checkpoint/trainer_state.json has no global_step%s%s\n",
                c->repo, err.msg[0] ? ": " : "", err.msg);
        return HS_EXIT_FAILURE;
    }
    *step = (long long)v;
    return 0;
}

static int choose(uv_loop_t *loop, struct uploader *u, const struct pull_cli *c, const char *rev,
                  const char *label, const struct uploader_tree *t, const char *staging,
                  const char *want, struct choice *out)
{
    long long best = -1, wanted = is_number(want) ? atoll(want) : -1;
    bool have_last = false;
    char avail[512] = "";
    for (size_t i = 0; i < t->n; i++) {
        size_t dl;
        long long n = checkpoint_step(t->entries[i].path, &dl);
        if (n >= 0 && (wanted < 0 ? n > best : n == wanted)) {
            best = n;
            snprintf(out->folder, sizeof(out->folder), "%.*s", (int)dl, t->entries[i].path);
        }
        if (n >= 0 && strlen(avail) < sizeof(avail) - 40 &&
            (i == 0 || strncmp(t->entries[i - 1].path, t->entries[i].path, dl + 1) != 0)) {
            char one[32];
            snprintf(one, sizeof(one), "%s%lld", avail[0] ? ", " : "", n);
            strcat(avail, one);
        }
        if (strncmp(t->entries[i].path, "last-checkpoint/", 16) == 0)
            have_last = true;
    }
    long long last = -1;
    if (have_last) {
        int rc = last_checkpoint_step(loop, u, c, rev, t, staging, &last);
        if (rc)
            return rc;
    }
    if (last >= 0 && (wanted < 0 ? last > best : last == wanted && best < 0)) {
        best = last;
        snprintf(out->folder, sizeof(out->folder), "last-checkpoint");
    }
    if (best < 0) {
        if (!have_last && !avail[0])
            fprintf(stderr,
                    "hubsync pull: %s@%s has no checkpoints (no last-checkpoint/ or "
                    "checkpoint-N/ folder)\n",
                    c->repo, label);
        else
            fprintf(stderr, "hubsync pull: %s@%s has no checkpoint %s (there: %s%s%s)\n", c->repo,
                    label, want, avail, have_last && avail[0] ? ", " : "",
                    have_last ? "last-checkpoint" : "");
        if (have_last && last >= 0 && !avail[0])
            fprintf(stderr, "hubsync pull: last-checkpoint/ is step %lld\n", last);
        return HS_EXIT_FAILURE;
    }
    out->step = best;
    return 0;
}

/* Every file of folder in t, as download items under base (rel paths). */
static int build_files(const struct uploader_tree *t, const char *folder, const char *base,
                       bool make_dirs, struct uploader_download_file **out, char ***locals,
                       size_t *n_out)
{
    size_t fl = strlen(folder), n = 0;
    struct uploader_download_file *f = calloc(t->n ? t->n : 1, sizeof(*f));
    char **l = calloc(t->n ? t->n : 1, sizeof(char *));
    if (!f || !l) {
        free(f);
        free(l);
        return -ENOMEM;
    }
    *out = f;
    *locals = l;
    for (size_t i = 0; i < t->n; i++) {
        const struct uploader_tree_entry *e = &t->entries[i];
        if (strncmp(e->path, folder, fl) != 0 || e->path[fl] != '/')
            continue;
        const char *rel = e->path + fl + 1;
        char p[HS_PATH_MAX];
        if (!hs_path_is_safe_relative(rel) || hs_path_join_under(p, sizeof(p), base, rel) < 0) {
            fprintf(stderr,
                    "hubsync pull: refusing the repo path \"%s\" (it would land outside %s)\n",
                    e->path, base);
            *n_out = n;
            return -EINVAL;
        }
        if (make_dirs) {
            char dir[HS_PATH_MAX];
            snprintf(dir, sizeof(dir), "%s", p);
            char *sl = strrchr(dir, '/');
            if (sl)
                *sl = 0;
            int rc = hs_mkdir_p(dir, 0755);
            if (rc < 0) {
                fprintf(stderr, "hubsync pull: %s: %s\n", dir, strerror(-rc));
                *n_out = n;
                return rc;
            }
        }
        if (!(l[n] = strdup(p))) {
            *n_out = n;
            return -ENOMEM;
        }
        f[n] = (struct uploader_download_file){.repo_path = e->path,
                                               .local_path = l[n],
                                               .size = e->size,
                                               .sha256 = e->lfs_oid,
                                               .git_oid = e->oid};
        n++;
    }
    *n_out = n;
    return 0;
}

static void free_files(struct uploader_download_file *f, char **l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(l[i]);
    free(l);
    free(f);
}

/* Remove what a staging folder holds beyond the files of this checkpoint
 * (left by an earlier pull of another commit with the same step), so the
 * renamed folder is exactly the repo's. */
struct prune {
    const char *staging;
    char *const *keep;
    size_t n;
};

static int prune_visit(const struct hs_walk_entry *e, void *ud)
{
    const struct prune *p = ud;
    if (e->type == HS_WALK_DIR)
        return 0;
    char abs[HS_PATH_MAX];
    if (hs_path_join(abs, sizeof(abs), p->staging, e->rel) < 0)
        return 0;
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->keep[i], abs) == 0)
            return 0;
    return unlinkat(e->dirfd, e->name, 0) < 0 && errno != ENOENT ? -errno : 0;
}

static int prune_leave(const struct hs_walk_entry *e, void *ud)
{
    (void)ud;
    unlinkat(e->dirfd, e->name, AT_REMOVEDIR); /* only when empty */
    return 0;
}

/* Remove from the staging folder what the restore does not keep (a link is
 * removed itself, never followed), then the folders left empty. */
static int prune_staging(const char *staging, char *const *keep, size_t n)
{
    int fd = hs_tree_open_root(staging);
    if (fd < 0)
        return fd == -ENOENT ? 0 : fd;
    struct prune p = {.staging = staging, .keep = keep, .n = n};
    struct hs_walk w = {.visit = prune_visit, .leave = prune_leave, .ud = &p};
    int rc = hs_tree_walk(fd, "", &w);
    close(fd);
    return rc;
}

static int restore_locked(uv_loop_t *loop, struct uploader *u, const struct pull_cli *c,
                          const char *rev, const char *oid, const struct uploader_tree *t,
                          const char *to, const char *staging_root)
{
    char staging[HS_PATH_MAX], final[HS_PATH_MAX];
    struct choice ch = {{0}, -1};
    int rc = choose(loop, u, c, oid, rev, t, staging_root,
                    c->checkpoint && !is_number(c->checkpoint) ? "latest"
                    : c->checkpoint                            ? c->checkpoint
                                                               : "latest",
                    &ch);
    if (rc)
        return rc;
    if (snprintf(staging, sizeof(staging), "%s/checkpoint-%lld", staging_root, ch.step) >=
            (int)sizeof(staging) ||
        snprintf(final, sizeof(final), "%s/checkpoint-%lld", to, ch.step) >= (int)sizeof(final)) {
        fprintf(stderr, "hubsync pull: %s: path too long\n", to);
        return HS_EXIT_FAILURE;
    }
    fprintf(stderr, "hubsync: %s@%s (commit %.12s): %s/ (step %lld) → %s\n", c->repo, rev, oid,
            ch.folder, ch.step, final);

    struct uploader_download_file *files = NULL;
    char **locals = NULL;
    size_t n = 0;
    struct stat st;
    bool exists = lstat(final, &st) == 0;
    if (exists && !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "hubsync pull: %s exists and is not a folder\n", final);
        return HS_EXIT_FAILURE;
    }
    rc = build_files(t, ch.folder, exists ? final : staging, !exists && !c->dry_run, &files,
                     &locals, &n);
    if (rc < 0) {
        free_files(files, locals, n);
        return HS_EXIT_FAILURE;
    }
    struct wait w = {.dry_run = c->dry_run, .tty = isatty(STDERR_FILENO)};
    w.interval = hs_env_uint("HUBSYNC_PROGRESS_INTERVAL_MS", 2000) * HS_USEC_PER_MSEC;
    struct uploader_download_request req = {.repo_id = c->repo,
                                            .revision = oid,
                                            .files = files,
                                            .n_files = n,
                                            .plan_only = c->dry_run || exists};
    rc = run_download(loop, u, &req, &w);
    if (rc == 0 && !exists && !c->dry_run && prune_staging(staging, locals, n) < 0) {
        fprintf(stderr, "hubsync pull: cannot clean %s: %s\n", staging, strerror(errno));
        rc = -EIO;
    }
    free_files(files, locals, n);
    if (rc < 0) {
        if (rc != -EIO)
            fprintf(stderr, "hubsync pull: %s\n", w.err.msg);
        if (rc == HS_ECHANGED)
            fprintf(stderr, "hubsync pull: the corrupt copy was removed; run the same command "
                            "again to fetch it afresh\n");
        else
            fprintf(stderr,
                    "hubsync pull: what was downloaded is kept in %s; run the same "
                    "command again to resume\n",
                    staging_root);
        return HS_EXIT_FAILURE;
    }
    char sz[32];
    hs_format_bytes(w.fetch_bytes, sz, sizeof(sz));
    if (exists) {
        if (w.fetch) {
            fprintf(stderr,
                    "hubsync pull: %s exists and differs from %s/ at %s (%u of %u files differ "
                    "or are missing); move it away or choose another --to\n",
                    final, ch.folder, rev, w.fetch, w.fetch + w.have);
            return HS_EXIT_FAILURE;
        }
        fprintf(stderr, "hubsync: %s is already restored (%u file%s match%s)\n", final, w.have,
                w.have == 1 ? "" : "s", w.have == 1 ? "es" : "");
        if (!c->dry_run)
            printf("%s\n", final);
        return HS_EXIT_OK;
    }
    if (c->dry_run) {
        fprintf(stderr, "hubsync: dry run: %u file%s to fetch (%s), %u already there\n", w.fetch,
                w.fetch == 1 ? "" : "s", sz, w.have);
        return HS_EXIT_OK;
    }
    if (rename(staging, final) < 0) {
        fprintf(stderr, "hubsync pull: cannot rename %s to %s: %s\n", staging, final,
                strerror(errno));
        return HS_EXIT_FAILURE;
    }
    hs_fsync_dir(to); /* best effort: the files are in place */
    char got[32];
    hs_format_bytes(w.res.bytes_fetched, got, sizeof(got));
    fprintf(stderr, "hubsync: restored %s: %u file%s fetched (%s received), %u already there\n",
            final, w.res.files_fetched, w.res.files_fetched == 1 ? "" : "s", got, w.res.files_had);
    printf("%s\n", final);
    return HS_EXIT_OK;
}

/* One pull at a time per DIR (a lock in the staging folder); a dry run
 * only reads. The staging folder goes once the pull succeeded. */
static int restore(uv_loop_t *loop, struct uploader *u, const struct pull_cli *c, const char *rev,
                   const char *oid, const struct uploader_tree *t, const char *to)
{
    char staging_root[HS_PATH_MAX], lock[HS_PATH_MAX];
    if (snprintf(staging_root, sizeof(staging_root), "%s/" STAGING, to) >=
            (int)sizeof(staging_root) ||
        snprintf(lock, sizeof(lock), "%s/lock", staging_root) >= (int)sizeof(lock)) {
        fprintf(stderr, "hubsync pull: %s: path too long\n", to);
        return HS_EXIT_FAILURE;
    }
    if (c->dry_run)
        return restore_locked(loop, u, c, rev, oid, t, to, staging_root);
    int rc = hs_mkdir_p(staging_root, 0755);
    int fd = rc < 0 ? -1 : open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "hubsync pull: %s: %s\n", rc < 0 ? staging_root : lock,
                strerror(rc < 0 ? -rc : errno));
        return HS_EXIT_FAILURE;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        fprintf(stderr, "hubsync pull: another hubsync pull is restoring into %s (%s is locked)\n",
                to, lock);
        close(fd);
        return HS_EXIT_FAILURE;
    }
    int status = restore_locked(loop, u, c, rev, oid, t, to, staging_root);
    /* The staging folder stays only when it holds something to resume. */
    unlink(lock);
    rmdir(staging_root);
    close(fd);
    return status;
}

static int run(int argc, char **argv)
{
    struct pull_cli c = {0};
    int rc = parse_args(argc, argv, &c);
    if (rc)
        return rc;
    struct hs_err err = {0};
    if (config_repo_id_check(c.repo, &err) < 0) {
        fprintf(stderr, "hubsync pull: invalid repo id \"%s\": %s\n", c.repo, err.msg);
        return HS_EXIT_USAGE;
    }
    if (!strchr(c.repo, '/')) {
        fprintf(stderr, "hubsync pull: give the repo as namespace/name (\"%s\" has no namespace)\n",
                c.repo);
        return HS_EXIT_USAGE;
    }
    const char *rev = c.revision ? c.revision : "main";
    if (c.checkpoint && !is_number(c.checkpoint) && strcmp(c.checkpoint, "latest") != 0) {
        if (c.revision) {
            fprintf(stderr,
                    "hubsync pull: --checkpoint %s is a tag: it cannot be combined with "
                    "--revision\n",
                    c.checkpoint);
            return HS_EXIT_USAGE;
        }
        rev = c.checkpoint;
    }
    if (config_revision_check(rev, &err) < 0) {
        fprintf(stderr, "hubsync pull: invalid revision \"%s\": %s\n", rev, err.msg);
        return HS_EXIT_USAGE;
    }
    const char *to = c.to ? c.to : ".";
    struct stat st;
    if (stat(to, &st) < 0) {
        fprintf(stderr, "hubsync pull: %s: %s\n", to, strerror(errno));
        return HS_EXIT_FAILURE;
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "hubsync pull: %s: not a folder\n", to);
        return HS_EXIT_FAILURE;
    }
    char *endpoint = NULL, *token = NULL;
    if (config_resolve_endpoint(NULL, &endpoint, &err) < 0) {
        fprintf(stderr, "hubsync pull: %s\n", err.msg);
        return HS_EXIT_CONFIG;
    }
    rc = config_resolve_token(NULL, NULL, &token, &err);
    if (rc == -ENOENT) {
        token = NULL; /* anonymous: fine for a public repo */
    } else if (rc < 0) {
        hs_log_error("%s", err.msg);
        free(endpoint);
        return HS_EXIT_CONFIG;
    } else {
        hs_secret_register(token);
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    uv_loop_t loop;
    uv_loop_init(&loop);
    struct uploader_options uo = {
        .endpoint = endpoint,
        .token = token,
        .max_parallel = hs_env_uint("HUBSYNC_MAX_PARALLEL", 8),
    };
    struct uploader *u = NULL;
    int status = HS_EXIT_FAILURE;
    if (uploader_new(&loop, &uo, &u, &err) < 0) {
        hs_log_error("%s", err.msg);
        goto out;
    }
    /* Pin the revision to its commit: listing and downloads see one state
     * even when a push lands meanwhile (last-checkpoint/ is overwritten). */
    struct wait w = {0};
    if (uploader_revision_commit(u, c.repo, NULL, rev, commit_done, &w, &err) < 0) {
        hs_log_error("%s", err.msg);
        goto out;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    if (w.status < 0) {
        status = lookup_failed(&c, rev, &w, w.code, token == NULL);
        goto out;
    }
    struct uploader_tree_request tr = {.repo_id = c.repo, .revision = w.oid};
    w.finished = false;
    if (uploader_list_tree(u, &tr, tree_done, &w, &err) < 0) {
        hs_log_error("%s", err.msg);
        goto out;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    if (w.status < 0 || w.tree.missing[0])
        status = lookup_failed(&c, rev, &w, w.tree.missing, token == NULL);
    else
        status = restore(&loop, u, &c, rev, w.oid, &w.tree, to);
    uploader_tree_clear(&w.tree);
out:
    uploader_close(u);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        hs_log_warn("internal: libuv handles left open at exit");
    free(endpoint);
    hs_free_secret(token);
    return status;
}

const struct hs_command cmd_pull = {
    .name = "pull",
    .summary = "restore a checkpoint folder from a Hub repo",
    .usage =
        "Usage: hubsync pull REPO [--revision R] [--checkpoint latest|N|TAG] [--to DIR] "
        "[--dry-run]\n\nRestore a checkpoint pushed to REPO (namespace/name) as DIR/checkpoint-N, "
        "ready for\ntrainer.train(resume_from_checkpoint=DIR/checkpoint-N). The checkpoint is\n"
        "checkpoint-N/ (all_checkpoints) or last-checkpoint/ (checkpoint strategy; N is the\n"
        "global_step of its trainer_state.json). Every file is checked against the repo's\n"
        "listing (sha256 of LFS files, git blob SHA-1 of others) before the folder is renamed\n"
        "into place; an interrupted pull resumes when run again (DIR/.hubsync-pull/).\nPrints "
        "the restored folder on stdout; progress goes to stderr.\n\nOptions:\n  --revision R    "
        "    branch or commit to read (default main)\n  --checkpoint C      latest (default: the "
        "highest step), a step N, or a tag\n  --to DIR            where to restore (default: the "
        "current folder)\n  --dry-run           list each file (path, size, have/fetch); fetch "
        "nothing\n  -h, --help          show this help\n\nEnvironment: HF_ENDPOINT, HF_TOKEN, "
        "HUGGING_FACE_HUB_TOKEN, HF_TOKEN_PATH, HF_HOME,\nHF_HUB_OFFLINE, as huggingface_hub "
        "reads them (no token: public repos only).\nExit codes: 0 restored or already there, 1 "
        "failure, 2 usage, 78 no token/bad endpoint.\n",
    .run = run,
};
