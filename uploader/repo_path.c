/*
 * repo_path.c — the one rule for which repo paths the Hub can store, and how
 * such a name is printed. Every caller that turns a local name into a repo
 * path (uploader_push, `hubsync push`, the daemon's plans) asks this file, so
 * a name is skipped the same way wherever it comes from, before any request.
 *
 * The rule (uploader/README.md, "Names the Hub cannot store"): huggingface_hub's
 * client-side validation of path_in_repo (no "." / ".." component, nothing
 * under a ".git/" or ".cache/" folder), what the Hub answers 400 "Invalid
 * path" for (a backslash), and what no git tree or JSON body can carry
 * faithfully (invalid UTF-8, control characters, empty components). It does
 * not know about include/exclude patterns or ignore files.
 */
#include "uploader.h"

#include <stdio.h>
#include <string.h>

static const char *component_refusal(const char *seg, size_t len)
{
    if (len == 0)
        return "it has an empty component (a leading, doubled or trailing '/')";
    if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
        return "it has a \".\" or \"..\" component";
    if (len == 4 && memcmp(seg, ".git", 4) == 0)
        return "files under a \".git/\" folder cannot be stored in a Hub repo";
    if (len == 6 && memcmp(seg, ".cache", 6) == 0)
        return "files under a \".cache/\" folder are refused by huggingface_hub (its upload "
               "metadata lives there)";
    return NULL;
}

const char *uploader_repo_path_refusal(const char *path)
{
    if (!path || !*path)
        return "it is empty";
    if (path[0] == '/')
        return "it is absolute";
    if (strlen(path) > HS_PATH_MAX - 1)
        return "it is longer than 4095 bytes";
    const unsigned char *s = (const unsigned char *)path;
    const char *seg = path;
    for (;;) {
        if (*s == '/' || *s == 0) {
            const char *why = component_refusal(seg, (size_t)((const char *)s - seg));
            if (why)
                return why;
            if (*s == 0)
                return NULL;
            seg = (const char *)s + 1;
            s++;
            continue;
        }
        if (*s < 0x20 || *s == 0x7f)
            return "it contains a control character (a newline, a tab…)";
        if (*s == '\\')
            return "it contains a backslash, which the Hub refuses (400 Invalid path)";
        size_t n = hs_utf8_len(s);
        if (n == 0)
            return "it is not valid UTF-8";
        s += n;
    }
}

void uploader_repo_path_escape(const char *path, char *out, size_t n)
{
    if (n == 0)
        return;
    size_t k = 0;
    const unsigned char *s = (const unsigned char *)(path ? path : "");
    while (*s) {
        size_t len = hs_utf8_len(s);
        bool plain = len > 1 || (len == 1 && *s >= 0x20 && *s != 0x7f && *s != '\\' && *s != '"');
        size_t need = plain ? len : 4;
        if (k + need + 1 > n) {
            if (n >= 4) { /* mark the cut */
                k = k + 4 <= n ? k : n - 4;
                memcpy(out + k, "...", 3);
                k += 3;
            }
            break;
        }
        if (plain) {
            memcpy(out + k, s, len);
            k += len;
            s += len;
        } else {
            k += (size_t)snprintf(out + k, n - k, "\\x%02x", *s);
            s++;
        }
    }
    out[k] = 0;
}
