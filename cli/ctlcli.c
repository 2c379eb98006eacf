/*
 * ctlcli.c — the client half of the control socket for the CLI (see
 * ctlcli.h): options, socket discovery, exit codes and status rendering.
 * It only asks and prints; the daemon answers (control.c, server side).
 */
#include "cli_int.h"

#include "config.h"
#include "daemon.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <stdio.h>
#include <string.h>

int ctlcli_parse(const char *cmd, int argc, char **argv, bool allow_json, bool want_job,
                 struct ctlcli_args *a)
{
    memset(a, 0, sizeof(*a));
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"socket", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"wait", no_argument, NULL, 'w'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            a->config = optarg;
            break;
        case 's':
            a->socket = optarg;
            break;
        case 'j':
            if (!allow_json)
                goto unknown;
            a->json = true;
            break;
        case 'w':
            if (!want_job)
                goto unknown;
            a->wait = true;
            break;
        case '?':
        default:
        unknown:
            fprintf(stderr, "hubsync %s: option '%s' is unknown or needs a value\n", cmd,
                    argv[optind - 1]);
            fprintf(stderr, "Run 'hubsync %s --help' for usage.\n", cmd);
            return HS_EXIT_USAGE;
        }
    }
    if (a->config && a->socket) {
        fprintf(stderr, "hubsync %s: give --config or --socket, not both\n", cmd);
        return HS_EXIT_USAGE;
    }
    int rest = argc - optind;
    if (want_job) {
        if (rest != 1) {
            fprintf(stderr, "hubsync %s: expected exactly one JOB name (got %d arguments)\n", cmd,
                    rest);
            fprintf(stderr, "Run 'hubsync %s --help' for usage.\n", cmd);
            return HS_EXIT_USAGE;
        }
        a->job = argv[optind];
        if (!*a->job) {
            fprintf(stderr, "hubsync %s: the JOB name is empty\n", cmd);
            return HS_EXIT_USAGE;
        }
    } else if (rest != 0) {
        fprintf(stderr, "hubsync %s: unexpected argument '%s'\n", cmd, argv[optind]);
        fprintf(stderr, "Run 'hubsync %s --help' for usage.\n", cmd);
        return HS_EXIT_USAGE;
    }
    return 0;
}

/* $STATE_DIRECTORY (first entry) > $XDG_STATE_HOME/hubsync >
 * $HOME/.local/state/hubsync, as the config's default. */
static int default_state_dir(char *out, size_t n)
{
    const char *s = getenv("STATE_DIRECTORY");
    if (s && *s) {
        size_t len = strcspn(s, ":");
        if (len >= n)
            return -ENAMETOOLONG;
        memcpy(out, s, len);
        out[len] = '\0';
        return 0;
    }
    s = getenv("XDG_STATE_HOME");
    if (s && *s == '/')
        return hs_path_join(out, n, s, "hubsync");
    s = getenv("HOME");
    if (!s || !*s)
        return -ENOENT;
    return hs_path_join(out, n, s, ".local/state/hubsync");
}

/* The unit whose ExecStart names config path cfg (/etc/hubsync/NAME.json, compared
 * after resolving both directories) into unit, and its RuntimeDirectory socket into
 * sock. false when cfg is not such a file. */
