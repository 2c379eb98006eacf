/*
 * uploader.h — the public interface of uploader/ (see docs/design.md,
 * "Components"): pushing a set of local files to a Hugging Face Hub repo as one
 * commit, on a libuv loop the caller owns.
 *
 * What it does: hashes files on the loop's thread pool (cached by file
 * identity), resolves the namespace, creates the repo/branch if needed, asks
 * the Hub which files are LFS (preupload), uploads LFS objects (basic or
 * multipart, parts in parallel, bandwidth-capped), then sends one NDJSON
 * commit with parentCommit. It does not know about inotify, jobs or config
 * files: the endpoint, the token and the file list are passed in.
 *
 * Ownership: the caller owns the loop. uploader_new() creates handles on it;
 * uploader_close() starts closing them — run the loop until it returns and
 * uv_loop_close() succeeds. A push is started with uploader_push() and ends
 * with exactly one call of its done callback (on the loop thread).
 *
 * Resumability: everything a push must remember to continue after the process
 * dies (hashes, batch answers with part URLs and their expiry, ETags of
 * finished parts, commit sent) is handed to the caller as a JSON document via
 * the persist hook at each durable step; passing that document back as
 * resume_state continues where it stopped. The caller decides where it lives
 * (`hubsync push`: a file under $XDG_CACHE_HOME/hubsync/push/; the daemon: its
 * journal).
 *
 * Security: the token is attached only to requests built from the configured
 * endpoint, never to hrefs the Hub hands out, never across a redirect to
 * another origin, and never appears in an error message.
 */
#ifndef HUBSYNC_UPLOADER_H
#define HUBSYNC_UPLOADER_H

#include "common.h"

#include <uv.h>

struct uploader_options {
    const char *endpoint; /* base URL, no trailing '/' (required) */
    const char *token;    /* Hub token (copied, wiped on close); NULL: anonymous, downloads only */
    const char *ca_file;  /* CA bundle, NULL = system store; TLS is always verified */
    const char *user_agent;           /* NULL = "hubsync/<version>" */
    unsigned max_parallel;            /* HTTP transfers in flight, parts included; 0 = 8 */
    uint64_t bandwidth_bytes_per_sec; /* upload cap shared by all transfers; 0 = none */
    unsigned max_retries;             /* per request; 0 = 5 */
    hs_usec_t retry_base;             /* first backoff; 0 = 1 s (doubles, capped at 8x) */
    unsigned stall_seconds;           /* abort a transfer below 1 byte/s for this long; 0 = 60 */
    unsigned hash_parallel;           /* hash work items at once on the thread pool (a large
                                       * file's slice, or a batch of up to 64 small files); 0 = 2 */
};

struct uploader;

/* Create an uploader on loop. Fills err and returns -errno / HS_E* on failure. */
int uploader_new(uv_loop_t *loop, const struct uploader_options *opt, struct uploader **out,
                 struct hs_err *err);

/* Start closing: aborts running pushes (their done callbacks run with
 * -ECANCELED), closes every handle; the uploader is freed once the loop has
 * run the close callbacks. NULL is fine. */
void uploader_close(struct uploader *u);

/* Interrupt every running push: its state goes through the persist hook once
 * more (so an interrupted push resumes with what it had, hashes of the files
 * hashed so far included) and its done callback will run with -EINTR. Call
 * uploader_close() next to cut the transfers in flight. NULL is fine. */
void uploader_interrupt(struct uploader *u);

/* One file of a push: where it is on disk and where it goes in the repo. */
struct uploader_file {
    const char *local_path; /* absolute or cwd-relative; opened without following a
                             * symlink, and sent only while it is the file hashed */
    const char *repo_path;  /* relative path with '/'; one the Hub cannot store is
                             * skipped (uploader_repo_path_refusal, hooks.skipped) */
};

enum uploader_phase {
    UPLOADER_PHASE_PREPARE = 0, /* whoami, create repo, branch */
    UPLOADER_PHASE_HASH,
    UPLOADER_PHASE_PREUPLOAD,
    UPLOADER_PHASE_UPLOAD,
    UPLOADER_PHASE_COMMIT,
};
const char *uploader_phase_name(enum uploader_phase phase);

