/*
 * main.c — the `hubsync` binary: global options (--help, --version) and
 * dispatch to the subcommands. Subcommand behaviour lives in cmd_*.c.
 */
#include "cli.h"
#include "common.h"

#include <signal.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>

#ifndef HUBSYNC_VERSION
#define HUBSYNC_VERSION "0.0.0"
#endif

static const struct hs_command *const commands[] = {
    &cmd_push,   &cmd_pull,   &cmd_daemon,       &cmd_run,
    &cmd_status, &cmd_finish, &cmd_check_config, &cmd_card,
};

static void print_help(FILE *f)
{
    fprintf(f, "Usage: hubsync [--help] [--version] COMMAND [ARGS]...\n\n"
               "Push training checkpoints to the Hugging Face Hub as they are saved.\n\n"
               "Commands:\n");
    for (size_t i = 0; i < HS_ARRAY_SIZE(commands); i++)
        fprintf(f, "  %-13s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(f, "\nRun 'hubsync COMMAND --help' for the options of one command.\n"
               "Environment: HF_ENDPOINT, HF_TOKEN, HF_TOKEN_PATH, HF_HOME (as huggingface_hub).\n"
               "Exit codes: 0 ok, 1 failure, 2 usage, 3 no daemon answering, 78 configuration.\n");
}

/* Does option opt take a value? The command's usage says so: "  --message M"
 * or "-m, --message MSG" lists it followed by a value word (a capital
 * letter), and the usage is the one list of a command's options. */
static bool takes_value(const char *usage, const char *opt)
{
    size_t n = strlen(opt);
    for (const char *p = strstr(usage, opt); p; p = strstr(p + 1, opt)) {
        bool starts = p > usage && (p[-1] == ' ' || p[-1] == ',' || p[-1] == '[');
        if (starts && p[n] == ' ' && p[n + 1] >= 'A' && p[n + 1] <= 'Z')
            return true;
    }
    return false;
}

/* --help / -h before a "--" separator asks for the command's help, except
 * as the value of an option (`push --message -h` commits "-h"). */
static int wants_help(const struct hs_command *c, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
        if (argv[i][0] == '-' && !strchr(argv[i], '=') && takes_value(c->usage, argv[i]))
            i++; /* its value, whatever it looks like */
    }
    return 0;
}

int main(int argc, char **argv)
{
    /* A reader that goes away (a control client closing before its answer,
     * `hubsync run ... | head -1`) must not kill hubsync: writes then fail
     * with EPIPE, which each writer handles. Every command, before anything
     * else. CMD of `hubsync run` gets default dispositions back
     * (cmd_run.c posix_spawn with POSIX_SPAWN_SETSIGDEF). */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        print_help(stderr);
        return HS_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        print_help(stdout);
        return HS_EXIT_OK;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0) {
        printf("hubsync %s\n", HUBSYNC_VERSION);
        return HS_EXIT_OK;
    }
    for (size_t i = 0; i < HS_ARRAY_SIZE(commands); i++) {
        const struct hs_command *c = commands[i];
        if (strcmp(name, c->name) != 0)
            continue;
        if (wants_help(c, argc - 1, argv + 1)) {
            fputs(c->usage, stdout);
            return HS_EXIT_OK;
        }
        return c->run(argc - 1, argv + 1);
    }
    fprintf(stderr, "hubsync: unknown command '%s' (see 'hubsync --help')\n", name);
    return HS_EXIT_USAGE;
}
