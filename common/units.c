/*
 * units.c — sizes for people: "858.4 MiB", "512 B" (binary units, as
 * `hf upload` and `du -h` show them). Every message with a byte count uses
 * it; the journal and the JSON status keep exact integers.
 */
#include "common.h"

#include <inttypes.h>
#include <stdio.h>

void hs_format_bytes(uint64_t bytes, char *out, size_t n)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    if (bytes < 1024) {
        snprintf(out, n, "%" PRIu64 " B", bytes);
        return;
    }
    double v = (double)bytes / 1024;
    size_t u = 0;
    while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024;
        u++;
    }
    snprintf(out, n, "%.1f %s", v, units[u]);
}
