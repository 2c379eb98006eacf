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
    b->lead = -1;
    b->started = hs_now_monotonic();
}

static void dur(uint64_t s, char *out, size_t n)
{
    if (s >= 3600)
        snprintf(out, n, "%" PRIu64 ":%02" PRIu64 ":%02" PRIu64, s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(out, n, "%" PRIu64 ":%02" PRIu64, s / 60, s % 60);
}

/* "<done> / <total>", or "<done>" when the total is not known. */
static void amount(uint64_t done, uint64_t total, bool known, char *out, size_t n)
{
    char d[24], t[24];
    hs_format_bytes(done, d, sizeof(d));
    hs_format_bytes(total, t, sizeof(t));
    if (known)
        snprintf(out, n, "%s / %s", d, t);
    else
        snprintf(out, n, "%s", d);
}

/* Which bytes the bar, the rate and the ETA follow. */
enum lead { LEAD_NONE, LEAD_HASH, LEAD_SEND };

void pbar_format(struct pbar *b, const struct uploader_progress *p, hs_usec_t now, unsigned width,
                 char *out, size_t n)
{
    /* A push is a pipeline: files are uploaded while later ones are hashed.
     * Both stages under way: one line with both, the bar (and percent, rate,
     * ETA) the hashing's while its total is known — it only grows, where the
     * upload's total grows as files are hashed — else the upload's. */
    bool hashing = p->phase == UPLOADER_PHASE_HASH || (p->stages & UPLOADER_STAGE_HASH);
    bool uploading = p->phase == UPLOADER_PHASE_UPLOAD || (p->stages & UPLOADER_STAGE_UPLOAD);
    bool both = hashing && uploading;
    enum lead lead = hashing && (b->total || !uploading) ? LEAD_HASH
                     : uploading                         ? LEAD_SEND
                                                         : LEAD_NONE;
    uint64_t d = lead == LEAD_HASH ? p->hashed_bytes : lead == LEAD_SEND ? p->sent_bytes : 0;
    uint64_t t = lead == LEAD_HASH ? b->total : lead == LEAD_SEND ? p->send_total : 0;
    const char *lsep = b->label[0] ? ": " : "";
    if ((int)p->phase != b->phase || (int)lead != b->lead) {
        if ((int)lead != b->lead) {
            b->last_sample = now;
            b->last_bytes = d;
            b->rate = 0;
        }
        b->phase = (int)p->phase;
        b->lead = (int)lead;
    } else if (now - b->last_sample >= RATE_SAMPLE) {
        double inst = (double)(d - (d >= b->last_bytes ? b->last_bytes : d)) * 1e6 /
                      (double)(now - b->last_sample);
        b->rate = b->rate > 0 ? RATE_WEIGHT * inst + (1 - RATE_WEIGHT) * b->rate : inst;
        b->last_sample = now;
        b->last_bytes = d;
    }
    char el[24], rate[40] = "", eta[32] = "";
    dur((now - b->started) / HS_USEC_PER_SEC, el, sizeof(el));
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
    const char *what = hashing ? "hashing" : uploading ? "upload" : uploader_phase_name(p->phase);
    if (p->phase == UPLOADER_PHASE_UPLOAD && t && d >= t)
        what = "completing uploads"; /* multipart completion: the bar is full, not stuck */
    char files[48] = "";
    if (p->files_total)
        snprintf(files, sizeof(files), " %u/%u files changed", p->files_changed, p->files_total);
    /* "<what>: <done> / <total> [####....] <pct>% <rate> ETA <eta> <elapsed> <files>";
     * both stages: "hashing <done> / <total>, uploading <sent> / <known> [##..] <pct>% …" */
    /* hashing a service's save: the total is not known, so no bar */
    bool bytes = lead == LEAD_SEND || (lead == LEAD_HASH && t);
    size_t room = width ? (width > 1 ? width - 1 : 0) : 200;
    char head[256], tail[256];
    if (both) {
        char h[64], up[64], sent[32];
        amount(p->hashed_bytes, b->total, b->total > 0, h, sizeof(h));
        amount(p->sent_bytes, p->send_total, true, up, sizeof(up));
        amount(p->sent_bytes, 0, false, sent, sizeof(sent));
        snprintf(head, sizeof(head), "%s%shashing %s, uploading %s ", b->label, lsep, h, up);
        if (width && strlen(head) + 4 > room) /* narrow: both numbers, not the known total */
            snprintf(head, sizeof(head), "%s%shashing %s, uploading %s ", b->label, lsep, h, sent);
    } else if (bytes || hashing) {
        char a[64];
        amount(d, t, bytes, a, sizeof(a));
        snprintf(head, sizeof(head), "%s%s%s: %s ", b->label, lsep, what, a);
    } else {
        snprintf(head, sizeof(head), "%s%s%s: ", b->label, lsep, what);
    }
    if (bytes)
        snprintf(tail, sizeof(tail), "%3u%%%s%s %s%s", pct, rate, eta, el, files);
    else
        snprintf(tail, sizeof(tail), "%s%s", el, files);
    /* the bar takes what is left of the width, 10 to 30 columns; none when too narrow */
    size_t used = strlen(head) + strlen(tail);
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
    /* what the line says, time and rate aside: the log mode prints no line twice */
    snprintf(b->key, sizeof(b->key), "%s%u%%%s", head, pct, files);
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
