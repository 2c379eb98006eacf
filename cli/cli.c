/*
 * cli.c — helpers shared by the subcommands.
 */
#include "cli.h"

#include <stdio.h>

int cli_not_available(const char *name)
{
    fprintf(stderr, "hubsync %s: not available yet in this build of hubsync %s\n", name,
            HUBSYNC_VERSION);
    return HS_EXIT_FAILURE;
}