/* The stages of a push run as a pipeline: a file goes to preupload once it
 * is hashed and its LFS object is batched and uploaded while later files are
 * still being hashed. `phase` is the flow's step (the earliest stage not
 * finished: HASH until every file is hashed, PREUPLOAD until every file is
 * answered, then UPLOAD, COMMIT); `stages` says which stages have work under
 * way, so HASH and UPLOAD are both set while they overlap. */
enum uploader_stage {
    UPLOADER_STAGE_HASH = 1u << 0,   /* files_hashed < the push's files */
    UPLOADER_STAGE_UPLOAD = 1u << 1, /* objects_done < objects_total */
};

struct uploader_progress {
    enum uploader_phase phase;
    unsigned stages; /* enum uploader_stage bits, filled at each report */
    uint64_t hashed_bytes;
    uint64_t sent_bytes, send_total; /* object bytes acknowledged by storage / known so far
                                      * to send (grows as preupload answers) */
    unsigned files_hashed;           /* files whose hash is known (cached ones too) */
    unsigned objects_total;          /* LFS objects known so far not yet stored at start */
    unsigned objects_done;           /* of those, stored or found on the Hub */
    unsigned files_total, files_changed;
};

struct uploader_result {
    char *commit_oid; /* commit made, or the current head when nothing changed */
    char *commit_url; /* {EP}/{repo}/commit/{oid} */
    bool nothing_to_commit;
    bool resumed_commit; /* a commit sent by an earlier run was found in the repo */
    bool answer_lost;    /* this run's commit got no answer (or a replay's 412) but is there */
    unsigned files_committed;
    uint64_t bytes_sent;       /* object bytes this run put on the wire (retries included) */
    unsigned objects_skipped;  /* LFS objects the Hub already had */
    unsigned objects_uploaded; /* LFS objects this run stored (0: every file went inline) */
    unsigned files_deleted;    /* delete_paths the commit deleted (deletedFile lines) */
    unsigned files_skipped;    /* files of the request not pushed: the Hub cannot store their
                                * repo path (uploader_repo_path_refusal; each was reported
                                * through the skipped hook) */
};

struct uploader_push_hooks {
    /* Progress (on the loop thread, at most every ~200 ms, and at once on a
     * phase change and when a stage starts or ends): the counters of every
     * stage, see struct uploader_progress. */
    void (*progress)(const struct uploader_progress *p, void *userdata);
    /* Persist the resumable state (JSON text, NUL-terminated). Called before the
     * step that depends on it; return 0, or -errno to fail the push. */
    int (*persist)(const char *state_json, size_t len, void *userdata);
    /* Where persist writes, for the message when it fails (NULL: not named). */
    const char *persist_path;
    /* The end: status 0 with res filled, or an error with err filled. res and
     * err are valid only during the call. */
    void (*done)(int status, const struct uploader_result *res, const struct hs_err *err,
                 void *userdata);
    /* A file of the request that is not pushed because the Hub cannot store
     * its repo path: called from uploader_push() before any request, once per
     * such file; msg names it (escaped) and says why. NULL = hs_log_warn(msg).
     * The rest of the files are pushed; when none is left (and nothing is to
     * be deleted) the push fails with HS_EREFUSED. */
    void (*skipped)(const char *msg, void *userdata);
    void *userdata;
};

struct uploader_push_request {
    const char *repo_id;   /* "name" or "namespace/name" (validated by the caller) */
    const char *repo_type; /* "model" (NULL), "dataset", "space" */
    const char *revision;  /* NULL = "main"; created from main if missing */
    bool private_repo;     /* when the repo has to be created */
    const char *summary;   /* commit title */
    const char *description;
    const struct uploader_file *files;
    size_t n_files;
    const char *resume_state; /* JSON from an earlier persist hook, or NULL */
    /* Repo paths deleted in the same commit ("deletedFile"), e.g. stale files
     * of a synced folder. Each must exist in the repo (the Hub answers 404
     * for a missing one); a path that is also in files is not deleted. */
    const char *const *delete_paths;
    size_t n_delete;
    /* Repo folders deleted with everything in them in the same commit
     * ("deletedFolder", as huggingface_hub's CommitOperationDelete with
     * is_folder: path with a trailing '/'), e.g. checkpoint-N under
     * hub_keep_checkpoints. Given without the trailing '/'; each must
     * exist (404 otherwise); files of the push inside one are refused. */
    const char *const *delete_folders;
    size_t n_delete_folders;
    /* Only the push's first steps: resolve the namespace and create the
     * repo if it does not exist (409 = it exists; a 401/403 to the create
     * with a repo the token can read = it exists), as huggingface_hub's
     * create_repo(exist_ok=True); then done(0) with an empty result. No
     * branch, no file, no commit (files, deletes and resume_state are
     * ignored). `run` does this before starting the training command. */
    bool prepare_only;
};

