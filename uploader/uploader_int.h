/*
 * uploader_int.h — internals shared by the files of uploader/ (and its unit
 * tests). Not for other folders: they include uploader.h only.
 *
 *   url.c        origin comparison (the Authorization rule), encoding helpers
 *   retry.c      backoff with jitter, Retry-After, RateLimit
 *   bandwidth.c  token bucket for the shared upload cap
 *   http_loop.c  curl multi driven by the libuv loop; requests with retries (http_int.h)
 *   http_body.c  request bodies streamed through two pool-filled buffers; the bandwidth pauses
 *   http_error.c what a failed request means (HS_EHTTP/EAUTH/EREFUSED), its message
 *   hash.c       SHA-256 (+ git SHA-1) on the thread pool
 *   hash_grow.c  hashing a file while it is written (grow_verify.c: verifying it; push_verify.c: a
 * push's) hashcache.c  the bounded, thread-safe cache of digests by file identity fileio.c opening
 * a file to read: no symlink, the identity hashed; reading part of it (preupload samples, regular
 * contents of the commit) repo_path.c  which repo paths the Hub can store (public: uploader.h)
 *   hub_api.c    Hub JSON/NDJSON bodies and response parsers
 *   state.c      resumable push state (JSON) serialise / restore
 *   lfs.c        LFS batch, basic PUT, multipart parts + completion
 *   push.c       the push state machine
 *   preupload.c  the preupload stage of the push pipeline (push_int.h)
 *   commit_body.c  the NDJSON commit body, measured and streamed off the loop
 *   tag.c        creating a tag on a commit; a 409 checked against the tag's commit
 */
#ifndef HUBSYNC_UPLOADER_INT_H
#define HUBSYNC_UPLOADER_INT_H

#include "uploader.h"

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/types.h>

/* ---- url.c ------------------------------------------------------------- */

/* True when a and b have the same scheme, host (case-insensitive) and
 * effective port. Unparsable URLs are never equal. */
bool uploader__url_same_origin(const char *a, const char *b);
/* True when url is built from endpoint: same origin and its path starts with
 * the endpoint's path. This is the only case Authorization is sent. */
bool uploader__url_is_under_endpoint(const char *url, const char *endpoint);
/* Copy url without query and fragment into out (for messages: presigned
 * URLs carry signatures). */
void uploader__url_strip_query(const char *url, char *out, size_t n);
/* Percent-encode s as one path segment ('/' encoded too). Heap string. */
char *uploader__url_encode_segment(const char *s);
/* Percent-encode a repo path keeping '/'. Heap string. */
char *uploader__url_encode_path(const char *s);
/* Base64 (standard, padded). Heap string. */
char *uploader__b64_encode(const void *data, size_t len);
/* The same into out (4 * ((len + 2) / 3) bytes, no NUL); returns that length. */
size_t uploader__b64_encode_to(const void *data, size_t len, char *out);
/* n bytes as 2n lower-case hex digits and a NUL into out. */
void uploader__hex_encode(const unsigned char *d, size_t n, char *out);
/* True, out filled, when h is exactly 2n lower-case hex digits. */
bool uploader__hex_decode(const char *h, unsigned char *out, size_t n);

/* ---- retry.c ----------------------------------------------------------- */

struct retry_policy {
    unsigned max_retries; /* retries after the first attempt */
    hs_usec_t base;       /* first backoff */
    hs_usec_t cap;        /* backoff cap */
    hs_usec_t max_wait;   /* longest server-requested wait we accept */
};

bool uploader__retry_status_retryable(long status);
bool uploader__retry_curl_retryable(CURLcode code);
/* Parse "RateLimit: "api";r=0;t=55". Returns 0 and fills remaining/reset. */
int uploader__retry_ratelimit_parse(const char *hdr, long *remaining, long *reset_seconds);
/* Parse an integer-seconds Retry-After; -1 when absent or not a number. */
long uploader__retry_after_parse(const char *hdr);
/* The wait before retry number `attempt` (0-based count of retries done):
 * >= 0 usec to retry, -1 to give up. status is 0 for transport errors, in
 * which case curl_code says which. rnd is a random 32-bit value (jitter). */
