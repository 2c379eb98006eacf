/*
 * common.h — the small pieces every hubsync folder shares: error codes,
 * logging, secret redaction, bounded buffers, path helpers, the watched-tree
 * readers, the tolerant JSON reader for files Python wrote, and time.
 *
 * This folder depends on nothing else in hubsync. Functions return 0 or a
 * negative errno (or a negative HS_E* project code); hs_strerror() names both.
 * Only daemon/ decides policy and logs; the libraries below it fill a
 * caller-provided message buffer instead (see struct hs_err).
 */
#ifndef HUBSYNC_COMMON_H
#define HUBSYNC_COMMON_H

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>

/* ---- errors ------------------------------------------------------------ */

/* Project error codes, below every errno value. */
enum {
    HS_EBASE = -10000,
    HS_ECONFIG = -10001,  /* configuration is invalid */
    HS_EPROTO = -10002,   /* a server answered something we cannot use */
    HS_EHTTP = -10003,    /* an HTTP request failed with a status code */
    HS_EAUTH = -10004,    /* the token is missing, invalid or lacks access */
    HS_ECHANGED = -10005, /* a file changed while it was being read */
    /* -10006: retired (HS_ENOTIMPL, never returned); not reused */
    HS_EREFUSED = -10007, /* the Hub refused the request for good: retrying the
                           * same request cannot succeed (a 4xx other than
                           * 408/409/412/429, an invalid path); err->msg carries
                           * the Hub's code, message and request id */
    HS_ENOTREG = -10008,  /* not a regular file (FIFO, device, socket) where one
                           * was expected (common/tree.c) */
};

const char *hs_strerror(int err);

/* A caller-provided message buffer filled by library code on failure. */
#define HS_ERR_MAX 1024
struct hs_err {
    int code;
    char msg[HS_ERR_MAX];
};

/* Set err->code and format err->msg (truncated safely); returns code, so
 * `return hs_err_set(err, -ENOENT, "...")` reads naturally. err may be NULL. */
