/*
 * merge.c — writing the card without clobbering what people wrote.
 *
 * hubsync's card is "---\n<metadata>---\n" + BEGIN marker + the Trainer's
 * body + END marker. With an existing README.md (repo or output dir):
 *   - mode overwrite, no card, hubsync's own card (nothing outside the
 *     markers), or the Trainer's card (its "generated automatically"
 *     comment): regenerate fully;
 *   - a human-written card: keep its body byte for byte; replace only the
 *     bytes between the markers (or append a marked section at the end);
 *     in its front matter replace the top-level keys hubsync generates,
 *     keep every other line, keep its library_name, keep its tags and add
 *     the missing ones, and keep its model-index when hubsync has no
 *     results. Top-level keys are found line by line (a key at column 0);
 *     nothing else of the person's YAML is reinterpreted.
 * Also reads the column order of an existing Training results table
 * (docs/trainer-layouts.md §4.2 rule 6); the modes are §4.4.
 * A CRLF card stays CRLF (the parts hubsync writes into it follow it).
 */
#include "modelcard_int.h"

#include <errno.h>
#include <string.h>

static const char trainer_phrase[] = "This model card has been generated automatically according "
                                     "to the information the Trainer had access to";

int modelcard__readme_columns(const char *text, size_t len, struct modelcard_strv *out)
{
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        if ((size_t)(le - p) > 15 && !strncmp(p, "| Training Loss", 15)) {
            const char *q = p;
            while (q < le) {
                if (*q != '|') {
                    q++;
                    continue;
                }
                const char *s = q + 1;
                const char *e = memchr(s, '|', (size_t)(le - s));
                if (!e)
                    break;
                const char *a = s, *b = e;
                while (a < b && (*a == ' ' || *a == '\t'))
                    a++;
                while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r'))
                    b--;
                char cellbuf[256];
                snprintf(cellbuf, sizeof(cellbuf), "%.*s", (int)(b - a), a);
                if (cellbuf[0] && modelcard__strv_push(out, cellbuf) < 0)
                    return -ENOMEM;
                q = e;
            }
            return 0;
        }
        p = nl ? nl + 1 : end;
    }
    return 0;
}

/* Front matter as huggingface_hub finds it: optional leading whitespace,
 * "---", newline(s), YAML, newline, "---", newline or end. */
struct split {
    bool has_fm;
    const char *yaml;
    size_t yaml_len;
    const char *body;
    size_t body_len;
};

static void split_card(const char *t, size_t len, struct split *s)
{
    memset(s, 0, sizeof(*s));
    s->body = t;
    s->body_len = len;
    size_t i = 0;
    while (i < len && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r'))
        i++;
    if (len - i < 3 || strncmp(t + i, "---", 3))
        return;
    i += 3;
    if (i >= len || (t[i] != '\n' && t[i] != '\r'))
        return;
    while (i < len && (t[i] == '\n' || t[i] == '\r'))
        i++;
    size_t ys = i;
    for (size_t j = ys; j + 3 <= len; j++) {
        if ((j == ys || t[j - 1] == '\n' || t[j - 1] == '\r') && !strncmp(t + j, "---", 3) &&
            (j + 3 == len || t[j + 3] == '\n' || t[j + 3] == '\r')) {
            size_t ye = j;
            while (ye > ys && (t[ye - 1] == '\n' || t[ye - 1] == '\r'))
                ye--;
            size_t bs = j + 3;
            if (bs < len && t[bs] == '\r')
                bs++;
            if (bs < len && t[bs] == '\n')
                bs++;
            s->has_fm = true;
            s->yaml = t + ys;
            s->yaml_len = ye - ys;
            s->body = t + bs;
            s->body_len = len - bs;
            return;
        }
    }
}

static const char *find(const char *h, size_t hl, const char *n)
{
    return memmem(h, hl, n, strlen(n));
}

/* ---- front matter blocks -------------------------------------------------- */

struct block {
    char key[128]; /* "" for leading comments/blank lines */
    const char *text;
    size_t len;
};

static size_t yaml_blocks(const char *y, size_t len, struct block *b, size_t max)
{
    size_t n = 0;
    const char *p = y, *end = y + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl + 1 : end;
        bool top = *p != ' ' && *p != '\t' && *p != '-' && *p != '#' && *p != '\n' && *p != '\r' &&
                   memchr(p, ':', (size_t)(le - p));
        if ((top || n == 0) && n < max) {
            memset(&b[n], 0, sizeof(b[n]));
            if (top) {
                const char *colon = memchr(p, ':', (size_t)(le - p));
                snprintf(b[n].key, sizeof(b[n].key), "%.*s", (int)(colon - p), p);
            }
            b[n].text = p;
            n++;
        }
        b[n - 1].len = (size_t)(le - b[n - 1].text);
        p = le;
    }
    return n;
}

