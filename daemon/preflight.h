/*
 * preflight.h — internal to daemon/: `hubsync run`'s last step before the
 * training command starts, once the token check passed: every job's repo
 * exists (created if needed).
 */
#ifndef HUBSYNC_DAEMON_PREFLIGHT_H
#define HUBSYNC_DAEMON_PREFLIGHT_H

#include "service.h"

struct config;
struct uploader;

/* Create each job's repo of cfg that does not exist yet, one after the
 * other, as the Trainer's create_repo(hub_model_id, exist_ok=True,
 * private=...) does before training (the job's "private" when it is
 * created), through the uploader's own repo creation (uploader_push with
 * prepare_only: the steps every push starts with). cb(0, NULL, ud) once
 * every repo exists; cb(HS_EXIT_CONFIG, why, ud) at the first that cannot
 * be created (why names the job, the repo and the Hub's answer). cfg is
 * copied: a reload meanwhile does not matter. cb is called exactly once,
 * from the loop or (out of memory) from this call; -ECANCELED from a
 * closing uploader comes back as a failure too. */
void preflight_create_repos(struct uploader *up, const struct config *cfg, service_check_cb cb,
                            void *ud);

#endif
