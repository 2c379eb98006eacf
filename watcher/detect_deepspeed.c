/*
 * detect_deepspeed.c — DeepSpeed's engine checkpoints
 * (`engine.save_checkpoint(save_dir)`, docs/trainer-layouts.md §2.10): tag
 * folders `global_stepN` at the root or one level down, with
 * `save_dir/latest` naming the newest tag. `latest` is written by global
 * rank 0 after its own files but before the other ranks finish, so it is
 * the marker and the shard count is the proof: one
 * `*zero_pp_rank_<r>_mp_rank_*_optim_states.pt` per data-parallel rank (the
 * world size here) and the model states. The same check serves Trainer
 * checkpoints that contain an engine checkpoint.
 */
#include "internal.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>

static int64_t tag_number(const char *s, size_t n)
{
    if (n <= 11 || memcmp(s, "global_step", 11) != 0)
        return -1;
    return watcher__parse_num(s + 11, n - 11);
}

bool watcher__deepspeed_consistent(const char *save_dir, const char *tag, int64_t number,
                                   unsigned world, char *why, size_t why_len)
{
    char p[HS_PATH_MAX], buf[256];
    char *text = NULL;
    size_t len = 0;
    if (hs_path_join(p, sizeof(p), save_dir, "latest") < 0 ||
        hs_read_file(p, 255, &text, &len) < 0) {
        snprintf(why, why_len, "latest not readable");
        return false;
    }
    while (len && (text[len - 1] == '\n' || text[len - 1] == ' ' || text[len - 1] == '\r'))
        text[--len] = 0;
    snprintf(buf, sizeof(buf), "%s", text);
    free(text);
    int64_t latest = tag_number(buf, strlen(buf));
    if (!tag) {
        tag = buf; /* inside a Trainer checkpoint: the tag latest names */
        if (latest >= 0 && number >= 0 && latest != number) {
            snprintf(why, why_len, "latest names %s, not global_step%lld", buf, (long long)number);
            return false;
        }
    } else if (strcmp(buf, tag) != 0 && (latest < 0 || latest < number)) {
        snprintf(why, why_len, "latest names %s, not %s yet", buf, tag);
        return false;
    }
    if (!hs_path_is_safe_relative(tag) || hs_path_join(p, sizeof(p), save_dir, tag) < 0)
        return false;
    DIR *d = opendir(p);
    if (!d) {
        snprintf(why, why_len, "%s missing", tag);
        return false;
    }
    unsigned shards = 0, models = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (strstr(de->d_name, "zero_pp_rank_") && n > 16 &&
            !strcmp(de->d_name + n - 16, "_optim_states.pt"))
            shards++;
        if (n > 16 && !strcmp(de->d_name + n - 16, "_model_states.pt"))
            models++;
    }
    closedir(d);
    unsigned want = world ? world : 1;
    if (models == 0 || shards < want) {
        snprintf(why, why_len, "%s: %u model states, %u/%u optimizer shards", tag, models, shards,
                 want);
        return false;
    }
    return true;
}

static bool ds_classify(const char *path, struct watcher__match *m)
{
    return watcher__classify_dir(path, WATCHER_LAYOUT_DEEPSPEED, tag_number, m);
}

static bool ds_is_marker(const char *rel)
{
    (void)rel;
    return false; /* the marker, latest, lives beside the tag: see detect.c */
}

static enum watcher__check ds_check(struct watcher__probe *pr)
{
    char folder[HS_PATH_MAX];
    struct stat st;
    if (snprintf(folder, sizeof(folder), "%s", pr->folder) >= (int)sizeof(folder) ||
        lstat(folder, &st) != 0 || !S_ISDIR(st.st_mode) || !strrchr(folder, '/'))
        return WCHECK_GONE;
    char *slash = strrchr(folder, '/');
    *slash = 0;
    if (!watcher__deepspeed_consistent(folder, slash + 1, pr->number, pr->world, pr->why,
                                       sizeof(pr->why)))
        return WCHECK_INCOMPLETE;
    pr->step = pr->number;
    return WCHECK_COMPLETE;
}

const struct watcher__layout_ops watcher__layout_deepspeed = {
    .id = WATCHER_LAYOUT_DEEPSPEED,
    .name = "deepspeed",
    .rule = WRULE_MARKER,
    .classify = ds_classify,
    .is_marker = ds_is_marker,
    .marker_file = "latest",
    .check = ds_check,
};