static const struct block *block_get(const struct block *b, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(b[i].key, key))
            return &b[i];
    return NULL;
}

/* Strip simple quotes from a list item for comparing. */
static void unquote(const char *s, size_t len, char *out, size_t n)
{
    while (len && (*s == ' '))
        s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\r' || s[len - 1] == '\n'))
        len--;
    if (len >= 2 && (s[0] == '\'' || s[0] == '"') && s[len - 1] == s[0])
        s++, len -= 2;
    snprintf(out, n, "%.*s", (int)len, s);
}

/* Their tags block plus ours missing from it; false when theirs is not a
 * simple block list (then theirs is kept as it is). */
static int merge_tags(const struct block *theirs, const struct mc_card *c, struct hs_buf *out,
                      bool *done)
{
    *done = false;
    const char *p = memchr(theirs->text, '\n', theirs->len);
    if (!p)
        return 0;
    /* "tags:" alone on its line? */
    const char *colon = memchr(theirs->text, ':', theirs->len);
    for (const char *q = colon + 1; q < p; q++)
        if (*q != ' ' && *q != '\r')
            return 0;
    struct modelcard_strv items = {0};
    const char *end = theirs->text + theirs->len;
    for (const char *l = p + 1; l < end;) {
        const char *nl = memchr(l, '\n', (size_t)(end - l));
        const char *le = nl ? nl : end;
        if (le - l >= 2 && l[0] == '-' && l[1] == ' ') {
            char item[256];
            unquote(l + 2, (size_t)(le - l - 2), item, sizeof(item));
            if (modelcard__strv_push(&items, item) < 0) {
                modelcard__strv_free(&items);
                return -ENOMEM;
            }
        } else if (le > l && l[0] != '#' && l[0] != '\r') {
            modelcard__strv_free(&items);
            return 0; /* something else: keep theirs */
        }
        l = nl ? nl + 1 : end;
    }
    int r = hs_buf_append(out, theirs->text, theirs->len);
    if (r == 0 && theirs->text[theirs->len - 1] != '\n')
        r = hs_buf_append(out, "\n", 1);
    for (size_t i = 0; r == 0 && i < c->tags.n; i++) {
        bool have = false;
        for (size_t k = 0; k < items.n; k++)
            have |= !strcmp(items.v[k], c->tags.v[i]);
        if (have)
            continue;
        r = hs_buf_append(out, "- ", 2);
        if (r == 0)
            r = modelcard__yaml_scalar(c->tags.v[i], out);
        if (r == 0)
            r = hs_buf_append(out, "\n", 1);
    }
    modelcard__strv_free(&items);
    *done = true;
    return r;
}

