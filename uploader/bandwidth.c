/*
 * bandwidth.c — the token bucket behind the shared upload cap
 * (bandwidth_limit_mbps). libcurl has no multi-wide limit, so read callbacks
 * take tokens here and pause their transfer when none are left; http_loop.c
 * resumes them from a timer when the bucket has refilled. The bucket holds
 * at most 1/10 s of traffic (min 16 KiB) so bursts stay small.
 */
#include "uploader_int.h"

static void refill(struct token_bucket *tb, hs_usec_t now)
{
    if (now > tb->last) {
        tb->tokens += tb->rate * (double)(now - tb->last) / 1e6;
        if (tb->tokens > tb->burst)
            tb->tokens = tb->burst;
    }
    tb->last = now;
}

void uploader__token_bucket_init(struct token_bucket *tb, uint64_t rate, hs_usec_t now)
{
    tb->rate = (double)rate;
    tb->burst = tb->rate / 10 < 16384 ? 16384 : tb->rate / 10;
    tb->tokens = tb->burst;
    tb->last = now;
}

size_t uploader__token_bucket_take(struct token_bucket *tb, size_t want, hs_usec_t now)
{
    if (tb->rate <= 0)
        return want;
    refill(tb, now);
    if (tb->tokens < 1)
        return 0;
    size_t n = (double)want <= tb->tokens ? want : (size_t)tb->tokens;
    tb->tokens -= (double)n;
    return n;
}

hs_usec_t uploader__token_bucket_wait(struct token_bucket *tb, size_t want, hs_usec_t now)
{
    if (tb->rate <= 0)
        return 0;
    refill(tb, now);
    double need = (double)want < tb->burst ? (double)want : tb->burst;
    if (need > 4096)
        need = 4096; /* resume as soon as a useful amount is there */
    if (tb->tokens >= need)
        return 0;
    return (hs_usec_t)((need - tb->tokens) * 1e6 / tb->rate) + 1;
}
