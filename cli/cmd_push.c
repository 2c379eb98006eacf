/*
 * cmd_push.c — `hubsync push DIR --repo ID …`: upload a folder to a Hub repo
 * as one commit (contract in docs/design.md). This file owns the command line,
 * the folder walk with include/exclude (config_path_allowed, the always
 * excluded folders; symbolic links skipped, or with --follow-symlinks
 * followed to files inside DIR only), --delete's listing of the repo (which
 * files the commit deletes), endpoint/token resolution (config/), the resume state
 * file under $XDG_CACHE_HOME/hubsync/push/, progress on stderr and the exit
 * code. The upload itself is uploader/'s.
 *
 * Exit codes: 0 pushed (or nothing to commit; the head's URL is printed),
 * 1 the push failed (message names the Hub's X-Error-Message and request id
 * when there is one; a refusal for good, HS_EREFUSED, says a re-run fails
 * the same way), 2 usage (bad option, invalid repo id/revision), 78
 * configuration (no token, bad HF_ENDPOINT), 130 / 143 interrupted by
 * SIGINT / SIGTERM (uv_signal on the loop: the state is saved, transfers are
 * cut, "interrupted; re-run the same command to resume"; a second signal
 * exits at once — the state file is always replaced atomically).
 *
 * Test knobs (environment, not part of the contract): HUBSYNC_MAX_PARALLEL,
 * HUBSYNC_BANDWIDTH_MBPS, HUBSYNC_RETRY_BASE_MS, HUBSYNC_STALL_SECONDS,
 * HUBSYNC_PROGRESS_INTERVAL_MS.
 */
#include "cli_int.h"
#include "pbar.h"
#include "common.h"
#include "config.h"
#include "uploader.h"

#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_PATTERNS 64

struct push_cli {
    const char *dir, *repo, *revision, *path_in_repo, *message, *description, *repo_type;
    const char *pos[3]; /* positionals: DIR, or hf's REPO PATH [PATH_IN_REPO] */
    size_t n_pos;
    bool private_repo, quiet;
    bool follow_symlinks;
    const char *absdir; /* realpath of dir: symlinks followed must stay under it */
    const char *include[MAX_PATTERNS], *exclude[MAX_PATTERNS], *del[MAX_PATTERNS];
    size_t n_include, n_exclude, n_del;
};

#define NAMES_MAX (1u << 30) /* the walk's paths: ~10 million files */

/* The walk's files, their paths in one growing buffer (no allocation a
 * file: 100,000 files would leave ~8 MiB of small holes in the heap once
 * freed, issue 14). */
struct file_list {
    struct hs_buf names; /* per file: its local path, NUL, its repo path, NUL */
    size_t *at;          /* where file i's local path starts in names */
    uint64_t total;
    size_t n, cap;
};

struct run_ctx {
    char state_path[HS_PATH_MAX];
    bool tty;
    hs_usec_t started, interval;
    uint64_t send_total;
    bool quiet; /* --quiet: no progress, no summary; the URL still on stdout */
    struct pbar bar;
    int status;
    bool finished;
    struct uploader *u; /* NULL once closed */
    int signum;         /* the first SIGINT/SIGTERM, 0 if none */
    uv_signal_t sig_int, sig_term;
    /* --delete: the push starts once the repo is listed (list_done) */
    const struct push_cli *cli;
    const char *prefix; /* PATH_IN_REPO, "" for the root */
    struct uploader_push_request req;
    struct uploader_push_hooks hooks;
    bool relisted_main;    /* the revision is new: it starts as main's files */
    unsigned state_writes; /* times the resume state was written (-v says at the end) */
};

/* ---- folder walk ------------------------------------------------------- */

static int list_add(struct file_list *l, const char *local, const char *repo, uint64_t size)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        size_t *a = realloc(l->at, cap * sizeof(*a));
        if (!a)
            return -ENOMEM;
        l->at = a;
        l->cap = cap;
    }
    if (!l->names.max)
        hs_buf_init(&l->names, NAMES_MAX);
    size_t at = l->names.len;
    int rc = hs_buf_append(&l->names, local, strlen(local) + 1);
    if (rc < 0 || (rc = hs_buf_append(&l->names, repo, strlen(repo) + 1)) < 0)
        return rc;
    l->at[l->n++] = at;
    l->total += size;
    return 0;
}

static void list_free(struct file_list *l)
{
    hs_buf_free(&l->names);
    free(l->at);
    *l = (struct file_list){0};
}