/* Our value for key, or theirs when we should keep theirs. */
static int merged_key(const struct mc_card *c, const char *key, const struct block *theirs,
                      struct hs_buf *out, bool *present)
{
    if (theirs && !strcmp(key, "library_name")) {
        *present = true;
        return hs_buf_append(out, theirs->text, theirs->len);
    }
    if (theirs && !strcmp(key, "tags")) {
        bool done;
        int r = merge_tags(theirs, c, out, &done);
        *present = true;
        if (r < 0 || done)
            return r;
        return hs_buf_append(out, theirs->text, theirs->len);
    }
    struct hs_buf mine;
    hs_buf_init(&mine, 16u << 20);
    int r = modelcard__yaml_key(c, key, &mine, present);
    if (r == 0 && theirs && !strcmp(key, "model-index") && mine.data &&
        strstr(mine.data, "results: []")) {
        r = hs_buf_append(out, theirs->text, theirs->len); /* keep their results */
    } else if (r == 0 && *present) {
        r = hs_buf_append(out, mine.data, mine.len);
    } else if (r == 0 && theirs) {
        *present = true;
        r = hs_buf_append(out, theirs->text, theirs->len);
    }
    hs_buf_free(&mine);
    return r;
}

/* Upper bound of top-level blocks: one per line at most. */
static size_t count_lines(const char *y, size_t len)
{
    size_t n = 1;
    for (size_t i = 0; i < len; i++)
        n += y[i] == '\n';
    return n;
}

static int merge_front_matter(const struct mc_card *c, const struct split *s, struct hs_buf *out)
{
    size_t max = s->has_fm ? count_lines(s->yaml, s->yaml_len) : 1;
    struct block *b = calloc(max, sizeof(*b));
    if (!b)
        return -ENOMEM;
    size_t n = s->has_fm ? yaml_blocks(s->yaml, s->yaml_len, b, max) : 0;
    int r = hs_buf_append(out, "---\n", 4);
    /* Theirs, in their order, with our keys replaced in place. */
    bool seen[HS_ARRAY_SIZE(modelcard__yaml_keys)] = {0};
    for (size_t i = 0; r == 0 && i < n; i++) {
        size_t ours = SIZE_MAX;
        for (size_t k = 0; k < HS_ARRAY_SIZE(modelcard__yaml_keys); k++)
            if (!strcmp(b[i].key, modelcard__yaml_keys[k]))
                ours = k;
        if (ours == SIZE_MAX) {
            r = hs_buf_append(out, b[i].text, b[i].len);
            if (r == 0 && b[i].len && b[i].text[b[i].len - 1] != '\n')
                r = hs_buf_append(out, "\n", 1);
            continue;
        }
        if (seen[ours])
            continue; /* a duplicate key: the first one wins */
        seen[ours] = true;
        bool present;
        r = merged_key(c, b[i].key, &b[i], out, &present);
        if (r == 0 && present && out->len && out->data[out->len - 1] != '\n')
            r = hs_buf_append(out, "\n", 1);
    }
    /* Ours that they do not have, in our order. */
    for (size_t k = 0; r == 0 && k < HS_ARRAY_SIZE(modelcard__yaml_keys); k++) {
        if (block_get(b, n, modelcard__yaml_keys[k]))
            continue;
        bool present;
        r = modelcard__yaml_key(c, modelcard__yaml_keys[k], out, &present);
    }
    if (r == 0)
        r = hs_buf_append(out, "---\n", 4);
    free(b);
    return r;
}

static int marked_body(const struct mc_card *c, struct hs_buf *out)
{
    int r = hs_buf_printf(out, "%s\n", MODELCARD_BEGIN_MARKER);
    if (r == 0)
        r = modelcard__render_body(c, out);
    if (r == 0)
        r = hs_buf_printf(out, "%s\n", MODELCARD_END_MARKER);
    return r;
}

/* Append src to out (then empty src), turning lone "\n" into "\r\n" when crlf. */
static int append_eol(struct hs_buf *out, struct hs_buf *src, bool crlf)
{
    int r = 0;
    if (!crlf) {
        r = hs_buf_append(out, src->data ? src->data : "", src->len);
    } else {
        size_t run = 0;
        for (size_t i = 0; r == 0 && i < src->len; i++) {
            if (src->data[i] == '\n' && (i == 0 || src->data[i - 1] != '\r')) {
                r = hs_buf_append(out, src->data + run, i - run);
                if (r == 0)
                    r = hs_buf_append(out, "\r\n", 2);
                run = i + 1;
            }
        }
        if (r == 0)
            r = hs_buf_append(out, src->data ? src->data + run : "", src->len - run);
    }
    hs_buf_reset(src);
    return r;
}

