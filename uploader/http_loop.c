/*
 * http_loop.c — libcurl's multi interface driven by the libuv loop
 * (docs/design.md (pitfalls of the libraries)): one uv_timer_t for curl's timeout, one uv_poll_t
 * per socket, sockets opened and closed through our hooks so a poll handle never outlives its
 * descriptor, CURL_CSELECT_ERR on poll errors, info-read after every action. On top: a queue
 * bounded by max_parallel, retries with the retry.c policy (one timer for all waiting requests),
 * HTTP/1.1 on kept-alive connections. Request bodies streamed from files (and the bandwidth
 * cap's pauses) are http_body.c's; what both share is in http_int.h.
 *
 * Credentials: Authorization is added only when the request asks for it AND
 * its URL is under the configured endpoint; every other request (presigned
 * storage URLs, completion URLs) is built from a clean header list. Redirects
 * are followed only for API requests and with CURLOPT_UNRESTRICTED_AUTH off,
 * so curl drops the header when the origin changes. curl's verbose output is
 * never enabled (it would print headers).
 */
#include "http_int.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    struct http_loop *h;
};

static void retry_arm(struct http_loop *h);

/* ---- lists ------------------------------------------------------------- */

void uploader__http_list_push(struct http_loop *h, int which, struct http_request_priv *p)
{
    struct list *l = &h->lists[which];
    p->list = which;
    p->next = NULL;
    p->prev = l->tail;
    if (l->tail)
        l->tail->next = p;
    else
        l->head = p;
    l->tail = p;
}

void uploader__http_list_del(struct http_loop *h, struct http_request_priv *p)
{
    if (p->list == L_NONE)
        return;
    struct list *l = &h->lists[p->list];
    if (p->prev)
        p->prev->next = p->next;
    else
        l->head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else
        l->tail = p->prev;
    p->next = p->prev = NULL;
    p->list = L_NONE;
}

static uint32_t rng_next(struct http_loop *h)
{
    uint32_t x = h->rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return h->rng = x ? x : 0x9e3779b9u;
}

/* ---- sockets and the timer (docs/design.md (pitfalls of the libraries) steps 2–5) -------------
 */

static void handle_closed(uv_handle_t *handle)
{
    struct http_loop *h = handle->data;
    if (handle->type == UV_POLL)
        free(container_of((uv_poll_t *)handle, struct sock_ctx, poll));
    if (--h->pending_closes == 0 && h->closing) {
        void (*cb)(void *) = h->closed;
        void *ud = h->closed_data;
        free(h->socks);
        hs_free_secret(h->auth_header);
        free(h->endpoint);
        free(h->ua);
        free(h->ca_file);
        free(h);
        if (cb)
            cb(ud);
    }
}

static void sock_forget(struct http_loop *h, curl_socket_t fd)
{
    if (fd < 0 || (size_t)fd >= h->n_socks || !h->socks[fd])
        return;
    struct sock_ctx *c = h->socks[fd];
    h->socks[fd] = NULL;
    uv_poll_stop(&c->poll);
    h->pending_closes++;
    uv_close((uv_handle_t *)&c->poll, handle_closed);
}

static void on_poll(uv_poll_t *poll, int status, int events)
{
    struct sock_ctx *c = container_of(poll, struct sock_ctx, poll);
    struct http_loop *h = c->h;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    else {
        if (events & UV_READABLE)
            flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE)
            flags |= CURL_CSELECT_OUT;
    }
    int running;
    curl_multi_socket_action(h->multi, c->fd, flags, &running);
    uploader__http_check_multi(h);
}

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)easy;
    (void)socketp; /* we look sockets up by fd: see sock_close */
    struct http_loop *h = userp;
    if (what == CURL_POLL_REMOVE) {
        sock_forget(h, s);
        return 0;
    }
    if (s < 0)
        return -1;
    if ((size_t)s >= h->n_socks) {
        size_t n = (size_t)s + 64;
        struct sock_ctx **ns = realloc(h->socks, n * sizeof(*ns));
        if (!ns)
            return -1;
        memset(ns + h->n_socks, 0, (n - h->n_socks) * sizeof(*ns));
        h->socks = ns;
        h->n_socks = n;
    }
    struct sock_ctx *c = h->socks[s];
    if (!c) {
        c = calloc(1, sizeof(*c));
        if (!c)
            return -1;
        c->fd = s;
        c->h = h;
        if (uv_poll_init_socket(h->loop, &c->poll, s) < 0) {
            free(c);
            return -1;
        }
        c->poll.data = h;
        h->socks[s] = c;
    }
    int ev = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        ev |= UV_READABLE;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        ev |= UV_WRITABLE;
    uv_poll_start(&c->poll, ev, on_poll);
    return 0;
}

