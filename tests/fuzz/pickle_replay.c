/*
 * pickle_replay.c — the fast, compiler-independent stand-in for running the
 * libFuzzer target in CI: feeds every file of the seed corpus to
 * LLVMFuzzerTestOneInput, then N deterministic mutations of each (bit
 * flips, interesting bytes, pickle opcodes inserted, truncation, chunk
 * duplication, splicing two seeds). Run under ASan/UBSan in CI's sanitize
 * pass. Usage: pickle_replay CORPUS_DIR [MUTATIONS_PER_SEED] [SEED]
 * Prints "pickle_replay: N inputs, A accepted, R refused".
 */
#include "common.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t rng_state;
static uint64_t rnd(void)
{
    /* splitmix64: reproducible across platforms */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

struct seed {
    unsigned char *d;
    size_t n;
};

static const unsigned char opcodes[] = {
    0x80, 0x95, '.',  '(',  '0', '1',  '2', '}',  ']',  ')', 0x8f, 'N',  0x88, 0x89, 'K',  'M',
    'J',  0x8a, 'G',  0x8c, 'X', 0x8d, 'c', 0x93, 0x94, 'q', 'r',  'h',  'j',  0x85, 0x86, 0x87,
    't',  'l',  0x91, 'd',  'a', 's',  'e', 0x90, 'u',  'R', 0x81, 0x92, 'b',  'Q',  'S',  0xff};

static size_t mutate(const struct seed *s, const struct seed *other, unsigned char *buf, size_t cap)
{
    size_t n = s->n < cap ? s->n : cap;
    memcpy(buf, s->d, n);
    int rounds = 1 + (int)(rnd() % 4);
    for (int k = 0; k < rounds && n > 0; k++) {
        size_t pos = rnd() % n;
        switch (rnd() % 7) {
        case 0: /* bit flip */
            buf[pos] ^= (unsigned char)(1u << (rnd() % 8));
            break;
        case 1: { /* interesting byte */
            static const unsigned char v[] = {0, 1, 0x7f, 0x80, 0xff, '\n', 0x20};
            buf[pos] = v[rnd() % sizeof(v)];
            break;
        }
        case 2: /* opcode overwrite */
            buf[pos] = opcodes[rnd() % sizeof(opcodes)];
            break;
        case 3: /* opcode insertion */
            if (n < cap) {
                memmove(buf + pos + 1, buf + pos, n - pos);
                buf[pos] = opcodes[rnd() % sizeof(opcodes)];
                n++;
            }
            break;
        case 4: /* truncation */
            n = pos;
            break;
        case 5: { /* duplicate a chunk */
            size_t len = 1 + rnd() % 32;
            if (pos + len <= n && n + len <= cap) {
                memmove(buf + pos + len, buf + pos, n - pos);
                n += len;
            }
            break;
        }
        case 6: { /* splice the tail of another seed */
            size_t from = other->n ? rnd() % other->n : 0;
            size_t len = other->n - from;
            if (pos + len > cap)
                len = cap - pos;
            memcpy(buf + pos, other->d + from, len);
            n = pos + len;
            break;
        }
        }
    }
    return n;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: pickle_replay CORPUS_DIR [MUTATIONS_PER_SEED] [SEED]\n");
        return 2;
    }
    long per_seed = argc > 2 ? strtol(argv[2], NULL, 10) : 400;
    rng_state = argc > 3 ? strtoull(argv[3], NULL, 10) : 20261126;
    struct seed seeds[256];
    size_t ns = 0;
    DIR *d = opendir(argv[1]);
    if (!d) {
        perror(argv[1]);
        return 1;
    }
    struct dirent *e;
    while ((e = readdir(d)) && ns < HS_ARRAY_SIZE(seeds)) {
        if (e->d_name[0] == '.')
            continue;
        char p[HS_PATH_MAX];
        if (hs_path_join(p, sizeof(p), argv[1], e->d_name) < 0)
            continue;
        char *data;
        size_t len;
        if (hs_read_file(p, 1u << 20, &data, &len) < 0)
            continue;
        seeds[ns].d = (unsigned char *)data;
        seeds[ns].n = len;
        ns++;
    }
    closedir(d);
    if (ns == 0) {
        fprintf(stderr, "pickle_replay: no seeds in %s\n", argv[1]);
        return 1;
    }
    size_t inputs = 0;
    for (size_t i = 0; i < ns; i++, inputs++)
        LLVMFuzzerTestOneInput(seeds[i].d, seeds[i].n);
    size_t cap = 1u << 16;
    unsigned char *buf = malloc(cap);
    for (size_t i = 0; i < ns; i++) {
        for (long m = 0; m < per_seed; m++, inputs++) {
            size_t n = mutate(&seeds[i], &seeds[rnd() % ns], buf, cap);
            /* an exact-size copy so ASan sees reads past the end */
            unsigned char *in = malloc(n ? n : 1);
            memcpy(in, buf, n);
            LLVMFuzzerTestOneInput(in, n);
            free(in);
        }
    }
    free(buf);
    for (size_t i = 0; i < ns; i++)
        free(seeds[i].d);
    printf("pickle_replay: %zu inputs from %zu seeds, no crash\n", inputs, ns);
    return 0;
}