static bool only_space(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\n' && p[i] != '\r' && p[i] != '\t')
            return false;
    return true;
}

int modelcard_render(const struct modelcard_run *run, const struct modelcard_meta *meta,
                     const char *existing, size_t existing_len, struct hs_buf *out,
                     struct modelcard_warnings *w, struct hs_err *err)
{
    if (meta->mode == MODELCARD_OFF)
        return 0;
    struct mc_card c;
    int r = modelcard__card_build(run, meta, existing, existing_len, &c, w, err);
    if (r < 0)
        return r;

    struct split s;
    bool full = true;
    const char *b1 = NULL, *b2 = NULL;
    if (existing && existing_len && meta->mode == MODELCARD_MERGE) {
        split_card(existing, existing_len, &s);
        b1 = find(s.body, s.body_len, MODELCARD_BEGIN_MARKER);
        b2 = b1 ? find(b1, s.body_len - (size_t)(b1 - s.body), MODELCARD_END_MARKER) : NULL;
        if (b1 && b2) {
            const char *after = b2 + strlen(MODELCARD_END_MARKER);
            size_t tail = s.body_len - (size_t)(after - s.body);
            full = only_space(s.body, (size_t)(b1 - s.body)) && only_space(after, tail);
        } else {
            b1 = b2 = NULL;
            full = find(s.body, s.body_len, trainer_phrase) != NULL;
        }
    }
    if (full) {
        r = hs_buf_append(out, "---\n", 4);
        if (r == 0)
            r = modelcard__yaml_metadata(&c, out);
        if (r == 0)
            r = hs_buf_append(out, "---\n", 4);
        if (r == 0)
            r = marked_body(&c, out);
    } else {
        /* huggingface_hub keeps a card's line endings: what hubsync writes
         * into a CRLF card gets CRLF too; the person's bytes stay as they are. */
        const char *nl = memchr(existing, '\n', existing_len);
        bool crlf = nl && nl > existing && nl[-1] == '\r';
        struct hs_buf tmp;
        hs_buf_init(&tmp, out->max);
        r = merge_front_matter(&c, &s, &tmp);
        if (r == 0)
            r = append_eol(out, &tmp, crlf);
        if (r == 0 && b1) {
            /* Their text before and after our markers stays byte for byte. */
            const char *after = b2 + strlen(MODELCARD_END_MARKER);
            if (*after == '\r')
                after++;
            if (*after == '\n')
                after++;
            r = hs_buf_append(out, s.body, (size_t)(b1 - s.body));
            if (r == 0)
                r = marked_body(&c, &tmp);
            if (r == 0)
                r = append_eol(out, &tmp, crlf);
            if (r == 0)
                r = hs_buf_append(out, after, s.body_len - (size_t)(after - s.body));
        } else if (r == 0) {
            r = hs_buf_append(out, s.body, s.body_len);
            if (r == 0 && s.body_len && s.body[s.body_len - 1] != '\n')
                r = hs_buf_append(out, crlf ? "\r\n" : "\n", crlf ? 2 : 1);
            if (r == 0)
                r = hs_buf_append(out, crlf ? "\r\n" : "\n", crlf ? 2 : 1);
            if (r == 0)
                r = marked_body(&c, &tmp);
            if (r == 0)
                r = append_eol(out, &tmp, crlf);
        }
        hs_buf_free(&tmp);
    }
    modelcard__card_free(&c);
    if (r < 0)
        return hs_err_set(err, r, "model card: %s", hs_strerror(r));
    return 0;
}
