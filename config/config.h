/*
 * config.h — the public interface of config/: the JSON configuration of
 * docs/design.md read into typed structs, HF_* environment and
 * token resolution as huggingface_hub does it, huggingface_hub's path
 * pattern dialect. (The tolerant JSON reader for files the Trainer wrote
 * is common.h's.) Other folders include only this header. config/ does no I/O beyond
 * reading the files it is asked to read.
 */
#ifndef HUBSYNC_CONFIG_H
#define HUBSYNC_CONFIG_H

#include "common.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

/* ---- environment and token (huggingface_hub semantics) ------------------ */

/* Environment lookup: getenv() by default; tests and `run` may pass their
 * own. Returns NULL for an unset variable. */
typedef const char *(*config_getenv_fn)(const char *name);

/* The Hub endpoint: configured (when not NULL) >
 * https://hub-ci.huggingface.co when HUGGINGFACE_CO_STAGING is truthy
 * (huggingface_hub lets staging mode override HF_ENDPOINT) > HF_ENDPOINT >
 * https://huggingface.co. Every trailing '/' is stripped; the result must be
 * an http:// or https:// URL with a host (HS_ECONFIG otherwise; an empty
 * HF_ENDPOINT included). Offline mode (config_check_online()) is refused with
 * HS_ECONFIG: an uploader cannot work offline. *out is a new string
 * (free()). The _env variant takes an env lookup (NULL: getenv). */
int config_resolve_endpoint(const char *configured, char **out, struct hs_err *err);
/* HS_ECONFIG (err says which variable) when HF_HUB_OFFLINE — or, when that
 * is unset or empty, TRANSFORMERS_OFFLINE — is truthy. Every command that
 * uploads checks it; config_load() does not, so that offline tools
 * (`hubsync card`) can read the config. */
int config_check_online(config_getenv_fn env, struct hs_err *err);
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
 * huggingface_hub's token file, which is ~/.cache/huggingface_staging/token
 * in staging mode, else HF_TOKEN_PATH when set, else $HF_HOME/token, else
 * $XDG_CACHE_HOME/huggingface/token, else ~/.cache/huggingface/token ('~'
 * and $VARS expanded as Python does; empty variables count as unset).
 * Values are cleaned as huggingface_hub does (\r and \n removed, surrounding
 * whitespace stripped); an empty value counts as none and the next source is
 * tried — except a configured token_file, which must exist, be readable,
 * not be accessible to "others" (mode & 007) and hold a token (HS_ECONFIG or
 * -errno otherwise). -ENOENT with a message naming every place looked at
 * when there is none. *out is a new string: free it with hs_free_secret().
 * The caller registers it with hs_secret_register(). The _env variant also
 * says which source won and where (a path or "$HF_TOKEN"; never the
 * token); source and where may be NULL. On success err->msg is "" or, when
 * the token came from a huggingface_hub token file other users may access
 * (mode & 007; used, unlike such a token_file), a warning saying so, naming
 * the file and `chmod 600` (err->code stays 0). */
int config_resolve_token(const char *inline_token, const char *token_file, char **out,
                         struct hs_err *err);
int config_resolve_token_env(const char *inline_token, const char *token_file, config_getenv_fn env,
                             char **out, enum config_token_source *source, char *where,
                             size_t where_len, struct hs_err *err);

/* True for huggingface_hub's truthy strings: 1, ON, YES, TRUE (any case). */
bool config_env_truthy(const char *value);

/* ---- patterns (huggingface_hub dialect) -------------------------------- */

/* fnmatch of a repo-relative path ('/' separators) as Python's
 * fnmatch.fnmatchcase: '*' matches any run of characters INCLUDING '/',
 * '?' one character, [seq], [!seq] with ranges; an unclosed '[' is literal.
 * A backslash is a path separator in both pattern and path (current
 * huggingface_hub normalises them to '/'), never an escape. A pattern ending
 * in '/' means the whole folder (pattern + '*'). Case-sensitive. */
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

/* ---- the config file (docs/design.md "Config file (JSON)") ------------------ */

enum config_strategy {
    CONFIG_STRATEGY_END = 0,
    CONFIG_STRATEGY_EVERY_SAVE,
    CONFIG_STRATEGY_CHECKPOINT,
    CONFIG_STRATEGY_ALL_CHECKPOINTS,
};
enum config_layout {
    CONFIG_LAYOUT_AUTO = 0,
    CONFIG_LAYOUT_TRAINER,
    CONFIG_LAYOUT_ACCELERATE,
    CONFIG_LAYOUT_LIGHTNING,
    CONFIG_LAYOUT_DEEPSPEED,
    CONFIG_LAYOUT_GENERIC,
};
enum config_watch_mode { CONFIG_WATCH_AUTO = 0, CONFIG_WATCH_INOTIFY, CONFIG_WATCH_POLL };
enum config_existing { CONFIG_EXISTING_LATEST = 0, CONFIG_EXISTING_ALL, CONFIG_EXISTING_NONE };
enum config_card_mode { CONFIG_CARD_MERGE = 0, CONFIG_CARD_OVERWRITE, CONFIG_CARD_OFF };

