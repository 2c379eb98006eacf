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
 * backslash escapes: current huggingface_hub turns every '\\' into '/' in
 * both pattern and path before matching (_normalize_separators), and so do
 * we. Since every token but '*' consumes exactly one
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

/* huggingface_hub's _normalize_separators, one character at a time. */
static inline unsigned char sep(char c)
{
    return c == '\\' ? '/' : (unsigned char)c;
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
        unsigned char lo = sep(p[i]);
        /* "a-z" is a range unless the '-' is the last member; a '-' that
         * starts the set or follows a range is a literal member. */
        if (i + 2 < end && p[i + 1] == '-') {
            unsigned char hi = sep(p[i + 2]);
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

/* Match pattern p against the whole of s; dir_star appends an implicit
 * '*' to p (a pattern that ended in '/'). */
static bool match_from(const char *p, const char *s, bool dir_star)
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
                if (class_match(p, l, sep(*s))) {
                    p += l;
                    s++;
                    continue;
                }
                goto backtrack;
            }
            /* unclosed: literal '[' */
        }
        if (!*p && dir_star)
            return true; /* the implicit trailing '*' takes the rest */
        if (*p && sep(*p) == sep(*s)) {
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
    /* "dir/" means "dir/" + "*": the folder's contents, at any depth. */
    size_t n = strlen(pattern);
    bool dir = n > 0 && sep(pattern[n - 1]) == '/';
    return match_from(pattern, path, dir);
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
