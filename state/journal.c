/*
 * journal.c — the generic durable record log (see journal.h for the file
 * set, the generation protocol and the damage policy). This file owns the
 * byte formats, replay, appends with fdatasync and compaction; it knows
 * nothing of checkpoints or jobs.
 *
 * Byte formats (all integers little-endian):
 *   log file header (28 bytes): "HSJLOG\r\n" u32 version, u32 zero,
 *       u64 generation, u32 crc32c(bytes 0..24)
 *   record (24-byte header + payload): u32 magic "HSJR", u16 version,
 *       u16 type, u32 payload length, u64 seq, u32 crc32c(header bytes
 *       0..20 + payload); payload = compact JSON object text
 *   snapshot = one zstd frame (with content checksum) of: 44-byte header
 *       "HSJSNAP\n" u32 version, u32 zero, u64 generation, u64 next log
 *       seq, u64 record count, u32 crc32c(bytes 0..40); then the records,
 *       framed as in the log with seq 0..count-1.
 */
#include "journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#define LOG_MAGIC     "HSJLOG\r\n"
#define SNAP_MAGIC    "HSJSNAP\n"
#define LOG_HDR_LEN   28
#define SNAP_HDR_LEN  44
#define REC_MAGIC     UINT32_C(0x524a5348) /* "HSJR" little-endian */
#define REC_HDR_LEN   24
#define SNAP_ZSTD_LVL 3

struct journal {
    char dir[HS_PATH_MAX];
    int fd;
    uint64_t gen;
    uint64_t size;     /* bytes of valid log, where the next record goes */
    uint64_t next_seq; /* seq of the next record */
    uint64_t records;  /* records in the current log */
    bool broken;       /* a failed append could not be undone */
};

/* ---- CRC32C ------------------------------------------------------------ */

static uint32_t crc_table[8][256];

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ UINT32_C(0x82f63b78) : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
}

uint32_t journal_crc32c(uint32_t crc, const void *data, size_t len)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, crc_init);
    const unsigned char *p = data;
    crc = ~crc;
    /* slicing-by-8: eight table lookups per 8 bytes */
    while (len >= 8) {
        uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                             (uint32_t)p[3] << 24);
        crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
              crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^ crc_table[3][p[4]] ^
              crc_table[2][p[5]] ^ crc_table[1][p[6]] ^ crc_table[0][p[7]];
        p += 8;
        len -= 8;
    }
    while (len--)
        crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
    return ~crc;
}

/* ---- little-endian helpers --------------------------------------------- */

