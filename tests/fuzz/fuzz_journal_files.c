/*
 * fuzz_journal_files.c — see fuzz_journal_files.h. Owns the scratch
 * directory of the journal fuzz targets (a tmpfs when /dev/shm is there:
 * journal.c fsyncs, and each input is a fresh journal) and the checksum
 * fix-up; knows the byte layout of journal.c but none of its code.
 */
#include "fuzz_journal_files.h"

#include "common.h"
#include "journal.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

static char root[HS_PATH_MAX];
static char sub_path[HS_PATH_MAX];

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static void remove_root(void)
{
    nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *fj_scratch(const char *sub)
{
    if (!root[0]) {
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
        snprintf(root, sizeof(root), "%s/hs-fuzz-journal-XXXXXX", base ? base : "/tmp");
        if (!mkdtemp(root))
            abort();
        atexit(remove_root);
    }
    char dir[HS_PATH_MAX];
    if (hs_path_join(dir, sizeof(dir), root, "d") < 0)
        abort();
    if (nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
        abort();
    if (mkdir(dir, 0700) < 0)
        abort();
    if (!sub) {
        snprintf(sub_path, sizeof(sub_path), "%s", dir);
        return sub_path;
    }
    if (hs_path_join(sub_path, sizeof(sub_path), dir, sub) < 0 || mkdir(sub_path, 0700) < 0)
        abort();
    return sub_path;
}

/* Recompute the record checksums from off on; normalise magic and version. */
static void fix_records(uint8_t *p, size_t n, size_t off, bool snapshot)
{
    for (uint64_t i = 0; off + 24 <= n; i++) {
        put32(p + off, UINT32_C(0x524a5348));
        p[off + 4] = JOURNAL_FORMAT_VERSION;
        p[off + 5] = 0;
        if (snapshot)
            put64(p + off + 12, i); /* snapshot records count 0.. */
        uint32_t len = get32(p + off + 8);
        if (len > n - off - 24)
            break; /* a torn record stays torn */
        put32(p + off + 20, journal_crc32c(journal_crc32c(0, p + off, 20), p + off + 24, len));
        off += 24 + (size_t)len;
    }
}

static void fix_up(uint8_t *p, size_t n, bool snapshot)
{
    if (snapshot) {
        if (n < 44)
            return;
        memcpy(p, "HSJSNAP\n", 8);
        put32(p + 8, JOURNAL_FORMAT_VERSION);
        put32(p + 12, 0);
        put64(p + 16, 1);
        put32(p + 40, journal_crc32c(0, p, 40));
        fix_records(p, n, 44, true);
    } else {
        if (n < 28)
            return;
        memcpy(p, "HSJLOG\r\n", 8);
        put32(p + 8, JOURNAL_FORMAT_VERSION);
        put32(p + 12, 0);
        put64(p + 16, 0);
        put32(p + 24, journal_crc32c(0, p, 24));
        fix_records(p, n, 28, false);
    }
}

static void write_file(const char *dir, const char *name, const void *d, size_t n)
{
    char path[HS_PATH_MAX];
    if (hs_path_join(path, sizeof(path), dir, name) < 0)
        abort();
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(d, 1, n, f) != n) || fclose(f) != 0)
        abort();
}

unsigned fj_write(const char *dir, const uint8_t *data, size_t size, uint8_t **logical,
                  size_t *logical_len)
{
    unsigned mode = size ? data[0] : 0;
    size_t n = size ? size - 1 : 0;
    uint8_t *p = malloc(n ? n : 1);
    if (!p)
        abort();
    memcpy(p, data + (size ? 1 : 0), n);
    if (mode & FJ_FIX_CRC)
        fix_up(p, n, mode & FJ_SNAPSHOT);
    if (mode & FJ_SNAPSHOT) {
        size_t cap = ZSTD_compressBound(n);
        void *z = malloc(cap);
        ZSTD_CCtx *cctx = ZSTD_createCCtx();
        if (!z || !cctx)
            abort();
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 1);
        size_t zn = ZSTD_compress2(cctx, z, cap, p, n);
        if (ZSTD_isError(zn))
            abort();
        ZSTD_freeCCtx(cctx);
        write_file(dir, "snapshot-1.zst", z, zn);
        free(z);
    } else {
        write_file(dir, "log-0.jnl", p, n);
    }
    *logical = p;
    *logical_len = n;
    return mode;
}
