/*
 * fuzz_journal_files.h — shared by fuzz_journal.c and fuzz_jstate.c: turn a
 * fuzz input into journal files in a scratch directory.
 *
 * Input: a mode byte, then file bytes.
 *   bit 0  fix the checksums (and magic, version, generation) so mutations
 *          reach the record and payload parsers instead of dying at the CRC;
 *          without it the bytes are written as they are (damage handling);
 *   bit 1  the bytes are a snapshot's content (zstd-compressed here into
 *          snapshot-1.zst, no log-1.jnl: the state a crash right after the
 *          snapshot rename leaves); otherwise they are log-0.jnl.
 * The layout is journal.c's (see its header comment).
 */
#ifndef HUBSYNC_FUZZ_JOURNAL_FILES_H
#define HUBSYNC_FUZZ_JOURNAL_FILES_H

#include <stddef.h>
#include <stdint.h>

#define FJ_FIX_CRC  1u
#define FJ_SNAPSHOT 2u

/* A fresh, empty scratch directory (the same path for the whole process);
 * sub is created inside it when not NULL. Returns the path of sub (or of
 * the directory). Aborts when the file system refuses. */
const char *fj_scratch(const char *sub);

/* Write the input's files into dir. *logical / *logical_len receive the
 * bytes as written (after the optional fix-up; the snapshot content before
 * compression). Returns the mode byte. */
unsigned fj_write(const char *dir, const uint8_t *data, size_t size, uint8_t **logical,
                  size_t *logical_len);

#endif
