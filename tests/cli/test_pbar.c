/* test_pbar.c — cli/pbar.c: the progress line of `hubsync push` while the
 * push's stages overlap (files uploaded while later ones are hashed), and
 * the single-stage lines the scripts and integration tests grep. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pbar.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GIB (1024ull * 1024 * 1024)
#define MIB (1024ull * 1024)

/* 1.2 GiB of 4.0 GiB hashed (30%), 310 MiB of the 1.0 GiB known so far sent (30%) */
static struct uploader_progress overlapped(void)
{
    return (struct uploader_progress){
        .phase = UPLOADER_PHASE_HASH,
        .stages = UPLOADER_STAGE_HASH | UPLOADER_STAGE_UPLOAD,
        .hashed_bytes = 1288490189,
        .sent_bytes = 310 * MIB,
        .send_total = 1 * GIB,
        .files_hashed = 1,
        .objects_total = 1,
    };
}

static void format(struct pbar *b, const struct uploader_progress *p, unsigned width, char *out,
                   size_t n)
{
    pbar_format(b, p, b->started + 7 * HS_USEC_PER_SEC, width, out, n);
}

static void test_overlap_both_numbers_every_width(void **state)
{
    (void)state;
    static const unsigned widths[] = {60, 80, 200};
    struct uploader_progress p = overlapped();
    for (size_t i = 0; i < HS_ARRAY_SIZE(widths); i++) {
        struct pbar b;
        pbar_init(&b, true, 0, 4 * GIB);
        char line[512];
        format(&b, &p, widths[i], line, sizeof(line));
        print_message("%3u: |%s|\n", widths[i], line);
        assert_true(strlen(line) <= widths[i] - 1); /* never wraps */
        assert_non_null(strstr(line, "hashing 1.2 GiB / 4.0 GiB, uploading 310.0 MiB"));
        assert_null(strstr(line, "hashing:")); /* not the single-stage wording */
        if (widths[i] >= 80) {
            assert_non_null(strstr(line, "uploading 310.0 MiB / 1.0 GiB "));
            assert_non_null(strstr(line, " 30% "));
        }
        if (widths[i] >= 200) {
            assert_non_null(strstr(line, "]  30% 0:07"));
            assert_non_null(strstr(line, "1.0 GiB ["));
        }
    }
}

/* The widest numbers (1023.9 MiB each) still leave both at 60 columns. */
static void test_overlap_widest_numbers_at_60(void **state)
{
    (void)state;
    struct pbar b;
    pbar_init(&b, true, 0, 1023 * GIB + 950 * MIB);
    struct uploader_progress p = overlapped();
    p.hashed_bytes = 1023 * MIB + 950 * 1024;
    p.sent_bytes = 1023 * MIB + 900 * 1024;
    p.send_total = 1023 * MIB + 990 * 1024;
    char line[512];
    format(&b, &p, 60, line, sizeof(line));
    print_message(" 60: |%s|\n", line);
    assert_true(strlen(line) <= 59);
    assert_non_null(strstr(line, "hashing 1023.9 MiB / 1023.9 GiB, uploading 1023.9 MiB"));
}

/* The bar follows the hashing while its total is known: with 2.0 GiB of 4.0
 * hashed and the upload at 30% of what is known, the line says 50%. */
static void test_overlap_percent_is_hashing(void **state)
{
    (void)state;
    struct pbar b;
    pbar_init(&b, false, 0, 4 * GIB);
    struct uploader_progress p = overlapped();
    p.hashed_bytes = 2 * GIB;
    char line[512];
    format(&b, &p, 0, line, sizeof(line));
    assert_non_null(strstr(line, "hashing 2.0 GiB / 4.0 GiB, uploading 310.0 MiB / 1.0 GiB "));
    assert_non_null(strstr(line, " 50% "));
}

/* A service's save: the bytes to hash are not known, so the bar is the upload's. */
static void test_overlap_unknown_hash_total(void **state)
{
    (void)state;
    struct pbar b;
    pbar_init(&b, false, 0, 0);
    struct uploader_progress p = overlapped();
    p.sent_bytes = 512 * MIB;
    char line[512];
    format(&b, &p, 0, line, sizeof(line));
    assert_non_null(strstr(line, "hashing 1.2 GiB, uploading 512.0 MiB / 1.0 GiB "));
    assert_non_null(strstr(line, " 50% "));
}

/* One stage: the wording tests/uploader/test_push_signal.sh and the
 * integration tests grep. */
static void test_single_stage_unchanged(void **state)
{
    (void)state;
    struct pbar b;
    pbar_init(&b, false, 0, 4 * GIB);
    struct uploader_progress p = overlapped();
    p.stages = UPLOADER_STAGE_HASH;
    char line[512];
    format(&b, &p, 0, line, sizeof(line));
    assert_non_null(strstr(line, "hashing: 1.2 GiB / 4.0 GiB ["));
    /* every file hashed, uploads still running while preupload answers */
    p.phase = UPLOADER_PHASE_PREUPLOAD;
    p.stages = UPLOADER_STAGE_UPLOAD;
    format(&b, &p, 0, line, sizeof(line));
    assert_non_null(strstr(line, "upload: 310.0 MiB / 1.0 GiB ["));
    p.phase = UPLOADER_PHASE_UPLOAD;
    format(&b, &p, 80, line, sizeof(line));
    assert_true(strncmp(line, "upload: 310.0 MiB / 1.0 GiB [", 29) == 0);
}

/* Without a terminal, a line whose upload moved is new even when the
 * hashing did not, and a line that says nothing new is not printed. */
static void test_log_mode_prints_upload_moves(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    struct pbar b;
    pbar_init(&b, false, 0, 4 * GIB);
    struct uploader_progress p = overlapped();
    pbar_update(&b, &p, f);
    pbar_update(&b, &p, f); /* nothing new */
    p.sent_bytes = 400 * MIB;
    pbar_update(&b, &p, f);
    fclose(f);
    print_message("%s", buf);
    size_t lines = 0;
    for (const char *s = buf; (s = strchr(s, '\n')); s++)
        lines++;
    assert_int_equal(lines, 2);
    assert_non_null(strstr(buf, "uploading 310.0 MiB / 1.0 GiB"));
    assert_non_null(strstr(buf, "uploading 400.0 MiB / 1.0 GiB"));
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_overlap_both_numbers_every_width),
        cmocka_unit_test(test_overlap_widest_numbers_at_60),
        cmocka_unit_test(test_overlap_percent_is_hashing),
        cmocka_unit_test(test_overlap_unknown_hash_total),
        cmocka_unit_test(test_single_stage_unchanged),
        cmocka_unit_test(test_log_mode_prints_upload_moves),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
