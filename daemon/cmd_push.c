/*
 * cmd_push.c — `hubsync push`: upload a folder to a Hub repo as one commit
 */
#include "cli.h"
#include "common.h"

static int run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_not_available("push");
}

const struct hs_command cmd_push = {
    .name = "push",
    .summary = "upload a folder to a Hub repo as one commit",
    .usage =
        "Usage: hubsync push DIR --repo ID [--revision REV] [--path-in-repo P] [--message M]\n     "
        "               [--private] [--include PAT]... [--exclude PAT]...\n\nUpload DIR to the Hub "
        "repository ID (name or namespace/name) as one commit.\nPrints the commit URL as the last "
        "line on stdout; progress goes to stderr.\nAn interrupted push resumes when run again "
        "(state in $XDG_CACHE_HOME/hubsync/push/).\n\nOptions:\n  --repo ID            target "
        "repository (required)\n  --revision REV       branch to commit to (default main; created "
        "from main if missing)\n  --path-in-repo P     folder inside the repo to upload into "
        "(default: the root)\n  --message M          commit message (default \"Upload folder using "
        "hubsync\")\n  --private            create the repository as private if it does not "
        "exist\n  --include PAT        only upload paths matching PAT (repeatable)\n  --exclude "
        "PAT        skip paths matching PAT (repeatable)\n  -h, --help           show this help\n",
    .run = run,
};
