/*
 * fuzz_replay.c — the shared, compiler-independent stand-in for libFuzzer
 * that ctest runs (gcc, and under ASan/UBSan in the sanitize pass). Linked
 * with one fuzz_<name>.c, it feeds LLVMFuzzerTestOneInput every seed, then
 * N deterministic mutations of each: bit flips, interesting bytes, tokens
 * of a libFuzzer-format dictionary (-d FILE, the same file run-libfuzzer.sh
 * passes as -dict=) overwritten or inserted, truncation, chunk duplication
 * and deletion, splicing two seeds. It does not explore like libFuzzer
 * (no coverage feedback); it keeps the corpus and the invariants of every
 * target honest on every CI run.
 *
 * Usage: fuzz_<name>_replay [-d DICT] [-n MUTATIONS_PER_SEED] [-s SEED] PATH...
 * PATH is a corpus directory or one input file (a crash reproducer).
 * Prints "<prog>: N inputs from M seeds, no crash".
 */
#include "common.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SEEDS  1024
#define MAX_TOKENS 512
#define INPUT_CAP  (1u << 17)

struct blob {
    unsigned char *d;
    size_t n;
};

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* splitmix64: the same sequence on every platform */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static struct blob seeds[MAX_SEEDS], tokens[MAX_TOKENS];
static size_t n_seeds, n_tokens;

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* One dictionary line: [name=]"value" with \\, \" and \xNN escapes. */
static void dict_line(const char *line)
{
    const char *q = strchr(line, '"');
    if (!q || line[0] == '#' || n_tokens == MAX_TOKENS)
        return;
    unsigned char buf[256];
    size_t n = 0;
    for (const char *p = q + 1; *p && *p != '"' && n < sizeof(buf); p++) {
        if (*p == '\\' && p[1] == 'x' && hexval(p[2]) >= 0 && hexval(p[3]) >= 0) {
            buf[n++] = (unsigned char)(hexval(p[2]) << 4 | hexval(p[3]));
            p += 3;
        } else if (*p == '\\' && p[1]) {
            buf[n++] = (unsigned char)*++p;
        } else {
            buf[n++] = (unsigned char)*p;
        }
    }
    if (n == 0)
        return;
    tokens[n_tokens].d = malloc(n);
    if (!tokens[n_tokens].d)
        return;
    memcpy(tokens[n_tokens].d, buf, n);
    tokens[n_tokens++].n = n;
}

static int load_dict(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return -1;
    }
    char line[1024];
    while (fgets(line, sizeof(line), f))
        dict_line(line);
    fclose(f);
    return 0;
}

static void add_seed(const char *path)
{
    char *data;
    size_t len;
    if (n_seeds == MAX_SEEDS || hs_read_file(path, INPUT_CAP, &data, &len) < 0)
        return;
    seeds[n_seeds].d = (unsigned char *)data;
    seeds[n_seeds++].n = len;
}

static int load_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        perror(path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        add_seed(path);
        return 0;
    }
    struct dirent **names;
    int n = scandir(path, &names, NULL, alphasort); /* sorted: same order everywhere */
    if (n < 0) {
        perror(path);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        char p[HS_PATH_MAX];
        if (names[i]->d_name[0] != '.' && hs_path_join(p, sizeof(p), path, names[i]->d_name) == 0)
            add_seed(p);
        free(names[i]);
    }
    free(names);
    return 0;
}

static void insert_bytes(unsigned char *buf, size_t *n, size_t cap, size_t pos,
                         const unsigned char *src, size_t len)
{
    if (*n + len > cap)
        return;
    memmove(buf + pos + len, buf + pos, *n - pos);
    memcpy(buf + pos, src, len);
    *n += len;
}

