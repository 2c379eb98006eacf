/*
 * push_swap.c — test driver for test_push_swap.sh: one push through the
 * uploader library, with a file of it swapped for a symlink to a secret
 * between hashing and sending. The swap is made from the progress hook when
 * the push enters phase SWAP_PHASE (after every file was hashed and the Hub
 * was asked about them, before a byte of content is sent), so there is no
 * race to lose: rename FILE → FILE.orig, symlink SECRET → FILE.
 *
 *   push_swap ENDPOINT REPO SWAP_PHASE SECRET LOCAL:REPO_PATH [LOCAL:REPO_PATH...]
 *
 * The token comes from HF_TOKEN; the first file is the one swapped.
 * SWAP_PHASE is "hash" (between the listing and the hashing), "upload",
 * "commit" or "none" (no swap: the control run). Prints "status=N
 * swapped=0|1" and "message=..." on stdout; exits 0 when the push succeeded, 1 otherwise.
 */
#include "uploader.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct ctx {
    const char *swap_file, *secret;
    enum uploader_phase swap_phase;
    bool swapped, done;
    int status;
    char msg[HS_ERR_MAX];
};

static void on_progress(const struct uploader_progress *p, void *ud)
{
    struct ctx *c = ud;
    if (c->swapped || p->phase != c->swap_phase)
        return;
    char orig[HS_PATH_MAX + 8];
    snprintf(orig, sizeof(orig), "%s.orig", c->swap_file);
    if (rename(c->swap_file, orig) == 0 && symlink(c->secret, c->swap_file) == 0)
        c->swapped = true;
    else
        perror("push_swap: swap");
}

static void on_done(int status, const struct uploader_result *res, const struct hs_err *err,
                    void *ud)
{
    struct ctx *c = ud;
    c->done = true;
    c->status = status;
    snprintf(c->msg, sizeof(c->msg), "%s",
             status == 0 ? (res->commit_url ? res->commit_url : "")
             : err       ? err->msg
                         : "?");
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: push_swap ENDPOINT REPO upload|commit SECRET LOCAL:REPO...\n");
        return 2;
    }
    const char *token = getenv("HF_TOKEN");
    struct ctx c = {.secret = argv[4], .status = -1};
    c.swap_phase = strcmp(argv[3], "commit") == 0   ? UPLOADER_PHASE_COMMIT
                   : strcmp(argv[3], "upload") == 0 ? UPLOADER_PHASE_UPLOAD
                   : strcmp(argv[3], "hash") == 0   ? UPLOADER_PHASE_HASH
                                                    : (enum uploader_phase) - 1; /* "none" */
    size_t n = (size_t)argc - 5;
    struct uploader_file *files = calloc(n, sizeof(*files));
    for (size_t i = 0; files && i < n; i++) {
        char *colon = strchr(argv[5 + i], ':');
        if (!colon) {
            fprintf(stderr, "push_swap: %s: expected LOCAL:REPO_PATH\n", argv[5 + i]);
            return 2;
        }
        *colon = 0;
        files[i].local_path = argv[5 + i];
        files[i].repo_path = colon + 1;
    }
    if (!files || !token)
        return 2;
    c.swap_file = files[0].local_path;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct uploader_options uo = {.endpoint = argv[1], .token = token};
    uo.retry_base = 50 * HS_USEC_PER_MSEC;
    struct uploader *u = NULL;
    struct hs_err err = {0};
    if (uploader_new(&loop, &uo, &u, &err) < 0) {
        fprintf(stderr, "push_swap: %s\n", err.msg);
        return 2;
    }
    struct uploader_push_request req = {
        .repo_id = argv[2], .summary = "swap test", .files = files, .n_files = n};
    struct uploader_push_hooks hooks = {.progress = on_progress, .done = on_done, .userdata = &c};
    if (uploader_push(u, &req, &hooks, &err) < 0) {
        fprintf(stderr, "push_swap: %s\n", err.msg);
        c.status = err.code;
        snprintf(c.msg, sizeof(c.msg), "%s", err.msg);
    } else {
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    uploader_close(u);
    uv_run(&loop, UV_RUN_DEFAULT);
    int lc = uv_loop_close(&loop);
    printf("status=%d swapped=%d\nmessage=%s\n", c.status, c.swapped, c.msg);
    free(files);
    if (lc != 0)
        fprintf(stderr, "push_swap: handles left open\n");
    return c.status == 0 ? 0 : 1;
}
