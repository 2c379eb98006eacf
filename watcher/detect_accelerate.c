/*
 * detect_accelerate.c — Accelerate's `save_state` folders
 * (docs/trainer-layouts.md §2.10): `checkpoints/checkpoint_<i>` (automatic
 * naming, i is the save counter), or `checkpoint_<i>`, `epoch_<E>`,
 * `step_<N>` (the no_trainer example scripts), at most two levels below the
 * root. There is no completion marker: every process writes
 * `random_states_<rank>.pkl` near the end, so the save is complete when all
 * W of them exist, nothing is open for writing, and marker_quiet has passed
 * (custom_checkpoint_*.pkl may follow the random states).
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

static int64_t acc_number(const char *s, size_t n, double *epoch, int64_t *step)
{
    static const char *const pre[] = {"checkpoint_", "epoch_", "step_"};
    for (size_t i = 0; i < HS_ARRAY_SIZE(pre); i++) {
        size_t k = strlen(pre[i]);
        if (n > k && !memcmp(s, pre[i], k)) {
            int64_t v = watcher__parse_num(s + k, n - k);
            if (v >= 0 && i == 1 && epoch)
                *epoch = (double)v;
            if (v >= 0 && i == 2 && step)
                *step = v;
            return v;
        }
    }
    return -1;
}

static bool acc_classify(const char *path, struct watcher__match *m)
{
    const char *p = path;
    size_t off = 0;
    for (int depth = 0; depth < 3; depth++) {
        const char *s = strchr(p, '/');
        size_t n = s ? (size_t)(s - p) : strlen(p);
        int64_t v = acc_number(p, n, NULL, NULL);
        if (v >= 0) {
            *m = (struct watcher__match){WATCHER_LAYOUT_ACCELERATE, off + n, true, v};
            return true;
        }
        if (!s)
            return false;
        off += n + 1;
        p = s + 1;
    }
    return false;
}

static bool acc_is_marker(const char *rel)
{
    size_t n = strlen(rel);
    return !strchr(rel, '/') && !strncmp(rel, "random_states_", 14) && n > 18 &&
           !strcmp(rel + n - 4, ".pkl");
}

static enum watcher__check acc_check(struct watcher__probe *pr)
{
    const char *folder = pr->folder;
    struct stat st;
    if (lstat(folder, &st) != 0 || !S_ISDIR(st.st_mode))
        return WCHECK_GONE;
    unsigned w = pr->world ? pr->world : 1;
    for (unsigned r = 0; r < w; r++) {
        char name[64];
        snprintf(name, sizeof(name), "random_states_%u.pkl", r);
        if (!watcher__file_exists(folder, name)) {
            snprintf(pr->why, sizeof(pr->why), "%s missing (world size %u)", name, w);
            return WCHECK_INCOMPLETE;
        }
    }
    const char *last = strrchr(folder, '/');
    last = last ? last + 1 : folder;
    acc_number(last, strlen(last), &pr->epoch, &pr->step);
    return WCHECK_COMPLETE;
}

const struct watcher__layout_ops watcher__layout_accelerate = {
    .id = WATCHER_LAYOUT_ACCELERATE,
    .name = "accelerate",
    .rule = WRULE_MARKER_QUIET,
    .classify = acc_classify,
    .is_marker = acc_is_marker,
    .check = acc_check,
};
