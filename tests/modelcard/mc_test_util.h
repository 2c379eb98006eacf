/*
 * mc_test_util.h — small helpers shared by the modelcard tests: fixture
 * paths, temp directories, file I/O and rendering a run to a string.
 */
#ifndef HUBSYNC_MC_TEST_UTIL_H
#define HUBSYNC_MC_TEST_UTIL_H

#include "modelcard.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static inline char *mc_slurp(const char *path, size_t *len)
{
    char *d = NULL;
    size_t l = 0;
    if (hs_read_file(path, 1u << 30, &d, &l) < 0)
        return NULL;
    if (len)
        *len = l;
    return d;
}

static inline int mc_spit(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t n = fwrite(data, 1, len, f);
    return fclose(f) == 0 && n == len ? 0 : -1;
}

static inline void mc_data(char *out, size_t n, const char *rel)
{
    if (hs_path_join(out, n, HS_MC_DATA, rel) < 0) {
        fprintf(stderr, "fixture path %s/%s: longer than %zu bytes\n", HS_MC_DATA, rel, n - 1);
        abort();
    }
}

/* cp -r src dst (regular files and directories only). */
static inline int mc_copy_tree(const char *src, const char *dst)
{
    if (mkdir(dst, 0755) < 0)
        return -1;
    DIR *d = opendir(src);
    if (!d)
        return -1;
    struct dirent *e;
    int r = 0;
    while (r == 0 && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char s[HS_PATH_MAX], t[HS_PATH_MAX];
        struct stat st;
        if (hs_path_join(s, sizeof(s), src, e->d_name) < 0 ||
            hs_path_join(t, sizeof(t), dst, e->d_name) < 0 || stat(s, &st) < 0)
            r = -1;
        else if (S_ISDIR(st.st_mode))
            r = mc_copy_tree(s, t);
        else {
            size_t len;
            char *data = mc_slurp(s, &len);
            r = data && mc_spit(t, data, len) == 0 ? 0 : -1;
            free(data);
        }
    }
    closedir(d);
    return r;
}

static inline void mc_rm_tree(const char *path)
{
    char cmd[HS_PATH_MAX + 32];
    if (strncmp(path, "/tmp/", 5) == 0 && !strstr(path, "..")) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", path);
    }
}

/* Render the card of dir with meta (NULL: defaults) merged with existing
 * (NULL: the run's own README.md). Returns a heap string; warnings in *w. */
static inline char *mc_render(const char *dir, const struct modelcard_meta *meta,
                              const char *existing, struct modelcard_warnings *w)
{
    struct modelcard_meta defaults = {0};
    struct modelcard_run run;
    struct hs_err err = {0};
    memset(w, 0, sizeof(*w));
    if (modelcard_run_read(dir, &run, w, &err) < 0) {
        fprintf(stderr, "run_read: %s\n", err.msg);
        return NULL;
    }
    struct hs_buf b;
    hs_buf_init(&b, 1u << 28);
    const char *ex = existing ? existing : run.existing_readme;
    size_t exl = existing ? strlen(existing) : run.existing_readme_len;
    int r = modelcard_render(&run, meta ? meta : &defaults, ex, exl, &b, w, &err);
    modelcard_run_free(&run);
    if (r < 0) {
        fprintf(stderr, "render: %s\n", err.msg);
        hs_buf_free(&b);
        return NULL;
    }
    if (!b.data)
        hs_buf_append(&b, "", 0);
    return b.data;
}

static inline bool mc_warned(const struct modelcard_warnings *w, const char *needle)
{
    for (size_t i = 0; i < w->n; i++)
        if (strstr(w->msg[i], needle))
            return true;
    return false;
}

#endif