static void put16(unsigned char *p, uint16_t v)
{
    p[0] = v & 0xff;
    p[1] = v >> 8;
}
static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (v >> (8 * i)) & 0xff;
}
static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (v >> (8 * i)) & 0xff;
}
static uint16_t get16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}
static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get64(const unsigned char *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* ---- hooks and small fs helpers ---------------------------------------- */

static struct journal_hooks hooks;

void journal_set_test_hooks(const struct journal_hooks *h)
{
    if (h)
        hooks = *h;
    else
        memset(&hooks, 0, sizeof(hooks));
}

static ssize_t do_pwrite(int fd, const void *buf, size_t len, off_t off)
{
    return hooks.pwrite ? hooks.pwrite(fd, buf, len, off) : pwrite(fd, buf, len, off);
}

static int do_fdatasync(int fd)
{
    return hooks.fdatasync ? hooks.fdatasync(fd) : fdatasync(fd);
}

static int crash_at(enum journal_step step)
{
    return hooks.crash_point && hooks.crash_point(step);
}

static int pwrite_all(int fd, const void *data, size_t len, off_t off, bool hooked)
{
    return hs_pwrite_all(fd, data, len, off, hooked ? do_pwrite : NULL);
}

static int file_path(char *out, size_t n, const char *dir, const char *kind, uint64_t gen,
                     const char *suffix)
{
    int len = snprintf(out, n, "%s/%s-%" PRIu64 "%s", dir, kind, gen, suffix);
    return len < 0 || (size_t)len >= n ? -ENAMETOOLONG : 0;
}

static bool crash_before_snapshot_rename(void)
{
    return crash_at(JOURNAL_STEP_SNAPSHOT_WRITTEN);
}

/* Write data to path via path.tmp: fsync, rename, directory fsync
 * (hs_write_file_atomic_opt); hooked: the test hooks' pwrite and the crash
 * point before the rename (-ECANCELED). */
static int write_atomic(const char *path, const void *data, size_t len, bool hooked)
{
    struct hs_atomic_opts o = {.mode = 0600, .tmp_suffix = ".tmp"};
    if (hooked) {
        o.pwrite = do_pwrite;
        o.before_rename = crash_before_snapshot_rename;
    }
    return hs_write_file_atomic_opt(path, data, len, &o);
}

/* ---- record framing ---------------------------------------------------- */

/* Append one framed record to b. */
static int frame_record(struct hs_buf *b, uint16_t type, uint64_t seq, const json_t *payload,
                        struct hs_err *err)
{
    if (!json_is_object(payload))
        return hs_err_set(err, -EINVAL, "journal: record payload of type %u is not a JSON object",
                          type);
    char *text = json_dumps(payload, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text)
        return hs_err_set(err, -ENOMEM, "journal: cannot encode record of type %u", type);
    size_t len = strlen(text);
    if (len > JOURNAL_RECORD_MAX) {
        free(text);
        return hs_err_set(err, -E2BIG, "journal: record of type %u is %zu bytes (max %u)", type,
                          len, JOURNAL_RECORD_MAX);
    }
    unsigned char h[REC_HDR_LEN];
    put32(h, REC_MAGIC);
    put16(h + 4, JOURNAL_FORMAT_VERSION);
    put16(h + 6, type);
    put32(h + 8, (uint32_t)len);
    put64(h + 12, seq);
    uint32_t crc = journal_crc32c(journal_crc32c(0, h, 20), text, len);
    put32(h + 20, crc);
    int rc = hs_buf_append(b, h, sizeof(h));
    if (rc == 0)
        rc = hs_buf_append(b, text, len);
    free(text);
    if (rc < 0)
        return hs_err_set(err, rc, "journal: batch too large: %s", hs_strerror(rc));
    return 0;
}

/* Parse the record at p (avail bytes). 0 and *payload (new reference) on
 * success; -EBADMSG when it is not a complete, valid record;
 * -EPROTONOSUPPORT for a valid frame of an unknown version. */
static int parse_record(const unsigned char *p, uint64_t avail, uint16_t *type, uint64_t *seq,
                        json_t **payload, uint64_t *reclen)
{
    if (avail < REC_HDR_LEN || get32(p) != REC_MAGIC)
        return -EBADMSG;
    uint32_t len = get32(p + 8);
    if (len > JOURNAL_RECORD_MAX || avail - REC_HDR_LEN < len)
        return -EBADMSG;
    uint32_t crc = journal_crc32c(journal_crc32c(0, p, 20), p + REC_HDR_LEN, len);
    if (crc != get32(p + 20))
        return -EBADMSG;
    if (get16(p + 4) != JOURNAL_FORMAT_VERSION)
        return -EPROTONOSUPPORT;
    if (payload) {
        json_error_t jerr;
        json_t *v = json_loadb((const char *)p + REC_HDR_LEN, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(v)) {
            json_decref(v);
            return -EBADMSG;
        }
        *payload = v;
    }
    *type = get16(p + 6);
    *seq = get64(p + 12);
    *reclen = REC_HDR_LEN + (uint64_t)len;
    return 0;
}

static void log_header(unsigned char *h, uint64_t gen)
{
    memcpy(h, LOG_MAGIC, 8);
    put32(h + 8, JOURNAL_FORMAT_VERSION);
    put32(h + 12, 0);
    put64(h + 16, gen);
    put32(h + 24, journal_crc32c(0, h, 24));
}

static int create_log(struct journal *j, uint64_t gen, struct hs_err *err)
{
    char path[HS_PATH_MAX];
    unsigned char h[LOG_HDR_LEN];
    log_header(h, gen);
    int rc = file_path(path, sizeof(path), j->dir, "log", gen, ".jnl");
    if (rc == 0)
        rc = write_atomic(path, h, sizeof(h), false);
    if (rc < 0)
        return hs_err_set(err, rc, "journal: cannot create %s: %s", path, hs_strerror(rc));
    return 0;
}

static int open_log_fd(struct journal *j, uint64_t gen, struct hs_err *err)
{
    char path[HS_PATH_MAX];
    int rc = file_path(path, sizeof(path), j->dir, "log", gen, ".jnl");
    if (rc < 0)
        return hs_err_set(err, rc, "journal: path too long in %s", j->dir);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return hs_err_set(err, -errno, "journal: cannot open %s: %s", path, strerror(errno));
    if (j->fd >= 0)
        close(j->fd);
    j->fd = fd;
    return 0;
}

/* ---- replay ------------------------------------------------------------ */

/* Is there a complete, valid record anywhere in p[from..size)? */
static bool valid_record_after(const unsigned char *p, uint64_t from, uint64_t size)
{
    for (uint64_t off = from; off + REC_HDR_LEN <= size; off++) {
        uint16_t type;
        uint64_t seq, len;
        if (get32(p + off) == REC_MAGIC &&
            parse_record(p + off, size - off, &type, &seq, NULL, &len) != -EBADMSG)
            return true;
    }
    return false;
}

static int replay_snapshot(const char *path, uint64_t gen, journal_replay_fn fn, void *ud,
                           uint64_t *next_seq, uint64_t *count_out, struct hs_err *err)
{
    char *z = NULL;
    size_t zlen = 0;
    int rc = hs_read_file(path, (size_t)JOURNAL_SNAPSHOT_MAX, &z, &zlen);
    if (rc < 0)
        return hs_err_set(err, rc, "journal: cannot read snapshot %s: %s", path, hs_strerror(rc));
    unsigned long long raw = ZSTD_getFrameContentSize(z, zlen);
    if (raw == ZSTD_CONTENTSIZE_ERROR || raw == ZSTD_CONTENTSIZE_UNKNOWN ||
        raw > JOURNAL_SNAPSHOT_MAX || raw < SNAP_HDR_LEN) {
        free(z);
        return hs_err_set(err, -EBADMSG,
                          "journal: snapshot %s is damaged (not a complete zstd frame); it was "
                          "written before it became visible, so this is media damage: move it "
                          "aside to start from the log alone",
                          path);
    }
    unsigned char *p = malloc(raw ? raw : 1);
    if (!p) {
        free(z);
        return hs_err_set(err, -ENOMEM, "journal: no memory for snapshot %s", path);
    }
    size_t got = ZSTD_decompress(p, raw, z, zlen);
    free(z);
    if (ZSTD_isError(got) || got != raw || memcmp(p, SNAP_MAGIC, 8) != 0 ||
        get32(p + 40) != journal_crc32c(0, p, 40) || get64(p + 16) != gen) {
        free(p);
        return hs_err_set(err, -EBADMSG,
                          "journal: snapshot %s is damaged (%s); move it aside "
                          "to start from the log alone",
                          path, ZSTD_isError(got) ? ZSTD_getErrorName(got) : "bad header");
    }
    uint32_t version = get32(p + 8);
    if (version != JOURNAL_FORMAT_VERSION) {
        free(p);
        return hs_err_set(err, -EPROTONOSUPPORT,
                          "journal: snapshot %s has format version %u; this hubsync reads %u", path,
                          version, JOURNAL_FORMAT_VERSION);
    }
    uint64_t count = get64(p + 32);
    /* Pass 1 validates everything, pass 2 calls back: a damaged snapshot
     * never feeds half a state to the owner. */
    for (int pass = 0; pass < 2; pass++) {
        uint64_t off = SNAP_HDR_LEN, i = 0;
        for (; off < raw; i++) {
            uint16_t type;
            uint64_t seq, len;
            json_t *payload = NULL;
            rc = parse_record(p + off, raw - off, &type, &seq, pass ? &payload : NULL, &len);
            if (rc == 0 && seq != i)
                rc = -EBADMSG;
            if (rc < 0) {
                free(p);
                return hs_err_set(err, rc,
                                  "journal: snapshot %s: record %" PRIu64 " at offset %" PRIu64
                                  " is damaged; move the file aside to start from the "
                                  "log alone",
                                  path, i, off);
            }
            if (pass) {
                struct journal_record r = {type, seq, true, payload};
                rc = fn ? fn(&r, ud) : 0;
                json_decref(payload);
                if (rc < 0) {
                    free(p);
                    return hs_err_set(err, rc,
                                      "journal: replay stopped by the owner at snapshot "
                                      "record %" PRIu64 ": %s",
                                      i, hs_strerror(rc));
                }
            }
            off += len;
        }
        if (i != count) {
            free(p);
            return hs_err_set(err, -EBADMSG,
                              "journal: snapshot %s holds %" PRIu64
                              " records, its header says %" PRIu64,
                              path, i, count);
        }
    }
    *next_seq = get64(p + 24);
    *count_out = count;
    free(p);
    return 0;
}

/* Keep a damaged log for inspection and replace it with its valid prefix. */
static int quarantine_log(struct journal *j, const char *path, const unsigned char *buf,
                          uint64_t valid, struct journal_report *rep, struct hs_err *err)
{
    char copy[HS_PATH_MAX];
    for (int n = 0;; n++) {
        if (snprintf(copy, sizeof(copy), "%s.corrupt-%lld%s%.0d", path, (long long)time(NULL),
                     n ? "-" : "", n) >= (int)sizeof(copy))
            return hs_err_set(err, -ENAMETOOLONG, "journal: path too long in %s", j->dir);
        if (link(path, copy) == 0)
            break;
        if (errno != EEXIST || n > 100)
            return hs_err_set(err, -errno, "journal: cannot keep damaged log as %s: %s", copy,
                              strerror(errno));
    }
    int rc = write_atomic(path, buf, valid, false);
    if (rc < 0)
        return hs_err_set(err, rc, "journal: cannot rewrite %s: %s", path, hs_strerror(rc));
    snprintf(rep->corrupt_copy, sizeof(rep->corrupt_copy), "%s", copy);
    return 0;
}

static int replay_log(struct journal *j, journal_replay_fn fn, void *ud, struct journal_report *rep,
                      struct hs_err *err)
{
    char path[HS_PATH_MAX];
    int rc = file_path(path, sizeof(path), j->dir, "log", j->gen, ".jnl");
    if (rc < 0)
        return hs_err_set(err, rc, "journal: path too long in %s", j->dir);
    char *raw = NULL;
    size_t size = 0;
    rc = hs_read_file(path, (size_t)JOURNAL_LOG_MAX, &raw, &size);
    if (rc == -ENOENT) {
        /* Compaction stopped after the snapshot rename: the log starts empty. */
        rc = create_log(j, j->gen, err);
        if (rc == 0)
            rc = open_log_fd(j, j->gen, err);
        j->size = LOG_HDR_LEN;
        return rc;
    }
    if (rc < 0)
        return hs_err_set(err, rc, "journal: cannot read %s: %s", path, hs_strerror(rc));
    const unsigned char *p = (const unsigned char *)raw;
    if (size < LOG_HDR_LEN || memcmp(p, LOG_MAGIC, 8) != 0 ||
        get32(p + 24) != journal_crc32c(0, p, 24)) {
        free(raw);
        return hs_err_set(err, -EBADMSG,
                          "journal: %s does not start with a valid log header; "
                          "move it aside to start empty",
                          path);
    }
    uint32_t version = get32(p + 8);
    uint64_t gen = get64(p + 16);
    if (version != JOURNAL_FORMAT_VERSION) {
        free(raw);
        return hs_err_set(err, -EPROTONOSUPPORT,
                          "journal: %s has format version %u; this hubsync reads %u", path, version,
                          JOURNAL_FORMAT_VERSION);
    }
    if (gen != j->gen) {
        free(raw);
        return hs_err_set(err, -EBADMSG, "journal: %s says generation %" PRIu64, path, gen);
    }
    uint64_t off = LOG_HDR_LEN;
    while (off < size) {
        uint16_t type;
        uint64_t seq, len;
        json_t *payload = NULL;
        rc = parse_record(p + off, size - off, &type, &seq, &payload, &len);
        if (rc == -EPROTONOSUPPORT) {
            free(raw);
            return hs_err_set(
                err, rc, "journal: %s: record at offset %" PRIu64 " has an unknown format version",
                path, off);
        }
        if (rc == 0 && seq != j->next_seq) {
            json_decref(payload);
            rc = -EBADMSG;
        }
        if (rc < 0)
            break;
        struct journal_record r = {type, seq, false, payload};
        rc = fn ? fn(&r, ud) : 0;
        json_decref(payload);
        if (rc < 0) {
            free(raw);
            return hs_err_set(err, rc,
                              "journal: replay stopped by the owner at seq %" PRIu64 ": %s", seq,
                              hs_strerror(rc));
        }
        off += len;
        j->next_seq++;
        j->records++;
    }
    rc = 0;
    if (off < size) {
        if (valid_record_after(p, off + 1, size)) {
            rep->corrupt = true;
            rep->corrupt_offset = off;
            rep->lost_bytes = size - off;
            rc = quarantine_log(j, path, p, off, rep, err);
        } else {
            rep->torn_bytes = size - off;
            int fd = open(path, O_RDWR | O_CLOEXEC);
            if (fd < 0 || ftruncate(fd, (off_t)off) < 0 || fsync(fd) < 0)
                rc = hs_err_set(err, -errno, "journal: cannot cut the torn end of %s: %s", path,
                                strerror(errno));
            if (fd >= 0)
                close(fd);
        }
    }
    free(raw);
    j->size = off;
    if (rc == 0)
        rc = open_log_fd(j, j->gen, err);
    return rc;
}

/* Parse "<kind>-<gen><suffix>" exactly. */
static bool parse_name(const char *name, const char *kind, const char *suffix, uint64_t *gen)
{
    size_t kl = strlen(kind), sl = strlen(suffix), nl = strlen(name);
    if (nl <= kl + 1 + sl || strncmp(name, kind, kl) != 0 || name[kl] != '-' ||
        strcmp(name + nl - sl, suffix) != 0)
        return false;
    uint64_t v = 0;
    for (size_t i = kl + 1; i < nl - sl; i++) {
        if (name[i] < '0' || name[i] > '9' || v > UINT64_MAX / 10 - 1)
            return false;
        v = v * 10 + (uint64_t)(name[i] - '0');
    }
    *gen = v;
    return true;
}

/* Find the current generation; remove leftovers of an interrupted compaction
 * (tmp files, files of older generations). */
static int scan_dir(struct journal *j, bool *have_snapshot, struct journal_report *rep,
                    struct hs_err *err)
{
    DIR *d = opendir(j->dir);
    if (!d)
        return hs_err_set(err, -errno, "journal: cannot read %s: %s", j->dir, strerror(errno));
    uint64_t best = 0, g;
    bool snap = false, removed = false;
    struct dirent *e;
    while ((e = readdir(d)))
        if (parse_name(e->d_name, "snapshot", ".zst", &g) && (!snap || g > best)) {
            best = g;
            snap = true;
        }
    rewinddir(d);
    int rc = 0;
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        size_t nl = strlen(n);
        bool drop = nl > 4 && strcmp(n + nl - 4, ".tmp") == 0 &&
                    (strncmp(n, "log-", 4) == 0 || strncmp(n, "snapshot-", 9) == 0);
        if ((parse_name(n, "snapshot", ".zst", &g) || parse_name(n, "log", ".jnl", &g)) && g < best)
            drop = true;
        if (parse_name(n, "log", ".jnl", &g) && g > best) {
            rc = hs_err_set(err, -EBADMSG,
                            "journal: %s/%s is newer than every snapshot (the "
                            "newest is generation %" PRIu64 "); refusing to guess",
                            j->dir, n, best);
            break;
        }
        if (drop) {
            if (unlinkat(dirfd(d), n, 0) < 0 && errno != ENOENT) {
                rc = hs_err_set(err, -errno, "journal: cannot remove %s/%s: %s", j->dir, n,
                                strerror(errno));
                break;
            }
            rep->removed_files++;
            removed = true;
        }
    }
    closedir(d);
    if (rc == 0 && removed)
        rc = hs_fsync_dir(j->dir);
    j->gen = best;
    *have_snapshot = snap;
    return rc;
}

