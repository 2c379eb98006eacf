/*
 * run.c — reading a training output directory for the card: the final
 * trainer_state.json (the directory's own, else the newest checkpoint-N's),
 * config.json, eval_results.json / all_results.json, adapter_config.json,
 * training_args.bin and an existing README.md. Every file is optional;
 * a missing, truncated or hostile one becomes a warning and the card is
 * built from what is known. Every read goes through common/tree.c: nothing
 * is read through a symlink (a symlinked README.md or results file is
 * ignored with a warning, as if absent), nothing but regular files. Does not
 * interpret the values (card.c does).
 */
#include "modelcard_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATE_MAX  (512u << 20) /* trainer_state.json of very long runs */
#define SMALL_MAX  (16u << 20)  /* config.json, results, adapter config */
#define ARGS_MAX   (16u << 20)
#define README_MAX (4u << 20)

/* The output dir, opened once: every read is relative to it and never
 * follows a symlink (common/tree.c), so a planted README.md -> secret puts
 * nothing of the secret in the card. */
struct tree {
    int fd;
    const char *dir; /* for messages */
    struct modelcard_warnings *w;
};

/* rel (below the output dir) is a regular file hubsync may read. Absent:
 * false, silently; a symlink or anything but a regular file: false with a
 * warning, so the card is built as if it were absent. */
static bool usable(const struct tree *t, const char *rel)
{
    struct stat st;
    int r = hs_tree_lstat(t->fd, rel, &st);
    if (r == -ENOENT || r == -ENOTDIR)
        return false;
    if (r == 0 && S_ISREG(st.st_mode))
        return true;
    if (r == 0)
        r = S_ISLNK(st.st_mode) ? -ELOOP : S_ISDIR(st.st_mode) ? -EISDIR : HS_ENOTREG;
    modelcard_warn(t->w, "%s/%s: ignored: %s", t->dir, rel, hs_tree_strerror(r));
    return false;
}

/* Join a folder below the output dir ("" for itself) and a name. */
static int rel_join(char *out, size_t n, const char *folder, const char *name)
{
    int w = folder[0] ? snprintf(out, n, "%s/%s", folder, name) : snprintf(out, n, "%s", name);
    return w < 0 || (size_t)w >= n ? -ENAMETOOLONG : 0;
}

/* The checkpoint-N directory under the output dir with the largest N that
 * holds a trainer_state.json (the Trainer's last write: a save interrupted
 * before it is skipped), as a name relative to it, or "" */
static void newest_checkpoint(const struct tree *t, char *out, size_t n)
{
    out[0] = '\0';
    int fd = fcntl(t->fd, F_DUPFD_CLOEXEC, 0);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return;
    }
    rewinddir(d); /* a dup shares the offset of the descriptor it copies */
    unsigned long long best = 0, skipped = 0;
    bool found = false, any_skipped = false;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "checkpoint-", 11))
            continue;
        const char *num = e->d_name + 11;
        if (!*num || strspn(num, "0123456789") != strlen(num) || strlen(num) > 18)
            continue;
        unsigned long long v = strtoull(num, NULL, 10);
        struct stat st;
        char state[HS_PATH_MAX];
        if (hs_tree_lstat(t->fd, e->d_name, &st) < 0 || !S_ISDIR(st.st_mode) ||
            rel_join(state, sizeof(state), e->d_name, "trainer_state.json") < 0)
            continue; /* a symlinked checkpoint-N is not the run's */
        if (!usable(t, state)) {
            if (!any_skipped || v > skipped)
                skipped = v;
            any_skipped = true;
            continue;
        }
        if (!found || v > best) {
            best = v;
            found = true;
            snprintf(out, n, "%s", e->d_name);
        }
    }
    closedir(d);
    if (any_skipped && (!found || skipped > best))
        modelcard_warn(t->w,
                       "%s/checkpoint-%llu has no trainer_state.json (save interrupted?): "
                       "using the newest checkpoint that has one",
                       t->dir, skipped);
}

/* Load folder/name as tolerant JSON: NULL when absent (silently), a
 * symlink or broken (with a warning). */
static json_t *load_json(const struct tree *t, const char *folder, const char *name, size_t max)
{
    char rel[HS_PATH_MAX];
    if (rel_join(rel, sizeof(rel), folder, name) < 0 || !usable(t, rel))
        return NULL;
    char *data = NULL;
    size_t len = 0;
    int r = hs_tree_read(t->fd, rel, max, &data, &len, NULL);
    if (r < 0) {
        modelcard_warn(t->w, "%s/%s: ignored: %s", t->dir, rel, hs_tree_strerror(r));
        return NULL;
    }
    struct hs_err e = {0};
    json_t *j = hs_json_loads_tolerant(data, len, &e);
    free(data);
    if (!j) {
        modelcard_warn(t->w, "%s/%s: ignored: %s", t->dir, rel, e.msg);
        return NULL;
    }
    if (!json_is_object(j)) {
        modelcard_warn(t->w, "%s/%s: ignored: not a JSON object", t->dir, rel);
        json_decref(j);
        return NULL;
    }
    return j;
}

