/*
 * url.c — small URL helpers: origin comparison for the Authorization rule
 * (credentials only on requests built from the configured endpoint), query
 * stripping for messages (presigned URLs carry signatures), percent-encoding
 * of revisions and repo paths, base64, lower-case hex of digests. Uses libcurl's URL parser so our
 * idea of "same origin" is the one curl itself connects to.
 */
#include "uploader_int.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

struct origin {
    char *scheme, *host, *port, *path;
};

static void origin_free(struct origin *o)
{
    curl_free(o->scheme);
    curl_free(o->host);
    curl_free(o->port);
    curl_free(o->path);
}

static int origin_parse(const char *url, struct origin *o)
{
    memset(o, 0, sizeof(*o));
    if (!url)
        return -EINVAL;
    CURLU *u = curl_url();
    if (!u)
        return -ENOMEM;
    int rc = -EINVAL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &o->scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &o->host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &o->port, CURLU_DEFAULT_PORT) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PATH, &o->path, 0) == CURLUE_OK)
        rc = 0;
    curl_url_cleanup(u);
    if (rc < 0)
        origin_free(o);
    return rc;
}

bool uploader__url_same_origin(const char *a, const char *b)
{
    struct origin oa, ob;
    if (origin_parse(a, &oa) < 0)
        return false;
    if (origin_parse(b, &ob) < 0) {
        origin_free(&oa);
        return false;
    }
    bool same = strcasecmp(oa.scheme, ob.scheme) == 0 && strcasecmp(oa.host, ob.host) == 0 &&
                strcmp(oa.port, ob.port) == 0;
    origin_free(&oa);
    origin_free(&ob);
    return same;
}

bool uploader__url_is_under_endpoint(const char *url, const char *endpoint)
{
    struct origin ou, oe;
    if (origin_parse(url, &ou) < 0)
        return false;
    if (origin_parse(endpoint, &oe) < 0) {
        origin_free(&ou);
        return false;
    }
    bool ok = strcasecmp(ou.scheme, oe.scheme) == 0 && strcasecmp(ou.host, oe.host) == 0 &&
              strcmp(ou.port, oe.port) == 0;
    if (ok) {
        size_t pl = strlen(oe.path);
        while (pl > 0 && oe.path[pl - 1] == '/')
            pl--;
        ok = strncmp(ou.path, oe.path, pl) == 0 && (ou.path[pl] == '/' || ou.path[pl] == 0);
    }
    origin_free(&ou);
    origin_free(&oe);
    return ok;
}

void uploader__url_strip_query(const char *url, char *out, size_t n)
{
    if (n == 0)
        return;
    size_t l = strcspn(url ? url : "", "?#");
    if (l >= n)
        l = n - 1;
    memcpy(out, url ? url : "", l);
    out[l] = 0;
}

static char *encode(const char *s, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(3 * n + 1), *p = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
            (keep_slash && c == '/')) {
            *p++ = (char)c;
        } else {
            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
        }
    }
    *p = 0;
    return out;
}

char *uploader__url_encode_segment(const char *s)
{
    return encode(s, false);
}

char *uploader__url_encode_path(const char *s)
{
    return encode(s, true);
}

char *uploader__b64_encode(const void *data, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    if (out)
        out[uploader__b64_encode_to(data, len, out)] = 0;
    return out;
}

size_t uploader__b64_encode_to(const void *data, size_t len, char *out)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *in = data;
    char *p = out;
    size_t i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *p++ = tbl[v >> 18];
        *p++ = tbl[(v >> 12) & 63];
        *p++ = tbl[(v >> 6) & 63];
        *p++ = tbl[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);
        *p++ = tbl[v >> 18];
        *p++ = tbl[(v >> 12) & 63];
        *p++ = i + 1 < len ? tbl[(v >> 6) & 63] : '=';
        *p++ = '=';
    }
    return (size_t)(p - out);
}

void uploader__hex_encode(const unsigned char *d, size_t n, char *out)
{
    static const char x[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = x[d[i] >> 4];
        out[2 * i + 1] = x[d[i] & 15];
    }
    out[2 * n] = 0;
}

bool uploader__hex_decode(const char *h, unsigned char *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char ch = h[2 * i + k];
            unsigned d = ch >= '0' && ch <= '9'   ? (unsigned)(ch - '0')
                         : ch >= 'a' && ch <= 'f' ? (unsigned)(ch - 'a' + 10)
                                                  : 16;
            if (d > 15)
                return false; /* also the NUL of a shorter string */
            v = v << 4 | d;
        }
        out[i] = (unsigned char)v;
    }
    return h[2 * n] == 0;
}
