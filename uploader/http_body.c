/*
 * http_body.c — request bodies for http_loop.c: a file range (or a
 * generated body, body_fill) streamed through two STREAM_SLOT buffers that
 * the thread pool fills while curl sends the other one, so curl's read
 * callback never touches the disk; and the shared bandwidth cap: a transfer
 * out of tokens pauses in L_BW until the timer resumes it. A failed read
 * ends the transfer with the file's reason (HS_ECHANGED when it shrank).
 */
#include "http_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ---- file bodies: two slots filled on the thread pool ------------------ */

static void slot_work(uv_work_t *w)
{
    struct slot *s = w->data;
    struct http_request_priv *p = s->owner;
    s->err = 0;
    s->why[0] = '\0';
    /* Both slots may run at once and find the file not open yet: one fd
     * wins, the other thread closes its own (no race on p->fd, no leak).
     * Each slot writes only its own why[], read on the loop in slot_done. */
    if (p->r->body_fill) {
        /* a generated body: one slot at a time (uploader__http_body_kick), in order */
        s->err =
            p->r->body_fill(p->r->body_src, s->file_off, s->buf, s->len, s->why, sizeof(s->why));
        return;
    }
    int fd = __atomic_load_n(&p->fd, __ATOMIC_ACQUIRE);
    if (fd < 0) {
        /* no symlink, and the very file that was hashed (fileio.c) */
        struct http_request *r = p->r;
        int mine = uploader__open_file(r->file_path, r->file_check ? &r->file_key : NULL, NULL,
                                       s->why, sizeof(s->why));
        if (mine < 0) {
            s->err = mine;
            return;
        }
        fd = -1;
        if (__atomic_compare_exchange_n(&p->fd, &fd, mine, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE))
            fd = mine;
        else
            close(mine); /* fd: the other slot's */
    }
    size_t got = 0;
    while (got < s->len) {
        ssize_t k = pread(fd, s->buf + got, s->len - got, (off_t)(s->file_off + got));
        if (k < 0) {
            if (errno == EINTR)
                continue;
            s->err = -errno;
            return;
        }
        if (k == 0) {
            s->err = HS_ECHANGED; /* the file shrank */
            return;
        }
        got += (size_t)k;
    }
    if (p->r->verify) /* compared where they are read anyway (grow_verify.c) */
        uploader__grow_verify_bytes(p->r->verify, s->file_off, s->buf, s->len);
}

static void slot_done(uv_work_t *w, int status)
{
    struct slot *s = w->data;
    struct http_request_priv *p = s->owner;
    p->reads--;
    if (p->done_pending) {
        p->done_pending = false;
        s->state = SLOT_EMPTY;
        p->r->done(p->r, p->r->userdata);
        return;
    }
    if (p->freed) {
        if (p->reads == 0)
            uploader__http_request_destroy(p);
        return;
    }
    if (status < 0 || p->resetting) {
        s->state = SLOT_EMPTY;
        return;
    }
    if (s->err) {
        s->state = SLOT_EMPTY;
        if (!p->r->error) {
            p->r->error = s->err;
            snprintf(p->r->file_err, sizeof(p->r->file_err), "%s%s%s",
                     p->r->file_path ? p->r->file_path : "", p->r->file_path ? ": " : "",
                     s->why[0]               ? s->why
                     : s->err == HS_ECHANGED ? "file shrank while being uploaded"
                                             : strerror(-s->err));
        }
        /* End the transfer here: unpausing curl only to have the read
         * callback abort leaves 7.88's multi without a DONE message. */
        if (p->easy && (p->list == L_ACTIVE || p->list == L_BW)) {
            struct http_loop *h = p->h;
            curl_multi_remove_handle(h->multi, p->easy);
            h->active--;
            p->r->resp.curl_code = CURLE_ABORTED_BY_CALLBACK;
            uploader__http_finish(h, p);
            uploader__http_pump(h);
        }
        return;
    }
    s->state = SLOT_FULL;
    if (p->r->body_fill)
        uploader__http_body_kick(p); /* the other slot, now that this one is done */
    if (p->paused_data && p->easy) {
        p->paused_data = false;
        curl_easy_pause(p->easy, CURLPAUSE_CONT);
        uploader__http_check_multi(p->h);
    }
}

