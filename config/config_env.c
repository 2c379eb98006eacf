/*
 * config_env.c — the Hub endpoint and the token, resolved from the config
 * and the HF_* environment exactly as huggingface_hub does it
 * (huggingface_hub/constants.py and utils/_auth.py): HF_ENDPOINT with every
 * trailing '/' stripped, HF_TOKEN then HUGGING_FACE_HUB_TOKEN, the token
 * file at HF_TOKEN_PATH or $HF_HOME/token with '~' and $VARS expanded,
 * tokens cleaned of \r, \n and surrounding whitespace, empty meaning none,
 * HUGGINGFACE_CO_STAGING switching endpoint and token file to staging, and
 * HF_HUB_OFFLINE refusing to work. A config value wins over the
 * environment. Deliberate differences: an empty HF_HOME, HF_TOKEN_PATH or
 * XDG_CACHE_HOME counts as unset (Python would use a path relative to the
 * working directory, or crash), and an empty HF_ENDPOINT is an error rather
 * than an unusable "" endpoint. This file reads only the token file; it
 * never logs and never puts a token in a message.
 */
#include "config_int.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOKEN_FILE_MAX (64 * 1024)

static const char *env_get(config_getenv_fn env, const char *name)
{
    return env ? env(name) : getenv(name);
}

bool config_env_truthy(const char *v)
{
    if (!v)
        return false;
    return strcasecmp(v, "1") == 0 || strcasecmp(v, "on") == 0 || strcasecmp(v, "yes") == 0 ||
           strcasecmp(v, "true") == 0;
}

/* An http(s) URL with a non-empty host. */
static bool is_http_url(const char *u)
{
    const char *rest;
    if (strncmp(u, "https://", 8) == 0)
        rest = u + 8;
    else if (strncmp(u, "http://", 7) == 0)
        rest = u + 7;
    else
        return false;
    if (*rest == '\0' || *rest == '/' || *rest == '?' || *rest == '#')
        return false;
    for (const char *p = u; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return false;
    return true;
}

int config_check_online(config_getenv_fn env, struct hs_err *err)
{
    /* `_is_true(HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE)`: a non-empty
     * HF_HUB_OFFLINE decides alone, even "0". */
    const char *off = env_get(env, "HF_HUB_OFFLINE");
    const char *off_name = "HF_HUB_OFFLINE";
    if (!off || !*off) {
        off = env_get(env, "TRANSFORMERS_OFFLINE");
        off_name = "TRANSFORMERS_OFFLINE";
    }
    if (config_env_truthy(off))
        return hs_err_set(err, HS_ECONFIG,
                          "%s=%s: offline mode is enabled, so nothing can be uploaded; unset it",
                          off_name, off);
    return 0;
}

int config_resolve_endpoint_env(const char *configured, config_getenv_fn env, char **out,
                                struct hs_err *err)
{
    *out = NULL;
    int rc = config_check_online(env, err);
    return rc < 0 ? rc : config__endpoint(configured, env, out, err);
}

int config__endpoint(const char *configured, config_getenv_fn env, char **out, struct hs_err *err)
{
    *out = NULL;

    /* huggingface_hub: HF_ENDPOINT, else the default; staging mode then
     * overrides both. The config file overrides everything. */
    const char *src = configured;
    const char *what = "endpoint";
    if (!src && config_env_truthy(env_get(env, "HUGGINGFACE_CO_STAGING"))) {
        src = "https://hub-ci.huggingface.co";
        what = "staging endpoint";
    }
    if (!src) {
        src = env_get(env, "HF_ENDPOINT");
        what = "HF_ENDPOINT";
    }
    if (!src) {
        src = "https://huggingface.co";
        what = "default endpoint";
    }
    size_t n = strlen(src);
    while (n > 0 && src[n - 1] == '/')
        n--;
    char *u = strndup(src, n);
    if (!u)
        return hs_err_set(err, -ENOMEM, "out of memory");
    if (!is_http_url(u)) {
        char shown[HS_PATH_MAX];
        hs_err_set(err, HS_ECONFIG, "%s \"%s\" is not an http:// or https:// URL with a host", what,
                   hs_url_redact(u, shown, sizeof(shown)));
        free(u);
        return HS_ECONFIG;
    }
    *out = u;
    return 0;
}

int config_resolve_endpoint(const char *configured, char **out, struct hs_err *err)
{
    return config_resolve_endpoint_env(configured, NULL, out, err);
}

/* huggingface_hub's _clean_token: drop every \r and \n, strip surrounding
 * whitespace; NULL when nothing is left. */
static char *clean_token(const char *s, size_t len)
{
    char *t = malloc(len + 1);
    if (!t)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] != '\r' && s[i] != '\n')
            t[n++] = s[i];
    t[n] = '\0';
    size_t a = 0;
    while (a < n && isspace((unsigned char)t[a]))
        a++;
    while (n > a && isspace((unsigned char)t[n - 1]))
        n--;
    if (n == a) {
        hs_free_secret(t);
        return NULL;
    }
    memmove(t, t + a, n - a);
    t[n - a] = '\0';
    return t;
}