int64_t uploader__retry_delay(const struct retry_policy *p, unsigned attempt, long status,
                              CURLcode curl_code, const char *retry_after, const char *ratelimit,
                              uint32_t rnd);

/* ---- bandwidth.c ------------------------------------------------------- */

struct token_bucket {
    double rate;   /* bytes per second; 0 = unlimited */
    double burst;  /* bucket size in bytes */
    double tokens; /* available now */
    hs_usec_t last;
};
void uploader__token_bucket_init(struct token_bucket *tb, uint64_t rate, hs_usec_t now);
/* Take up to want bytes; returns what may be sent now (0 = wait). */
size_t uploader__token_bucket_take(struct token_bucket *tb, size_t want, hs_usec_t now);
/* Usec until at least min(want, burst) bytes are available. */
hs_usec_t uploader__token_bucket_wait(struct token_bucket *tb, size_t want, hs_usec_t now);

/* ---- http_loop.c ------------------------------------------------------- */

/* Identity of a file as hashed (hash.c's cache key; fileio.c checks it). */
struct hash_key {
    uint64_t dev, ino, size;
    int64_t mtime_ns, ctime_ns;
};

/* A file's digests in binary, as the cache and a push keep them (53 bytes
 * instead of 106 of hex): written as hex only where a request, a message
 * or the resume state needs it (hash.c). */
struct file_digest {
    unsigned char sha256[32];
    unsigned char sha1[20]; /* git blob id, when has_sha1 */
    bool has_sha1;
    /* Read while the file was still being written (hash_grow.c): a region
     * rewritten after it was read would not show in the identity, so the
     * push holds its commit until a second read agrees (hash_grow.c verify). */
    bool unverified;
};

struct http_loop;
struct http_request;

struct http_loop_options {
    const char *endpoint;
    const char *token;
    const char *ca_file;
    const char *user_agent;
    unsigned max_parallel;
    uint64_t bandwidth_bytes_per_sec;
    struct retry_policy retry;
    unsigned stall_seconds;
};

#define HTTP_BODY_MAX (64u * 1024 * 1024) /* largest response body we keep */

struct http_response {
    long status;
    CURLcode curl_code;
    char curl_err[CURL_ERROR_SIZE];
    struct hs_buf body;
    char *etag, *request_id, *error_message, *error_code, *retry_after, *ratelimit, *link;
    char *location, *content_range; /* downloads (download.c) */
    long http_version;              /* CURL_HTTP_VERSION_* actually used */
    long num_connects;              /* new connections this attempt needed (0: a kept-alive one) */
};

enum { HTTP_RETRY_NONE = 0, HTTP_RETRY_ALL = 1, HTTP_RETRY_RATELIMIT = 2 /* 429 only */ };

typedef void (*http_done_cb)(struct http_request *r, void *userdata);

