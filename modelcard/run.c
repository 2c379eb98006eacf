/*
 * run.c — reading a training output directory for the card: the final
 * trainer_state.json (the directory's own, else the newest checkpoint-N's),
 * config.json, eval_results.json / all_results.json, adapter_config.json,
 * training_args.bin and an existing README.md. Every file is optional;
 * a missing, truncated or hostile one becomes a warning and the card is
 * built from what is known. Does not interpret the values (card.c does).
 */
#include "modelcard_int.h"
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define STATE_MAX  (512u << 20) /* trainer_state.json of very long runs */
#define SMALL_MAX  (16u << 20)  /* config.json, results, adapter config */
#define ARGS_MAX   (16u << 20)
#define README_MAX (4u << 20)

static bool file_exists(const char *path);

/* The checkpoint-N directory under dir with the largest N that holds a
 * trainer_state.json (the Trainer's last write: a save interrupted before
 * it is skipped), or "" */
static void newest_checkpoint(const char *dir, char *out, size_t n, struct modelcard_warnings *w)
{
    out[0] = '\0';
    DIR *d = opendir(dir);
    if (!d)
        return;
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
        char path[HS_PATH_MAX];
        struct stat st;
        char state[HS_PATH_MAX];
        if (hs_path_join(path, sizeof(path), dir, e->d_name) < 0 || stat(path, &st) < 0 ||
            !S_ISDIR(st.st_mode) ||
            hs_path_join(state, sizeof(state), path, "trainer_state.json") < 0)
            continue;
        if (!file_exists(state)) {
            if (!any_skipped || v > skipped)
                skipped = v;
            any_skipped = true;
            continue;
        }
        if (!found || v > best) {
            best = v;
            found = true;
            snprintf(out, n, "%s", path);
        }
    }
    closedir(d);
    if (any_skipped && (!found || skipped > best))
        modelcard_warn(w,
                       "%s/checkpoint-%llu has no trainer_state.json (save interrupted?): "
                       "using the newest checkpoint that has one",
                       dir, skipped);
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Load dir/name as tolerant JSON: NULL when absent (silently) or broken
 * (with a warning). */
static json_t *load_json(const char *dir, const char *name, size_t max,
                         struct modelcard_warnings *w)
{
    char path[HS_PATH_MAX];
    if (!dir[0] || hs_path_join(path, sizeof(path), dir, name) < 0 || !file_exists(path))
        return NULL;
    struct hs_err e = {0};
    json_t *j = hs_json_load_tolerant(path, max, &e);
    if (!j) {
        modelcard_warn(w, "%s: ignored: %s", path, e.msg);
        return NULL;
    }
    if (!json_is_object(j)) {
        modelcard_warn(w, "%s: ignored: not a JSON object", path);
        json_decref(j);
        return NULL;
    }
    return j;
}

/* The first of dirs[] that has name (json). */
static json_t *load_first(const char *const *dirs, size_t n, const char *name, size_t max,
                          struct modelcard_warnings *w)
{
    for (size_t i = 0; i < n; i++) {
        char path[HS_PATH_MAX];
        if (!dirs[i][0] || hs_path_join(path, sizeof(path), dirs[i], name) < 0 ||
            !file_exists(path))
            continue;
        return load_json(dirs[i], name, max, w);
    }
    return NULL;
}

static json_t *load_args(const char *const *dirs, size_t n, struct modelcard_warnings *w)
{
    for (size_t i = 0; i < n; i++) {
        char path[HS_PATH_MAX];
        if (!dirs[i][0] || hs_path_join(path, sizeof(path), dirs[i], "training_args.bin") < 0 ||
            !file_exists(path))
            continue;
        char *data = NULL;
        size_t len = 0;
        int r = hs_read_file(path, ARGS_MAX, &data, &len);
        if (r < 0) {
            modelcard_warn(w, "%s: ignored: %s", path, hs_strerror(r));
            return NULL;
        }
        struct hs_err e = {0};
        json_t *args = NULL;
        r = modelcard_pickle_load((const unsigned char *)data, len, &args, &e);
        explicit_bzero(data, len); /* it may hold hub_token */
        free(data);
        if (r < 0) {
            modelcard_warn(w, "%s: ignored (hyperparameters unknown): %s", path, e.msg);
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
    struct stat st;
    if (stat(dir, &st) < 0)
        return hs_err_set(err, -errno, "%s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return hs_err_set(err, -ENOTDIR, "%s: not a directory", dir);
    if (snprintf(run->dir, sizeof(run->dir), "%s", dir) >= (int)sizeof(run->dir))
        return hs_err_set(err, -ENAMETOOLONG, "%s: path too long", dir);
    size_t dl = strlen(run->dir);
    while (dl > 1 && run->dir[dl - 1] == '/')
        run->dir[--dl] = '\0';

    char ckpt[HS_PATH_MAX];
    newest_checkpoint(run->dir, ckpt, sizeof(ckpt), w);

    /* The final state: the output dir's (written by save_state at the end),
     * else the newest checkpoint's; a broken one falls back to the next. */
    const char *cands[2] = {run->dir, ckpt};
    const char *state_dir = "";
    bool any = false;
    for (size_t i = 0; i < 2 && !run->state; i++) {
        char path[HS_PATH_MAX];
        if (!cands[i][0] || hs_path_join(path, sizeof(path), cands[i], "trainer_state.json") < 0 ||
            !file_exists(path))
            continue;
        any = true;
        run->state = load_json(cands[i], "trainer_state.json", STATE_MAX, w);
        if (run->state) {
            state_dir = cands[i];
            snprintf(run->state_path, sizeof(run->state_path), "%s", path);
        }
    }
    if (!any)
        modelcard_warn(w,
                       "%s: no trainer_state.json (nor in a checkpoint): the card has no "
                       "training results",
                       run->dir);
    if (run->state && !json_is_array(json_object_get(run->state, "log_history")))
        modelcard_warn(w, "%s: no log_history list", run->state_path);

    const char *dirs[3] = {run->dir, ckpt, ""};
    const char *beside[2] = {state_dir[0] ? state_dir : run->dir, run->dir};
    run->config = load_first(dirs, 2, "config.json", SMALL_MAX, w);
    run->adapter = load_first(dirs, 2, "adapter_config.json", SMALL_MAX, w);
    run->results = load_first(beside, 2, "eval_results.json", SMALL_MAX, w);
    if (!run->results) {
        run->results = load_first(beside, 2, "all_results.json", SMALL_MAX, w);
        run->results_is_all = run->results != NULL;
    }
    run->args = load_args(dirs, 2, w);

    char path[HS_PATH_MAX];
    if (hs_path_join(path, sizeof(path), run->dir, "README.md") == 0 && file_exists(path)) {
        int r = hs_read_file(path, README_MAX, &run->existing_readme, &run->existing_readme_len);
        if (r < 0)
            modelcard_warn(w, "%s: cannot read the existing card: %s", path, hs_strerror(r));
    }
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