static bool unit_of_config(const char *cfg, char *unit, size_t un, char *sock, size_t sn)
{
    const char *root = getenv("HUBSYNC_UNIT_ROOT");
    if (!root)
        root = "";
    char etc[HS_PATH_MAX], want[PATH_MAX], dir[HS_PATH_MAX], got[PATH_MAX];
    const char *base = strrchr(cfg, '/');
    size_t dlen = base ? (size_t)(base - cfg) : 0;
    base = base ? base + 1 : cfg;
    size_t blen = strlen(base);
    if (blen <= 5 || strcmp(base + blen - 5, ".json") != 0 || blen - 5 >= un - 9)
        return false;
    /* the config's directory: "." for a bare name, "/" for /NAME.json */
    const char *d = base == cfg ? "." : dlen == 0 ? "/" : cfg;
    int dl = base == cfg || dlen == 0 ? 1 : (int)dlen;
    if (snprintf(etc, sizeof(etc), "%s/etc/hubsync", root) >= (int)sizeof(etc) ||
        snprintf(dir, sizeof(dir), "%.*s", dl, d) >= (int)sizeof(dir))
        return false;
    if (!realpath(etc, want) || !realpath(dir, got) || strcmp(want, got) != 0)
        return false;
    int name = (int)(blen - 5);
    bool shared = name == 7 && strncmp(base, "hubsync", 7) == 0;
    int w = shared ? snprintf(unit, un, "hubsync") : snprintf(unit, un, "hubsync@%.*s", name, base);
    if (w < 0 || (size_t)w >= un)
        return false;
    w = shared ? snprintf(sock, sn, "%s/run/hubsync/%s", root, CONTROL_SOCKET_NAME)
               : snprintf(sock, sn, "%s/run/hubsync-users/%.*s/%s", root, name, base,
                          CONTROL_SOCKET_NAME);
    return w > 0 && (size_t)w < sn;
}

/* Nothing (not even an unreadable entry) at path. */
static bool nothing_at(const char *path)
{
    struct stat st;
    return lstat(path, &st) != 0 && errno == ENOENT;
}

/* Without --config: the default state_dir holds one folder per config
 * (config_load.c). The socket of the base itself (STATE_DIRECTORY, an older
 * layout) if there is one; else the only live one among its folders. 0, or
 * HS_EXIT_USAGE after naming several. out keeps the base's path when none. */
static int find_default_socket(const char *cmd, const char *base, char *out, size_t n)
{
    if (!nothing_at(out) || getenv("RUNTIME_DIRECTORY"))
        return 0;
    DIR *d = opendir(base);
    if (!d)
        return 0;
    char found[HS_PATH_MAX] = "", list[1024] = "";
    size_t nfound = 0, off = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char sub[HS_PATH_MAX], sock[HS_PATH_MAX];
        if (e->d_name[0] == '.' || hs_path_join(sub, sizeof(sub), base, e->d_name) < 0 ||
            control_socket_path(sub, sock, sizeof(sock)) < 0 || nothing_at(sock))
            continue;
        struct stat st;
        if (stat(sock, &st) < 0 || !S_ISSOCK(st.st_mode))
            continue;
        if (nfound++ == 0)
            snprintf(found, sizeof(found), "%s", sock);
        if (off < sizeof(list))
            off += (size_t)snprintf(list + off, sizeof(list) - off, "\n  %s", sock);
    }
    closedir(d);
    if (nfound > 1) {
        fprintf(stderr,
                "hubsync %s: %zu hubsync processes have a control socket under %s (one per "
                "config):%s\ngive --config FILE (or --socket PATH) to say which\n",
                cmd, nfound, base, list);
        return HS_EXIT_USAGE;
    }
    if (nfound == 1 && strlen(found) < n)
        memcpy(out, found, strlen(found) + 1);
    return 0;
}