/* The tag of a save under tag_saves: pattern with every "{step}" replaced
 * by step. -ENAMETOOLONG when it does not fit n. */
int config_tag_name(const char *pattern, long long step, char *out, size_t n);

/* The spelling in the config file ("every_save", "trainer", ...). */
const char *config_strategy_name(enum config_strategy v);
const char *config_layout_name(enum config_layout v);
const char *config_watch_mode_name(enum config_watch_mode v);
const char *config_existing_name(enum config_existing v);
const char *config_card_mode_name(enum config_card_mode v);

/* Where a value came from, for defaults that depend on the environment. */
enum config_origin {
    CONFIG_FROM_DEFAULT = 0, /* built-in default */
    CONFIG_FROM_FILE,        /* set in the config file */
    CONFIG_FROM_ENV,         /* taken from the environment */
};

/* A list of strings; a key that accepts "a string or a list of strings"
 * is normalised to a list. */
struct config_strlist {
    char **v;
    size_t n;
};

/* The card's "Framework versions" beside Transformers (which comes from
 * config.json), as the Trainer lists what its process imported. */
struct config_framework_versions {
    char *pytorch, *datasets, *tokenizers; /* NULL: not listed */
};

struct config_model_card {
    enum config_card_mode mode;           /* "merge" */
    char *model_name;                     /* NULL: name part of hub_model_id */
    struct config_strlist base_model;     /* string or list */
    struct config_strlist datasets;       /* string or list; alias "dataset_tags" (the
                                             Trainer's create_model_card name) */
    struct config_strlist dataset_args;   /* string or list, the i-th for the i-th tag:
                                             model-index dataset.args */
    struct config_strlist dataset_config; /* string or list, the i-th for the i-th tag:
                                             model-index dataset.config */
    char *dataset_name;                   /* NULL */
    struct config_strlist language;       /* string or list */
    char *license;                        /* NULL */
    struct config_strlist tags;           /* string or list */
    char *task;                           /* NULL */
    struct config_strlist metrics_order;  /* list */
    /* "framework_versions"; under `run`, the ones it leaves out from the
     * environment (config_apply_run_env) */
    struct config_framework_versions framework_versions;
};

struct config_job {
    char *name;                        /* required, unique, [A-Za-z0-9._-]+ */
    char *watch;                       /* required, absolute (a relative one resolved) */
    bool watch_relative;               /* written relative to the working directory */
    char *hub_model_id;                /* required, "name" or "namespace/name" */
    enum config_strategy hub_strategy; /* every_save */
    bool private_repo;                 /* "private": false */
    char *revision;                    /* "main" */
    enum config_layout layout;         /* auto */
    enum config_watch_mode watch_mode; /* auto */
    hs_usec_t poll_interval_usec;      /* poll_interval_seconds: 10 */
    hs_usec_t settle_usec;             /* settle_seconds: 30 */
    hs_usec_t marker_quiet_usec;       /* marker_quiet_seconds: 2 */
    unsigned world_size;               /* 1, or WORLD_SIZE, see config_apply_run_env() */
    enum config_origin world_size_origin;
    struct config_strlist include;             /* ["*"] */
    struct config_strlist exclude;             /* [] (always-excluded folders come on top) */
    bool supersede;                            /* true */
    char *spool_dir;                           /* <watch>/.hubsync/spool */
    enum config_origin spool_dir_origin;       /* DEFAULT or FILE */
    uint64_t spool_max_bytes;                  /* spool_max_gb * 1e9; 0 = no cap */
    double spool_max_gb;                       /* as written */
    long pid;                                  /* 0 = none */
    char *pid_file;                            /* NULL = none */
    hs_usec_t finish_after_idle_usec;          /* 0 = off */
    enum config_existing existing_checkpoints; /* latest */
    bool lost_saves_fail_run;                  /* true: a lost save makes `run` exit 1 */
    bool finish_failed_runs;                   /* false: a failed CMD gets no finish commit */
    hs_usec_t final_push_timeout_usec;         /* final_push_timeout_minutes: 30 */
    char *tag_saves;               /* NULL = off; the tag pattern ("step-{step}" for true) */
    unsigned hub_keep_checkpoints; /* all_checkpoints: checkpoint-N kept on the Hub; 0 = all */
    struct config_model_card model_card;
};