static size_t mutate(const struct blob *s, const struct blob *other, unsigned char *buf, size_t cap)
{
    size_t n = s->n < cap ? s->n : cap;
    memcpy(buf, s->d, n);
    int rounds = 1 + (int)(rnd() % 4);
    for (int k = 0; k < rounds; k++) {
        size_t pos = n ? rnd() % (n + 1) : 0;
        switch (rnd() % 9) {
        case 0: /* bit flip */
            if (pos < n)
                buf[pos] ^= (unsigned char)(1u << (rnd() % 8));
            break;
        case 1: { /* interesting byte */
            static const unsigned char v[] = {0,    1,   0x7f, 0x80, 0xff, '\n', ' ', '"',
                                              '\\', '{', '}',  '[',  ']',  ',',  ':', '0'};
            if (pos < n)
                buf[pos] = v[rnd() % sizeof(v)];
            break;
        }
        case 2: /* dictionary token overwrite */
        case 3: /* dictionary token insertion */
            if (n_tokens) {
                const struct blob *t = &tokens[rnd() % n_tokens];
                if (k % 2 == 0 && pos + t->n <= n)
                    memcpy(buf + pos, t->d, t->n);
                else
                    insert_bytes(buf, &n, cap, pos, t->d, t->n);
            }
            break;
        case 4: /* truncation */
            n = pos;
            break;
        case 5: { /* duplicate a chunk */
            size_t len = 1 + rnd() % 64;
            if (pos + len <= n && n + len <= cap) {
                /* shifting the tail leaves buf[pos, pos+len) twice */
                memmove(buf + pos + len, buf + pos, n - pos);
                n += len;
            }
            break;
        }
        case 6: { /* delete a chunk */
            size_t len = 1 + rnd() % 16;
            if (pos + len <= n) {
                memmove(buf + pos, buf + pos + len, n - pos - len);
                n -= len;
            }
            break;
        }
        case 7: { /* splice the tail of another seed */
            size_t from = other->n ? rnd() % other->n : 0;
            size_t len = other->n - from;
            if (pos + len > cap)
                len = cap - pos;
            memcpy(buf + pos, other->d + from, len);
            n = pos + len;
            break;
        }
        case 8: /* a run of one byte (long numbers, deep nesting) */
            if (pos < n) {
                unsigned char run[48];
                memset(run, buf[pos], sizeof(run));
                insert_bytes(buf, &n, cap, pos, run, 1 + rnd() % sizeof(run));
            }
            break;
        }
    }
    return n;
}

/* The input being run, written to ./replay-crash when a target aborts or
 * (without ASan, which reports itself) crashes, like libFuzzer's crash-*. */
static const unsigned char *cur;
static size_t cur_len;

static void on_crash(int sig)
{
    int fd = open("replay-crash", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        ssize_t w = write(fd, cur, cur_len);
        (void)w;
        close(fd);
        static const char msg[] = "fuzz_replay: input written to ./replay-crash\n";
        w = write(2, msg, sizeof(msg) - 1);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/* An exact-size heap copy so ASan sees a read past the end. */
static void run_one(const unsigned char *d, size_t n)
{
    unsigned char *in = malloc(n ? n : 1);
    if (!in)
        abort();
    memcpy(in, d, n);
    cur = in;
    cur_len = n;
    LLVMFuzzerTestOneInput(in, n);
    free(in);
}

int main(int argc, char **argv)
{
    const char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    long per_seed = 200;
    rng_state = 20261127;
    int opt;
    while ((opt = getopt(argc, argv, "d:n:s:")) != -1) {
        switch (opt) {
        case 'd':
            if (load_dict(optarg) < 0)
                return 1;
            break;
        case 'n':
            per_seed = strtol(optarg, NULL, 10);
            break;
        case 's':
            rng_state = strtoull(optarg, NULL, 10);
            break;
        default:
            fprintf(stderr, "usage: %s [-d DICT] [-n MUTATIONS] [-s SEED] PATH...\n", prog);
            return 2;
        }
    }
    signal(SIGABRT, on_crash);
#ifndef __SANITIZE_ADDRESS__
    signal(SIGSEGV, on_crash);
    signal(SIGBUS, on_crash);
#endif
    for (int i = optind; i < argc; i++)
        if (load_path(argv[i]) < 0)
            return 1;
    if (n_seeds == 0) {
        fprintf(stderr, "%s: no seeds\n", prog);
        return 1;
    }
    size_t inputs = 0;
    for (size_t i = 0; i < n_seeds; i++, inputs++)
        run_one(seeds[i].d, seeds[i].n);
    unsigned char *buf = malloc(INPUT_CAP);
    if (!buf)
        return 1;
    for (size_t i = 0; i < n_seeds; i++) {
        for (long m = 0; m < per_seed; m++, inputs++) {
            size_t n = mutate(&seeds[i], &seeds[rnd() % n_seeds], buf, INPUT_CAP);
            run_one(buf, n);
        }
    }
    free(buf);
    for (size_t i = 0; i < n_seeds; i++)
        free(seeds[i].d);
    for (size_t i = 0; i < n_tokens; i++)
        free(tokens[i].d);
    printf("%s: %zu inputs from %zu seeds (%zu dictionary tokens), no crash\n", prog, inputs,
           n_seeds, n_tokens);
    return 0;
}
