/*
 * cmd_check_config.c — `hubsync check-config`: validate a config file and print the plan
 */
#include "cli.h"
#include "common.h"

static int run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_not_available("check-config");
}

const struct hs_command cmd_check_config = {
    .name = "check-config",
    .summary = "validate a config file and print the plan",
    .usage = "Usage: hubsync check-config FILE\n\nValidate FILE and print, per job, which paths go "
             "where and with which commit\nmessages. Exits 0 when valid, 78 listing every problem "
             "otherwise.\n\nOptions:\n  -h, --help      show this help\n",
    .run = run,
};
