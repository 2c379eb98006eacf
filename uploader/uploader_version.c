/* uploader_version.c — placeholder translation unit until uploader/ has code. */
#include "uploader.h"

int uploader__placeholder(void);
int uploader__placeholder(void)
{
    return 0;
}