struct http_request {
    /* Set by the caller before uploader__http_submit. */
    char method[8];
    char *url;   /* owned */
    bool auth;   /* attach Authorization: only allowed under the endpoint */
    int retry;   /* HTTP_RETRY_*: which failures the retry policy may heal */
    bool follow; /* follow redirects (API requests only) */
    /* Not idempotent (the commit POST): sent on a fresh connection. libcurl
     * silently resends a request whose reused connection died before any
     * response byte ("Connection died, retrying a fresh connect"); for a
     * request the server may already have applied that is a second commit
     * (or a 412 for our own first one). On a new connection it never does. */
    bool not_idempotent;
    const char *content_type;
    const char *accept;
    char *body; /* owned memory body, or NULL */
    size_t body_len;
    char *file_path; /* owned: body streamed from [file_off, file_off+file_len) */
    uint64_t file_off, file_len;
    /* When set, the file opened for the body must be the one hashed (dev,
     * ino, size, mtime: fileio.c), else the request fails with HS_ECHANGED
     * before a byte of it is sent. Symlinks are never followed either way. */
    bool file_check;
    struct hash_key file_key;
    /* When set (a reference the request holds, dropped when it is freed):
     * each body slot read from the file is handed to it (hash_grow.c's
     * verification of a digest hashed while the file was written). */
    struct grow_verify *verify;
    /* Or a body generated on the thread pool (the streamed commit body,
     * commit_body.c): body_fill writes the body's bytes [off, off+len) into
     * buf — offsets consecutive from 0, from 0 again on a retry, one call at a
     * time — and returns 0, or -errno / HS_ECHANGED with why filled: the
     * transfer then ends with r->error (file_err says why) before the body is
     * complete, so the server never sees a whole request. file_len is the
     * body's length (file_off 0). body_src is the caller's, not freed. */
    int (*body_fill)(void *src, uint64_t off, char *buf, size_t len, char *why, size_t why_len);
    void *body_src;
    /* Wait this long before the first attempt (a backed-off re-batch). */
    hs_usec_t delay;
    http_done_cb done;
    void *userdata;
    /* Downloads (download.c): ask "Range: bytes=range_from-" when range is
     * set, and hand a 2xx response body to sink as it arrives instead of
     * keeping it in resp.body (other statuses are kept for the message).
     * sink returns 0, or -errno to abort the transfer (r->error). A request
     * with a sink must not be retried by the loop (retry NONE): its caller
     * resumes from the bytes it has. */
    bool range;
    uint64_t range_from;
    int (*sink)(const char *data, size_t len, void *userdata);

    /* Results (valid in done). error: 0 when a response arrived (see
     * resp.status), HS_ECHANGED when the file changed under us, -ECANCELED,
     * or HS_EHTTP for a transport failure (resp.curl_code). */
    int error;
    char file_err[HS_ERR_MAX];
    struct http_response resp;
    unsigned attempts;
    uint64_t bytes_sent; /* body bytes handed to curl over all attempts */

    struct http_request_priv *priv;
};

/* opt->token may be NULL for anonymous use (downloads of public repos):
 * requests asking for auth then go without Authorization. */
int uploader__http_loop_new(uv_loop_t *loop, const struct http_loop_options *opt,
                            struct http_loop **out, struct hs_err *err);
/* Cancel every request (done runs with -ECANCELED), close handles, free the
 * loop object once libuv ran the close callbacks, then call closed. */
void uploader__http_loop_close(struct http_loop *h, void (*closed)(void *), void *userdata);

/* A new request (url is copied). Free with uploader__http_request_free (also from done). */
struct http_request *uploader__http_request_new(const char *method, const char *url);
void uploader__http_request_free(struct http_request *r);
void uploader__http_request_set_body(struct http_request *r, char *owned, size_t len,
                                     const char *ctype);
/* Queue it; runs when a transfer slot is free. -EPERM when auth is asked for a
 * URL that is not under the endpoint. */
int uploader__http_submit(struct http_loop *h, struct http_request *r);
/* Total body bytes handed to curl since the start. */
uint64_t uploader__http_loop_bytes_out(const struct http_loop *h);

/* The error code of an HTTP answer that failed: HS_EAUTH (401/403 from the
 * Hub, to_hub), HS_EHTTP (transient: 5xx, 408, 409, 412, 429) or HS_EREFUSED
 * (any other 4xx: the same request can never succeed). */
int uploader__http_status_class(long status, bool to_hub);
/* Fill err with "what: HTTP 404 (RepoNotFound): <message> [request id X]" or a
 * transport failure, never with a query string or a secret. Returns the code. */
int uploader__http_describe_failure(const struct http_request *r, const char *what,
                                    struct hs_err *err);
/* Extract the Hub's message: X-Error-Message, else JSON error/errors, else text. */
void uploader__http_error_message(const struct http_request *r, char *out, size_t n);

/* ---- hash.c ------------------------------------------------------------ */

#define HASH_SHA1_MAX_SIZE (10u * 1024 * 1024) /* git SHA-1 only for regular candidates */

