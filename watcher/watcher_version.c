/* watcher_version.c — placeholder translation unit until watcher/ has code. */
#include "watcher.h"

int watcher__placeholder(void);
int watcher__placeholder(void)
{
    return 0;
}
