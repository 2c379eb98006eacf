/*
 * pattern.c — huggingface_hub's path pattern dialect and its include /
 * exclude filter.
 *
 * huggingface_hub filters with Python's fnmatch on the repo-relative path
 * ('/' separators; fnmatch's normcase is the identity on POSIX, so matching
 * is case-sensitive), after appending '*' to a pattern that ends in '/'
 * (utils/_paths.py: filter_repo_objects, _add_wildcard_to_directories).
 * Python's fnmatch.translate gives: '*' any run of characters, '/'
 * included; '?' any one character; "[seq]" and "[!seq]" with a-z ranges, a
 * ']' right after '[' or "[!" taken literally, '^' first taken literally,
 * reversed ranges matching nothing; an unclosed '[' is a literal '['; no
 * backslash escapes. Since every token but '*' consumes exactly one
 * character, the classic greedy match with one backtrack point for the last
 * '*' is exact and linear in practice. This file does no I/O.
 */
#include "config.h"

#include <string.h>

const char *const config_always_excluded[] = {".hubsync/", ".git/", ".cache/huggingface/", NULL};

/* Length of the bracket expression starting at p ('['), including the
 * closing ']', or 0 when it is not closed (then '[' is literal). */
static size_t class_len(const char *p)
{
    size_t j = 1;
    if (p[j] == '!')
        j++;
    if (p[j] == ']')
        j++;
    while (p[j] && p[j] != ']')
        j++;
    return p[j] == ']' ? j + 1 : 0;
}

/* Does c match the bracket expression p[0..len) ("[...]")? */
static bool class_match(const char *p, size_t len, unsigned char c)
{
    size_t i = 1, end = len - 1;
    bool negate = false;
    if (p[i] == '!') {
        negate = true;
        i++;
    }
    bool hit = false;
    while (i < end) {
        unsigned char lo = (unsigned char)p[i];
        /* "a-z" is a range unless the '-' is the last member; a '-' that
         * starts the set or follows a range is a literal member. */
        if (i + 2 < end && p[i + 1] == '-') {
            unsigned char hi = (unsigned char)p[i + 2];
            if (lo <= c && c <= hi)
                hit = true;
            i += 3;
        } else {
            if (lo == c)
                hit = true;
            i++;
        }
    }
    return hit != negate;
}

/* Match pattern p against the whole of s. */
static bool match_from(const char *p, const char *s)
{
    const char *star_p = NULL, *star_s = NULL;
    while (*s) {
        if (*p == '*') {
            while (*p == '*')
                p++;
            if (!*p)
                return true;
            star_p = p;
            star_s = s;
            continue;
        }
        if (*p == '?') {
            p++;
            s++;
            continue;
        }
        if (*p == '[') {
            size_t l = class_len(p);
            if (l) {
                if (class_match(p, l, (unsigned char)*s)) {
                    p += l;
                    s++;
                    continue;
                }
                goto backtrack;
            }
            /* unclosed: literal '[' */
        }
        if (*p && *p == *s) {
            p++;
            s++;
            continue;
        }
    backtrack:
        if (!star_p)
            return false;
        p = star_p;
        s = ++star_s;
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

bool config_pattern_match(const char *pattern, const char *path)
{
    size_t n = strlen(pattern);
    if (n > 0 && pattern[n - 1] == '/') {
        /* "dir/" means "dir/" + "*": the folder's contents, at any depth. */
        char stack[512];
        char *buf = n + 2 <= sizeof(stack) ? stack : malloc(n + 2);
        if (!buf)
            return false;
        memcpy(buf, pattern, n);
        buf[n] = '*';
        buf[n + 1] = '\0';
        bool r = match_from(buf, path);
        if (buf != stack)
            free(buf);
        return r;
    }
    return match_from(pattern, path);
}

bool config_path_allowed(const char *path, const char *const *include, size_t n_include,
                         const char *const *exclude, size_t n_exclude)
{
    if (n_include > 0) {
        bool any = false;
        for (size_t i = 0; i < n_include && !any; i++)
            any = config_pattern_match(include[i], path);
        if (!any)
            return false;
    }
    for (size_t i = 0; i < n_exclude; i++)
        if (config_pattern_match(exclude[i], path))
            return false;
    return true;
}

bool config_path_always_excluded(const char *path)
{
    /* Any component sequence equal to one of the folders, at any depth, and
     * the folder itself: huggingface_hub ignores ".git", ".git/ *",
     * "* /.git", "** /.git/ **" and the same for .cache/huggingface. */
    for (size_t k = 0; config_always_excluded[k]; k++) {
        const char *d = config_always_excluded[k];
        size_t dl = strlen(d) - 1; /* without the trailing '/' */
        for (const char *c = path; c; c = strchr(c, '/') ? strchr(c, '/') + 1 : NULL) {
            if (strncmp(c, d, dl) == 0 && (c[dl] == '/' || c[dl] == '\0'))
                return true;
        }
    }
    return false;
}