int journal_open(const char *dir, journal_replay_fn fn, void *ud, struct journal **out,
                 struct journal_report *report, struct hs_err *err)
{
    struct journal_report local;
    struct journal_report *rep = report ? report : &local;
    memset(rep, 0, sizeof(*rep));
    *out = NULL;
    struct journal *j = calloc(1, sizeof(*j));
    if (!j)
        return hs_err_set(err, -ENOMEM, "journal: out of memory");
    j->fd = -1;
    int rc;
    if (snprintf(j->dir, sizeof(j->dir), "%s", dir) >= (int)sizeof(j->dir)) {
        rc = hs_err_set(err, -ENAMETOOLONG, "journal: directory name too long");
        goto fail;
    }
    struct stat st;
    bool existed = stat(dir, &st) == 0;
    rc = hs_mkdir_p(dir, 0700);
    if (rc < 0) {
        hs_err_set(err, rc, "journal: cannot create %s: %s", dir, hs_strerror(rc));
        goto fail;
    }
    if (!existed) { /* make the new directory's own entry durable */
        char parent[HS_PATH_MAX];
        snprintf(parent, sizeof(parent), "%s", dir);
        hs_fsync_dir(dirname(parent));
    }
    bool have_snapshot = false;
    rc = scan_dir(j, &have_snapshot, rep, err);
    if (rc < 0)
        goto fail;
    j->next_seq = 0;
    if (have_snapshot) {
        char path[HS_PATH_MAX];
        rc = file_path(path, sizeof(path), dir, "snapshot", j->gen, ".zst");
        if (rc == 0)
            rc = replay_snapshot(path, j->gen, fn, ud, &j->next_seq, &rep->snapshot_records, err);
        if (rc < 0)
            goto fail;
    }
    rc = replay_log(j, fn, ud, rep, err);
    if (rc < 0)
        goto fail;
    rep->generation = j->gen;
    rep->log_records = j->records;
    *out = j;
    return 0;
fail:
    journal_close(j);
    return rc;
}