static curl_socket_t sock_open(void *clientp, curlsocktype purpose, struct curl_sockaddr *addr)
{
    (void)clientp;
    (void)purpose;
    return socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

/* We own socket lifetime: stop and close the poll handle before the fd goes
 * (curl/curl#14976, libuv/libuv#1495). */
static int sock_close(void *clientp, curl_socket_t fd)
{
    sock_forget(clientp, fd);
    return close(fd);
}

static void on_timeout(uv_timer_t *t)
{
    struct http_loop *h = t->data;
    int running;
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    uploader__http_check_multi(h);
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    struct http_loop *h = userp;
    if (timeout_ms < 0)
        uv_timer_stop(&h->timer);
    else
        uv_timer_start(&h->timer, on_timeout, timeout_ms ? (uint64_t)timeout_ms : 1, 0);
    return 0;
}

/* ---- response headers ------------------------------------------------- */

static void set_str(char **dst, const char *v, size_t n)
{
    free(*dst);
    *dst = strndup(v, n);
}

static void resp_reset(struct http_response *resp)
{
    resp->status = 0;
    resp->curl_code = CURLE_OK;
    resp->curl_err[0] = 0;
    hs_buf_reset(&resp->body);
    char **fields[] = {&resp->etag,       &resp->request_id,  &resp->error_message,
                       &resp->error_code, &resp->retry_after, &resp->ratelimit,
                       &resp->link,       &resp->location,    &resp->content_range};
    for (size_t i = 0; i < HS_ARRAY_SIZE(fields); i++) {
        free(*fields[i]);
        *fields[i] = NULL;
    }
}

static size_t on_header(char *buf, size_t size, size_t n, void *ud)
{
    struct http_request_priv *p = ud;
    struct http_response *resp = &p->r->resp;
    size_t len = size * n;
    if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
        /* A new response (redirect, 100-continue): forget the previous headers. */
        hs_buf_reset(&resp->body);
        char **fields[] = {&resp->etag,       &resp->request_id,  &resp->error_message,
                           &resp->error_code, &resp->retry_after, &resp->ratelimit,
                           &resp->link,       &resp->location,    &resp->content_range};
        for (size_t i = 0; i < HS_ARRAY_SIZE(fields); i++) {
            free(*fields[i]);
            *fields[i] = NULL;
        }
        return len;
    }
    const char *colon = memchr(buf, ':', len);
    if (!colon)
        return len;
    size_t nl = (size_t)(colon - buf);
    const char *v = colon + 1, *end = buf + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    static const struct {
        const char *name;
        size_t off;
    } known[] = {
        {"etag", offsetof(struct http_response, etag)},
        {"x-request-id", offsetof(struct http_response, request_id)},
        {"x-error-message", offsetof(struct http_response, error_message)},
        {"x-error-code", offsetof(struct http_response, error_code)},
        {"retry-after", offsetof(struct http_response, retry_after)},
        {"ratelimit", offsetof(struct http_response, ratelimit)},
        {"link", offsetof(struct http_response, link)},
        {"location", offsetof(struct http_response, location)},
        {"content-range", offsetof(struct http_response, content_range)},
    };
    for (size_t i = 0; i < HS_ARRAY_SIZE(known); i++) {
        if (strlen(known[i].name) == nl && strncasecmp(buf, known[i].name, nl) == 0) {
            set_str((char **)((char *)resp + known[i].off), v, (size_t)(end - v));
            break;
        }
    }
    return len;
}

static size_t on_write(char *buf, size_t size, size_t n, void *ud)
{
    struct http_request_priv *p = ud;
    if (p->r->sink) {
        long st = 0;
        curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &st);
        if (st >= 200 && st < 300) {
            int rc = p->r->sink(buf, size * n, p->r->userdata);
            if (rc < 0) {
                p->r->error = rc;
                return 0; /* CURLE_WRITE_ERROR */
            }
            return size * n;
        }
    }
    if (hs_buf_append(&p->r->resp.body, buf, size * n) < 0)
        return 0; /* too big: abort (CURLE_WRITE_ERROR) */
    return size * n;
}

/* ---- requests ---------------------------------------------------------- */