/* A file whose ctime is less than this before the moment its read starts is
 * "racy" (as git's index calls it): a write in the same timestamp granule
 * (the kernel's coarse clock, ≤ 10 ms) would leave its identity unchanged,
 * so its digests are not cached; the hasher waits this long after a fresh
 * write before reading a file (hash.c; 2 s, not waited for, where time
 * stamps are whole seconds). */
#define HASH_RACY_NS (20 * 1000000ll)

/* hashcache.c (public API in uploader.h), by the internal key: fills out
 * (from_cache false) and returns true when k is cached; stores h under k. */
bool uploader__hashcache_get_key(struct uploader_hashcache *c, const struct hash_key *k,
                                 struct uploader_hash *out);
int uploader__hashcache_put_key(struct uploader_hashcache *c, const struct hash_key *k,
                                const struct uploader_hash *h);
bool uploader__hash_key_eq(const struct hash_key *a, const struct hash_key *b); /* every field */
/* The same by binary digests (a resumed push's, push.c). */
int uploader__hashcache_put_digest(struct uploader_hashcache *c, const struct hash_key *k,
                                   const struct file_digest *d);
/* hash.c: the digests of h in binary; false when they are not lower-case hex. */
bool uploader__digest_from_hash(const struct uploader_hash *h, struct file_digest *d);
/* Hex of d's SHA-256 (out of 65 bytes) / git SHA-1 (41 bytes; "" without one). */
void uploader__digest_sha256_hex(const struct file_digest *d, char *out);
void uploader__digest_sha1_hex(const struct file_digest *d, char *out);

/* fileio.c: open a file listed as regular to read it — O_NOFOLLOW|O_CLOEXEC|
 * O_NONBLOCK (left set: for pread only, which ignores it on regular files);
 * a symlink or anything but a regular file is HS_ECHANGED, and
 * when expect is given so is another dev/ino/size/mtime. Returns the fd (got
 * filled), or -errno / HS_ECHANGED with why filled ("is a symbolic link
 * now…"). */
struct stat;
int uploader__open_file(const char *path, const struct hash_key *expect, struct hash_key *got,
                        char *why, size_t why_len);
void uploader__key_from_stat(const struct stat *st, struct hash_key *k);
int uploader__key_of_fd(int fd, struct hash_key *k); /* fstat: 0 or -errno */
/* Open path as above (expect required: the file hashed) and read exactly len
 * bytes at off into buf; fewer (it shrank), or more when the read reaches
 * expect->size (it grew), is HS_ECHANGED. 0, or the error with why filled.
 * Blocking: thread pool (preupload samples, regular contents of the commit). */
int uploader__read_file(const char *path, const struct hash_key *expect, uint64_t off, void *buf,
                        size_t len, char *why, size_t why_len);

struct hasher;
int uploader__hasher_new(uv_loop_t *loop, struct uploader_hashcache *cache, unsigned parallel,
                         struct hasher **out);
/* Cancels queued work; frees once running work returned. */
void uploader__hasher_free(struct hasher *hs);
/* Bytes of one file hashed so far, after each work item (loop thread). */
typedef void (*hasher_progress_cb)(uint64_t done, void *userdata);
/* Queue path; cb runs once at the end, progress (optional) after each work
 * item but the last (not for a cache hit). */
int uploader__hasher_hash(struct hasher *hs, const char *path, uploader_hash_cb cb,
                          hasher_progress_cb progress, void *userdata);
/* The same, keeping the file's first bytes as read for its hash: when the
 * file is read and hashed (not from the cache, not shared with another
 * read, no failure), the first min(size, sample_cap) bytes are in sample
 * and *sample_len is set to that count before cb runs; else *sample_len is
 * left alone. sample and sample_len stay valid until cb (thread pool
 * writes them). */
int uploader__hasher_hash_sample(struct hasher *hs, const char *path, uploader_hash_cb cb,
                                 hasher_progress_cb progress, void *userdata, void *sample,
                                 size_t sample_cap, size_t *sample_len);