/* A symlink found in the walk: by default skipped with one notice; with
 * --follow-symlinks a link to a regular file inside DIR (realpath) is pushed
 * as that file — the uploader is handed the target's real path, which it
 * opens without following anything — and a link that leads outside DIR ends
 * the walk with an error (nothing was sent). Links to folders are never
 * followed (no loops, files only). Returns 0 or an error; *real is set to
 * the target to push, or "" to skip. */
static int symlink_target(const struct push_cli *c, const char *a, const char *r, char *real,
                          size_t n, struct hs_err *err)
{
    real[0] = 0;
    char esc[512];
    uploader_repo_path_escape(r, esc, sizeof(esc));
    r = esc;
    if (!c->follow_symlinks) {
        fprintf(stderr,
                "hubsync: skipped the symbolic link %s (not followed; --follow-symlinks "
                "pushes links to files inside the folder)\n",
                r);
        return 0;
    }
    char buf[PATH_MAX];
    struct stat st;
    if (!realpath(a, buf) || stat(buf, &st) < 0) {
        fprintf(stderr, "hubsync: skipped the symbolic link %s: its target cannot be read (%s)\n",
                r, strerror(errno));
        return 0;
    }
    if (!S_ISREG(st.st_mode)) {
        fprintf(stderr,
                "hubsync: skipped the symbolic link %s: it does not lead to a regular file "
                "(only links to files are followed)\n",
                r);
        return 0;
    }
    size_t dl = strlen(c->absdir);
    bool inside =
        strncmp(buf, c->absdir, dl) == 0 && (buf[dl] == '/' || strcmp(c->absdir, "/") == 0);
    if (!inside)
        return hs_err_set(err, -EPERM,
                          "%s is a symbolic link to %s, outside %s: refusing to push it (remove "
                          "the link, or push without --follow-symlinks to skip it); nothing was "
                          "sent",
                          a, buf, c->absdir);
    if (snprintf(real, n, "%s", buf) >= (int)n)
        return hs_err_set(err, -ENAMETOOLONG, "%s: path too long", buf);
    return 0;
}

struct push_walk {
    const struct push_cli *c;
    const char *prefix;
    struct file_list *out;
    struct hs_err *err;
};

/* Sorted (common/tree.c's walk: never through a symlink); symlinks:
 * symlink_target. Names the Hub cannot store are left to the uploader
 * (uploader_repo_path_refusal: one warning each, the rest is pushed). */
static int push_visit(const struct hs_walk_entry *e, void *ud)
{
    struct push_walk *pw = ud;
    const struct push_cli *c = pw->c;
    char a[HS_PATH_MAX], rp[HS_PATH_MAX], target[PATH_MAX] = "";
    if (hs_path_join(a, sizeof(a), c->absdir, e->rel) < 0)
        return hs_err_set(pw->err, -ENAMETOOLONG, "%s/%s: path too long", c->absdir, e->rel);
    struct stat st = e->st;
    if (e->type == HS_WALK_LINK) {
        int rc = symlink_target(c, a, e->rel, target, sizeof(target), pw->err);
        if (rc < 0)
            return rc;
        if (!target[0] || stat(target, &st) < 0)
            return 0;
    } else if (e->type == HS_WALK_DIR) {
        char probe[HS_PATH_MAX + 2];
        snprintf(probe, sizeof(probe), "%s/", e->rel);
        return config_path_always_excluded(probe) ? HS_WALK_PRUNE : 0;
    } else if (e->type != HS_WALK_REG) {
        return 0; /* FIFOs, sockets, devices */
    }
    if (config_path_always_excluded(e->rel) ||
        !config_path_allowed(e->rel, c->include, c->n_include, c->exclude, c->n_exclude))
        return 0;
    if ((pw->prefix[0] ? hs_path_join(rp, sizeof(rp), pw->prefix, e->rel)
                       : snprintf(rp, sizeof(rp), "%s", e->rel)) < 0)
        return hs_err_set(pw->err, -ENAMETOOLONG, "%s: path too long", a);
    int rc = list_add(pw->out, target[0] ? target : a, rp, (uint64_t)st.st_size);
    if (rc == -E2BIG)
        return hs_err_set(pw->err, rc, "too many files: their paths pass %u MiB", NAMES_MAX >> 20);
    if (rc < 0)
        return hs_err_set(pw->err, -ENOMEM, "out of memory");
    return 0;
}