void uploader__http_body_kick(struct http_request_priv *p)
{
    uint64_t end = p->r->file_off + p->r->file_len;
    for (int k = 0; k < 2; k++) {
        struct slot *s = &p->slots[(p->cur + k) & 1];
        if (s->state != SLOT_EMPTY || p->next_off >= end || p->r->error)
            continue;
        if (p->r->body_fill && p->reads > 0)
            return; /* a generated body is produced in order, one slot at a time */
        size_t len = end - p->next_off < STREAM_SLOT ? (size_t)(end - p->next_off) : STREAM_SLOT;
        if (!s->buf && !(s->buf = malloc(STREAM_SLOT))) {
            p->r->error = -ENOMEM;
            return;
        }
        s->len = len;
        s->used = 0;
        s->file_off = p->next_off;
        s->state = SLOT_READING;
        s->owner = p;
        s->work.data = s;
        p->next_off += len;
        if (uv_queue_work(p->h->loop, &s->work, slot_work, slot_done) < 0) {
            s->state = SLOT_EMPTY;
            p->r->error = -EIO;
            return;
        }
        p->reads++;
    }
}

void uploader__http_body_reset(struct http_request_priv *p)
{
    p->pos = 0;
    p->next_off = p->r->file_off;
    p->cur = 0;
    for (int k = 0; k < 2; k++) {
        p->slots[k].state = SLOT_EMPTY;
        p->slots[k].used = p->slots[k].len = 0;
    }
}

size_t uploader__http_body_read(char *dst, size_t size, size_t n, void *ud)
{
    struct http_request_priv *p = ud;
    struct http_loop *h = p->h;
    size_t want = size * n;
    if (p->r->error)
        return CURL_READFUNC_ABORT;
    if (p->pos >= p->r->file_len)
        return 0;
    struct slot *s = &p->slots[p->cur];
    if (s->state != SLOT_FULL) {
        uploader__http_body_kick(p);
        p->paused_data = true;
        return CURL_READFUNC_PAUSE;
    }
    size_t k = s->len - s->used < want ? s->len - s->used : want;
    if (h->tb.rate > 0) {
        k = uploader__token_bucket_take(&h->tb, k, hs_now_monotonic());
        if (k == 0) {
            p->paused_tokens = true;
            uploader__http_list_del(h, p);
            uploader__http_list_push(h, L_BW, p);
            if (!uv_is_active((uv_handle_t *)&h->bw_timer)) {
                hs_usec_t w = uploader__token_bucket_wait(&h->tb, want, hs_now_monotonic());
                uv_timer_start(&h->bw_timer, uploader__http_body_bw_resume, w / 1000 + 1, 0);
            }
            return CURL_READFUNC_PAUSE;
        }
    }
    memcpy(dst, s->buf + s->used, k);
    s->used += k;
    p->pos += k;
    p->r->bytes_sent += k;
    h->bytes_out += k;
    if (s->used == s->len) {
        s->state = SLOT_EMPTY;
        p->cur ^= 1;
        uploader__http_body_kick(p);
    }
    return k;
}

/* Transfers paused for tokens wait in L_BW. Active transfers were removed
 * from that list when they finished, so every entry still has its easy. */
void uploader__http_body_bw_resume(uv_timer_t *t)
{
    struct http_loop *h = t->data;
    struct http_request_priv *p;
    while ((p = h->lists[L_BW].head) != NULL) {
        uploader__http_list_del(h, p);
        uploader__http_list_push(h, L_ACTIVE, p);
        p->paused_tokens = false;
        curl_easy_pause(p->easy, CURLPAUSE_CONT);
        uploader__http_check_multi(h);
        if (h->tb.tokens < 1)
            break; /* the rest waits for the next refill */
    }
    if (h->lists[L_BW].head) {
        hs_usec_t w = uploader__token_bucket_wait(&h->tb, 4096, hs_now_monotonic());
        uv_timer_start(&h->bw_timer, uploader__http_body_bw_resume, w / 1000 + 1, 0);
    }
}
