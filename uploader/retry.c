/*
 * retry.c — the retry policy, as pure functions so it can be tested without
 * a network: which failures heal (408/429/5xx, resets, stalls), how long to
 * wait (exponential backoff with full jitter above half the step, capped),
 * and when the server says how long (Retry-After seconds; RateLimit "t" when
 * r=0 on 429/503). huggingface_hub's http_backoff is the model
 * (docs/hub-protocol.md §9.2–9.3). It does not decide which requests may be
 * retried at all: the commit POST is resent only after checking the repo
 * (push.c).
 */
#include "uploader_int.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

bool uploader__retry_status_retryable(long status)
{
    return status == 408 || status == 429 || status == 500 || status == 502 || status == 503 ||
           status == 504;
}

bool uploader__retry_curl_retryable(CURLcode code)
{
    switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_WEIRD_SERVER_REPLY:
    /* curl found its reused connection dead and wants to resend the body,
     * which a streamed body cannot do from inside curl: we resend it. */
    case CURLE_SEND_FAIL_REWIND:
        return true;
    default:
        return false;
    }
}

long uploader__retry_after_parse(const char *hdr)
{
    if (!hdr)
        return -1;
    while (isspace((unsigned char)*hdr))
        hdr++;
    if (!isdigit((unsigned char)*hdr))
        return -1; /* HTTP-date form: ignored, like huggingface_hub */
    char *end;
    long v = strtol(hdr, &end, 10);
    while (isspace((unsigned char)*end))
        end++;
    return *end ? -1 : v;
}

int uploader__retry_ratelimit_parse(const char *hdr, long *remaining, long *reset_seconds)
{
    if (!hdr)
        return -ENOENT;
    bool have_r = false, have_t = false;
    const char *p = hdr;
    while (*p) {
        p += strcspn(p, ";");
        if (!*p)
            break;
        p++;
        while (isspace((unsigned char)*p))
            p++;
        if ((p[0] == 'r' || p[0] == 't') && p[1] == '=') {
            char *end;
            long v = strtol(p + 2, &end, 10);
            if (end != p + 2) {
                if (p[0] == 'r') {
                    *remaining = v;
                    have_r = true;
                } else {
                    *reset_seconds = v;
                    have_t = true;
                }
            }
        }
    }
    return have_r && have_t ? 0 : -EINVAL;
}

int64_t uploader__retry_delay(const struct retry_policy *p, unsigned attempt, long status,
                              CURLcode curl_code, const char *retry_after, const char *ratelimit,
                              uint32_t rnd)
{
    if (attempt >= p->max_retries)
        return -1;
    if (status == 0) {
        if (!uploader__retry_curl_retryable(curl_code))
            return -1;
    } else if (!uploader__retry_status_retryable(status)) {
        return -1;
    }
    /* The server's word first. */
    if (status == 429 || status == 503) {
        long r, t;
        if (uploader__retry_ratelimit_parse(ratelimit, &r, &t) == 0 && r == 0 && t >= 0) {
            hs_usec_t w = (hs_usec_t)(t + 1) * HS_USEC_PER_SEC;
            return w > p->max_wait ? -1 : (int64_t)w;
        }
    }
    long ra = status ? uploader__retry_after_parse(retry_after) : -1;
    if (ra >= 0) {
        hs_usec_t w = (hs_usec_t)ra * HS_USEC_PER_SEC + (rnd % 250) * HS_USEC_PER_MSEC;
        return w > p->max_wait ? -1 : (int64_t)w;
    }
    hs_usec_t step = p->base;
    for (unsigned i = 0; i < attempt && step < p->cap; i++)
        step *= 2;
    if (step > p->cap)
        step = p->cap;
    /* Jitter: uniformly in [step/2, step]. */
    hs_usec_t half = step / 2;
    return (int64_t)(half + (half ? rnd % (half + 1) : 0));
}
