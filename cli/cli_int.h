/*
 * cli_int.h — internal to cli/: the subcommand table (cli.h) and the
 * control-socket client that `status` and `finish` share (ctlcli.h).
 */
#ifndef HUBSYNC_CLI_INT_H
#define HUBSYNC_CLI_INT_H

#include "cli.h"
#include "ctlcli.h"

#endif