/* The first of folders[] that has name (json). */
static json_t *load_first(const struct tree *t, const char *const *folders, size_t n,
                          const char *name, size_t max)
{
    for (size_t i = 0; i < n; i++) {
        char rel[HS_PATH_MAX];
        if (!folders[i] || rel_join(rel, sizeof(rel), folders[i], name) < 0 || !usable(t, rel))
            continue;
        return load_json(t, folders[i], name, max);
    }
    return NULL;
}

static json_t *load_args(const struct tree *t, const char *const *folders, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char rel[HS_PATH_MAX];
        if (!folders[i] || rel_join(rel, sizeof(rel), folders[i], "training_args.bin") < 0 ||
            !usable(t, rel))
            continue;
        char *data = NULL;
        size_t len = 0;
        int r = hs_tree_read(t->fd, rel, ARGS_MAX, &data, &len, NULL);
        if (r < 0) {
            modelcard_warn(t->w, "%s/%s: ignored: %s", t->dir, rel, hs_tree_strerror(r));
            return NULL;
        }
        struct hs_err e = {0};
        json_t *args = NULL;
        r = modelcard_pickle_load((const unsigned char *)data, len, &args, &e);
        explicit_bzero(data, len); /* it may hold hub_token */
        free(data);
        if (r < 0) {
            modelcard_warn(t->w, "%s/%s: ignored (hyperparameters unknown): %s", t->dir, rel,
                           e.msg);
            return NULL;
        }
        return args;
    }
    return NULL;
}

int modelcard_run_read(const char *dir, struct modelcard_run *run, struct modelcard_warnings *w,
                       struct hs_err *err)
{
    memset(run, 0, sizeof(*run));
    if (snprintf(run->dir, sizeof(run->dir), "%s", dir) >= (int)sizeof(run->dir))
        return hs_err_set(err, -ENAMETOOLONG, "%s: path too long", dir);
    size_t dl = strlen(run->dir);
    while (dl > 1 && run->dir[dl - 1] == '/')
        run->dir[--dl] = '\0';
    struct tree t = {.fd = hs_tree_open_root(run->dir), .dir = run->dir, .w = w};
    if (t.fd < 0) {
        int r = t.fd;
        return hs_err_set(err, r, "%s: %s", run->dir,
                          r == -ENOTDIR ? "not a directory" : hs_tree_strerror(r));
    }

    char ckpt[HS_PATH_MAX];
    newest_checkpoint(&t, ckpt, sizeof(ckpt));
    const char *ck = ckpt[0] ? ckpt : NULL;

    /* The final state: the output dir's (written by save_state at the end),
     * else the newest checkpoint's; a broken one falls back to the next. */
    const char *cands[2] = {"", ck};
    const char *state_dir = NULL;
    bool any = false;
    for (size_t i = 0; i < 2 && !run->state; i++) {
        char rel[HS_PATH_MAX];
        if (!cands[i] || rel_join(rel, sizeof(rel), cands[i], "trainer_state.json") < 0 ||
            !usable(&t, rel))
            continue;
        any = true;
        run->state = load_json(&t, cands[i], "trainer_state.json", STATE_MAX);
        if (run->state) {
            state_dir = cands[i];
            if (hs_path_join(run->state_path, sizeof(run->state_path), run->dir, rel) < 0)
                run->state_path[0] = '\0';
        }
    }
    if (!any)
        modelcard_warn(w,
                       "%s: no trainer_state.json (nor in a checkpoint): the card has no "
                       "training results",
                       run->dir);
    if (run->state && !json_is_array(json_object_get(run->state, "log_history")))
        modelcard_warn(w, "%s: no log_history list", run->state_path);

    const char *dirs[2] = {"", ck};
    /* results beside the state used, else in the output dir (once) */
    const char *beside[2] = {state_dir ? state_dir : "", state_dir && state_dir[0] ? "" : NULL};
    run->config = load_first(&t, dirs, 2, "config.json", SMALL_MAX);
    run->adapter = load_first(&t, dirs, 2, "adapter_config.json", SMALL_MAX);
    run->results = load_first(&t, beside, 2, "eval_results.json", SMALL_MAX);
    if (!run->results) {
        run->results = load_first(&t, beside, 2, "all_results.json", SMALL_MAX);
        run->results_is_all = run->results != NULL;
    }
    run->args = load_args(&t, dirs, 2);

    if (usable(&t, "README.md")) {
        int r = hs_tree_read(t.fd, "README.md", README_MAX, &run->existing_readme,
                             &run->existing_readme_len, NULL);
        if (r < 0)
            modelcard_warn(w, "%s/README.md: cannot read the existing card: %s", run->dir,
                           hs_tree_strerror(r));
    }
    close(t.fd);
    return 0;
}

void modelcard_run_free(struct modelcard_run *run)
{
    if (!run)
        return;
    json_decref(run->state);
    json_decref(run->config);
    json_decref(run->results);
    json_decref(run->adapter);
    json_decref(run->args);
    free(run->existing_readme);
    memset(run, 0, sizeof(*run));
}