/* Start a push; the request is copied. Returns 0 (done will be called) or a
 * negative error with err filled (done will not be called).
 *
 * How done's status reads (uploader/README.md, "Which failures end a push for
 * good"): HS_EREFUSED — the Hub refused a request for good (a 4xx other than
 * 401/403/408/409/412/429, a per-object batch error, a completion refused
 * after re-uploads, or no file it can store); err->msg carries the Hub's
 * X-Error-Code, message and request id, and the same push fails the same
 * way. HS_EAUTH — the token (401/403 from the Hub). HS_ECHANGED — a file
 * changed, or was replaced (a symlink too), after it was hashed; err->msg
 * names it and nothing of it was sent. HS_EHTTP — transient (network, 5xx,
 * 408/409/429, URLs that kept expiring); a later push may succeed. */
int uploader_push(struct uploader *u, const struct uploader_push_request *req,
                  const struct uploader_push_hooks *hooks, struct hs_err *err);

/* ---- repo paths (repo_path.c) ------------------------------------------ */

/* NULL when the Hub can store a file at repo path `path`; else one sentence
 * saying why not (static): empty or absolute, an empty, "." or ".."
 * component, a ".git" or ".cache" component (huggingface_hub refuses both), a
 * backslash (the Hub answers 400 "Invalid path"), a control character, or
 * bytes that are not UTF-8. The one rule: uploader_push skips such files, and
 * every caller building repo paths from local names should ask it first. */
const char *uploader_repo_path_refusal(const char *path);
/* Copy path into out (size n, NUL-terminated, cut with "..." when too long)
 * with control characters, backslashes, quotes and invalid UTF-8 bytes
 * written as \xHH, for messages. */
void uploader_repo_path_escape(const char *path, char *out, size_t n);

/* ---- building blocks, public for tests and the daemon ------------------ */

/* SHA-256 of a whole file on the thread pool (with the size in the same pass,
 * and the git blob SHA-1 for files up to 10 MiB; the 512-byte sample of the
 * preupload call is read when that call is made, preupload.c).
 * Results are cached in the uploader by (device, inode, size, mtime, ctime). */
struct uploader_hash {
    uint64_t size;
    char sha256[65];
    char sha1[41]; /* git blob id, "" when the file is larger than 10 MiB */
    bool from_cache;
    /* hashed while the file was being written (the daemon's hash while
     * written): a push verifies it by a second read before it commits */
    bool unverified;
    /* identity of the file that was read (the cache key) */
    uint64_t dev, ino;
    int64_t mtime_ns, ctime_ns;
};
typedef void (*uploader_hash_cb)(int status, const struct uploader_hash *h,
                                 const struct hs_err *err, void *userdata);
int uploader_hash_file(struct uploader *u, const char *path, uploader_hash_cb cb, void *userdata);

/* Number of files actually read by the hasher since uploader_new (cache misses). */
unsigned uploader_hash_files_read(const struct uploader *u);

/* Hash path ahead of its push (the daemon's pre-hash of a checkpoint's file
 * as soon as the watcher saw it complete, sync/job_prehash.c): queued at the
 * hasher like any hash (thread pool, `hash_parallel` work items at once, at the
 * pool's priority), the result only stored in the cache. Nothing is
 * reported: a file that vanished or changed meanwhile is simply not cached.
 * Returns 0 or -ECANCELED (closing) / -ENOMEM. */
int uploader_prehash(struct uploader *u, const char *path);

/* Hash path while it is being written (the daemon, for a file of a pending
 * checkpoint it just saw written: watcher.h on_file_growing): what is added
 * is hashed on the pool as the file grows, once it is 16 MiB; the close
 * (uploader_prehash of the same file) finishes it, and the digest goes to the
 * cache marked unverified. A push using such a digest reads the file once
 * more (a fast check value, not SHA-256) and holds its commit until the two
 * reads agree; when they differ (a stretch rewritten after it was hashed) the
 * push fails with HS_ECHANGED and the file is hashed again on the next try.
 * At most 8 files are followed at once; more are hashed at close as before.
 * Returns 0 (also when not followed), -errno when path cannot be opened,
 * -ECANCELED when closing. */