static int push_dir_error(const char *rel, int err, void *ud)
{
    struct push_walk *pw = ud;
    return hs_err_set(pw->err, err, "%s/%s: %s", pw->c->absdir, rel, hs_strerror(err));
}

static int walk(const struct push_cli *c, const char *prefix, struct file_list *out,
                struct hs_err *err)
{
    int fd = hs_tree_open_root(c->absdir);
    if (fd < 0)
        return hs_err_set(err, fd, "%s: %s", c->absdir, hs_strerror(fd));
    struct push_walk pw = {.c = c, .prefix = prefix, .out = out, .err = err};
    struct hs_walk w = {
        .visit = push_visit, .dir_error = push_dir_error, .ud = &pw, .sorted = true, .stat = true};
    int rc = hs_tree_walk(fd, "", &w);
    close(fd);
    if (rc < 0 && !err->msg[0])
        hs_err_set(err, rc, "%s: %s", c->absdir, hs_strerror(rc));
    return rc;
}

/* ---- resume state file ------------------------------------------------- */

static int state_path(const char *endpoint, const struct push_cli *c, const char *absdir, char *out,
                      size_t n)
{
    char dir[HS_PATH_MAX];
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(dir, sizeof(dir), "%s/hubsync/push", xdg);
    else if (home && *home)
        snprintf(dir, sizeof(dir), "%s/.cache/hubsync/push", home);
    else
        return -ENOENT;
    int rc = hs_mkdir_p(dir, 0700);
    if (rc < 0)
        return rc;
    char key[3 * HS_PATH_MAX];
    snprintf(key, sizeof(key), "%s\n%s\n%s\n%s\n%s", endpoint, c->repo,
             c->revision ? c->revision : "main", absdir, c->path_in_repo ? c->path_in_repo : "");
    unsigned char md[32];
    unsigned mdl;
    EVP_Digest(key, strlen(key), md, &mdl, EVP_sha256(), NULL);
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    if (snprintf(out, n, "%s/%.32s.json", dir, hex) >= (int)n)
        return -ENAMETOOLONG;
    return 0;
}

/* write + rename, no fsync: the file is a cache that survives a killed
 * process (page cache); after a power loss the push merely starts over.
 * Called on the loop thread for every finished part: a few tens of KiB
 * into the page cache, which is cheaper than a round trip to a thread. */
static int persist(const char *json, size_t len, void *ud)
{
    struct run_ctx *ctx = ud;
    if (!ctx->state_path[0])
        return 0;
    ctx->state_writes++;
    struct hs_atomic_opts o = {.mode = 0600, .tmp_suffix = ".tmp", .no_sync = true};
    return hs_write_file_atomic_opt(ctx->state_path, json, len, &o);
}

/* ---- progress ---------------------------------------------------------- */

static void progress(const struct uploader_progress *p, void *ud)
{
    struct run_ctx *ctx = ud;
    if (!ctx->quiet)
        pbar_update(&ctx->bar, p, stderr);
}

static void skipped(const char *msg, void *ud)
{
    (void)ud;
    hs_log_warn("%s", msg);
}

