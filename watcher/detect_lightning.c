/*
 * detect_lightning.c — PyTorch Lightning's ModelCheckpoint
 * (docs/trainer-layouts.md §2.10): one file per save, `*.ckpt` anywhere
 * below the root (lightning_logs/version_N/checkpoints/epoch=E-step=S.ckpt,
 * last.ckpt…).
 * Lightning ≥ 2.4 renames a finished temp file into place (the rename is
 * the marker); older versions and cross-filesystem moves write in place
 * (the close after writing is the marker). `last.ckpt` as a symlink
 * (save_last="link") is never a save: its target is one already.
 */
#include "internal.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static bool light_classify(const char *path, struct watcher__match *m)
{
    size_t n = strlen(path);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (n < 6 || strcmp(path + n - 5, ".ckpt") != 0 || strlen(base) < 6)
        return false;
    *m = (struct watcher__match){WATCHER_LAYOUT_LIGHTNING, n, false, -1};
    return true;
}

static bool light_is_marker(const char *rel)
{
    return rel[0] == 0; /* the file itself closed or renamed into place */
}

/* "name=value" pairs in the file name, e.g. epoch=3-step=120.ckpt */
static int64_t name_value(const char *base, const char *key)
{
    size_t k = strlen(key);
    for (const char *p = base; (p = strstr(p, key)); p++) {
        if ((p == base || p[-1] == '-' || p[-1] == '_') && p[k] == '=') {
            const char *d = p + k + 1;
            size_t n = strspn(d, "0123456789");
            return watcher__parse_num(d, n);
        }
    }
    return -1;
}

/* torch.save writes a zip archive front to back and its end-of-central-
 * directory record last: a file written in place (older Lightning, a move
 * across filesystems) is complete only once that record is there and
 * points at a directory that ends where it starts. Under polling there is
 * no close to wait for, and a writer descheduled mid-save (a loaded
 * machine) leaves a file that looks quiet. A file that is not a zip (the
 * legacy pickle format) is taken as it is. 1 complete, 0 not yet, < 0
 * unreadable. */
static int zip_complete(const char *path, off_t size, char *why, size_t why_len)
{
    enum { EOCD = 22, TAIL = EOCD + 65535 };
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    unsigned char head[4], tail[TAIL];
    size_t n = size < (off_t)TAIL ? (size_t)size : TAIL;
    off_t base = size - (off_t)n;
    int rc = -1;
    if (pread(fd, head, 4, 0) != 4 || memcmp(head, "PK\3\4", 4) != 0) {
        rc = 1; /* empty, or not a zip: nothing to check */
    } else if (pread(fd, tail, n, base) == (ssize_t)n) {
        rc = 0;
        struct hs_zip_end e;
        for (size_t pos = n; !rc && hs_zip_end_prev(tail, n, &pos, &e);)
            rc = e.zip64 ? e.zip64_locator
                         : (off_t)e.cd_off + (off_t)e.cd_size == base + (off_t)e.at;
        if (!rc)
            snprintf(why, why_len, "zip archive without its end record yet (being written)");
    }
    close(fd);
    return rc;
}

static enum watcher__check light_check(struct watcher__probe *pr)
{
    struct stat st;
    if (lstat(pr->folder, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(pr->why, sizeof(pr->why), "not a regular file");
        return WCHECK_GONE; /* deleted, or a symlink (save_last="link") */
    }
    int z = zip_complete(pr->folder, st.st_size, pr->why, sizeof(pr->why));
    if (z == 0)
        return WCHECK_INCOMPLETE;
    if (z < 0 && !pr->settled) {
        snprintf(pr->why, sizeof(pr->why), "cannot read it to check it is complete");
        return WCHECK_UNSURE; /* quiet for settle, then taken with a warning */
    }
    const char *base = strrchr(pr->folder, '/');
    base = base ? base + 1 : pr->folder;
    pr->step = name_value(base, "step");
    int64_t e = name_value(base, "epoch");
    pr->epoch = e >= 0 ? (double)e : -1;
    return WCHECK_COMPLETE;
}

const struct watcher__layout_ops watcher__layout_lightning = {
    .id = WATCHER_LAYOUT_LIGHTNING,
    .name = "lightning",
    .rule = WRULE_MARKER,
    .classify = light_classify,
    .is_marker = light_is_marker,
    .check = light_check,
};