/* ---- appends ----------------------------------------------------------- */

static int append(struct journal *j, const struct journal_entry *entries, size_t n, bool sync,
                  struct hs_err *err)
{
    if (j->broken)
        return hs_err_set(err, -EIO,
                          "journal: an earlier failed append could not be undone; "
                          "reopen the journal");
    if (n == 0)
        return 0;
    struct hs_buf b;
    hs_buf_init(&b, (size_t)64 << 20);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = frame_record(&b, entries[i].type, j->next_seq + i, entries[i].payload, err);
    if (rc == 0) {
        rc = pwrite_all(j->fd, b.data, b.len, (off_t)j->size, true);
        if (rc == 0 && sync && do_fdatasync(j->fd) < 0) {
            /* After a failed fsync the page cache cannot be trusted (the data
             * may or may not be on disk): only a reopen and replay can say. */
            rc = -errno;
            j->broken = true;
            hs_err_set(err, rc, "journal: fdatasync failed: %s", strerror(-rc));
        } else if (rc < 0) {
            hs_err_set(err, rc, "journal: cannot append %zu record(s): %s", n, hs_strerror(rc));
            /* Cut back whatever part of the batch reached the file. */
            if (ftruncate(j->fd, (off_t)j->size) < 0)
                j->broken = true;
        }
    }
    size_t len = b.len;
    hs_buf_free(&b);
    if (rc < 0)
        return rc;
    j->size += len;
    j->next_seq += n;
    j->records += n;
    return 0;
}

