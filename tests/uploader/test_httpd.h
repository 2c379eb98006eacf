/*
 * test_httpd.h — the tiny HTTP/1.1 server the uploader's unit tests run in
 * their own process: a listening socket on 127.0.0.1 (port 0), an accept
 * thread that hands each connection to the test's own handler thread, and
 * the two primitives those handlers use (read a line, answer with a body).
 * Header-only (static functions); include after <cmocka.h>.
 */
#ifndef HS_TEST_HTTPD_H
#define HS_TEST_HTTPD_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* One line (with its "\r\n") into buf; its length, or -1 at EOF/error. */
static inline int th_read_line(int fd, char *buf, size_t n)
{
    size_t i = 0;
    while (i + 1 < n) {
        char c;
        ssize_t k = read(fd, &c, 1);
        if (k <= 0)
            return -1;
        buf[i++] = c;
        if (c == '\n')
            break;
    }
    buf[i] = 0;
    return (int)i;
}

/* A keep-alive answer: status, Content-Type when ctype is not NULL, the
 * extra header lines (each ending in "\r\n"), then body. */
static inline void th_respond(int fd, int status, const char *ctype, const char *extra,
                              const char *body)
{
    char hdr[2048];
    int n =
        snprintf(hdr, sizeof(hdr),
                 "HTTP/1.1 %d X\r\n%s%s%sContent-Length: %zu\r\n%sConnection: keep-alive\r\n\r\n",
                 status, ctype ? "Content-Type: " : "", ctype ? ctype : "", ctype ? "\r\n" : "",
                 strlen(body), extra);
    if (write(fd, hdr, (size_t)n) < 0 || write(fd, body, strlen(body)) < 0)
        return;
}

struct th_server {
    int fd;
    void *(*conn)(void *); /* runs on its own thread with the connection's fd */
};

static inline void *th_accept_main(void *arg)
{
    struct th_server *s = arg;
    for (;;) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            return NULL;
        pthread_t t;
        pthread_create(&t, NULL, s->conn, (void *)(intptr_t)c);
        pthread_detach(t);
    }
}

/* Listen on 127.0.0.1, serve each connection with s->conn; the port. */
static inline int th_server_start(struct th_server *s)
{
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s->fd, 64), 0);
    socklen_t al = sizeof(a);
    getsockname(s->fd, (struct sockaddr *)&a, &al);
    pthread_t th;
    pthread_create(&th, NULL, th_accept_main, s);
    pthread_detach(th);
    return ntohs(a.sin_port);
}

#endif