struct http_request *uploader__http_request_new(const char *method, const char *url)
{
    struct http_request *r = calloc(1, sizeof(*r));
    struct http_request_priv *p = calloc(1, sizeof(*p));
    if (!r || !p || !(r->url = strdup(url))) {
        free(r ? r->url : NULL);
        free(r);
        free(p);
        return NULL;
    }
    snprintf(r->method, sizeof(r->method), "%s", method);
    r->priv = p;
    p->r = r;
    p->fd = -1;
    hs_buf_init(&r->resp.body, HTTP_BODY_MAX);
    return r;
}

void uploader__http_request_set_body(struct http_request *r, char *owned, size_t len,
                                     const char *ctype)
{
    free(r->body);
    r->body = owned;
    r->body_len = len;
    r->content_type = ctype;
}

void uploader__http_request_destroy(struct http_request_priv *p)
{
    struct http_request *r = p->r;
    if (p->fd >= 0)
        close(p->fd);
    for (int k = 0; k < 2; k++)
        free(p->slots[k].buf);
    resp_reset(&r->resp);
    hs_buf_free(&r->resp.body);
    free(r->url);
    free(r->body);
    free(r->file_path);
    uploader__grow_verify_unref(r->verify);
    free(r);
    free(p);
}

static void easy_release(struct http_request_priv *p)
{
    if (p->easy) {
        curl_multi_remove_handle(p->h->multi, p->easy);
        curl_easy_cleanup(p->easy);
        p->easy = NULL;
    }
    curl_slist_free_all(p->headers);
    p->headers = NULL;
}

void uploader__http_request_free(struct http_request *r)
{
    if (!r)
        return;
    struct http_request_priv *p = r->priv;
    if (p->h) {
        uploader__http_list_del(p->h, p);
        easy_release(p);
    }
    p->freed = true;
    if (p->reads == 0)
        uploader__http_request_destroy(p);
}