int uploader_follow(struct uploader *u, const char *path);

/* ---- the hash cache (hashcache.c) -------------------------------------- */

/* Digests of files already read, keyed by the identity of the file read:
 * (device, inode, size, mtime ns, ctime ns) from fstat of the descriptor the
 * hasher opened, so a hit is the very file about to be sent. A file
 * rewritten in place changes mtime or size, and always ctime (also when its
 * mtime is set back), so it misses and is read again. Bounded, least
 * recently used evicted first; thread-safe. The uploader owns one (every
 * push and uploader_prehash share it); standalone ones are for tests. */
#define UPLOADER_HASHCACHE_MAX_ENTRIES 65536 /* 112 bytes each: 7 MiB at most */
struct uploader_hashcache;
struct stat;
/* max_entries 0 = UPLOADER_HASHCACHE_MAX_ENTRIES. NULL when out of memory. */
struct uploader_hashcache *uploader_hashcache_new(size_t max_entries);
void uploader_hashcache_free(struct uploader_hashcache *c); /* NULL fine */
/* True (out filled, from_cache false) when the file of st is cached. */
bool uploader_hashcache_get(struct uploader_hashcache *c, const struct stat *st,
                            struct uploader_hash *out);
/* Store h under its identity fields (dev, ino, size, mtime_ns, ctime_ns);
 * -EINVAL for digests that are not lower-case hex, -ENOMEM. */
int uploader_hashcache_put(struct uploader_hashcache *c, const struct uploader_hash *h);
struct uploader_hashcache_stats {
    size_t entries, max_entries;
    uint64_t hits, misses, evictions; /* lookups that found / did not find; entries dropped */
    uint64_t prehashed;               /* the uploader's: files uploader_prehash read */
    /* the uploader's hash while written (hash_grow.c): files followed as they
     * grew, of them hashed to the end, digests verified before a commit, and
     * digests found stale by that verification (read again) */
    uint64_t grown_followed, grown_finished, grown_verified, grown_rejected;
    uint64_t grown_verify_read; /* bytes the verifications read themselves (not an upload's) */
};
void uploader_hashcache_stats(struct uploader_hashcache *c, struct uploader_hashcache_stats *out);
/* The uploader's cache (what `hubsync status --json` shows as hash_cache). */
void uploader_hash_cache_stats(const struct uploader *u, struct uploader_hashcache_stats *out);

/* ---- who the token is (whoami.c) --------------------------------------- */

/* An organization of the token's user, with the user's role in it
 * ("admin", "write", "contributor", "read"; NULL when the Hub did not say). */
struct uploader_whoami_org {
    char *name, *role;
};
/* One scoped permission set of a fine-grained token: the entity (type
 * "user", "org", "model", "dataset", "space"; name "ns" or "ns/repo") and
 * its permissions ("repo.write", "repo.content.read", ...). */
struct uploader_whoami_scope {
    char *entity_type, *entity_name;
    char **permissions;
    size_t n_permissions;
};
/* The parsed whoami-v2 answer (docs/hub-protocol.md). */
struct uploader_whoami {
    char *name; /* the user (never NULL once parsed) */
    char *type; /* "user", "org", "app" or NULL */
    struct uploader_whoami_org *orgs;
    size_t n_orgs;
    char *token_role; /* auth.accessToken.role: "read", "write", "fineGrained"...; NULL */
    char *token_name; /* auth.accessToken.displayName, NULL */
    bool has_scopes;  /* auth.accessToken.fineGrained.scoped was present */
    struct uploader_whoami_scope *scoped;
    size_t n_scoped;
};
/* Parse a whoami-v2 body (bounded: at most 1024 orgs / scopes, 256
 * permissions each; unusable entries are skipped). HS_EPROTO without a user
 * name. Clear with uploader_whoami_clear (NULL fine). */
int uploader_whoami_parse(const char *body, struct uploader_whoami *out, struct hs_err *err);
void uploader_whoami_clear(struct uploader_whoami *w);
/* Deep copy (dst is cleared first); -ENOMEM leaves dst cleared. */
int uploader_whoami_copy(struct uploader_whoami *dst, const struct uploader_whoami *src);