unsigned uploader__hasher_files_read(const struct hasher *hs);
uint64_t uploader__hasher_bytes_read(const struct hasher *hs); /* read and hashed, over all files */
/* The unit request bodies are read in (http_body.c's slots) and hash_grow.c
 * keeps a check value for: blocks at multiples of it. */
#define UPLOADER_BLOCK (512u * 1024)

/* Pool thread: read [*done, end) of fd through buf (HASH_READ_BUF bytes), each
 * piece into the digests given (any may be NULL) and, below sample_cap,
 * into sample (NULL: none), *done advanced. 0, -errno, or HS_ECHANGED when
 * the file ends first (why names it). */
struct XXH3_state_s;
#define HASH_READ_BUF   (1024u * 1024)
#define HASH_WORK_SLICE (16ull * 1024 * 1024) /* bytes a pool work item reads at most */
int uploader__hash_feed(int fd, char *buf, uint64_t *done, uint64_t end, EVP_MD_CTX *sha256,
                        EVP_MD_CTX *sha1, struct XXH3_state_s *check, unsigned char *sample,
                        size_t sample_cap);
/* Pool thread: key is fd's identity just taken; when its ctime is fresh, wait
 * out the racy margin (at most HASH_RACY_NS) and take it again. *racy: still
 * too fresh to cache. 0 or -errno. */
int uploader__hash_settle(int fd, struct hash_key *key, bool *racy);
/* The hasher asks hash_grow.c first for a file it would read (cache miss):
 * see uploader__grow_adopt. */
struct hash_grow;
void uploader__hasher_set_grow(struct hasher *hs, struct hash_grow *g);
/* Synchronous one-shot hash (tests, thread-pool work). */
int uploader__hash_file_sync(const char *path, struct uploader_hash *out, struct hash_key *key,
                             struct hs_err *err);

/* ---- hash_grow.c: hashing a file while it is written ------------------- */

/* The daemon follows a file of a pending checkpoint as it grows: each new
 * stretch is hashed (SHA-256 and an XXH3-128 check value) on the pool soon
 * after it is written; when the file is closed (uploader_prehash) or a hash is
 * asked for it (adopt), the rest is read, the identity settled, and the
 * digests stored in the cache marked unverified, the check value beside them.
 * Before a push commits such a digest, uploader__grow_verify reads the file
 * again (XXH3 only: memory speed) and compares. */
int uploader__grow_new(uv_loop_t *loop, struct uploader_hashcache *cache, struct hash_grow **out);
/* Cancels followers and verifications (-ECANCELED), adopted hash jobs too;
 * frees once the work on the pool returned. */
void uploader__grow_free(struct hash_grow *g);
/* Follow path (a file being written). Ignored past GROW_MAX files at once, or
 * when it is already followed. 0, or -errno when it cannot be opened. */
int uploader__grow_follow(struct hash_grow *g, const char *path);
/* The file at path was closed: when it is followed, finish its hash (true). */
bool uploader__grow_close(struct hash_grow *g, const char *path);
/* The hasher is about to read the file with identity key: when it is being
 * followed, its hash is finished now and resume(arg, cancelled) is called
 * after (the hasher then looks in the cache again); true. */
bool uploader__grow_adopt(struct hash_grow *g, const struct hash_key *key,
                          void (*resume)(void *arg, bool cancelled), void *arg);
/* Verify the unverified digest of path (identity key; grow_verify.c): begin
 * takes the check values kept for it (NULL with *err HS_ECHANGED when they
 * are gone — the digest is then dropped from the cache — or -ENOMEM); the
 * same identity begun again before end is the same verification. Requests
 * that read the file's bytes hand them to uploader__grow_verify_bytes (any
 * thread; blocks wholly inside [off, off+len) are compared). end reads the
 * blocks not compared yet and calls cb once: 0 and the digest is verified in
 * the cache; HS_ECHANGED (message naming the file) and it is dropped. A
 * verification lives while referenced (begin and ref take one, unref drops
 * it; end holds one until cb). */
