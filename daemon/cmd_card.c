/*
 * cmd_card.c — `hubsync card`: render the model card of a training output directory
 */
#include "cli.h"
#include "common.h"

static int run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_not_available("card");
}

const struct hs_command cmd_card = {
    .name = "card",
    .summary = "render the model card of a training output directory",
    .usage =
        "Usage: hubsync card DIR [--config FILE --job NAME] [--out FILE]\n\nRender README.md (YAML "
        "metadata and the training results) for the training\noutput directory DIR, without "
        "uploading. Prints to stdout unless --out is given.\n\nOptions:\n  --config FILE   take "
        "the model_card metadata from FILE's job NAME\n  --job NAME      the job whose metadata to "
        "use\n  --out FILE      write the card to FILE\n  -h, --help      show this help\n",
    .run = run,
};
