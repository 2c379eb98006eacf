/*
 * launcher.c — the one rule for "the training command is a multi-process
 * launcher, but the job's world size is 1" (config_launcher_warning), shared
 * by `hubsync run` (daemon/service.c, at start) and `hubsync check-config
 * FILE -- CMD` so both say the same thing. With world size 1 hubsync calls
 * a checkpoint complete once rank 0's files are in it; under torchrun and
 * the like the other ranks' shards may still be on their way. This file
 * does no I/O.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

static const char *const launchers[] = {"torchrun", "accelerate", "deepspeed",
                                        "srun",     "mpirun",     "mpiexec"};
/* python -m MODULE forms of torchrun */
static const char *const launcher_modules[] = {"torch.distributed.run", "torch.distributed.launch"};

static const char *base_name(const char *s)
{
    const char *b = strrchr(s, '/');
    return b ? b + 1 : s;
}

/* The launcher cmd starts ("torchrun", "python -m torch.distributed.run"),
 * or NULL. */
static const char *launcher_of(char *const *cmd)
{
    const char *base = base_name(cmd[0]);
    for (size_t i = 0; i < HS_ARRAY_SIZE(launchers); i++)
        if (strcmp(base, launchers[i]) == 0)
            return launchers[i];
    if (strncmp(base, "python", 6) != 0 || !cmd[1] || strcmp(cmd[1], "-m") != 0 || !cmd[2])
        return NULL;
    for (size_t i = 0; i < HS_ARRAY_SIZE(launcher_modules); i++)
        if (strcmp(cmd[2], launcher_modules[i]) == 0)
            return launcher_modules[i];
    return NULL;
}

bool config_launcher_warning(char *const *cmd, const struct config_job *j, char *out, size_t n)
{
    if (!cmd || !cmd[0] || j->world_size != 1)
        return false;
    const char *l = launcher_of(cmd);
    if (!l)
        return false;
    snprintf(out, n,
             "job %s: the training command is started by %s, but the world size is 1: set "
             "\"world_size\" in the config or export WORLD_SIZE (the number of ranks, e.g. "
             "torchrun's --nproc_per_node times --nnodes), so hubsync waits for every rank's "
             "files of a checkpoint",
             j->name, l);
    return true;
}
