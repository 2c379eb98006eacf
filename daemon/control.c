/*
 * control.c — the control socket (protocol in control.h): a line-delimited
 * JSON server on the daemon's libuv loop, and the small blocking client the
 * CLI uses. It owns framing, limits, timeouts and the socket file; what the
 * commands do is the daemon's handler's business.
 */
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define SUN_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

int control_socket_path(const char *state_dir, char *out, size_t n)
{
    const char *rt = getenv("RUNTIME_DIRECTORY");
    char dir[HS_PATH_MAX];
    if (rt && *rt) {
        size_t len = strcspn(rt, ":");
        if (len >= sizeof(dir))
            return -ENAMETOOLONG;
        memcpy(dir, rt, len);
        dir[len] = '\0';
    } else {
        if (snprintf(dir, sizeof(dir), "%s", state_dir) >= (int)sizeof(dir))
            return -ENAMETOOLONG;
    }
    int rc = hs_path_join(out, n, dir, CONTROL_SOCKET_NAME);
    if (rc == 0 && strlen(out) > SUN_PATH_MAX)
        rc = -ENAMETOOLONG;
    return rc;
}

static int make_addr(const char *path, struct sockaddr_un *sa)
{
    if (strlen(path) > SUN_PATH_MAX)
        return -ENAMETOOLONG;
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path, path, strlen(path));
    return 0;
}

/* Does a process answer connects on path? 1 yes, 0 no (stale), <0 error. */
static int probe(const char *path)
{
    struct sockaddr_un sa;
    int rc = make_addr(path, &sa);
    if (rc < 0)
        return rc;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 1 : -errno;
    close(fd);
    if (rc == -ECONNREFUSED || rc == -ENOENT)
        return 0;
    if (rc == -EAGAIN) /* backlog full: someone is there */
        return 1;
    return rc;
}

/* ---- server ------------------------------------------------------------ */

struct conn {
    struct control_server *srv;
    uv_pipe_t pipe;
    uv_timer_t timer;
    struct hs_buf in;
    int open_handles;
    bool closing;
    bool close_after_write;
    unsigned pending_writes;
    struct conn *next, *prev;
};

struct control_server {
    uv_loop_t *loop;
    uv_pipe_t listener;
    char path[HS_PATH_MAX];
    char alias[HS_PATH_MAX];
    control_handler_fn fn;
    void *ud;
    hs_usec_t idle_timeout;
    unsigned max_clients;
    size_t max_request;
    struct conn *conns;
    unsigned nconns; /* allocated (closing ones included) */
    unsigned active; /* not closing: what max_clients limits */
    bool stopping;
    bool listener_closed;
    void (*done)(void *);
    void *done_arg;
};

struct write_req {
    uv_write_t req;
    struct conn *c;
    size_t len;
    char data[];
};

static void maybe_done(struct control_server *s)
{
    if (!s->stopping || !s->listener_closed || s->nconns > 0)
        return;
    void (*done)(void *) = s->done;
    void *arg = s->done_arg;
    free(s);
    if (done)
        done(arg);
}

static void conn_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    if (--c->open_handles > 0)
        return;
    struct control_server *s = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    hs_buf_free(&c->in);
    free(c);
    maybe_done(s);
}

static void conn_close(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    c->srv->active--;
    uv_close((uv_handle_t *)&c->pipe, conn_closed);
    uv_close((uv_handle_t *)&c->timer, conn_closed);
}

static void on_write(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;
    struct conn *c = w->c;
    free(w);
    c->pending_writes--;
    if (status < 0) /* EPIPE: SIGPIPE is ignored (main.c); a normal hang-up */
        hs_log_debug("control: the client hung up before reading its answer: %s",
                     uv_strerror(status));
    if (status < 0 || (c->close_after_write && c->pending_writes == 0))
        conn_close(c);
}