int journal_append_batch(struct journal *j, const struct journal_entry *entries, size_t n,
                         struct hs_err *err)
{
    return append(j, entries, n, true, err);
}

int journal_append(struct journal *j, uint16_t type, const json_t *payload, struct hs_err *err)
{
    struct journal_entry e = {type, payload};
    return journal_append_batch(j, &e, 1, err);
}

int journal_append_nosync(struct journal *j, const struct journal_entry *entries, size_t n,
                          struct hs_err *err)
{
    return append(j, entries, n, false, err);
}

int journal_sync_fd(struct journal *j)
{
    if (j->broken)
        return -EIO;
    int fd = fcntl(j->fd, F_DUPFD_CLOEXEC, 0);
    return fd < 0 ? -errno : fd;
}

int journal_fdatasync(int fd)
{
    return do_fdatasync(fd) < 0 ? -errno : 0;
}

void journal_set_broken(struct journal *j)
{
    j->broken = true;
}

/* ---- compaction -------------------------------------------------------- */

int journal_compact(struct journal *j, const struct journal_entry *entries, size_t n,
                    struct hs_err *err)
{
    if (j->broken)
        return hs_err_set(err, -EIO, "journal: reopen the journal before compacting");
    uint64_t g1 = j->gen + 1;
    struct hs_buf b;
    hs_buf_init(&b, (size_t)JOURNAL_SNAPSHOT_MAX);
    unsigned char h[SNAP_HDR_LEN];
    memcpy(h, SNAP_MAGIC, 8);
    put32(h + 8, JOURNAL_FORMAT_VERSION);
    put32(h + 12, 0);
    put64(h + 16, g1);
    put64(h + 24, j->next_seq);
    put64(h + 32, n);
    put32(h + 40, journal_crc32c(0, h, 40));
    int rc = hs_buf_append(&b, h, sizeof(h));
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = frame_record(&b, entries[i].type, i, entries[i].payload, err);
    if (rc < 0) {
        hs_buf_free(&b);
        if (err && err->code == 0)
            hs_err_set(err, rc, "journal: snapshot too large: %s", hs_strerror(rc));
        return rc;
    }
    size_t zcap = ZSTD_compressBound(b.len);
    void *z = malloc(zcap);
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    size_t zlen = 0;
    if (!z || !cctx)
        rc = -ENOMEM;
    else {
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, SNAP_ZSTD_LVL);
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1);
        zlen = ZSTD_compress2(cctx, z, zcap, b.data, b.len);
        if (ZSTD_isError(zlen))
            rc = -EIO;
    }
    ZSTD_freeCCtx(cctx);
    hs_buf_free(&b);
    char snap[HS_PATH_MAX], oldsnap[HS_PATH_MAX], oldlog[HS_PATH_MAX];
    if (rc == 0)
        rc = file_path(snap, sizeof(snap), j->dir, "snapshot", g1, ".zst");
    if (rc == 0)
        rc = file_path(oldsnap, sizeof(oldsnap), j->dir, "snapshot", j->gen, ".zst");
    if (rc == 0)
        rc = file_path(oldlog, sizeof(oldlog), j->dir, "log", j->gen, ".jnl");
    if (rc < 0) {
        free(z);
        return hs_err_set(err, rc, "journal: cannot build snapshot: %s", hs_strerror(rc));
    }
    /* Step 1+2: the snapshot becomes visible atomically; from here on replay
     * uses generation g1 and ignores log-G (the snapshot holds all of it). */
    rc = write_atomic(snap, z, zlen, true);
    free(z);
    if (rc == -ECANCELED)
        return hs_err_set(err, rc, "journal: simulated crash before the snapshot rename");
    if (rc < 0)
        return hs_err_set(err, rc, "journal: cannot write %s: %s", snap, hs_strerror(rc));
    if (crash_at(JOURNAL_STEP_SNAPSHOT_RENAMED))
        return hs_err_set(err, -ECANCELED, "journal: simulated crash after the snapshot rename");
    /* Step 3: the new, empty log. If this fails, the snapshot is already the
     * truth; stop appending until a reopen creates the log. */
    rc = create_log(j, g1, err);
    if (rc == 0)
        rc = open_log_fd(j, g1, err);
    if (rc < 0) {
        j->broken = true;
        return rc;
    }
    j->gen = g1;
    j->size = LOG_HDR_LEN;
    j->records = 0;
    if (crash_at(JOURNAL_STEP_LOG_CREATED))
        return hs_err_set(err, -ECANCELED, "journal: simulated crash before removing old files");
    /* Step 4: old files are garbage now; journal_open would remove them too. */
    unlink(oldsnap);
    unlink(oldlog);
    hs_fsync_dir(j->dir);
    return 0;
}

/* ---- accessors --------------------------------------------------------- */

uint64_t journal_log_bytes(const struct journal *j)
{
    return j->size;
}

uint64_t journal_log_records(const struct journal *j)
{
    return j->records;
}

uint64_t journal_generation(const struct journal *j)
{
    return j->gen;
}

struct journal *journal_close(struct journal *j)
{
    if (!j)
        return NULL;
    if (j->fd >= 0)
        close(j->fd);
    free(j);
    return NULL;
}
