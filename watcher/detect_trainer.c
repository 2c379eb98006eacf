/*
 * detect_trainer.c — the transformers Trainer layout (docs/trainer-layouts.md
 * §2.3–2.9): saves are folders `checkpoint-N` at the root or one level down
 * (hyperparameter search's `run-<trial>/`); `tmp-checkpoint-*` staging
 * folders are ignored and a rename into `checkpoint-N` counts as "folder
 * appeared". A save is complete when rank 0's last write, trainer_state.json,
 * is closed, parses (NaN/Infinity allowed) with global_step == N, and the
 * file set is consistent: every shard of a weights index, adapter_config.json
 * beside adapter weights, rng_state_0..W-1.pth for W ranks, and the DeepSpeed
 * engine checkpoint (latest + one optimizer shard per rank) when present.
 * The quiet period after the marker is detect.c's business.
 */
#include "internal.h"

#include <dirent.h>
#include <math.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#define STATE_MAX (64u << 20) /* trainer_state.json: log_history can be long */

int64_t watcher__parse_num(const char *s, size_t n)
{
    if (n == 0 || n > 18)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

bool watcher__classify_dir(const char *path, enum watcher_layout id,
                           int64_t (*number)(const char *s, size_t n), struct watcher__match *m)
{
    const char *a = path, *s1 = strchr(a, '/');
    size_t n0 = s1 ? (size_t)(s1 - a) : strlen(a);
    int64_t num = number(a, n0);
    if (num >= 0) {
        *m = (struct watcher__match){id, n0, true, num};
        return true;
    }
    if (!s1)
        return false;
    const char *b = s1 + 1, *s2 = strchr(b, '/');
    size_t n1 = s2 ? (size_t)(s2 - b) : strlen(b);
    num = number(b, n1);
    if (num < 0)
        return false;
    *m = (struct watcher__match){id, n0 + 1 + n1, true, num};
    return true;
}

bool watcher__file_exists(const char *folder, const char *rel)
{
    char p[HS_PATH_MAX];
    struct stat st;
    return hs_path_join_under(p, sizeof(p), folder, rel) == 0 && lstat(p, &st) == 0 &&
           S_ISREG(st.st_mode);
}

/* Is the component [s, s+n) "checkpoint-<digits>"? */
static int64_t ckpt_number(const char *s, size_t n)
{
    if (n <= 11 || memcmp(s, "checkpoint-", 11) != 0)
        return -1;
    return watcher__parse_num(s + 11, n - 11);
}

static bool trainer_classify(const char *path, struct watcher__match *m)
{
    return watcher__classify_dir(path, WATCHER_LAYOUT_TRAINER, ckpt_number, m);
}

static bool trainer_is_marker(const char *rel)
{
    return strcmp(rel, "trainer_state.json") == 0;
}

/* Every file named in an index's weight_map exists beside it. */
static bool index_complete(const char *folder, const char *index, char *why, size_t why_len)
{
    char p[HS_PATH_MAX];
    if (hs_path_join(p, sizeof(p), folder, index) < 0)
        return false;
    struct hs_err err = {0};
    json_t *root = hs_json_load_tolerant(p, STATE_MAX, &err);
    if (!root) {
        snprintf(why, why_len, "%s does not parse", index);
        return false;
    }
    json_t *map = json_object_get(root, "weight_map");
    const char *k;
    json_t *v;
    bool ok = json_is_object(map);
    json_object_foreach(map, k, v)
    {
        const char *f = json_string_value(v);
        if (!f || !hs_path_is_safe_relative(f) || !watcher__file_exists(folder, f)) {
            snprintf(why, why_len, "%s names %s, not there yet", index, f ? f : "(null)");
            ok = false;
            break;
        }
    }
    json_decref(root);
    return ok;
}

static enum watcher__check trainer_check(struct watcher__probe *pr)
{
    const char *folder = pr->folder;
    char *why = pr->why, p[HS_PATH_MAX];
    size_t why_len = sizeof(pr->why);
    struct stat st;
    if (lstat(folder, &st) != 0 || !S_ISDIR(st.st_mode))
        return WCHECK_GONE;
    if (hs_path_join(p, sizeof(p), folder, "trainer_state.json") < 0)
        return WCHECK_GONE;
    if (lstat(p, &st) != 0) {
        snprintf(why, why_len, "no trainer_state.json");
        return WCHECK_INCOMPLETE;
    }
    /* The marker is there: a state that cannot be read (truncated, not
     * JSON, global_step not the folder's number) never gets better, so the
     * save is taken after settle of quiet with a warning, its step from
     * the folder name (UNSURE until then). */
    struct hs_err err = {0};
    char bad[256] = "";
    json_t *state = hs_json_load_tolerant(p, STATE_MAX, &err);
    double gs = -1, ep = -1;
    json_t *gsv = state ? json_object_get(state, "global_step") : NULL;
    if (!state)
        snprintf(bad, sizeof(bad), "%.200s", err.msg);
    else if (!json_is_object(state))
        snprintf(bad, sizeof(bad), "not a JSON object");
    else if (!hs_json_number(gsv, &gs) || !isfinite(gs))
        snprintf(bad, sizeof(bad), "global_step is %s, not a number",
                 !gsv                  ? "missing"
                 : json_is_string(gsv) ? "a string"
                                       : "not a finite number");
    else if (gs != (double)pr->number)
        snprintf(bad, sizeof(bad), "global_step is %.0f, not %lld as the folder name says", gs,
                 (long long)pr->number);
    /* epoch NaN/Infinity (Python's json writes them): unknown, -1 */
    if (state && hs_json_number(json_object_get(state, "epoch"), &ep) && isfinite(ep) && ep >= 0)
        pr->epoch = ep;
    json_decref(state);
    hs_usec_t m =
        (hs_usec_t)st.st_mtim.tv_sec * HS_USEC_PER_SEC + (hs_usec_t)st.st_mtim.tv_nsec / 1000;
    if (pr->settle && m + pr->settle <= hs_now_realtime())
        pr->settled = true; /* found by the first scan, written long ago */
    if (bad[0] && !pr->settled) {
        snprintf(why, why_len, "trainer_state.json: %s", bad);
        return WCHECK_UNSURE;
    }
    if (bad[0])
        snprintf(pr->warn, sizeof(pr->warn),
                 "trainer_state.json is unreadable (%s); reported after it stayed unchanged, "
                 "with step %lld from the folder name",
                 bad, (long long)pr->number);
    pr->step = pr->number;
    static const char *const indexes[] = {"model.safetensors.index.json",
                                          "pytorch_model.bin.index.json"};
    for (size_t i = 0; i < HS_ARRAY_SIZE(indexes); i++)
        if (watcher__file_exists(folder, indexes[i]) &&
            !index_complete(folder, indexes[i], why, why_len))
            return WCHECK_INCOMPLETE;
    if ((watcher__file_exists(folder, "adapter_model.safetensors") ||
         watcher__file_exists(folder, "adapter_model.bin")) &&
        !watcher__file_exists(folder, "adapter_config.json")) {
        snprintf(why, why_len, "adapter weights without adapter_config.json");
        return WCHECK_INCOMPLETE;
    }
    unsigned w = pr->world;
    for (unsigned r = 0; w > 1 && r < w; r++) {
        char name[64];
        snprintf(name, sizeof(name), "rng_state_%u.pth", r);
        if (!watcher__file_exists(folder, name)) {
            snprintf(why, why_len, "%s missing (world size %u)", name, w);
            return WCHECK_INCOMPLETE;
        }
    }
    if (watcher__file_exists(folder, "latest") &&
        !watcher__deepspeed_consistent(folder, NULL, pr->number, w, why, why_len))
        return WCHECK_INCOMPLETE;
    return WCHECK_COMPLETE;
}

const struct watcher__layout_ops watcher__layout_trainer = {
    .id = WATCHER_LAYOUT_TRAINER,
    .name = "trainer",
    .rule = WRULE_MARKER,
    .classify = trainer_classify,
    .is_marker = trainer_is_marker,
    .marker_file = "trainer_state.json",
    .check = trainer_check,
};
