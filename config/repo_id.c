/*
 * repo_id.c — client-side checks of the names hubsync sends to the Hub:
 * repo ids exactly as huggingface_hub's validate_repo_id (utils/_validators.py,
 * see docs/hub-protocol.md) and branch names by git's
 * check-ref-format rules (the Hub stores revisions as git refs). Word
 * characters are ASCII here ([A-Za-z0-9_]); Python's \w would also accept
 * non-ASCII letters, which the Hub itself refuses. No I/O.
 */
#include "config.h"

#include <string.h>

#define REPO_NAME_MAX 96
#define REVISION_MAX  255

static bool is_word(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static bool is_part_char(char c)
{
    return is_word(c) || c == '-' || c == '.';
}

/* One part of an id: [\w.-]+ starting and ending with \w. */
static bool part_ok(const char *s, size_t n)
{
    if (n == 0 || !is_word(s[0]) || !is_word(s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_part_char(s[i]))
            return false;
    return true;
}

int config_repo_id_check(const char *id, struct hs_err *err)
{
    const char *slash = strchr(id, '/');
    if (slash && strchr(slash + 1, '/'))
        return hs_err_set(err, HS_ECONFIG,
                          "\"%s\" must be \"name\" or \"namespace/name\" (at most one '/')", id);
    const char *name = slash ? slash + 1 : id;
    size_t name_len = strlen(name);
    bool ok = part_ok(name, name_len) && name_len <= REPO_NAME_MAX;
    if (ok && slash)
        ok = part_ok(id, (size_t)(slash - id));
    if (!ok)
        return hs_err_set(err, HS_ECONFIG,
                          "\"%s\" is not a valid repo id: use letters, digits, '-', '_' or '.', "
                          "do not start or end a part with '-' or '.', and keep the name at most "
                          "%d characters",
                          id, REPO_NAME_MAX);
    if (strstr(id, "--") || strstr(id, ".."))
        return hs_err_set(err, HS_ECONFIG, "\"%s\" is not a valid repo id: it contains \"%s\"", id,
                          strstr(id, "--") ? "--" : "..");
    if (name_len >= 4 && strcmp(name + name_len - 4, ".git") == 0)
        return hs_err_set(err, HS_ECONFIG, "\"%s\" is not a valid repo id: it ends with \".git\"",
                          id);
    return 0;
}

int config_revision_check(const char *rev, struct hs_err *err)
{
    size_t n = strlen(rev);
    const char *why = NULL;
    if (n == 0)
        why = "it is empty";
    else if (n > REVISION_MAX)
        why = "it is longer than 255 characters";
    else if (strcmp(rev, "@") == 0)
        why = "\"@\" alone is not a branch name";
    else if (rev[0] == '/' || rev[n - 1] == '/')
        why = "it starts or ends with '/'";
    else if (rev[0] == '-')
        why = "it starts with '-'";
    else if (rev[n - 1] == '.')
        why = "it ends with '.'";
    else if (n >= 5 && strcmp(rev + n - 5, ".lock") == 0)
        why = "it ends with \".lock\"";
    else if (strstr(rev, "..") || strstr(rev, "//") || strstr(rev, "@{"))
        why = "it contains \"..\", \"//\" or \"@{\"";
    else {
        for (const char *p = rev; *p && !why; p++) {
            unsigned char c = (unsigned char)*p;
            if (c < 0x20 || c == 0x7f || strchr(" ~^:?*[\\", c))
                why = "it contains a space, a control character or one of ~^:?*[\\";
            else if (c == '.' && (p == rev || p[-1] == '/'))
                why = "a component starts with '.'";
        }
    }
    if (why)
        return hs_err_set(err, HS_ECONFIG, "\"%s\" is not a valid branch name: %s", rev, why);
    return 0;
}