int hs_err_set(struct hs_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- logging ----------------------------------------------------------- */

enum hs_log_level { HS_LOG_ERROR = 0, HS_LOG_WARN, HS_LOG_INFO, HS_LOG_DEBUG };

/* Parse "error" | "warn" | "warning" | "info" | "debug"; -EINVAL otherwise. */
void hs_log_set_level(enum hs_log_level level);

/* Where log lines go. The default sink writes "hubsync: level: message" to
 * stderr. The daemon installs a journald or file sink. Every line passes
 * through the secret scrubber (hs_secret_register) before any sink sees it. */
typedef void (*hs_log_sink_fn)(enum hs_log_level level, const char *line, void *userdata);
void hs_log_set_sink(hs_log_sink_fn fn, void *userdata);
/* The default (stderr) sink: "HH:MM:SS " before each line when timestamps
 * (`run`, `daemon`); on a terminal each line clears the current one first
 * (a trainer's progress bar). Call once, before logging from threads. */
void hs_log_stderr_style(bool timestamps);

void hs_log(enum hs_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void hs_vlog(enum hs_log_level level, const char *fmt, va_list ap);
#define hs_log_error(...) hs_log(HS_LOG_ERROR, __VA_ARGS__)
#define hs_log_warn(...)  hs_log(HS_LOG_WARN, __VA_ARGS__)
#define hs_log_info(...)  hs_log(HS_LOG_INFO, __VA_ARGS__)
#define hs_log_debug(...) hs_log(HS_LOG_DEBUG, __VA_ARGS__)

/* ---- secrets ----------------------------------------------------------- */

/* Register a secret (the token) so that any log line containing it is
 * rewritten with "hf_***" before reaching a sink. At most a few secrets;
 * registering the same value twice is harmless. Returns -ENOSPC when full. */
int hs_secret_register(const char *secret);
void hs_secret_clear_all(void);

/* Replace every registered secret in buf (in place, NUL-terminated). */
void hs_secret_scrub(char *buf);

/* The one way to print a token: "hf_***" (or "***" when it does not start
 * with hf_), never a character more. */
const char *hs_token_redacted(const char *token);

/* Copy url into out (size n) with the password of a userinfo part replaced:
 * "https://user:pw@host/x" -> "https://user:***@host/x" (only "***" before
 * the '@' when there is no ':'). Anything else is copied unchanged (truncated to
 * fit). The one way to print an endpoint or proxy URL. Returns out. */
char *hs_url_redact(const char *url, char *out, size_t n);
/* Replace every copy of url in buf (NUL-terminated, shrinks only) by its
 * redacted form: an error message naming an endpoint with a password. */
void hs_url_redact_in(char *buf, size_t n, const char *url);

/* Overwrite memory in a way the compiler may not elide, then free(). */
void hs_free_secret(char *s);

/* ---- bounded buffer ---------------------------------------------------- */

/* A growable byte buffer that refuses to grow past `max` (-E2BIG). Data is
 * always NUL-terminated for convenience (the NUL is not counted in len). */
struct hs_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max;
};

void hs_buf_init(struct hs_buf *b, size_t max);
int hs_buf_append(struct hs_buf *b, const void *data, size_t len);
int hs_buf_printf(struct hs_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void hs_buf_reset(struct hs_buf *b);
void hs_buf_free(struct hs_buf *b);

/* ---- paths ------------------------------------------------------------- */

#define HS_PATH_MAX 4096

/* Join base and rel into out (size n) with exactly one '/'. -ENAMETOOLONG
 * when it does not fit. */
int hs_path_join(char *out, size_t n, const char *base, const char *rel);

/* True when rel is a safe relative path: not empty, not absolute, no "."
 * or ".." component, no empty component, no NUL or control characters.
 * Use before joining anything that came from outside under a root. */
bool hs_path_is_safe_relative(const char *rel);

/* Like hs_path_join, but refuses (-EINVAL) a rel that could escape base. */
int hs_path_join_under(char *out, size_t n, const char *base, const char *rel);

/* Length of the valid UTF-8 sequence at s (1 for ASCII), 0 when it is not
 * one (overlongs, surrogates and code points past U+10FFFF are invalid):
 * the one UTF-8 check (Hub repo paths, names the watcher reports). */
size_t hs_utf8_len(const unsigned char *s);

/* mkdir -p with the given mode for created components. */
int hs_mkdir_p(const char *path, unsigned mode);

/* Read a whole small file (at most max bytes, else -EFBIG) into a new
 * NUL-terminated heap buffer. */
int hs_read_file(const char *path, size_t max, char **out, size_t *out_len);

/* ---- zip archives (zip.c) ---------------------------------------------- */

/* n bytes at p as a little-endian number (n <= 8). */
uint64_t hs_le(const unsigned char *p, size_t n);
/* An end-of-central-directory record ("PK\5\6") found in buf, the last n
 * bytes of an archive (the record is in the last 22 + 65535 bytes). */
struct hs_zip_end {
    size_t at; /* its offset in buf */
    uint16_t n_entries;
    uint32_t cd_size, cd_off; /* the central directory, offsets in the archive */
    bool zip64;               /* cd fields saturated: the zip64 record holds them */
    bool zip64_locator;       /* ... and the zip64 locator precedes the record */
};
/* The candidate record before offset *pos of buf (start with *pos = n),
 * last first: true with *e filled and *pos = its offset, false when there
 * is none. A signature can occur inside a comment or data: callers check
 * the record against the archive and ask again. */
bool hs_zip_end_prev(const unsigned char *buf, size_t n, size_t *pos, struct hs_zip_end *e);

/* ---- reading a watched tree (tree.c) ---------------------------------- */

/* Everything hubsync reads under a watched root goes through these: the root
 * is opened O_DIRECTORY|O_NOFOLLOW, each component below it relative to its
 * parent's descriptor with O_NOFOLLOW, and a file must be a regular file.
 * Errors: -ELOOP for a symlink anywhere below the root (or the root itself),
 * -ENOTDIR, -EISDIR, HS_ENOTREG (FIFO, device, socket), -EINVAL for an unsafe
 * rel (hs_path_is_safe_relative), -errno. hs_tree_strerror() words them.
 * Descriptors are O_CLOEXEC; the caller closes them. */
int hs_tree_open_root(const char *path); /* a directory fd, or -errno */
int hs_tree_open_dir(int dirfd, const char *rel);
/* A regular file opened O_RDONLY, its fstat in st (may be NULL): the
 * identity (st_dev, st_ino) of what will actually be read. */
int hs_tree_open(int dirfd, const char *rel, struct stat *st);
/* lstat of rel below dirfd (components before the last not followed). */
int hs_tree_lstat(int dirfd, const char *rel, struct stat *st);
/* hs_tree_open + read the whole file, at most max bytes (else -EFBIG), into
 * a new NUL-terminated buffer; st as hs_tree_open. */
int hs_tree_read(int dirfd, const char *rel, size_t max, char **out, size_t *out_len,
                 struct stat *st);
/* Read fd to its end, at most max bytes (-EFBIG); as hs_read_file. */
int hs_read_fd(int fd, size_t max, char **out, size_t *out_len);
const char *hs_tree_strerror(int err);

/* The one recursive walk of a tree (the watcher's listings and poll scans,
 * the final push's listing, `hubsync push`): directories are opened
 * relative to their parent's descriptor with O_NOFOLLOW, and a symlink is
 * reported as HS_WALK_LINK, never followed: a walk cannot leave the tree.
 * No depth limit: each level holds one descriptor; a level that cannot be
 * opened (EMFILE, EACCES, turned into a symlink: -ELOOP) goes to dir_error. */
enum hs_walk_type { HS_WALK_REG, HS_WALK_DIR, HS_WALK_LINK, HS_WALK_OTHER };
struct hs_walk_entry {
    const char *rel;  /* prefix/…/name ("name" for an empty prefix) */
    const char *name; /* the last component */
    int dirfd;        /* the directory holding it, open during the call */
    unsigned depth;   /* 0: an entry of the walk's start directory */
    enum hs_walk_type type;
    struct stat st; /* its lstat when the walk was asked to (.stat), or had to */
};
#define HS_WALK_PRUNE 1 /* visit's answer for a directory not to descend into */
struct hs_walk {
    /* Each entry but "." and ".." (strcmp order per directory with .sorted).
     * A directory is descended into when visit returns 0 (HS_WALK_PRUNE
     * skips it); < 0 stops the walk with that value. */
    int (*visit)(const struct hs_walk_entry *e, void *ud);
    /* A directory below the start that cannot be opened or listed (err is
     * -errno; one that vanished meanwhile is not reported). 0 skips it,
     * < 0 stops the walk. NULL: skipped quietly. */
    int (*dir_error)(const char *rel, int err, void *ud);
    /* Optional: a directory once its entries were walked (postorder);
     * < 0 stops the walk. */
    int (*leave)(const struct hs_walk_entry *e, void *ud);
    void *ud;
    bool sorted;
    bool stat; /* lstat every entry (else only where d_type is unknown) */
};
/* Walk below the directory dirfd (not consumed), naming entries under
 * prefix ("" for none). 0, the first error a callback returned, -ENOMEM,
 * -ENAMETOOLONG, or -errno when dirfd itself cannot be listed. */
int hs_tree_walk(int dirfd, const char *prefix, const struct hs_walk *w);

/* Remove name (a file, a symlink itself, or a directory with everything in
 * it) from the directory dirfd, working on descriptors: a symlink met on the
 * way is unlinked, never followed, so nothing outside name is touched. A
 * missing name is success. name is one component. 0 or the first -errno. */
int hs_rm_tree_at(int dirfd, const char *name);
/* The same for a path of hubsync's own (its parent directory is opened as
 * given; only what is below the last component is protected). */
int hs_rm_tree(const char *path);

/* Write data to path atomically: tmp file in the same directory, fsync,
 * rename, fsync of the directory (its failure is returned too: the rename
 * may not be durable). 0 or -errno; the tmp file is removed on failure. */
int hs_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode);

/* The same with options; o NULL: mode 0600, defaults below. The one atomic
 * write of hubsync (the journal's files, resume files, cards). */
struct hs_atomic_opts {
    unsigned mode;
    const char *tmp_suffix; /* NULL: ".tmp.<pid>" */
    bool no_sync; /* no fsync of file and directory: a file rewritten very often whose loss
                     at a power cut is harmless (`hubsync push`'s resume file) */
    /* test hooks (NULL: none): pwrite replaces pwrite(2); before_rename
     * returning true stops before the rename with -ECANCELED and leaves the
     * tmp file (a simulated crash) */
    ssize_t (*pwrite)(int fd, const void *buf, size_t n, off_t off);
    bool (*before_rename)(void);
};
int hs_write_file_atomic_opt(const char *path, const void *data, size_t len,
                             const struct hs_atomic_opts *o);

/* Write all of data at off (EINTR retried, a short write continued); wr
 * replaces pwrite(2) when not NULL (test hooks). 0 or -errno (-EIO when
 * nothing could be written). */
int hs_pwrite_all(int fd, const void *data, size_t len, off_t off,
                  ssize_t (*wr)(int fd, const void *buf, size_t n, off_t off));

/* fsync a directory (after a rename or unlink in it). 0 or -errno. */
int hs_fsync_dir(const char *dir);

/* ---- tolerant JSON (files Python wrote: trainer_state.json...) ---------- */

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

/* ---- environment knobs (env.c) --------------------------------------------- */

/* A HUBSYNC_* number from the environment; dflt when unset, empty, not a
 * whole non-negative decimal number, or out of range. */
uint64_t hs_env_u64(const char *name, uint64_t dflt);
unsigned hs_env_uint(const char *name, unsigned dflt);

/* ---- time -------------------------------------------------------------- */

/* One time unit everywhere: microseconds. */
typedef uint64_t hs_usec_t;
#define HS_USEC_PER_SEC  UINT64_C(1000000)
#define HS_USEC_PER_MSEC UINT64_C(1000)
hs_usec_t hs_now_monotonic(void);
hs_usec_t hs_now_realtime(void);

/* ---- threads that must react at once (thread.c) ----------------------- */

/* hubsync runs at a lower CPU and I/O priority than the training beside it
 * (daemon/priority.c), except the threads on the path from "the trainer
 * closed a file" to "its hard link is taken": the event loop, the inotify
 * reader and the watcher's protect lane. Each of them calls
 * hs_thread_keep_priority() itself (once; _end() before it exits) and the
 * lowering skips it. They do little CPU work: hashing, reading files for
 * uploads, snapshots and log compression run on the other threads. */
void hs_thread_keep_priority(void);
void hs_thread_keep_priority_end(void);
bool hs_thread_priority_kept(long tid);

/* ---- units (units.c) --------------------------------------------------- */

/* A byte count for people: "512 B", "858.4 MiB" (binary units). */
void hs_format_bytes(uint64_t bytes, char *out, size_t n);

/* ---- misc -------------------------------------------------------------- */

#define HS_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static inline void hs_freep(void *p)
{
    free(*(void **)p);
}
#define _hs_cleanup_free_ __attribute__((cleanup(hs_freep)))

#endif
