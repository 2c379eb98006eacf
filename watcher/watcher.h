/*
 * watcher.h — the public interface of watcher/ (see ../shared/docs/DESIGN.md,
 * "Components"). Other folders include only this header.
 */
#ifndef HUBSYNC_WATCHER_H
#define HUBSYNC_WATCHER_H

#include "common.h"

#endif
