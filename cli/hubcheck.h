/*
 * hubcheck.h — internal to daemon/ (the CLI): ask the Hub whether the
 * config's token may push each job's repo, for `check-config` (the daemon
 * and `run` ask through service.c). One whoami-v2 request, at most
 * timeout_s seconds; the token never appears in what it prints.
 */
#ifndef HUBSYNC_DAEMON_HUBCHECK_H
#define HUBSYNC_DAEMON_HUBCHECK_H

#include "config.h"

#include <stdio.h>

/* cfg's token resolved (config_token_load). Prints each problem ("NAME:
 * jobs[i].hub_model_id: the token cannot push to …", a refused token) to
 * err and returns how many; a Hub that cannot be asked is one "note:"
 * line and no problem. No token: 0, nothing printed. */
int hubcheck_token(const struct config *cfg, const char *name, unsigned timeout_s, FILE *err);

#endif
