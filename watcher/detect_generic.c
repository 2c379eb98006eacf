/*
 * detect_generic.c — the fallback layout: every top-level entry of the root
 * (a directory or a file) is one save, complete once nothing in it has been
 * written for settle and no file in it is open for writing. Used for
 * writers hubsync does not know (layout "generic").
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

static bool gen_classify(const char *path, struct watcher__match *m)
{
    const char *s = strchr(path, '/');
    size_t n = s ? (size_t)(s - path) : strlen(path);
    *m = (struct watcher__match){WATCHER_LAYOUT_GENERIC, n, s != NULL, -1};
    return n > 0;
}

static bool gen_is_marker(const char *rel)
{
    (void)rel;
    return false;
}

static enum watcher__check gen_check(struct watcher__probe *pr)
{
    struct stat st;
    if (lstat(pr->folder, &st) != 0 || !(S_ISDIR(st.st_mode) || S_ISREG(st.st_mode))) {
        snprintf(pr->why, sizeof(pr->why), "gone");
        return WCHECK_GONE;
    }
    pr->is_dir = S_ISDIR(st.st_mode);
    return WCHECK_COMPLETE;
}

const struct watcher__layout_ops watcher__layout_generic = {
    .id = WATCHER_LAYOUT_GENERIC,
    .name = "generic",
    .rule = WRULE_SETTLE,
    .classify = gen_classify,
    .is_marker = gen_is_marker,
    .check = gen_check,
};
