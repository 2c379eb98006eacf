/*
 * time.c — clocks in the project's one time unit, microseconds.
 */
#include "common.h"

#include <time.h>

static hs_usec_t clock_usec(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (hs_usec_t)ts.tv_sec * HS_USEC_PER_SEC + (hs_usec_t)ts.tv_nsec / 1000;
}

hs_usec_t hs_now_monotonic(void)
{
    return clock_usec(CLOCK_MONOTONIC);
}

hs_usec_t hs_now_realtime(void)
{
    return clock_usec(CLOCK_REALTIME);
}