static void done(int status, const struct uploader_result *res, const struct hs_err *err, void *ud)
{
    struct run_ctx *ctx = ud;
    ctx->finished = true;
    pbar_end(&ctx->bar, stderr);
    hs_log_debug("push: resume state written %u time%s", ctx->state_writes,
                 ctx->state_writes == 1 ? "" : "s");
    if (status == -EINTR && ctx->signum) {
        fprintf(stderr, "hubsync: interrupted; re-run the same command to resume\n");
        ctx->status = 128 + ctx->signum;
        return;
    }
    if (status < 0) {
        hs_log_error("push failed: %s", err && err->msg[0] ? err->msg : hs_strerror(status));
        if (status == HS_EREFUSED)
            fprintf(stderr, "hubsync: the Hub refused this request for good: running the same "
                            "push again fails the same way until what it names is changed\n");
        else if (status != HS_EAUTH && ctx->state_path[0] && status != -ECANCELED)
            fprintf(stderr, "hubsync: what was already uploaded is remembered (an object whose "
                            "upload the Hub refused starts over); run the same command again "
                            "to resume\n");
        ctx->status = HS_EXIT_FAILURE;
        return;
    }
    char sent[32];
    hs_format_bytes(res->bytes_sent, sent, sizeof(sent));
    if (ctx->quiet)
        ; /* the URL below is the whole output */
    else if (res->nothing_to_commit)
        fprintf(stderr, "hubsync: nothing to commit: every file is already in the repo\n");
    else if (res->resumed_commit)
        fprintf(stderr, "hubsync: the commit sent by an earlier run is in the repo\n");
    else if (res->answer_lost)
        fprintf(stderr,
                "hubsync: committed %u file%s (the Hub's answer was lost; the commit is "
                "in the repo, once)\n",
                res->files_committed, res->files_committed == 1 ? "" : "s");
    else if (res->files_committed == 0 && res->files_deleted)
        ; /* a commit of deletions only: said below */
    else if (res->objects_uploaded == 0 && res->objects_skipped == 0)
        fprintf(stderr,
                "hubsync: committed %u file%s inline (small files travel in the commit itself, "
                "no separate upload)\n",
                res->files_committed, res->files_committed == 1 ? "" : "s");
    else
        fprintf(stderr, "hubsync: committed %u file%s (%s sent, %u object%s already on the Hub)\n",
                res->files_committed, res->files_committed == 1 ? "" : "s", sent,
                res->objects_skipped, res->objects_skipped == 1 ? "" : "s");
    if (res->files_deleted && !res->nothing_to_commit && !ctx->quiet)
        fprintf(stderr, "hubsync: the same commit deleted %u file%s matching --delete\n",
                res->files_deleted, res->files_deleted == 1 ? "" : "s");
    if (res->files_skipped && !ctx->quiet)
        fprintf(stderr, "hubsync: %u file%s skipped: the Hub cannot store %s name%s (see above)\n",
                res->files_skipped, res->files_skipped == 1 ? "" : "s",
                res->files_skipped == 1 ? "its" : "their", res->files_skipped == 1 ? "" : "s");
    printf("%s\n", res->commit_url);
    fflush(stdout);
    if (ctx->state_path[0])
        unlink(ctx->state_path);
    ctx->status = HS_EXIT_OK;
}

/* ---- --delete PATTERN -------------------------------------------------- */

/* The files --delete removes, as huggingface_hub's upload_folder
 * (_prepare_upload_folder_deletions): every file of the repo under
 * PATH_IN_REPO whose path relative to it matches a pattern (fnmatch,
 * config_pattern_match), except .gitattributes, which a repo needs. A file
 * the push also uploads is not deleted (uploader_push drops it from the
 * deletes). The listing is of the revision the commit goes to; a branch
 * the push creates starts as main, so then main is listed. */
static int delete_paths(const struct run_ctx *ctx, const struct uploader_tree *t, char ***out,
                        size_t *n_out)
{
    size_t pl = strlen(ctx->prefix);
    char **v = calloc(t->n + 1, sizeof(char *));
    size_t n = 0;
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < t->n; i++) {
        const char *path = t->entries[i].path, *rel = path;
        if (pl) {
            if (strncmp(path, ctx->prefix, pl) != 0 || path[pl] != '/')
                continue;
            rel = path + pl + 1;
        }
        if (strcmp(path, ".gitattributes") == 0 ||
            !config_path_allowed(rel, ctx->cli->del, ctx->cli->n_del, NULL, 0))
            continue;
        if (!(v[n++] = strdup(path))) {
            for (size_t k = 0; k + 1 < n; k++)
                free(v[k]);
            free(v);
            return -ENOMEM;
        }
    }
    *out = v;
    *n_out = n;
    return 0;
}

static void start_listing(struct run_ctx *ctx, const char *revision);

static void list_done(int status, const struct uploader_tree *t, const struct hs_err *lerr,
                      void *ud)
{
    struct run_ctx *ctx = ud;
    if (ctx->signum || !ctx->u) { /* a signal closed the uploader meanwhile */
        fprintf(stderr, "hubsync: interrupted before anything was sent\n");
        ctx->status = 128 + ctx->signum;
        return;
    }
    if (status < 0) {
        hs_log_error("push failed: --delete could not list the repo: %s",
                     lerr && lerr->msg[0] ? lerr->msg : hs_strerror(status));
        ctx->status = HS_EXIT_FAILURE;
        return;
    }
    const char *rev = ctx->req.revision;
    if (!strcmp(t->missing, "RevisionNotFound") && rev && strcmp(rev, "main") &&
        !ctx->relisted_main) {
        ctx->relisted_main = true;
        return start_listing(ctx, "main");
    }
    char **del = NULL;
    size_t n = 0;
    struct hs_err err = {0};
    if (delete_paths(ctx, t, &del, &n) < 0) {
        hs_log_error("out of memory");
        ctx->status = HS_EXIT_FAILURE;
        return;
    }
    ctx->req.delete_paths = (const char *const *)del;
    ctx->req.n_delete = n;
    if (uploader_push(ctx->u, &ctx->req, &ctx->hooks, &err) < 0) {
        hs_log_error("%s", err.msg);
        ctx->status = HS_EXIT_FAILURE;
    }
    for (size_t i = 0; i < n; i++)
        free(del[i]);
    free(del); /* the uploader keeps its own copies */
    ctx->req.delete_paths = NULL;
    ctx->req.n_delete = 0;
}

