/*
 * fuzz_commit.c — round trip of the NDJSON commit body
 * (uploader__hub_body_commit, uploader_int.h): build it from fuzzed operations, read
 * it back with jansson line by line, and compare with what was asked.
 *
 * Input layout (so libFuzzer mutates fields, not framing): a flags byte
 * (bit 0: a description, bit 1: a parent commit), then length-prefixed
 * strings (one length byte, then that many bytes): summary [, description]
 * [, parent]; then operations until the input ends, each a flags byte
 * (bit 0: LFS) and a path, then for LFS an oid and an 8-byte little-endian
 * size, else the base64 content. An embedded NUL ends a string there (the
 * builder takes C strings). Promises checked: the body is NUL-free, ends
 * with a newline, has one line per operation after the header, each line
 * is exactly the JSON object the Hub expects; a string jansson cannot
 * encode (not UTF-8) makes the builder fail instead of changing the commit.
 */
#include "uploader_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_OPS 64

struct reader {
    const uint8_t *p;
    size_t n;
};

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_commit: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

static uint8_t take_byte(struct reader *r)
{
    if (r->n == 0)
        return 0;
    r->n--;
    return *r->p++;
}

/* A heap C string of the next length-prefixed field (stops at a NUL). */
static char *take_str(struct reader *r)
{
    size_t len = take_byte(r);
    if (len > r->n)
        len = r->n;
    char *s = strndup((const char *)r->p, len);
    r->p += len;
    r->n -= len;
    if (!s)
        abort();
    return s;
}

static uint64_t take_u64(struct reader *r)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)take_byte(r) << (8 * i);
    return v;
}

static bool encodable(const char *s)
{
    json_t *j = s ? json_string(s) : NULL;
    bool ok = j != NULL;
    json_decref(j);
    return ok || !s;
}

struct input {
    char *summary, *description, *parent;
    struct hub_commit_op ops[MAX_OPS];
    char *strs[3 * MAX_OPS];
    size_t n_ops, n_strs;
};

static char *keep(struct input *in, char *s)
{
    in->strs[in->n_strs++] = s;
    return s;
}

static void decode(const uint8_t *data, size_t size, struct input *in)
{
    struct reader r = {data, size};
    uint8_t flags = take_byte(&r);
    in->summary = take_str(&r);
    in->description = (flags & 1) ? take_str(&r) : NULL;
    in->parent = (flags & 2) ? take_str(&r) : NULL;
    while (r.n > 0 && in->n_ops < MAX_OPS) {
        struct hub_commit_op *op = &in->ops[in->n_ops++];
        op->lfs = take_byte(&r) & 1;
        op->path = keep(in, take_str(&r));
        if (op->lfs) {
            op->oid = keep(in, take_str(&r));
            /* json_int_t is signed: the builder takes sizes below 2^63 */
            op->size = take_u64(&r) & (UINT64_MAX >> 1);
        } else {
            op->content_b64 = keep(in, take_str(&r));
        }
    }
}

static bool all_encodable(const struct input *in)
{
    if (!encodable(in->summary) || !encodable(in->description) || !encodable(in->parent))
        return false;
    for (size_t i = 0; i < in->n_strs; i++)
        if (!encodable(in->strs[i]))
            return false;
    return true;
}

static json_t *expected_line(const struct input *in, size_t line)
{
    if (line == 0) {
        json_t *hv = json_pack("{s:s, s:s}", "summary", in->summary, "description",
                               in->description ? in->description : "");
        if (in->parent)
            json_object_set_new(hv, "parentCommit", json_string(in->parent));
        return json_pack("{s:s, s:o}", "key", "header", "value", hv);
    }
    const struct hub_commit_op *op = &in->ops[line - 1];
    if (op->lfs)
        return json_pack("{s:s, s:{s:s, s:s, s:s, s:I}}", "key", "lfsFile", "value", "path",
                         op->path, "algo", "sha256", "oid", op->oid, "size", (json_int_t)op->size);
    return json_pack("{s:s, s:{s:s, s:s, s:s}}", "key", "file", "value", "content", op->content_b64,
                     "path", op->path, "encoding", "base64");
}

static void check_body(const struct input *in, const char *body, size_t len)
{
    if (memchr(body, 0, len))
        fail("NUL byte inside the commit body", NULL);
    if (len == 0 || body[len - 1] != '\n')
        fail("commit body does not end with a newline", NULL);
    size_t line = 0;
    for (size_t off = 0; off < len; line++) {
        const char *nl = memchr(body + off, '\n', len - off);
        size_t ll = (size_t)(nl - (body + off));
        if (line > in->n_ops)
            fail("more lines than operations", NULL);
        json_error_t je;
        json_t *got = json_loadb(body + off, ll, JSON_REJECT_DUPLICATES, &je);
        if (!got)
            fail("a line of the body is not JSON", je.text);
        json_t *want = expected_line(in, line);
        if (!want)
            fail("cannot build the expected line", NULL);
        if (!json_equal(got, want)) {
            char *g = json_dumps(got, JSON_COMPACT);
            fprintf(stderr, "fuzz_commit: line %zu differs from what was asked\n", line);
            fail("round trip", g);
        }
        json_decref(got);
        json_decref(want);
        off += ll + 1;
    }
    if (line != in->n_ops + 1)
        fail("fewer lines than operations", NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in;
    memset(&in, 0, sizeof(in));
    decode(data, size, &in);
    size_t len = 0;
    char *body =
        uploader__hub_body_commit(in.summary, in.description, in.parent, in.ops, in.n_ops, &len);
    bool ok = all_encodable(&in);
    if (body && !ok)
        fail("a string that is not UTF-8 was dropped or changed instead of refused", NULL);
    if (!body && ok)
        fail("the builder refused a valid commit", NULL);
    if (body)
        check_body(&in, body, len);
    free(body);
    free(in.summary);
    free(in.description);
    free(in.parent);
    for (size_t i = 0; i < in.n_strs; i++)
        free(in.strs[i]);
    return 0;
}
