/*
 * pbar.c — the progress display of `hubsync push` and of the services'
 * pushes under -v on a terminal (see pbar.h).
 */
#include "pbar.h"

#include <inttypes.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define RATE_SAMPLE (500 * HS_USEC_PER_MSEC) /* rate samples at most this often */
#define RATE_WEIGHT 0.3                      /* weight of the newest sample */

void pbar_init(struct pbar *b, bool tty, hs_usec_t interval, uint64_t hash_total)
{
    memset(b, 0, sizeof(*b));
    b->tty = tty;
    b->interval = interval;
    b->total = hash_total;
    b->phase = -1;
    b->started = hs_now_monotonic();
}

static void dur(uint64_t s, char *out, size_t n)
{
    if (s >= 3600)
        snprintf(out, n, "%" PRIu64 ":%02" PRIu64 ":%02" PRIu64, s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(out, n, "%" PRIu64 ":%02" PRIu64, s / 60, s % 60);
}

void pbar_format(struct pbar *b, const struct uploader_progress *p, hs_usec_t now, unsigned width,
                 char *out, size_t n)
{
    bool hashing = p->phase == UPLOADER_PHASE_HASH;
    uint64_t d = hashing ? p->hashed_bytes : p->sent_bytes;
    uint64_t t = hashing ? b->total : p->send_total;
    const char *lsep = b->label[0] ? ": " : "";
    if ((int)p->phase != b->phase) {
        b->phase = (int)p->phase;
        b->phase_started = b->last_sample = now;
        b->last_bytes = d;
        b->rate = 0;
    } else if (now - b->last_sample >= RATE_SAMPLE) {
        double inst = (double)(d - (d >= b->last_bytes ? b->last_bytes : d)) * 1e6 /
                      (double)(now - b->last_sample);
        b->rate = b->rate > 0 ? RATE_WEIGHT * inst + (1 - RATE_WEIGHT) * b->rate : inst;
        b->last_sample = now;
        b->last_bytes = d;
    }
    char el[24], done[32], total[32], rate[40] = "", eta[32] = "";
    dur((now - b->started) / HS_USEC_PER_SEC, el, sizeof(el));
    hs_format_bytes(d, done, sizeof(done));
    hs_format_bytes(t, total, sizeof(total));
    unsigned pct = t ? (unsigned)(d >= t ? 100 : d * 100 / t) : 0;
    if (b->rate >= 1) {
        char r[24];
        hs_format_bytes((uint64_t)b->rate, r, sizeof(r));
        snprintf(rate, sizeof(rate), " %s/s", r);
        if (pct > 0 && d < t) {
            char e[24];
            dur((uint64_t)((double)(t - d) / b->rate), e, sizeof(e));
            snprintf(eta, sizeof(eta), " ETA %s", e);
        }
    }
    const char *what = hashing ? "hashing" : uploader_phase_name(p->phase);
    if (p->phase == UPLOADER_PHASE_UPLOAD && t && d >= t)
        what = "completing uploads"; /* multipart completion: the bar is full, not stuck */
    char files[48] = "";
    if (p->files_total)
        snprintf(files, sizeof(files), " %u/%u files changed", p->files_changed, p->files_total);
    /* "<what>: <done> / <total> [####....] <pct>% <rate> ETA <eta> <elapsed> <files>" */
    /* hashing a service's save: the total is not known, so no bar */
    bool bytes = (hashing && t) || p->phase == UPLOADER_PHASE_UPLOAD;
    char head[256], tail[256];
    if (bytes) {
        snprintf(head, sizeof(head), "%s%s%s: %s / %s ", b->label, lsep, what, done, total);
        snprintf(tail, sizeof(tail), "%3u%%%s%s %s%s", pct, rate, eta, el, files);
    } else if (hashing) {
        snprintf(head, sizeof(head), "%s%s%s: %s ", b->label, lsep, what, done);
        snprintf(tail, sizeof(tail), "%s%s", el, files);
    } else {
        snprintf(head, sizeof(head), "%s%s%s: ", b->label, lsep, what);
        snprintf(tail, sizeof(tail), "%s%s", el, files);
    }
    /* the bar takes what is left of the width, 10 to 30 columns; none when too narrow */
    size_t room = width ? (width > 1 ? width - 1 : 0) : 200, used = strlen(head) + strlen(tail);
    char bar[40] = "";
    if (bytes && room > used + 13) {
        size_t w = room - used - 3;
        w = w > 30 ? 30 : w;
        size_t fill = w * pct / 100;
        bar[0] = '[';
        for (size_t i = 0; i < w; i++)
            bar[1 + i] = i < fill ? '#' : '.';
        bar[1 + w] = ']';
        bar[2 + w] = ' ';
        bar[3 + w] = 0;
    }
    snprintf(out, n, "%s%s%s", head, bar, tail);
    if (width && strlen(out) > room)
        out[room] = 0; /* ASCII only: bytes are columns; never wraps */
    snprintf(b->key, sizeof(b->key), "%s %u %s %s%s", what, pct, done, total, files);
    if (width && strlen(out) > room)
        out[room] = 0; /* ASCII only: bytes are columns; never wraps */
}

static unsigned term_width(FILE *f)
{
    struct winsize ws;
    if (ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

void pbar_update(struct pbar *b, const struct uploader_progress *p, FILE *f)
{
    hs_usec_t now = hs_now_monotonic();
    bool phase_change = (int)p->phase != b->phase;
    char line[sizeof(b->last)];
    pbar_format(b, p, now, b->tty ? term_width(f) : 0, line, sizeof(line));
    if (b->tty) {
        fprintf(f, "\r%s\033[K", line); /* erase what a longer line left */
        b->drawn = true;
    } else {
        /* one line per interval, and not one that says nothing new (time and rate aside) */
        if (!phase_change && (now - b->last_line < b->interval || !strcmp(b->key, b->last_key)))
            return;
        fprintf(f, "hubsync: %s\n", line);
        b->last_line = now;
        snprintf(b->last_key, sizeof(b->last_key), "%s", b->key);
    }
    snprintf(b->last, sizeof(b->last), "%s", line);
    fflush(f);
}

void pbar_end(struct pbar *b, FILE *f)
{
    if (b->tty && b->drawn)
        fputc('\n', f);
    b->drawn = false;
}

void pbar_service_progress(const char *job, const struct uploader_progress *p, void *ud)
{
    struct pbar_service *s = ud;
    if (!p) {
        if (s->active && s->bar.drawn) {
            fputs("\r\033[K", stderr); /* the outcome's log line follows */
            fflush(stderr);
        }
        s->active = false;
        return;
    }
    char label[sizeof(s->bar.label)];
    snprintf(label, sizeof(label), "job %s", job);
    if (!s->active || strcmp(label, s->bar.label) != 0) {
        pbar_init(&s->bar, true, 0, 0);
        snprintf(s->bar.label, sizeof(s->bar.label), "%s", label);
        s->active = true;
    }
    pbar_update(&s->bar, p, stderr);
}