struct config {
    char *path;     /* the file as named by the caller */
    char *endpoint; /* resolved: config > HF_ENDPOINT > default */
    enum config_origin endpoint_origin;
    char *token; /* inline "token" (a secret; wiped on free), or the
                    resolved token after config_token_load() */
    enum config_token_source token_source;
    char *token_where;   /* where the token was found (a path or a variable) */
    char *token_warning; /* config_token_load: a huggingface_hub token file other
                            users may read ("... run chmod 600 on it"), or NULL;
                            the caller says it once */
    char *token_file;    /* NULL */
    char *state_dir;     /* $STATE_DIRECTORY > $XDG_STATE_HOME/hubsync >
                            $HOME/.local/state/hubsync */
    enum config_origin state_dir_origin;
    char *ca_file;                          /* NULL: the system store */
    unsigned max_parallel_uploads;          /* 8, 1..64 */
    double bandwidth_limit_mbps;            /* 0 = unlimited, megabits per second */
    uint64_t bandwidth_limit_bytes_per_sec; /* the same in bytes/s (0 = unlimited) */
    enum hs_log_level log_level;            /* info */
    char *log_file;                         /* NULL: stderr or journald */
    bool check_hub_before_run;              /* true: `run` checks the token first */
    struct config_job *jobs;                /* at least one */
    size_t n_jobs;
};

/* Every problem found, each a full line ("FILE:LINE:COL: msg" for syntax
 * errors, "FILE: json.path: msg" for the rest), in document order. */
struct config_errors {
    char **v;
    size_t n;
};
#define CONFIG_ERRORS_MAX 200 /* further problems are summarised in one line */
void config_errors_free(struct config_errors *e);

/* Read, validate and complete a config file. Reports ALL problems at once
 * in errs (which the caller zero-initialises and frees with
 * config_errors_free()). Returns 0 with *out set, HS_ECONFIG when the file is
 * invalid (errs lists why), or -errno when it cannot be read (errs holds one
 * line saying so). Environment-dependent defaults (endpoint, state_dir) are
 * resolved with env (NULL: getenv); offline mode is not checked here (see
 * config_check_online()). An inline "token" is registered with
 * hs_secret_register(). Reads only the file itself (and stats it for the
 * inline-token mode rule). */
int config_load(const char *path, struct config **out, struct config_errors *errs);
int config_load_env(const char *path, config_getenv_fn env, struct config **out,
                    struct config_errors *errs);

/* Same from text; mode is the file's permission bits for the inline-token
 * rule (pass 0600 when there is no file). */
int config_load_text(const char *name, const char *text, size_t len, unsigned mode,
                     config_getenv_fn env, struct config **out, struct config_errors *errs);

/* For `hubsync run`: jobs without "world_size" take WORLD_SIZE from the
 * environment CMD gets (env), when it is a positive integer; the card's
 * framework versions the job's model_card.framework_versions does not set
 * come from HUBSYNC_PYTORCH_VERSION, HUBSYNC_DATASETS_VERSION and
 * HUBSYNC_TOKENIZERS_VERSION when set and not empty. HS_ECONFIG with err
 * filled when WORLD_SIZE is set but not a positive integer. */
int config_apply_run_env(struct config *cfg, config_getenv_fn env, struct hs_err *err);

/* The training command cmd (argv, NULL-terminated; NULL: none) starts a
 * multi-process launcher (torchrun, accelerate, deepspeed, srun, mpirun,
 * mpiexec, python -m torch.distributed.run/launch) while job j's world size
 * is 1: one sentence naming the job and the launcher and saying what to set
 * goes to out (size n) and true is returned. The rule of `run` (a warning
 * at start) and `check-config FILE -- CMD` (launcher.c). */
bool config_launcher_warning(char *const *cmd, const struct config_job *j, char *out, size_t n);

/* Resolve the token (config_resolve_token_env order) into cfg->token,
 * cfg->token_source and cfg->token_where, and register it with
 * hs_secret_register(). */
int config_token_load(struct config *cfg, config_getenv_fn env, struct hs_err *err);

/* Frees everything (the token with hs_free_secret()). Accepts NULL; returns NULL. */
struct config *config_free(struct config *cfg);

/* Look a job up by name; NULL when absent. */
const struct config_job *config_job_find(const struct config *cfg, const char *name);

/* The closest candidate to word (edit distance with transpositions, case
 * folded), or NULL when none is close enough to be a plausible typo. */
const char *config_did_you_mean(const char *word, const char *const *candidates, size_t n);

/* "error", "warn", "info", "debug" (the log_level words). */
const char *config_log_level_name(enum hs_log_level v);
/* A log_level word ("warning" is read as "warn" too) into *out; false for
 * anything else. The one reading of log_level and $HUBSYNC_LOG_LEVEL. */
bool config_log_level_parse(const char *word, enum hs_log_level *out);

#endif
