/*
 * uploader.h — the public interface of uploader/ (see ../shared/docs/DESIGN.md,
 * "Components"). Other folders include only this header.
 */
#ifndef HUBSYNC_UPLOADER_H
#define HUBSYNC_UPLOADER_H

#include "common.h"

#endif
