/*
 * config.h — the public interface of config/: the JSON configuration of
 * ../shared/docs/DESIGN.md read into typed structs, HF_* environment and
 * token resolution as huggingface_hub does it, huggingface_hub's path
 * pattern dialect, and a tolerant JSON reader for files the Trainer wrote.
 * Other folders include only this header. config/ does no I/O beyond
 * reading the files it is asked to read.
 */
#ifndef HUBSYNC_CONFIG_H
#define HUBSYNC_CONFIG_H

#include "common.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

/* ---- tolerant JSON (trainer files) ------------------------------------- */

/* Parse JSON that may contain the bare literals NaN, Infinity, -Infinity
 * (Python's json.dumps default). They become the JSON strings "NaN",
 * "Infinity", "-Infinity"; read numbers with hs_json_number(). Returns a
 * new reference, or NULL with err filled ("LINE:COL: reason"; columns after
 * a rewritten literal on the same line are shifted by two per literal). */
json_t *hs_json_loads_tolerant(const char *text, size_t len, struct hs_err *err);

/* Same for a file of at most max_bytes (-EFBIG past it); err names the path. */
json_t *hs_json_load_tolerant(const char *path, size_t max_bytes, struct hs_err *err);

/* A number from a tolerant document: a real, an integer, or one of the
 * strings "NaN", "Infinity", "-Infinity". False for anything else. */
bool hs_json_number(const json_t *v, double *out);

/* ---- environment and token (huggingface_hub semantics) ------------------ */

/* Environment lookup: getenv() by default; tests and `run` may pass their
 * own. Returns NULL for an unset variable. */
typedef const char *(*config_getenv_fn)(const char *name);

/* The Hub endpoint: configured (when not NULL) > HF_ENDPOINT >
 * https://hub-ci.huggingface.co when HUGGINGFACE_CO_STAGING is truthy >
 * https://huggingface.co. Every trailing '/' is stripped; the result must be
 * an http:// or https:// URL with a host (HS_ECONFIG otherwise). When
 * HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is truthy (1/ON/YES/TRUE, any
 * case) it refuses with HS_ECONFIG: an uploader cannot work offline.
 * *out is a new string (free()). */
int config_resolve_endpoint(const char *configured, char **out, struct hs_err *err);
int config_resolve_endpoint_env(const char *configured, config_getenv_fn env, char **out,
                                struct hs_err *err);

/* Where a resolved token came from (for messages; never the token). */
enum config_token_source {
    CONFIG_TOKEN_NONE = 0,
    CONFIG_TOKEN_INLINE,     /* "token" in the config file */
    CONFIG_TOKEN_FILE,       /* "token_file" in the config file */
    CONFIG_TOKEN_ENV,        /* HF_TOKEN */
    CONFIG_TOKEN_ENV_LEGACY, /* HUGGING_FACE_HUB_TOKEN */
    CONFIG_TOKEN_HF_FILE,    /* huggingface_hub's token file */
};

/* The token: inline_token > token_file > HF_TOKEN > HUGGING_FACE_HUB_TOKEN >
 * huggingface_hub's token file, which is HF_TOKEN_PATH when set, else
 * $HF_HOME/token, else $XDG_CACHE_HOME/huggingface/token, else
 * ~/.cache/huggingface/token ('~' and $VARS expanded as Python does).
 * Values are cleaned as huggingface_hub does (\r and \n removed, surrounding
 * whitespace stripped); an empty value counts as none and the next source is
 * tried — except a configured token_file, which must exist, be readable,
 * not be accessible to "others" (mode & 007) and hold a token (HS_ECONFIG or
 * -errno otherwise). -ENOENT with a message naming every place looked at
 * when there is none. *out is a new string: free it with hs_free_secret().
 * The caller registers it with hs_secret_register(). */
int config_resolve_token(const char *inline_token, const char *token_file, char **out,
                         struct hs_err *err);
int config_resolve_token_env(const char *inline_token, const char *token_file, config_getenv_fn env,
                             char **out, enum config_token_source *source, char *where,
                             size_t where_len, struct hs_err *err);
const char *config_token_source_name(enum config_token_source s);

/* True for huggingface_hub's truthy strings: 1, ON, YES, TRUE (any case). */
bool config_env_truthy(const char *value);

/* ---- patterns (huggingface_hub dialect) -------------------------------- */

/* fnmatch of a repo-relative path ('/' separators) as Python's
 * fnmatch.fnmatchcase: '*' matches any run of characters INCLUDING '/',
 * '?' one character, [seq], [!seq] with ranges; an unclosed '[' is literal;
 * no backslash escapes. A pattern ending in '/' means the whole folder
 * (pattern + '*'). Case-sensitive. */
bool config_pattern_match(const char *pattern, const char *path);

/* huggingface_hub's filter_repo_objects: allowed when it matches at least one
 * include pattern (n_include == 0 means every path) and no exclude pattern. */
bool config_path_allowed(const char *path, const char *const *include, size_t n_include,
                         const char *const *exclude, size_t n_exclude);

/* The folders hubsync never uploads, at any depth: .hubsync/, .git/ and
 * .cache/huggingface/ (huggingface_hub's DEFAULT_IGNORE_PATTERNS plus our
 * spool/journal folder). True when path is one of them or inside one. */
bool config_path_always_excluded(const char *path);
extern const char *const config_always_excluded[]; /* NULL-terminated, "dir/" form */

/* ---- repo ids and revisions -------------------------------------------- */

/* huggingface_hub's validate_repo_id: "name" or "namespace/name", parts of
 * [A-Za-z0-9_.-] starting and ending with [A-Za-z0-9_], name 1..96 chars,
 * no "--" or "..", not ending in ".git". HS_ECONFIG with the reason. */
int config_repo_id_check(const char *repo_id, struct hs_err *err);

/* A branch name git and the Hub accept (git check-ref-format rules, at most
 * 255 bytes). HS_ECONFIG with the reason. */
int config_revision_check(const char *revision, struct hs_err *err);

#endif
