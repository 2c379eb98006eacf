/*
 * modelcard.h — the public interface of modelcard/ (see ../shared/docs/DESIGN.md,
 * "Components"). Other folders include only this header.
 */
#ifndef HUBSYNC_MODELCARD_H
#define HUBSYNC_MODELCARD_H

#include "common.h"

#endif
