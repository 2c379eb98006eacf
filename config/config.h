/*
 * config.h — the public interface of config/ (see ../shared/docs/DESIGN.md,
 * "Components"). Other folders include only this header.
 */
#ifndef HUBSYNC_CONFIG_H
#define HUBSYNC_CONFIG_H

#include "common.h"

#endif