static void conn_send(struct conn *c, json_t *resp)
{
    char *text = json_dumps(resp, JSON_COMPACT);
    size_t len = text ? strlen(text) : 0;
    struct write_req *w = malloc(sizeof(*w) + len + 1);
    if (!text || !w) {
        free(text);
        free(w);
        conn_close(c);
        return;
    }
    memcpy(w->data, text, len);
    w->data[len] = '\n';
    w->len = len + 1;
    w->c = c;
    free(text);
    uv_buf_t buf = uv_buf_init(w->data, (unsigned)w->len);
    int r = uv_write(&w->req, (uv_stream_t *)&c->pipe, &buf, 1, on_write);
    if (r < 0) {
        hs_log_debug("control: the client hung up before reading its answer: %s", uv_strerror(r));
        free(w);
        conn_close(c);
        return;
    }
    c->pending_writes++;
}

static json_t *error_answer(const char *msg)
{
    return json_pack("{s:b, s:s}", "ok", 0, "error", msg);
}

static void handle_line(struct conn *c, const char *line, size_t len)
{
    json_error_t jerr;
    json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *cmd = json_object_get(req, "cmd");
    json_t *resp;
    if (!json_is_object(req) || !json_is_string(cmd)) {
        resp = error_answer("a request is one JSON object with a string \"cmd\" on one line");
    } else {
        resp = c->srv->fn(json_string_value(cmd), req, c->srv->ud);
        if (!json_is_object(resp)) {
            json_decref(resp);
            resp = error_answer("internal error");
        } else if (!json_object_get(resp, "ok")) {
            json_object_set_new(resp, "ok", json_true());
        }
    }
    json_decref(req);
    conn_send(c, resp);
    json_decref(resp);
}