int ctlcli_socket(const char *cmd, struct ctlcli_args *a, char *out, size_t n)
{
    a->unit[0] = '\0';
    if (a->socket) {
        if (snprintf(out, n, "%s", a->socket) >= (int)n) {
            fprintf(stderr, "hubsync %s: socket path too long\n", cmd);
            return HS_EXIT_USAGE;
        }
        return 0;
    }
    char dir[HS_PATH_MAX];
    int rc;
    if (a->config) {
        struct config *cfg = NULL;
        struct config_errors errs = {0};
        rc = config_load(a->config, &cfg, &errs);
        if (rc != 0) {
            for (size_t i = 0; i < errs.n; i++)
                fprintf(stderr, "%s\n", errs.v[i]);
            if (errs.n == 0)
                fprintf(stderr, "hubsync %s: cannot load %s: %s\n", cmd, a->config,
                        hs_strerror(rc));
            config_errors_free(&errs);
            return HS_EXIT_CONFIG;
        }
        config_errors_free(&errs);
        rc = snprintf(dir, sizeof(dir), "%s", cfg->state_dir) >= (int)sizeof(dir) ? -ENAMETOOLONG
                                                                                  : 0;
        if (rc == 0)
            rc = control_socket_path(dir, out, n);
        char usock[HS_PATH_MAX];
        const char *rt = getenv("RUNTIME_DIRECTORY");
        if (unit_of_config(a->config, a->unit, sizeof(a->unit), usock, sizeof(usock)) &&
            cfg->state_dir_origin != CONFIG_FROM_FILE && !(rt && *rt) &&
            (rc != 0 || nothing_at(out)) && !nothing_at(usock) && strlen(usock) < n) {
            memcpy(out, usock, strlen(usock) + 1);
            rc = 0;
        }
        config_free(cfg);
    } else {
        rc = default_state_dir(dir, sizeof(dir));
        if (rc == 0)
            rc = control_socket_path(dir, out, n);
        if (rc == 0 && !getenv("STATE_DIRECTORY") && (rc = find_default_socket(cmd, dir, out, n)))
            return rc;
    }
    if (rc < 0) {
        fprintf(stderr, "hubsync %s: cannot find the control socket (state_dir %s): %s\n", cmd, dir,
                hs_strerror(rc));
        return rc == -ENAMETOOLONG ? HS_EXIT_CONFIG : HS_EXIT_FAILURE;
    }
    return 0;
}

int ctlcli_ask(const char *cmd, const struct ctlcli_args *a, const char *path, const json_t *req,
               json_t **resp)
{
    struct hs_err err = {0};
    int rc = control_request(path, req, CTLCLI_TIMEOUT, resp, &err);
    if (rc == 0)
        return 0;
    fprintf(stderr, "hubsync %s: %s\n", cmd, err.msg);
    switch (rc) {
    case -ENOENT:
    case -ECONNREFUSED:
    case -ETIMEDOUT:
    case -ECONNRESET:
        if (rc == -ENOENT || rc == -ECONNREFUSED) {
            if (a->unit[0])
                fprintf(stderr, "hubsync %s: is the daemon running? (systemctl status %s)\n", cmd,
                        a->unit);
            else
                fprintf(stderr,
                        "hubsync %s: is the daemon running? (hubsync daemon --config FILE, "
                        "or systemctl status hubsync or hubsync@USER)\n",
                        cmd);
        }
        return HS_EXIT_NO_DAEMON;
    default:
        return HS_EXIT_FAILURE;
    }
}

/* ---- rendering --------------------------------------------------------- */

void ctlcli_format_bytes(uint64_t bytes, char *out, size_t n)
{
    hs_format_bytes(bytes, out, n);
}

