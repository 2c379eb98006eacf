/*
 * pbar.h — internal to daemon/ (the CLI): the progress display of `hubsync
 * push`. On a terminal one line redrawn in place ("\r", the line, erase to
 * the end of the line), never longer than the terminal is wide (it cannot
 * wrap), with the phase, a bar, percent, bytes, a moving-average rate,
 * elapsed time, an ETA once something moved, and the changed files;
 * without a terminal one line every interval, never the same line twice.
 */
#ifndef HUBSYNC_DAEMON_PBAR_H
#define HUBSYNC_DAEMON_PBAR_H

#include "common.h"
#include "uploader.h"

#include <stdio.h>

struct pbar {
    bool tty;
    hs_usec_t interval; /* without a terminal: at most one line per interval */
    hs_usec_t started, phase_started, last_sample, last_line;
    uint64_t last_bytes, total;   /* total: the bytes to hash (PHASE_HASH) */
    double rate;                  /* bytes/s, exponential moving average */
    int phase;                    /* -1 before the first call */
    bool drawn;                   /* a terminal line is on screen */
    char last[512];               /* the last line drawn */
    char key[256], last_key[256]; /* what a line says, time and rate aside (no duplicates) */
};

void pbar_init(struct pbar *b, bool tty, hs_usec_t interval, uint64_t hash_total);
/* Format one line for a terminal width (0: no limit) into out; no control bytes. */
void pbar_format(struct pbar *b, const struct uploader_progress *p, hs_usec_t now, unsigned width,
                 char *out, size_t n);
/* Draw p on f (stderr) now: a terminal's width is asked each time. */
void pbar_update(struct pbar *b, const struct uploader_progress *p, FILE *f);
/* End the terminal line (before other output). */
void pbar_end(struct pbar *b, FILE *f);

#endif