static void start_listing(struct run_ctx *ctx, const char *revision)
{
    struct uploader_tree_request tr = {
        .repo_id = ctx->req.repo_id,
        .repo_type = ctx->req.repo_type,
        .revision = revision,
        .path = ctx->prefix,
    };
    struct hs_err err = {0};
    if (uploader_list_tree(ctx->u, &tr, list_done, ctx, &err) < 0) {
        hs_log_error("push failed: --delete could not list the repo: %s", err.msg);
        ctx->status = HS_EXIT_FAILURE;
    }
}

/* ---- signals ----------------------------------------------------------- */

static void on_signal(uv_signal_t *h, int signum)
{
    struct run_ctx *ctx = h->data;
    if (ctx->signum)
        _exit(128 + ctx->signum); /* second signal: now (the state file is whole) */
    if (ctx->finished || !ctx->u)
        return; /* the push already ended: its result stands */
    ctx->signum = signum;
    uploader_interrupt(ctx->u); /* saves the state; done runs with -EINTR */
    uploader_close(ctx->u);     /* cuts what is in flight */
    ctx->u = NULL;
}

static void signals_start(uv_loop_t *loop, struct run_ctx *ctx)
{
    uv_signal_init(loop, &ctx->sig_int);
    uv_signal_init(loop, &ctx->sig_term);
    ctx->sig_int.data = ctx->sig_term.data = ctx;
    uv_signal_start(&ctx->sig_int, on_signal, SIGINT);
    uv_signal_start(&ctx->sig_term, on_signal, SIGTERM);
    /* They must not keep the loop alive: the push does. */
    uv_unref((uv_handle_t *)&ctx->sig_int);
    uv_unref((uv_handle_t *)&ctx->sig_term);
}

static void signals_stop(struct run_ctx *ctx)
{
    uv_close((uv_handle_t *)&ctx->sig_int, NULL);
    uv_close((uv_handle_t *)&ctx->sig_term, NULL);
}

/* ---- main -------------------------------------------------------------- */

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "hubsync push: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nRun 'hubsync push --help' for usage.\n");
    return HS_EXIT_USAGE;
}

