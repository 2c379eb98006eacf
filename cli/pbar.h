/*
 * pbar.h — internal to cli/: the progress display of `hubsync push`, and
 * of `run -v` / `daemon -v` on a terminal (pbar_service_progress). On a terminal one line redrawn
 * in place ("\r", the line, erase to the end of the line), never longer than the terminal is wide
 * (it cannot wrap), with the phase, a bar, percent, bytes, a moving-average rate, elapsed time, an
 * ETA once something moved, and the changed files; while files are uploaded as later ones are
 * still hashed, both stages' bytes on the one line ("hashing X / Y, uploading S / K", the bar the
 * hashing's while its total is known, see pbar_format); without a terminal one line every
 * interval, never the same line twice.
 */
#ifndef HUBSYNC_DAEMON_PBAR_H
#define HUBSYNC_DAEMON_PBAR_H

#include "common.h"
#include "uploader.h"

#include <stdio.h>

struct pbar {
    bool tty;
    hs_usec_t interval; /* without a terminal: at most one line per interval */
    hs_usec_t started, last_sample, last_line;
    uint64_t last_bytes, total;   /* total: the bytes to hash (PHASE_HASH) */
    double rate;                  /* bytes/s, exponential moving average */
    int phase;                    /* -1 before the first call */
    int lead;                     /* the stage the bar follows (pbar.c), -1 at first */
    bool drawn;                   /* a terminal line is on screen */
    char last[512];               /* the last line drawn */
    char key[256], last_key[256]; /* what a line says, time and rate aside (no duplicates) */
    char label[96];               /* "" (push), or "job NAME" before the phase */
};

void pbar_init(struct pbar *b, bool tty, hs_usec_t interval, uint64_t hash_total);
/* Format one line for a terminal width (0: no limit) into out; no control bytes. */
void pbar_format(struct pbar *b, const struct uploader_progress *p, hs_usec_t now, unsigned width,
                 char *out, size_t n);
/* Draw p on f (stderr) now: a terminal's width is asked each time. */
void pbar_update(struct pbar *b, const struct uploader_progress *p, FILE *f);
/* End the terminal line (before other output). */
void pbar_end(struct pbar *b, FILE *f);

/* `run -v` / `daemon -v` with stderr on a terminal: one bar line for the
 * jobs' pushes, labelled "job NAME" (the push that reported last), erased
 * when that push ends — the outcome is a log line, and every log line
 * starts by erasing the line, so a bar is never glued to one. The
 * service_options.on_progress hook; ud is a struct pbar_service. */
struct pbar_service {
    struct pbar bar;
    bool active;
};
void pbar_service_progress(const char *job, const struct uploader_progress *p, void *ud);

#endif