/* Python's os.path.expanduser then os.path.expandvars, for the paths
 * huggingface_hub expands: a leading "~" or "~/" becomes $HOME; $NAME and
 * ${NAME} become their value, unset names are left as written. */
static int expand_path(const char *in, config_getenv_fn env, char *out, size_t n)
{
    struct hs_buf b;
    hs_buf_init(&b, n - 1);
    int rc = 0;
    const char *p = in;
    if (p[0] == '~' && (p[1] == '/' || p[1] == '\0')) {
        const char *home = env_get(env, "HOME");
        if (home) {
            rc = hs_buf_printf(&b, "%s", home);
            p++;
        }
    }
    while (rc == 0 && *p) {
        if (*p == '$') {
            const char *s = p + 1;
            bool brace = *s == '{';
            if (brace)
                s++;
            const char *e = s;
            while (isalnum((unsigned char)*e) || *e == '_')
                e++;
            if (e > s && (!brace || *e == '}')) {
                char name[256];
                size_t l = (size_t)(e - s);
                if (l < sizeof(name)) {
                    memcpy(name, s, l);
                    name[l] = '\0';
                    const char *v = env_get(env, name);
                    if (v) {
                        rc = hs_buf_printf(&b, "%s", v);
                        p = brace ? e + 1 : e;
                        continue;
                    }
                }
            }
        }
        rc = hs_buf_append(&b, p, 1);
        p++;
    }
    if (rc == 0 && b.len == 0)
        rc = hs_buf_append(&b, "", 0);
    if (rc == 0)
        memcpy(out, b.data, b.len + 1);
    hs_buf_free(&b);
    return rc < 0 ? -ENAMETOOLONG : 0;
}

/* huggingface_hub's HF_TOKEN_PATH. */
static int hf_token_path(config_getenv_fn env, char *out, size_t n)
{
    char raw[HS_PATH_MAX];
    /* Staging mode keeps its token apart: ~/.cache/huggingface_staging/token. */
    if (config_env_truthy(env_get(env, "HUGGINGFACE_CO_STAGING")))
        return expand_path("~/.cache/huggingface_staging/token", env, out, n);
    const char *tp = env_get(env, "HF_TOKEN_PATH");
    if (tp && *tp)
        return expand_path(tp, env, out, n);
    const char *hf_home = env_get(env, "HF_HOME");
    char home[HS_PATH_MAX];
    if (hf_home && *hf_home) {
        if ((size_t)snprintf(raw, sizeof(raw), "%s", hf_home) >= sizeof(raw))
            return -ENAMETOOLONG;
    } else {
        const char *xdg = env_get(env, "XDG_CACHE_HOME");
        int w = (xdg && *xdg) ? snprintf(raw, sizeof(raw), "%s/huggingface", xdg)
                              : snprintf(raw, sizeof(raw), "~/.cache/huggingface");
        if (w < 0 || (size_t)w >= sizeof(raw))
            return -ENAMETOOLONG;
    }
    int rc = expand_path(raw, env, home, sizeof(home));
    if (rc < 0)
        return rc;
    return hs_path_join(out, n, home, "token");
}

/* The one permission rule for token files: no access at all for other
 * users (mode & 007). hubsync's own token_file breaking it is refused;
 * huggingface_hub's files (HF_TOKEN_PATH, $HF_HOME/token,
 * ~/.cache/huggingface/token), which `huggingface-cli login` may have
 * written with the umask, are used with a warning in warn. */
static bool others_may_access(const struct stat *st)
{
    return (st->st_mode & 007) != 0;
}

/* Read and clean a token file. 0 with *out (maybe NULL when empty),
 * -ENOENT when absent, other -errno on read errors. */