void ctlcli_format_duration(uint64_t s, char *out, size_t n)
{
    if (s < 60)
        snprintf(out, n, "%" PRIu64 "s", s);
    else if (s < 3600)
        snprintf(out, n, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
    else if (s < 86400)
        snprintf(out, n, "%" PRIu64 "h%02" PRIu64 "m", s / 3600, (s % 3600) / 60);
    else
        snprintf(out, n, "%" PRIu64 "d%02" PRIu64 "h", s / 86400, (s % 86400) / 3600);
}

static bool get_u64(const json_t *o, const char *key, uint64_t *v)
{
    const json_t *x = json_object_get(o, key);
    if (json_is_integer(x) && json_integer_value(x) >= 0) {
        *v = (uint64_t)json_integer_value(x);
        return true;
    }
    if (json_is_real(x) && json_real_value(x) >= 0) {
        *v = (uint64_t)json_real_value(x);
        return true;
    }
    return false;
}

/* A string from the daemon, printed on one line with control characters
 * replaced (the answer comes from another process). */
static int put_str(struct hs_buf *b, const char *s)
{
    for (; *s; s++) {
        char c = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
        int rc = hs_buf_append(b, &c, 1);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int field(struct hs_buf *b, const char *label, const char *value)
{
    int rc = hs_buf_printf(b, "  %-12s ", label);
    if (rc == 0)
        rc = put_str(b, value);
    if (rc == 0)
        rc = hs_buf_append(b, "\n", 1);
    return rc;
}

static int format_job(const json_t *job, struct hs_buf *b)
{
    const char *name = json_string_value(json_object_get(job, "name"));
    const char *st = json_string_value(json_object_get(job, "state"));
    const char *ck = json_string_value(json_object_get(job, "checkpoint"));
    const char *watch = json_string_value(json_object_get(job, "watch")),
               *wmode = json_string_value(json_object_get(job, "watch_mode")),
               *wwhy = json_string_value(json_object_get(job, "watch_mode_why")),
               *repo = json_string_value(json_object_get(job, "repo")),
               *e = json_string_value(json_object_get(job, "last_error"));
    const json_t *retry = json_object_get(job, "retry");
    uint64_t attempt = 0, next_in = 0;
    int rc = hs_buf_printf(b, "job ");
    rc = rc ? rc : put_str(b, name ? name : "?");
    rc = rc ? rc : hs_buf_printf(b, ": ");
    if (st && !strcmp(st, "waiting") && wmode && !strcmp(wmode, "waiting") && watch) {
        rc = rc ? rc : hs_buf_printf(b, "waiting for ");
        rc = rc ? rc : put_str(b, watch);
        rc = rc ? rc : hs_buf_printf(b, " to appear");
    } else if (st && !strcmp(st, "retrying") && get_u64(retry, "attempt", &attempt) &&
               get_u64(retry, "next_in_seconds", &next_in)) {
        rc = rc ? rc
                : hs_buf_printf(b, "retrying (attempt %" PRIu64 ", next in %" PRIu64 "s)", attempt,
                                next_in);
        rc = rc ? rc : hs_buf_printf(b, ": "); /* the error names the checkpoint */
        rc = rc ? rc : put_str(b, e ? e : "(no error recorded)");
        ck = NULL;
    } else {
        rc = rc ? rc : put_str(b, st ? st : "unknown");
    }
    if (ck && rc == 0) {
        rc = hs_buf_printf(b, " ");
        rc = rc ? rc : put_str(b, ck);
    }
    rc = rc ? rc : hs_buf_printf(b, "\n");
    if (rc == 0 && repo)
        rc = field(b, "repo", repo);
    if (rc == 0 && watch)
        rc = field(b, "watch", watch);
    if (rc == 0 && wmode) {
        char line[256];
        snprintf(line, sizeof(line), "%s (%s)", wmode, wwhy ? wwhy : "?");
        rc = field(b, "watch mode", line);
    }
    if (rc)
        return rc;

    uint64_t done = 0, total = 0, rate = 0, eta = 0, queued = 0;
    bool has_done = get_u64(job, "bytes_done", &done),
         has_total = get_u64(job, "bytes_total", &total);
    if (has_done || has_total) {
        char d[32], t[32], line[160];
        ctlcli_format_bytes(done, d, sizeof(d));
        int len;
        if (has_total && total > 0) {
            ctlcli_format_bytes(total, t, sizeof(t));
            len = snprintf(line, sizeof(line), "%s of %s (%u%%)", d, t,
                           (unsigned)(done >= total ? 100 : done * 100 / total));
        } else {
            len = snprintf(line, sizeof(line), "%s", d);
        }
        if (get_u64(job, "rate_bytes_per_sec", &rate) && rate > 0) {
            ctlcli_format_bytes(rate, t, sizeof(t));
            len += snprintf(line + len, sizeof(line) - (size_t)len, ", %s/s", t);
        }
        if (get_u64(job, "eta_seconds", &eta)) {
            ctlcli_format_duration(eta, t, sizeof(t));
            snprintf(line + len, sizeof(line) - (size_t)len, ", ETA %s", t);
        }
        rc = field(b, "progress", line);
    }
    if (rc == 0 && get_u64(job, "queued", &queued) && queued > 0) {
        char q[48];
        snprintf(q, sizeof(q), "%" PRIu64 " save%s", queued, queued == 1 ? "" : "s");
        rc = field(b, "queued", q);
    }
    uint64_t com = 0, sup = 0, coa = 0, sent = 0;
    bool has_com = get_u64(job, "committed", &com), has_sup = get_u64(job, "superseded", &sup),
         has_coa = get_u64(job, "coalesced", &coa), has_sent = get_u64(job, "bytes_sent", &sent);
    if (rc == 0 && (has_com || has_sup || has_coa || has_sent)) {
        char s[32], line[160];
        ctlcli_format_bytes(sent, s, sizeof(s));
        snprintf(line, sizeof(line),
                 "%" PRIu64 " committed, %" PRIu64 " superseded, %" PRIu64 " coalesced, %s sent",
                 com, sup, coa, s);
        rc = field(b, "saves", line);
    }
    uint64_t lost = 0;
    if (rc == 0 && get_u64(job, "lost", &lost) && lost > 0) {
        char line[48];
        snprintf(line, sizeof(line), "%" PRIu64 " save%s (never committed)", lost,
                 lost == 1 ? "" : "s");
        rc = field(b, "lost", line);
    }
    const json_t *ll = json_object_get(job, "last_lost");
    const char *ln = json_string_value(json_object_get(ll, "checkpoint")),
               *lr = json_string_value(json_object_get(ll, "reason"));
    if (rc == 0 && ln && lr) {
        char line[1024];
        snprintf(line, sizeof(line), "%s: %s", ln, lr);
        rc = field(b, "last lost", line);
    }
    const char *url = json_string_value(json_object_get(job, "last_commit_url"));
    if (rc == 0)
        rc = field(b, "last commit", url ? url : "none yet");
    if (rc == 0)
        rc = field(b, "last error", e ? e : "none");
    const char *rw = json_string_value(json_object_get(job, "resume_warning"));
    if (rc == 0 && rw)
        rc = field(b, "resume", rw);
    size_t i;
    const json_t *note;
    json_array_foreach(json_object_get(job, "notes"), i, note)
    {
        if (rc == 0 && json_is_string(note))
            rc = field(b, "note", json_string_value(note));
    }
    return rc;
}

int ctlcli_format_status(const json_t *status, struct hs_buf *b)
{
    uint64_t pid = 0, up = 0;
    int rc = hs_buf_printf(b, "hubsync daemon");
    const char *ver = json_string_value(json_object_get(status, "version"));
    bool has_pid = get_u64(status, "pid", &pid), has_up = get_u64(status, "uptime_seconds", &up);
    if (rc == 0 && (has_pid || ver || has_up)) {
        char u[32] = "";
        if (has_up)
            ctlcli_format_duration(up, u, sizeof(u));
        rc = hs_buf_printf(b, " (");
        const char *sep = "";
        if (rc == 0 && has_pid) {
            rc = hs_buf_printf(b, "pid %" PRIu64, pid);
            sep = ", ";
        }
        if (rc == 0 && ver) {
            rc = hs_buf_printf(b, "%sversion ", sep);
            rc = rc ? rc : put_str(b, ver);
            sep = ", ";
        }
        if (rc == 0 && has_up)
            rc = hs_buf_printf(b, "%sup %s", sep, u);
        rc = rc ? rc : hs_buf_printf(b, ")");
    }
    rc = rc ? rc : hs_buf_printf(b, "\n");
    const json_t *jobs = json_object_get(status, "jobs");
    if (rc == 0 && json_array_size(jobs) == 0)
        rc = hs_buf_printf(b, "no jobs\n");
    size_t i;
    const json_t *job;
    json_array_foreach(jobs, i, job)
    {
        if (rc == 0)
            rc = format_job(job, b);
    }
    return rc;
}