typedef void (*grow_verify_cb)(int status, const struct hs_err *err, void *userdata);
struct grow_verify;
struct grow_verify *uploader__grow_verify_begin(struct hash_grow *g, const char *path,
                                                const struct hash_key *key, int *err);
void uploader__grow_verify_ref(struct grow_verify *v);
void uploader__grow_verify_unref(struct grow_verify *v); /* NULL fine */
const struct hash_key *uploader__grow_verify_key(const struct grow_verify *v);
void uploader__grow_verify_bytes(struct grow_verify *v, uint64_t off, const void *buf, size_t len);
int uploader__grow_verify_end(struct grow_verify *v, grow_verify_cb cb, void *userdata);
/* begin, end and unref at once (tests): a verification by reading the file. */
int uploader__grow_verify(struct hash_grow *g, const char *path, const struct hash_key *key,
                          grow_verify_cb cb, void *userdata);
struct grow_stats {
    uint64_t followed, finished, verified, rejected;
    uint64_t verify_read; /* bytes verification read itself (not handed over by uploads) */
};
void uploader__grow_stats(const struct hash_grow *g, struct grow_stats *out);

/* hashcache.c: forget k (a digest found stale); mark k's digest verified (in
 * place: not a lookup, so not counted as a hit). */
void uploader__hashcache_drop(struct uploader_hashcache *c, const struct hash_key *k);
void uploader__hashcache_set_verified(struct uploader_hashcache *c, const struct hash_key *k);

/* ---- hub_api.c --------------------------------------------------------- */

struct hub_repo {
    char *endpoint;
    char *type;      /* model | dataset | space */
    char *ns, *name; /* ns may be NULL until resolved */
    char *revision;
};
/* "" | "datasets/" | "spaces/" */
const char *uploader__hub_type_prefix(const char *type);
/* URL builders (heap strings). */
char *uploader__hub_url_whoami(const struct hub_repo *r);
char *uploader__hub_url_create_repo(const struct hub_repo *r);
char *uploader__hub_url_repo_info(const struct hub_repo *r);
char *uploader__hub_url_branch(const struct hub_repo *r);
char *uploader__hub_url_preupload(const struct hub_repo *r);
char *uploader__hub_url_paths_info(const struct hub_repo *r);
char *uploader__hub_url_lfs_batch(const struct hub_repo *r);
char *uploader__hub_url_commit(const struct hub_repo *r);
/* POST {EP}/api/{type}s/{ns}/{name}/tag/{revision} (huggingface_hub create_tag) */
char *uploader__hub_url_tag(const struct hub_repo *r);
char *uploader__hub_commit_page_url(const struct hub_repo *r, const char *oid);

/* Parsers fill err (HS_EPROTO) on malformed answers. */
int uploader__hub_parse_whoami(const char *body, char **name, struct hs_err *err);
char *uploader__hub_body_create_repo(const struct hub_repo *r, bool private_repo);

struct hub_preupload_item {
    const char *path;
    const unsigned char *sample;
    size_t sample_len;
    uint64_t size;
    /* answer */
    bool lfs, should_ignore;
    char *remote_oid;
};
char *uploader__hub_body_preupload(const struct hub_preupload_item *items, size_t n);
int uploader__hub_parse_preupload(const char *body, struct hub_preupload_item *items, size_t n,
                                  char **commit_oid, struct hs_err *err);

struct hub_lfs_action {
    char oid[65];
    uint64_t size;
    bool present;        /* no upload action: the Hub has it */
    char *href;          /* basic: upload URL; multipart: completion URL */
    uint64_t chunk_size; /* 0 = basic */
    char **part_urls;
    size_t n_parts;
    int64_t expires_at; /* unix seconds, 0 = unknown */
    int64_t issued_at;  /* unix seconds the answer came (with expires_at; 0 = unknown) */
};
void uploader__hub_lfs_action_clear(struct hub_lfs_action *a);
char *uploader__hub_body_lfs_batch(const char *const *oids, const uint64_t *sizes, size_t n,
                                   const char *ref);