static int read_token_file(const char *path, bool strict, char **out, struct hs_err *warn,
                           struct hs_err *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return hs_err_set(err, HS_ECONFIG, "token file %s is not a regular file", path);
    }
    if (others_may_access(&st) && strict) {
        close(fd);
        return hs_err_set(err, HS_ECONFIG,
                          "token file %s is accessible to other users (mode %04o); "
                          "run chmod o-rwx on it",
                          path, (unsigned)(st.st_mode & 07777));
    }
    if (others_may_access(&st))
        hs_err_set(warn, 0,
                   "token file %s is accessible to other users (mode %04o): anyone on this "
                   "machine can read the token; run chmod 600 on it",
                   path, (unsigned)(st.st_mode & 07777));
    char *data = NULL;
    size_t len = 0;
    int rc = hs_read_fd(fd, TOKEN_FILE_MAX, &data, &len);
    close(fd);
    if (rc < 0)
        return rc;
    *out = clean_token(data, len);
    hs_free_secret(data);
    return 0;
}

int config_resolve_token_env(const char *inline_token, const char *token_file, config_getenv_fn env,
                             char **out, enum config_token_source *source, char *where,
                             size_t where_len, struct hs_err *err)
{
    enum config_token_source dummy_src;
    char dummy_where[1];
    if (!source)
        source = &dummy_src;
    if (!where || where_len == 0) {
        where = dummy_where;
        where_len = sizeof(dummy_where);
    }
    *out = NULL;
    *source = CONFIG_TOKEN_NONE;
    where[0] = '\0';
    if (err)
        err->msg[0] = '\0'; /* stays "" on success unless a warning is due */

    if (inline_token) {
        char *t = clean_token(inline_token, strlen(inline_token));
        if (!t)
            return hs_err_set(err, HS_ECONFIG, "config \"token\" is empty");
        *out = t;
        *source = CONFIG_TOKEN_INLINE;
        snprintf(where, where_len, "the config file");
        return 0;
    }
    if (token_file) {
        char *t = NULL;
        int rc = read_token_file(token_file, true, &t, NULL, err);
        if (rc == HS_ECONFIG)
            return rc;
        if (rc < 0)
            return hs_err_set(err, rc, "token_file %s: %s", token_file, hs_strerror(rc));
        if (!t)
            return hs_err_set(err, HS_ECONFIG, "token_file %s is empty", token_file);
        *out = t;
        *source = CONFIG_TOKEN_FILE;
        snprintf(where, where_len, "%s", token_file);
        return 0;
    }
    /* `os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")`:
     * an empty HF_TOKEN falls through to the legacy name. */
    const char *v = env_get(env, "HF_TOKEN");
    enum config_token_source s = CONFIG_TOKEN_ENV;
    if (!v || !*v) {
        v = env_get(env, "HUGGING_FACE_HUB_TOKEN");
        s = CONFIG_TOKEN_ENV_LEGACY;
    }
    if (v && *v) {
        char *t = clean_token(v, strlen(v));
        if (t) {
            *out = t;
            *source = s;
            snprintf(where, where_len, "%s",
                     s == CONFIG_TOKEN_ENV ? "$HF_TOKEN" : "$HUGGING_FACE_HUB_TOKEN");
            return 0;
        }
    }
    char path[HS_PATH_MAX];
    int rc = hf_token_path(env, path, sizeof(path));
    if (rc < 0)
        return hs_err_set(err, rc, "token file path: %s", hs_strerror(rc));
    char *t = NULL;
    struct hs_err warn = {0};
    rc = read_token_file(path, false, &t, &warn, err);
    if (rc == HS_ECONFIG)
        return rc;
    if (rc < 0 && rc != -ENOENT && rc != -ENOTDIR)
        return hs_err_set(err, rc, "token file %s: %s", path, hs_strerror(rc));
    if (t) {
        *out = t;
        *source = CONFIG_TOKEN_HF_FILE;
        snprintf(where, where_len, "%s", path);
        if (warn.msg[0])
            hs_err_set(err, 0, "%s", warn.msg);
        return 0;
    }
    return hs_err_set(err, -ENOENT,
                      "no Hub token: HF_TOKEN and HUGGING_FACE_HUB_TOKEN are unset or empty, and "
                      "%s %s. Log in with `hf auth login` (it writes that file), or set HF_TOKEN",
                      path, rc < 0 ? "does not exist" : "is empty");
}

int config_resolve_token(const char *inline_token, const char *token_file, char **out,
                         struct hs_err *err)
{
    return config_resolve_token_env(inline_token, token_file, NULL, out, NULL, NULL, 0, err);
}
