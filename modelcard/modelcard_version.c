/* modelcard_version.c — placeholder translation unit until modelcard/ has code. */
#include "modelcard.h"

int modelcard__placeholder(void);
int modelcard__placeholder(void)
{
    return 0;
}
