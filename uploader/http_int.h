/*
 * http_int.h — what http_loop.c (curl on the loop: sockets, timer, queue,
 * retries) and http_body.c (request bodies streamed through two buffers
 * filled on the thread pool, and the bandwidth cap's pauses) share. Loop
 * thread only, except struct slot's read on the pool (http_body.c).
 */
#ifndef HUBSYNC_UPLOADER_HTTP_INT_H
#define HUBSYNC_UPLOADER_HTTP_INT_H

#include "uploader_int.h"

#define STREAM_SLOT UPLOADER_BLOCK /* per buffer; two per streaming transfer */

struct slot {
    char *buf;
    size_t len, used;
    enum { SLOT_EMPTY, SLOT_READING, SLOT_FULL } state;
    uv_work_t work;
    uint64_t file_off;
    int err;
    char why[200]; /* why the body file could not be opened (fileio.c) */
    struct http_request_priv *owner;
};

struct http_request_priv {
    struct http_request *r;
    struct http_loop *h;
    CURL *easy;
    struct curl_slist *headers;
    struct http_request_priv *next, *prev; /* in one of the loop's lists */
    int list;                              /* which list */
    hs_usec_t due;                         /* retry time */
    /* file stream */
    int fd;
    uint64_t pos;      /* body bytes handed to curl this attempt */
    uint64_t next_off; /* next file offset to read into a slot */
    struct slot slots[2];
    int cur;
    int reads;
    bool paused_data, paused_tokens;
    bool freed;        /* the caller freed r; free when reads drain */
    bool resetting;    /* waiting for reads to drain before a retry */
    bool done_pending; /* finished while a body_fill ran: done when it returns */
};

enum { L_NONE, L_PENDING, L_ACTIVE, L_WAITING, L_BW };

struct list {
    struct http_request_priv *head, *tail;
};

struct http_loop {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer, retry_timer, bw_timer;
    char *endpoint, *auth_header, *ua, *ca_file;
    unsigned max_parallel, active;
    struct retry_policy retry;
    unsigned stall_seconds;
    struct token_bucket tb;
    struct list lists[5];
    struct sock_ctx **socks;
    size_t n_socks;
    uint64_t bytes_out;
    unsigned pending_closes;
    bool closing;
    void (*closed)(void *);
    void *closed_data;
    uint32_t rng;
};

/* http_loop.c */
void uploader__http_list_push(struct http_loop *h, int which, struct http_request_priv *p);
void uploader__http_list_del(struct http_loop *h, struct http_request_priv *p);
void uploader__http_check_multi(struct http_loop *h); /* info-read after an action */
void uploader__http_pump(struct http_loop *h);        /* start what max_parallel allows */
void uploader__http_finish(struct http_loop *h, struct http_request_priv *p); /* done */
void uploader__http_request_destroy(struct http_request_priv *p);

/* http_body.c */
void uploader__http_body_reset(struct http_request_priv *p); /* a new attempt */
void uploader__http_body_kick(struct http_request_priv *p);  /* fill the empty slots */
size_t uploader__http_body_read(char *dst, size_t size, size_t n, void *ud); /* curl's */
void uploader__http_body_bw_resume(uv_timer_t *t); /* the bandwidth timer */

#endif
