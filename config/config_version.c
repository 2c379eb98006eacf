/* config_version.c — placeholder translation unit until config/ has code. */
#include "config.h"

int config__placeholder(void);
int config__placeholder(void)
{
    return 0;
}