enum uploader_write_access {
    UPLOADER_WRITE_OK = 0,
    UPLOADER_WRITE_DENIED, /* positive evidence the token cannot write there */
    UPLOADER_WRITE_UNKNOWN,
};
/* May this token write repo_id ("name" = the user's namespace, or
 * "ns/name"; repo_type NULL = "model")? why gets one sentence for the
 * user, never the token. */
enum uploader_write_access uploader_whoami_can_write(const struct uploader_whoami *w,
                                                     const char *repo_id, const char *repo_type,
                                                     char *why, size_t why_len);

/* GET whoami-v2 on the loop (retried like every API request: transport
 * failures, 5xx, 429). cb runs once: status 0 with w (valid during the
 * call), or an error with err; http_status is the Hub's answer (401: the
 * token is invalid) or 0 when none came (unreachable, cancelled by
 * uploader_close: -ECANCELED). Returns 0, or an error (cb not called). */
typedef void (*uploader_whoami_cb)(int status, const struct uploader_whoami *w, long http_status,
                                   const struct hs_err *err, void *userdata);
int uploader_whoami(struct uploader *u, uploader_whoami_cb cb, void *userdata, struct hs_err *err);

/* ---- listing a repo folder (tree.c) ------------------------------------ */

/* A file of a listing (directories are not listed). */
struct uploader_tree_entry {
    char *path;    /* repo path */
    uint64_t size; /* content size */
    char *oid;     /* git blob id (of the pointer for LFS files), NULL if absent */
    char *lfs_oid; /* sha256 of an LFS file's content, NULL for a regular file */
};
struct uploader_tree {
    struct uploader_tree_entry *entries;
    size_t n, cap;
    /* "" when listed; else the list is empty because the Hub answered 404:
     * its X-Error-Code (RepoNotFound, RevisionNotFound, EntryNotFound) or
     * "NotFound" */
    char missing[32];
};
void uploader_tree_clear(struct uploader_tree *t); /* NULL and zeroed fine */
/* Append the files of one tree page (a JSON array) to t. HS_EPROTO for an
 * answer that is not an array or an entry without type, a file without a
 * path or size, or an invalid lfs.oid (a listing with holes is refused). */
int uploader_tree_parse(const char *body, struct uploader_tree *t, struct hs_err *err);
/* The rel="next" URL of a Link header value (NULL link fine): *next = heap
 * string, or NULL on the last page. HS_EPROTO when the header is unreadable
 * or the next URL is not under endpoint (never followed with the token). */
int uploader_tree_next_url(const char *link, const char *endpoint, char **next, struct hs_err *err);

struct uploader_tree_request {
    const char *repo_id;   /* "name" (whoami resolves the namespace) or "ns/name" */
    const char *repo_type; /* NULL = "model" */
    const char *revision;  /* NULL = "main" */
    const char *path;      /* folder to list recursively; NULL or "" = the root */
};
/* cb runs once: status 0 with t (valid during the call), or an error with
 * err (-ECANCELED when the uploader closes). */
typedef void (*uploader_tree_cb)(int status, const struct uploader_tree *t,
                                 const struct hs_err *err, void *userdata);
/* List every file under req->path at req->revision, following the pages
 * (retried like every API request). Returns 0, or an error (cb not called). */
int uploader_list_tree(struct uploader *u, const struct uploader_tree_request *req,
                       uploader_tree_cb cb, void *userdata, struct hs_err *err);

/* ---- downloading files (download.c) ------------------------------------ */

/* One repo file to put on disk. Its bytes go to local_path + ".part"
 * (resumed with a Range request from the size it has), are checked
 * (sha256 of an LFS file, git blob SHA-1 of a regular one), then the .part
 * is renamed to local_path. A verified local_path that already matches is
 * kept and not fetched. The parent folder must exist. */
