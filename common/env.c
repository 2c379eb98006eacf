/*
 * env.c — the HUBSYNC_* numeric knobs in the environment (tests and
 * operators; not config keys). One reader, so every knob accepts the same
 * text: unset, empty, not a whole decimal number, or out of range gives the
 * default.
 */
#include "common.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>

uint64_t hs_env_u64(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);
    if (!v || !*v || *v == '-' || *v == '+')
        return dflt;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    return *end || errno ? dflt : (uint64_t)x;
}

unsigned hs_env_uint(const char *name, unsigned dflt)
{
    uint64_t x = hs_env_u64(name, dflt);
    return x > UINT_MAX ? dflt : (unsigned)x;
}