static int easy_setup(struct http_loop *h, struct http_request_priv *p)
{
    struct http_request *r = p->r;
    CURL *e = curl_easy_init();
    if (!e)
        return -ENOMEM;
    p->easy = e;
    struct curl_slist *hd = NULL;
    char line[256];
    if (r->content_type) {
        snprintf(line, sizeof(line), "Content-Type: %s", r->content_type);
        hd = curl_slist_append(hd, line);
    }
    if (r->accept) {
        snprintf(line, sizeof(line), "Accept: %s", r->accept);
        hd = curl_slist_append(hd, line);
    }
    hd = curl_slist_append(hd, "Expect:");
    if (r->range) {
        snprintf(line, sizeof(line), "Range: bytes=%llu-", (unsigned long long)r->range_from);
        hd = curl_slist_append(hd, line);
    }
    if (r->auth && h->auth_header)
        hd = curl_slist_append(hd, h->auth_header);
    p->headers = hd;

    curl_easy_setopt(e, CURLOPT_URL, r->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, p);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(e, CURLOPT_USERAGENT, h->ua);
    /* HTTP/1.1 on kept-alive connections, up to max_parallel of them, as the
     * official clients (urllib3, undici) and S3 storage do; never HTTP/2.
     * libcurl 7.88 (Debian 12) loses wake-ups when transfers share an h2
     * connection: a download whose last bytes another stream's transfer read
     * off the socket, an upload whose WINDOW_UPDATE another transfer read,
     * each stayed stalled until the stall guard (reproduced in test_http_tls
     * under load; curl/curl#11157, #11176). */
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (h->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, h->ca_file);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)h->stall_seconds);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->resp.curl_err);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, p);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, p);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, sock_open);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, h);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, sock_close);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, h);
    curl_easy_setopt(e, CURLOPT_UNRESTRICTED_AUTH, 0L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, r->follow ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    if (r->not_idempotent) /* never on a kept-alive connection the server may have dropped */
        curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);

    if (r->file_path || r->body_fill) {
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->file_len);
        curl_easy_setopt(e, CURLOPT_READFUNCTION, uploader__http_body_read);
        curl_easy_setopt(e, CURLOPT_READDATA, p);
        if (strcmp(r->method, "PUT") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
    } else if (r->body || strcmp(r->method, "POST") == 0 || strcmp(r->method, "PUT") == 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body ? r->body : "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
        if (strcmp(r->method, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
    } else if (strcmp(r->method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (strcmp(r->method, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
    }
    return 0;
}

void uploader__http_finish(struct http_loop *h, struct http_request_priv *p)
{
    uploader__http_list_del(h, p);
    easy_release(p);
    if (p->r->body_fill && p->reads > 0) {
        /* A generated body's fill may read its caller's state: done runs
         * once it returned, so after done no fill runs (slot_done). */
        p->done_pending = true;
        return;
    }
    p->r->done(p->r, p->r->userdata);
}

static int start(struct http_loop *h, struct http_request_priv *p)
{
    struct http_request *r = p->r;
    r->attempts++;
    resp_reset(&r->resp);
    if (r->file_path || r->body_fill) {
        uploader__http_body_reset(p);
        uploader__http_body_kick(p);
    }
    if (!p->easy) {
        int rc = easy_setup(h, p);
        if (rc < 0)
            return rc;
    }
    uploader__http_list_push(h, L_ACTIVE, p);
    h->active++;
    if (curl_multi_add_handle(h->multi, p->easy) != CURLM_OK) {
        uploader__http_list_del(h, p);
        h->active--;
        return -EIO;
    }
    return 0;
}

void uploader__http_pump(struct http_loop *h)
{
    struct http_request_priv *p;
    while (!h->closing && h->active < h->max_parallel && (p = h->lists[L_PENDING].head)) {
        uploader__http_list_del(h, p);
        if ((p->r->file_path || p->r->body_fill) && p->reads > 0) {
            /* An earlier attempt's reads are still in flight: retry shortly. */
            p->resetting = true;
            p->due = hs_now_monotonic() + 5 * HS_USEC_PER_MSEC;
            uploader__http_list_push(h, L_WAITING, p);
            retry_arm(h);
            continue;
        }
        p->resetting = false;
        int rc = start(h, p);
        if (rc < 0) {
            p->r->error = rc;
            uploader__http_finish(h, p);
        }
    }
}

static void retry_fire(uv_timer_t *t);

static void retry_arm(struct http_loop *h)
{
    hs_usec_t now = hs_now_monotonic(), next = UINT64_MAX;
    for (struct http_request_priv *p = h->lists[L_WAITING].head; p; p = p->next)
        if (p->due < next)
            next = p->due;
    if (next == UINT64_MAX) {
        uv_timer_stop(&h->retry_timer);
        return;
    }
    uint64_t ms = next > now ? (next - now + 999) / 1000 : 0;
    uv_timer_start(&h->retry_timer, retry_fire, ms, 0);
}

static void retry_fire(uv_timer_t *t)
{
    struct http_loop *h = t->data;
    hs_usec_t now = hs_now_monotonic();
    struct http_request_priv *p = h->lists[L_WAITING].head, *next;
    for (; p; p = next) {
        next = p->next;
        if (p->due <= now) {
            uploader__http_list_del(h, p);
            uploader__http_list_push(h, L_PENDING, p);
        }
    }
    uploader__http_pump(h);
    retry_arm(h);
}

void uploader__http_check_multi(struct http_loop *h)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(h->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct http_request_priv *p = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&p);
        struct http_request *r = p->r;
        CURLcode code = msg->data.result;
        curl_multi_remove_handle(h->multi, p->easy);
        if (p->list == L_BW)
            uploader__http_list_del(h, p);
        h->active--;
        r->resp.curl_code = code;
        long status = 0;
        if (code == CURLE_OK)
            curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &status);
        r->resp.status = status;
        curl_easy_getinfo(p->easy, CURLINFO_HTTP_VERSION, &r->resp.http_version);
        curl_easy_getinfo(p->easy, CURLINFO_NUM_CONNECTS, &r->resp.num_connects);
        if (r->error == 0 && code != CURLE_OK)
            r->error = HS_EHTTP;
        if (code == CURLE_ABORTED_BY_CALLBACK && r->error == HS_EHTTP)
            r->error = -ECANCELED;
        /* A file error is final; everything else goes through the policy. */
        bool file_err = r->error && r->error != HS_EHTTP;
        int64_t delay = -1;
        if (r->retry == HTTP_RETRY_RATELIMIT && status != 429)
            ; /* only a 429 is known not to have been applied */
        else if (r->retry && !file_err && !h->closing)
            delay = uploader__retry_delay(&h->retry, r->attempts - 1, status, code,
                                          r->resp.retry_after, r->resp.ratelimit, rng_next(h));
        if (delay >= 0) {
            r->error = 0;
            uploader__http_list_del(h, p);
            p->paused_data = p->paused_tokens = false;
            p->due = hs_now_monotonic() + (hs_usec_t)delay;
            uploader__http_list_push(h, L_WAITING, p);
            retry_arm(h);
        } else {
            uploader__http_finish(h, p);
        }
    }
    uploader__http_pump(h);
}

int uploader__http_submit(struct http_loop *h, struct http_request *r)
{
    struct http_request_priv *p = r->priv;
    if (h->closing)
        return -ECANCELED;
    if (r->auth && !uploader__url_is_under_endpoint(r->url, h->endpoint))
        return -EPERM;
    if (!r->done)
        return -EINVAL;
    p->h = h;
    r->error = 0;
    if (r->delay) {
        p->due = hs_now_monotonic() + r->delay;
        uploader__http_list_push(h, L_WAITING, p);
        retry_arm(h);
        return 0;
    }
    uploader__http_list_push(h, L_PENDING, p);
    uploader__http_pump(h);
    return 0;
}

uint64_t uploader__http_loop_bytes_out(const struct http_loop *h)
{
    return h->bytes_out;
}

/* ---- life cycle -------------------------------------------------------- */

int uploader__http_loop_new(uv_loop_t *loop, const struct http_loop_options *opt,
                            struct http_loop **out, struct hs_err *err)
{
    static bool global_done;
    if (!global_done) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return hs_err_set(err, -EIO, "libcurl initialisation failed");
        global_done = true;
    }
    if (!opt->endpoint)
        return hs_err_set(err, -EINVAL, "uploader: the endpoint is required");
    struct http_loop *h = calloc(1, sizeof(*h));
    if (!h)
        return hs_err_set(err, -ENOMEM, "out of memory");
    h->loop = loop;
    h->endpoint = strdup(opt->endpoint);
    h->ua = strdup(opt->user_agent ? opt->user_agent : "hubsync/0.1; hf_hub_c/0.1");
    h->ca_file = opt->ca_file ? strdup(opt->ca_file) : NULL;
    bool anon = !opt->token || !*opt->token;
    size_t al = anon ? 0 : strlen(opt->token) + 32;
    h->auth_header = anon ? NULL : malloc(al);
    if (!h->endpoint || !h->ua || (!anon && !h->auth_header) || (opt->ca_file && !h->ca_file)) {
        free(h->endpoint);
        free(h->ua);
        free(h->ca_file);
        free(h->auth_header);
        free(h);
        return hs_err_set(err, -ENOMEM, "out of memory");
    }
    if (!anon)
        snprintf(h->auth_header, al, "Authorization: Bearer %s", opt->token);
    h->max_parallel = opt->max_parallel ? opt->max_parallel : 8;
    h->retry = opt->retry;
    h->stall_seconds = opt->stall_seconds ? opt->stall_seconds : 60;
    h->rng = (uint32_t)hs_now_realtime() ^ (uint32_t)getpid() ^ 0x5bd1e995u;
    uploader__token_bucket_init(&h->tb, opt->bandwidth_bytes_per_sec, hs_now_monotonic());
    h->multi = curl_multi_init();
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    /* Keep alive what max_parallel transfers use, to the API and to storage. */
    curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, 2L * (long)h->max_parallel);
    uv_timer_init(loop, &h->timer);
    uv_timer_init(loop, &h->retry_timer);
    uv_timer_init(loop, &h->bw_timer);
    h->timer.data = h->retry_timer.data = h->bw_timer.data = h;
    *out = h;
    return 0;
}

void uploader__http_loop_close(struct http_loop *h, void (*closed)(void *), void *userdata)
{
    if (!h)
        return;
    h->closing = true;
    h->closed = closed;
    h->closed_data = userdata;
    for (int l = L_PENDING; l <= L_BW; l++) {
        struct http_request_priv *p;
        while ((p = h->lists[l].head)) {
            if (l == L_ACTIVE || l == L_BW)
                h->active--;
            p->r->error = -ECANCELED;
            uploader__http_finish(h, p); /* the done callback frees or keeps r */
        }
    }
    curl_multi_cleanup(h->multi); /* closes cached connections through sock_close */
    h->multi = NULL;
    uv_timer_stop(&h->timer);
    uv_timer_stop(&h->retry_timer);
    uv_timer_stop(&h->bw_timer);
    h->pending_closes += 3;
    uv_close((uv_handle_t *)&h->timer, handle_closed);
    uv_close((uv_handle_t *)&h->retry_timer, handle_closed);
    uv_close((uv_handle_t *)&h->bw_timer, handle_closed);
    /* Poll handles still registered (should be none after multi cleanup). */
    for (size_t i = 0; i < h->n_socks; i++)
        sock_forget(h, (curl_socket_t)i);
}