static void on_timeout(uv_timer_t *t)
{
    conn_close(t->data);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    char *p = malloc(4096);
    *buf = uv_buf_init(p, p ? 4096 : 0);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = stream->data;
    if (nread < 0 || c->closing) {
        free(buf->base);
        if (nread == UV_EOF && !c->closing && c->pending_writes > 0) {
            /* the client half-closed after its request: answer, then close */
            c->close_after_write = true;
            uv_read_stop(stream);
        } else if (nread < 0) {
            conn_close(c);
        }
        return;
    }
    if (nread == 0) {
        free(buf->base);
        return;
    }
    uv_timer_again(&c->timer);
    int rc = hs_buf_append(&c->in, buf->base, (size_t)nread);
    free(buf->base);
    size_t start = 0;
    for (;;) {
        char *nl = memchr(c->in.data + start, '\n', c->in.len - start);
        if (!nl)
            break;
        size_t len = (size_t)(nl - (c->in.data + start));
        if (len > c->srv->max_request)
            break;
        handle_line(c, c->in.data + start, len);
        start += len + 1;
        if (c->closing)
            return;
    }
    memmove(c->in.data, c->in.data + start, c->in.len - start);
    c->in.len -= start;
    c->in.data[c->in.len] = '\0';
    if (rc < 0 || c->in.len > c->srv->max_request) {
        char msg[96];
        snprintf(msg, sizeof(msg), "request too large (max %zu bytes)", c->srv->max_request);
        json_t *resp = error_answer(msg);
        c->close_after_write = true;
        uv_read_stop(stream);
        conn_send(c, resp);
        json_decref(resp);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    struct control_server *s = server->data;
    if (status < 0 || s->stopping)
        return;
    struct conn *c = calloc(1, sizeof(*c));
    if (!c)
        return; /* the pending connection stays in the backlog; the client times out */
    c->srv = s;
    hs_buf_init(&c->in, s->max_request + 4096);
    uv_pipe_init(s->loop, &c->pipe, 0);
    uv_timer_init(s->loop, &c->timer);
    c->pipe.data = c->timer.data = c;
    c->open_handles = 2;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    s->active++;
    if (uv_accept(server, (uv_stream_t *)&c->pipe) < 0) {
        conn_close(c);
        return;
    }
    if (s->active > s->max_clients) {
        conn_close(c); /* too many at once: the client sees EOF */
        return;
    }
    uint64_t ms = s->idle_timeout / HS_USEC_PER_MSEC;
    uv_timer_start(&c->timer, on_timeout, ms ? ms : 1, ms ? ms : 1);
    uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
}

static int place_alias(const char *path, const char *alias, struct hs_err *err)
{
    struct stat st;
    if (lstat(alias, &st) == 0) {
        if (!S_ISLNK(st.st_mode) && !S_ISSOCK(st.st_mode))
            return hs_err_set(err, -EEXIST, "%s exists and is not a socket; not replacing it",
                              alias);
        if (S_ISSOCK(st.st_mode) && probe(alias) == 1)
            return hs_err_set(err, -EADDRINUSE, "another process answers on %s", alias);
        unlink(alias);
    }
    if (symlink(path, alias) < 0)
        return hs_err_set(err, -errno, "cannot create %s: %s", alias, strerror(errno));
    return 0;
}

int control_server_start(uv_loop_t *loop, const char *path, const struct control_options *opts,
                         control_handler_fn fn, void *ud, struct control_server **out,
                         struct hs_err *err)
{
    *out = NULL;
    struct sockaddr_un sa;
    if (make_addr(path, &sa) < 0)
        return hs_err_set(err, -ENAMETOOLONG,
                          "control socket path %s is longer than a unix socket allows (%zu)", path,
                          SUN_PATH_MAX);
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return hs_err_set(err, -EEXIST,
                              "%s exists and is not a socket; not replacing it (remove it if "
                              "it is a leftover)",
                              path);
        int p = probe(path);
        if (p == 1)
            return hs_err_set(err, -EADDRINUSE,
                              "another process answers on %s (is another hubsync running?)", path);
        if (p < 0)
            return hs_err_set(err, p, "cannot check existing socket %s: %s", path, hs_strerror(p));
        if (unlink(path) < 0 && errno != ENOENT) /* stale: nobody answered */
            return hs_err_set(err, -errno, "cannot remove stale socket %s: %s", path,
                              strerror(errno));
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return hs_err_set(err, -errno, "socket: %s", strerror(errno));
    /* Linux creates the socket file with the socket inode's mode minus the
     * umask: set 0660 before bind so there is no window with wider rights,
     * and chmod after bind in case the umask took group bits away. */
    if (fchmod(fd, 0660) < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        chmod(path, 0660) < 0) {
        int e = errno;
        close(fd);
        return hs_err_set(err, -e, "cannot bind control socket %s: %s", path, strerror(e));
    }
    struct control_server *s = calloc(1, sizeof(*s));
    if (!s) {
        close(fd);
        unlink(path);
        return hs_err_set(err, -ENOMEM, "out of memory");
    }
    s->loop = loop;
    snprintf(s->path, sizeof(s->path), "%s", path);
    s->fn = fn;
    s->ud = ud;
    s->idle_timeout = opts && opts->idle_timeout ? opts->idle_timeout : CONTROL_IDLE_TIMEOUT;
    s->max_clients = opts && opts->max_clients ? opts->max_clients : CONTROL_MAX_CLIENTS;
    s->max_request = opts && opts->max_request ? opts->max_request : CONTROL_REQUEST_MAX;
    uv_pipe_init(loop, &s->listener, 0);
    s->listener.data = s;
    int rc = uv_pipe_open(&s->listener, fd);
    if (rc < 0)
        close(fd); /* not owned by the handle */
    else
        rc = uv_listen((uv_stream_t *)&s->listener, 64, on_connection);
    if (rc < 0) {
        hs_err_set(err, rc, "cannot listen on %s: %s", path, uv_strerror(rc));
        control_server_stop(s, NULL, NULL); /* memory freed when the loop runs the close */
        return rc;
    }
    if (opts && opts->alias && strcmp(opts->alias, path) != 0) {
        rc = place_alias(path, opts->alias, err);
        if (rc < 0) {
            control_server_stop(s, NULL, NULL);
            return rc;
        }
        snprintf(s->alias, sizeof(s->alias), "%s", opts->alias);
    }
    *out = s;
    return 0;
}

static void listener_closed(uv_handle_t *h)
{
    struct control_server *s = h->data;
    s->listener_closed = true;
    maybe_done(s);
}

void control_server_stop(struct control_server *s, void (*done)(void *), void *arg)
{
    if (!s) {
        if (done)
            done(arg);
        return;
    }
    s->done = done;
    s->done_arg = arg;
    if (s->stopping)
        return;
    s->stopping = true;
    unlink(s->path);
    if (s->alias[0])
        unlink(s->alias);
    uv_close((uv_handle_t *)&s->listener, listener_closed);
    for (struct conn *c = s->conns; c; c = c->next)
        conn_close(c);
}

/* ---- client ------------------------------------------------------------ */

int control_request(const char *path, const json_t *request, hs_usec_t timeout, json_t **response,
                    struct hs_err *err)
{
    *response = NULL;
    struct sockaddr_un sa;
    if (make_addr(path, &sa) < 0)
        return hs_err_set(err, -ENAMETOOLONG, "control socket path %s is too long", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return hs_err_set(err, -errno, "socket: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(fd);
        if (e == ENOENT || e == ECONNREFUSED || e == ENOTDIR)
            return hs_err_set(err, e == ENOTDIR ? -ENOENT : -e,
                              "no hubsync daemon is answering on %s (%s)", path, strerror(e));
        if (e == EACCES || e == EPERM)
            return hs_err_set(err, -EACCES,
                              "permission denied on %s: the socket is only for the service "
                              "user and its group",
                              path);
        return hs_err_set(err, -e, "cannot connect to %s: %s", path, strerror(e));
    }
    char *text = json_dumps(request, JSON_COMPACT);
    int rc = 0;
    if (!text) {
        close(fd);
        return hs_err_set(err, -ENOMEM, "cannot encode the request");
    }
    size_t len = strlen(text);
    text[len] = '\0';
    hs_usec_t deadline = hs_now_monotonic() + timeout;
    struct hs_buf out;
    hs_buf_init(&out, len + 2);
    hs_buf_append(&out, text, len);
    hs_buf_append(&out, "\n", 1);
    free(text);
    size_t sent = 0;
    while (sent < out.len) {
        ssize_t n = send(fd, out.data + sent, out.len - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = hs_err_set(err, -errno, "cannot send to %s: %s", path, strerror(errno));
            break;
        }
        sent += (size_t)n;
    }
    hs_buf_free(&out);
    struct hs_buf in;
    hs_buf_init(&in, CONTROL_RESPONSE_MAX);
    char *nl = NULL;
    while (rc == 0 && !nl) {
        hs_usec_t now = hs_now_monotonic();
        if (now >= deadline) {
            rc = hs_err_set(err, -ETIMEDOUT, "the daemon on %s did not answer within %.1f seconds",
                            path, (double)timeout / HS_USEC_PER_SEC);
            break;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int pr = poll(&pfd, 1, (int)((deadline - now + 999) / 1000));
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            continue; /* the deadline check above reports the timeout */
        char buf[4096];
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = hs_err_set(err, n < 0 ? -errno : -ECONNRESET,
                            "the daemon on %s closed the connection without an answer", path);
            break;
        }
        int a = hs_buf_append(&in, buf, (size_t)n);
        if (a < 0) {
            rc = hs_err_set(err, -EPROTO, "the answer on %s is larger than %d bytes", path,
                            CONTROL_RESPONSE_MAX);
            break;
        }
        nl = memchr(in.data, '\n', in.len);
    }
    close(fd);
    if (rc == 0) {
        json_error_t jerr;
        json_t *v = json_loadb(in.data, (size_t)(nl - in.data), 0, &jerr);
        if (!json_is_object(v)) {
            json_decref(v);
            rc = hs_err_set(err, -EPROTO, "the answer on %s is not a JSON object", path);
        } else {
            *response = v;
        }
    }
    hs_buf_free(&in);
    return rc;
}