struct uploader_download_file {
    const char *repo_path;
    const char *local_path;
    uint64_t size;
    const char *sha256;  /* LFS content hash (tree lfs.oid), NULL for a regular file */
    const char *git_oid; /* git blob SHA-1 (tree oid) of a regular file */
};
struct uploader_download_request {
    const char *repo_id;   /* "ns/name" */
    const char *repo_type; /* NULL = "model" */
    const char *revision;  /* NULL = "main" (a commit id pins the listing's state) */
    const struct uploader_download_file *files;
    size_t n_files;
    bool plan_only; /* dry run: check what is there, report the plan, fetch nothing */
};
struct uploader_download_progress {
    uint64_t got_bytes, fetch_total; /* bytes of the files to fetch (partial bytes count as got) */
    unsigned files_done, files_fetch;
};
struct uploader_download_result {
    unsigned files_fetched, files_had;
    uint64_t bytes_fetched; /* body bytes received this run */
};
struct uploader_download_hooks {
    /* Once per file (request order) before anything is fetched: have = a
     * verified copy is at local_path; else partial = bytes kept from an
     * earlier run. */
    void (*plan)(const struct uploader_download_file *f, bool have, uint64_t partial,
                 void *userdata);
    void (*progress)(const struct uploader_download_progress *p, void *userdata); /* ~200 ms */
    /* The end: 0 with res, or an error with err (a hash mismatch names the
     * file and both hashes: HS_ECHANGED). Valid during the call only. */
    void (*done)(int status, const struct uploader_download_result *res, const struct hs_err *err,
                 void *userdata);
    void *userdata;
};
/* The commit a revision (branch, tag or commit id) points at, from
 * GET {EP}/api/{type}s/{repo}/revision/{rev}: pin a listing and its
 * downloads to it so a push landing meanwhile cannot mix two states. cb
 * runs once: status 0 with oid, or an error with err; http_status is the
 * Hub's answer (0 when none came) and error_code its X-Error-Code
 * (RepoNotFound, RevisionNotFound) or NULL. Returns 0 or an error (cb not
 * called). */
typedef void (*uploader_commit_cb)(int status, const char *oid, long http_status,
                                   const char *error_code, const struct hs_err *err,
                                   void *userdata);
int uploader_revision_commit(struct uploader *u, const char *repo_id, const char *repo_type,
                             const char *revision, uploader_commit_cb cb, void *userdata,
                             struct hs_err *err);
/* ---- tags (tag.c) ------------------------------------------------------ */

enum uploader_tag_outcome {
    UPLOADER_TAG_CREATED = 0, /* the Hub made the tag */
    UPLOADER_TAG_EXISTED,     /* 409, and the tag already points at this commit */
    UPLOADER_TAG_ELSEWHERE,   /* 409, and the tag points at another commit (other_oid) */
};
/* cb runs once: status 0 with the outcome (other_oid: the tag's commit for
 * UPLOADER_TAG_ELSEWHERE, else NULL; valid during the call), or an error
 * with err (HS_EREFUSED: the Hub refused the request for good, e.g. 404
 * RevisionNotFound or 400 for the name; HS_EAUTH; HS_EHTTP: transient). */
typedef void (*uploader_tag_cb)(int status, enum uploader_tag_outcome outcome,
                                const char *other_oid, const struct hs_err *err, void *userdata);
struct uploader_tag_request {
    const char *repo_id;   /* "ns/name" */
    const char *repo_type; /* NULL = "model" */
    const char *commit;    /* the commit id to tag (a branch name also works) */
    const char *tag;
    const char *message; /* NULL: none */
};
/* POST {EP}/api/{type}s/{repo}/tag/{commit} {"tag":..., "message":...} as
 * huggingface_hub's create_tag; a 409 (the tag exists) is answered by
 * GET .../revision/{tag} to tell "already done" from "points elsewhere".
 * Retried like every API request (a retry after a lost answer meets the
 * 409 of its own first attempt, which reads as UPLOADER_TAG_EXISTED).
 * Returns 0, or an error (cb not called). */
int uploader_create_tag(struct uploader *u, const struct uploader_tag_request *req,
                        uploader_tag_cb cb, void *userdata, struct hs_err *err);

/* Start a download on the uploader's HTTP loop (at most max_parallel files
 * at once; a file is streamed to disk, never held in memory). Close the
 * uploader after done ran: uploader_close() cancels the transfers in
 * flight (done runs with -ECANCELED), but a download whose every file is
 * waiting out a retry backoff at that moment is not tracked by the
 * uploader and must not outlive it. The token
 * goes only to the endpoint: the storage URL a resolve redirects to is
 * fetched without it. Returns 0 (done will run) or an error (it will not). */
int uploader_download(struct uploader *u, const struct uploader_download_request *req,
                      const struct uploader_download_hooks *hooks, struct hs_err *err);

#endif