/* Actions are matched to (oids, sizes) by oid; every object must be answered. */
int uploader__hub_parse_lfs_batch(const char *body, struct hub_lfs_action *out, size_t n,
                                  int64_t now_unix, struct hs_err *err);
char *uploader__hub_body_multipart_complete(const char *oid, char *const *etags, size_t n);

/* NDJSON commit. */
struct hub_commit_op {
    const char *path;
    bool lfs;
    const char *oid; /* lfs: sha256 */
    uint64_t size;
    const char *content_b64; /* regular */
};
char *uploader__hub_body_commit(const char *summary, const char *description, const char *parent,
                                const struct hub_commit_op *ops, size_t n, size_t *len);
/* The same body line by line (each with its newline; heap strings), as
 * commit_body.c streams it: the header, one line per operation, deletions.
 * uploader__hub_commit_op_line_len is the length of a regular file's line for a
 * content of op->size bytes without the content itself. */
char *uploader__hub_commit_header_line(const char *summary, const char *description,
                                       const char *parent);
char *uploader__hub_commit_op_line(const struct hub_commit_op *op);
/* A regular file's line from its raw content (base64-encoded into the line). */
char *uploader__hub_commit_file_line(const char *path, const void *data, size_t len);
uint64_t uploader__hub_commit_op_line_len(const struct hub_commit_op *op);
char *uploader__hub_commit_delete_line(const char *path); /* a path ending in / deletes a folder */
int uploader__hub_parse_commit(const char *body, char **oid, char **url, struct hs_err *err);
char *uploader__hub_body_paths_info(const char *const *paths, size_t n);
/* For each path: its sha256 (lfs) or git oid (regular), NULL when absent. */
int uploader__hub_parse_paths_info(const char *body, const char *const *paths, size_t n,
                                   char **lfs_oids, char **git_oids, struct hs_err *err);
int uploader__hub_parse_repo_info_sha(const char *body, char **sha, struct hs_err *err);

/* ---- state.c ----------------------------------------------------------- */

/* One file of the push: 104 bytes (issue 14: 100,000 files in a few
 * hundred bytes each). The size is key.size. */
struct push_state_file {
    char *repo_path; /* owned when the state was loaded (owns_paths); a push's
                      * points into its pfile's path block (push_int.h) */
    struct hash_key key;
    struct file_digest dg; /* when hashed */
    bool hashed;
};
struct push_state_object {
    char oid[65];
    uint64_t size;
    bool done;
    struct hub_lfs_action action; /* href/part URLs/expiry of the batch answer */
    char **etags;                 /* n_parts entries, NULL = part not finished */
    uint32_t planned;             /* this run's object (push.c objs) + 1, 0 none: not saved */
};
struct push_state {
    char *key; /* identity of the push: endpoint, repo, revision, file list */
    struct push_state_file *files;
    size_t n_files;
    bool owns_paths; /* files[].repo_path are the state's (uploader__push_state_load) */
    struct push_state_object *objects;
    size_t n_objects, objects_cap;
    uint32_t *oid_index; /* objects by oid: open addressing, index + 1 (0 empty) */
    size_t oid_cap;      /* a power of two, at least twice n_objects */
    bool commit_sent;
    char *commit_parent;
};
void uploader__push_state_init(struct push_state *s);
void uploader__push_state_clear(struct push_state *s);
char *uploader__push_state_dump(const struct push_state *s, size_t *len);
int uploader__push_state_load(const char *json, struct push_state *s, struct hs_err *err);
struct push_state_object *uploader__push_state_object_find(struct push_state *s, const char *oid);
struct push_state_object *uploader__push_state_object_add(struct push_state *s, const char *oid,
                                                          uint64_t size);
/* Drop the object's batch answer and part ETags (the object is batched again). */
void uploader__push_state_object_forget(struct push_state_object *o);
/* Replace the object's action (etags reset unless the part URLs are the same). */
int uploader__push_state_object_set_action(struct push_state_object *o,
                                           const struct hub_lfs_action *a);

#endif