static int parse_args(int argc, char **argv, struct push_cli *c)
{
    static const struct option opts[] = {
        {"repo", required_argument, NULL, 'r'},
        {"revision", required_argument, NULL, 'v'},
        {"path-in-repo", required_argument, NULL, 'p'},
        {"message", required_argument, NULL, 'm'},
        {"commit-message", required_argument, NULL, 'm'},
        {"commit-description", required_argument, NULL, 'd'},
        {"repo-type", required_argument, NULL, 't'},
        {"quiet", no_argument, NULL, 'q'},
        {"private", no_argument, NULL, 'P'},
        {"follow-symlinks", no_argument, NULL, 'L'},
        {"include", required_argument, NULL, 'i'},
        {"exclude", required_argument, NULL, 'x'},
        {"delete", required_argument, NULL, 'D'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    opterr = 0;
    while (optind < argc) {
        const char *a = argv[optind];
        if (strcmp(a, "--") == 0) {
            for (optind++; optind < argc; optind++) {
                if (c->n_pos == 3)
                    return usage_error("unexpected argument '%s'", argv[optind]);
                c->pos[c->n_pos++] = argv[optind];
            }
            break;
        }
        if (a[0] != '-' || a[1] == 0) {
            if (c->n_pos == 3)
                return usage_error("unexpected argument '%s'", a);
            c->pos[c->n_pos++] = a;
            optind++;
            continue;
        }
        int ch = getopt_long(argc, argv, "+", opts, NULL);
        switch (ch) {
        case 'r':
            c->repo = optarg;
            break;
        case 'v':
            c->revision = optarg;
            break;
        case 'p':
            c->path_in_repo = optarg;
            break;
        case 'm':
            c->message = optarg;
            break;
        case 'd':
            c->description = optarg;
            break;
        case 't':
            if (strcmp(optarg, "model") && strcmp(optarg, "dataset") && strcmp(optarg, "space"))
                return usage_error("--repo-type must be model, dataset or space, not '%s'", optarg);
            c->repo_type = optarg;
            break;
        case 'q':
            c->quiet = true;
            break;
        case 'P':
            c->private_repo = true;
            break;
        case 'L':
            c->follow_symlinks = true;
            break;
        case 'i':
            if (c->n_include == MAX_PATTERNS)
                return usage_error("too many --include patterns%s", "");
            c->include[c->n_include++] = optarg;
            break;
        case 'x':
            if (c->n_exclude == MAX_PATTERNS)
                return usage_error("too many --exclude patterns%s", "");
            c->exclude[c->n_exclude++] = optarg;
            break;
        case 'D':
            if (c->n_del == MAX_PATTERNS)
                return usage_error("too many --delete patterns%s", "");
            c->del[c->n_del++] = optarg;
            break;
        default:
            return usage_error("unknown or incomplete option '%s'", a);
        }
    }
    /* `push PATH --repo ID`, or hf upload's order: `push REPO PATH [PATH_IN_REPO]` */
    if (c->repo) {
        if (c->n_pos > 1)
            return usage_error("unexpected argument '%s' (with --repo, give one PATH)", c->pos[1]);
        c->dir = c->n_pos ? c->pos[0] : NULL;
    } else if (c->n_pos >= 2) {
        c->repo = c->pos[0];
        c->dir = c->pos[1];
        if (c->n_pos == 3) {
            if (c->path_in_repo)
                return usage_error("PATH_IN_REPO given twice (and --path-in-repo)%s", "");
            c->path_in_repo = c->pos[2];
        }
    } else {
        return usage_error(c->n_pos ? "missing --repo ID (or give REPO PATH)%s"
                                    : "missing PATH and --repo ID (or give REPO PATH)%s",
                           "");
    }
    if (!c->dir)
        return usage_error("missing PATH%s", "");
    return 0;
}

static int run(int argc, char **argv)
{
    struct push_cli c = {0};
    int rc = parse_args(argc, argv, &c);
    if (rc)
        return rc;
    enum hs_log_level level;
    const char *lv = getenv("HUBSYNC_LOG_LEVEL");
    if (lv && *lv && config_log_level_parse(lv, &level))
        hs_log_set_level(level); /* debug: what the push did, e.g. the resume state writes */
    else if (lv && *lv)
        hs_log_warn("HUBSYNC_LOG_LEVEL=\"%s\" is not error, warn, info or debug: ignored", lv);
    struct hs_err err = {0};
    if (config_repo_id_check(c.repo, &err) < 0) {
        fprintf(stderr, "hubsync push: invalid repo id \"%s\": %s\n", c.repo, err.msg);
        return HS_EXIT_USAGE;
    }
    if (c.revision && config_revision_check(c.revision, &err) < 0) {
        fprintf(stderr, "hubsync push: invalid revision \"%s\": %s\n", c.revision, err.msg);
        return HS_EXIT_USAGE;
    }
    char prefix[HS_PATH_MAX] = "";
    if (c.path_in_repo) {
        const char *s = c.path_in_repo;
        while (*s == '/')
            s++;
        if (strncmp(s, "./", 2) == 0)
            s += 2;
        snprintf(prefix, sizeof(prefix), "%s", s);
        size_t l = strlen(prefix);
        while (l && prefix[l - 1] == '/')
            prefix[--l] = 0;
        if (prefix[0] && !hs_path_is_safe_relative(prefix)) {
            fprintf(stderr, "hubsync push: invalid --path-in-repo \"%s\"\n", c.path_in_repo);
            return HS_EXIT_USAGE;
        }
    }
    if (config_env_truthy(getenv("HF_HUB_OFFLINE"))) {
        fprintf(stderr, "hubsync push: HF_HUB_OFFLINE is set: refusing to upload\n");
        return HS_EXIT_FAILURE;
    }
    struct stat st;
    if (stat(c.dir, &st) < 0) {
        fprintf(stderr, "hubsync push: %s: %s\n", c.dir, strerror(errno));
        return HS_EXIT_FAILURE;
    }
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
        fprintf(stderr, "hubsync push: %s: neither a file nor a directory\n", c.dir);
        return HS_EXIT_FAILURE;
    }
    char absdir[PATH_MAX];
    if (!realpath(c.dir, absdir)) {
        fprintf(stderr, "hubsync push: %s: %s\n", c.dir, strerror(errno));
        return HS_EXIT_FAILURE;
    }
    struct file_list files = {0};
    c.absdir = absdir;
    if (S_ISREG(st.st_mode) && c.n_del) {
        fprintf(stderr,
                "hubsync push: --delete applies to a folder push, and %s is a file\n"
                "Run 'hubsync push --help' for usage.\n",
                c.dir);
        return HS_EXIT_USAGE;
    }
    if (S_ISREG(st.st_mode)) {
        /* one file, as `hf upload REPO FILE [PATH_IN_REPO]`: to PATH_IN_REPO, else its name */
        const char *base = strrchr(absdir, '/');
        base = base ? base + 1 : absdir;
        if (!prefix[0])
            snprintf(prefix, sizeof(prefix), "%s", base);
        if (list_add(&files, absdir, prefix, (uint64_t)st.st_size) < 0) {
            fprintf(stderr, "hubsync push: out of memory\n");
            return HS_EXIT_FAILURE;
        }
    } else if (walk(&c, prefix, &files, &err) < 0) {
        fprintf(stderr, "hubsync push: %s\n", err.msg);
        list_free(&files);
        return HS_EXIT_FAILURE;
    }
    if (files.n == 0) {
        fprintf(stderr, "hubsync push: %s has no files to upload%s\n", c.dir,
                c.n_include || c.n_exclude ? " (after --include/--exclude)" : "");
        list_free(&files);
        return HS_EXIT_FAILURE;
    }
    char *endpoint = NULL, *token = NULL;
    if (config_resolve_endpoint(NULL, &endpoint, &err) < 0) {
        fprintf(stderr, "hubsync push: %s\n", err.msg);
        list_free(&files);
        return HS_EXIT_CONFIG;
    }
    if (config_resolve_token(NULL, NULL, &token, &err) < 0) {
        hs_log_error("%s", err.msg); /* "no Hub token: ..." */
        free(endpoint);
        list_free(&files);
        return HS_EXIT_CONFIG;
    }
    hs_secret_register(token);
    if (err.msg[0])
        hs_log_warn("%s", err.msg); /* a token file other users may read */

    struct run_ctx ctx = {.status = HS_EXIT_FAILURE};
    ctx.tty = isatty(STDERR_FILENO);
    ctx.quiet = c.quiet;
    ctx.started = hs_now_monotonic();
    ctx.interval = hs_env_uint("HUBSYNC_PROGRESS_INTERVAL_MS", 2000) * HS_USEC_PER_MSEC;
    if (state_path(endpoint, &c, absdir, ctx.state_path, sizeof(ctx.state_path)) < 0) {
        hs_log_warn("no cache directory (XDG_CACHE_HOME/HOME): this push cannot be resumed");
        ctx.state_path[0] = 0;
    }
    char *resume = NULL;
    size_t resume_len;
    if (ctx.state_path[0] && hs_read_file(ctx.state_path, 256u << 20, &resume, &resume_len) == 0)
        fprintf(stderr, "hubsync: resuming an interrupted push\n");

    uv_loop_t loop;
    uv_loop_init(&loop);
    signals_start(&loop, &ctx);
    struct uploader_options uo = {
        .endpoint = endpoint,
        .token = token,
        .max_parallel = hs_env_uint("HUBSYNC_MAX_PARALLEL", 8),
        .bandwidth_bytes_per_sec = (uint64_t)hs_env_uint("HUBSYNC_BANDWIDTH_MBPS", 0) * 125000,
        .retry_base = (hs_usec_t)hs_env_uint("HUBSYNC_RETRY_BASE_MS", 0) * HS_USEC_PER_MSEC,
        .stall_seconds = hs_env_uint("HUBSYNC_STALL_SECONDS", 0),
    };
    struct uploader *u = NULL;
    struct uploader_file *uf = calloc(files.n, sizeof(*uf));
    if (!uf || uploader_new(&loop, &uo, &u, &err) < 0) {
        hs_log_error("%s", uf ? err.msg : "out of memory");
        goto out;
    }
    ctx.u = u;
    for (size_t i = 0; i < files.n; i++) {
        uf[i].local_path = files.names.data + files.at[i];
        uf[i].repo_path = uf[i].local_path + strlen(uf[i].local_path) + 1;
    }
    ctx.send_total = files.total;
    pbar_init(&ctx.bar, ctx.tty, ctx.interval, files.total);
    ctx.cli = &c;
    ctx.prefix = prefix;
    ctx.req = (struct uploader_push_request){
        .repo_id = c.repo,
        .revision = c.revision,
        .repo_type = c.repo_type,
        .private_repo = c.private_repo,
        .summary = c.message,
        .description = c.description,
        .files = uf,
        .n_files = files.n,
        .resume_state = resume,
    };
    ctx.hooks = (struct uploader_push_hooks){
        .progress = progress,
        .persist = persist,
        .persist_path = ctx.state_path[0] ? ctx.state_path : NULL,
        .done = done,
        .skipped = skipped,
        .userdata = &ctx,
    };
    if (c.n_del) {
        /* the repo is listed first; list_done starts the push */
        start_listing(&ctx, c.revision);
        uv_run(&loop, UV_RUN_DEFAULT);
    } else if (uploader_push(u, &ctx.req, &ctx.hooks, &err) < 0) {
        hs_log_error("%s", err.msg);
    } else {
        /* the uploader keeps its own copies: the lists are not held while pushing */
        free(uf);
        uf = NULL;
        list_free(&files);
        free(resume);
        resume = NULL;
        uv_run(&loop, UV_RUN_DEFAULT);
    }
out:
    uploader_close(ctx.u); /* NULL when a signal closed it */
    signals_stop(&ctx);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        hs_log_warn("internal: libuv handles left open at exit");
    free(uf);
    free(resume);
    free(endpoint);
    hs_free_secret(token);
    list_free(&files);
    return ctx.status;
}

const struct hs_command cmd_push = {
    .name = "push",
    .summary = "upload a folder to a Hub repo as one commit",
    .usage =
        "Usage: hubsync push PATH --repo ID [OPTIONS]\n"
        "       hubsync push REPO PATH [PATH_IN_REPO] [OPTIONS]   (hf upload's order)\n\n"
        "Upload PATH (a folder, or one file) to the Hub repository ID (name or\n"
        "namespace/name) as one commit. A file goes to PATH_IN_REPO, else to its name.\n"
        "Prints the commit URL as the last line on stdout; progress goes to stderr.\n"
        "An interrupted push resumes when run again (state in $XDG_CACHE_HOME/hubsync/push/).\n"
        "\nOptions:\n"
        "  --repo ID            target repository\n"
        "  --repo-type TYPE     model (default), dataset or space\n"
        "  --revision REV       branch to commit to (default main; created from main if "
        "missing)\n"
        "  --path-in-repo P     where in the repo (a folder's prefix; default: the root)\n"
        "  --commit-message M   commit title (default \"Upload folder using hubsync\"); also "
        "--message M\n"
        "  --commit-description D  commit description\n"
        "  --private            create the repository as private if it does not exist\n"
        "  --follow-symlinks    push symbolic links to files inside PATH as those files "
        "(default: skip\n"
        "                       every link with a notice; a link leading outside PATH is "
        "refused)\n"
        "  --include PAT        only upload paths matching PAT (repeatable)\n"
        "  --exclude PAT        skip paths matching PAT (repeatable)\n"
        "  --delete PAT         in the same commit, delete the repo's files under PATH_IN_REPO\n"
        "                       matching PAT (relative to PATH_IN_REPO; repeatable; never\n"
        "                       .gitattributes nor a file this push uploads), as hf upload\n"
        "  --quiet              print only the commit URL\n"
        "  -h, --help           show this help\n"
        "\nEnvironment: HF_ENDPOINT, HF_TOKEN, HUGGING_FACE_HUB_TOKEN, HF_TOKEN_PATH, HF_HOME,\n"
        "XDG_CACHE_HOME, HF_HUB_OFFLINE, as huggingface_hub reads them.\n"
        "Names the Hub cannot store (a backslash, a control character, not UTF-8, .git/ or "
        ".cache/)\nare skipped with a warning each; the rest is pushed.\n"
        "Exit codes: 0 pushed or nothing to commit, 1 failure, 2 usage, 78 no token/bad "
        "endpoint.\n",
    .run = run,
};
