/*
 * yaml.c — the card's YAML front matter, written the way PyYAML's default
 * dumper (yaml.dump(metadata, sort_keys=False), no allow_unicode) writes
 * create_metadata(): block mappings, indentless sequences under a key,
 * "[]" for an empty list, plain scalars unless PyYAML's analysis or its
 * implicit resolvers (bool/int/float/null/timestamp) forbid them, then
 * single quotes, and double quotes with escapes for control and non-ASCII
 * characters. Deliberate difference: strings with line breaks are always
 * double-quoted and long scalars are never folded (both still valid YAML).
 */
#include "modelcard_int.h"

#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>

/* PyYAML's implicit resolvers (yaml/resolver.py), as POSIX ERE. */
static const char *const resolvers[] = {
    "^(yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$",
    "^([-+]?([0-9][0-9_]*)\\.[0-9_]*([eE][-+][0-9]+)?|\\.[0-9][0-9_]*([eE][-+][0-9]+)?|[-+]?[0-"
    "9][0-9_]*(:[0-5]?[0-9])+\\.[0-9_]*|[-+]?\\.(inf|Inf|INF)|\\.(nan|NaN|NAN))$",
    "^([-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(:"
    "[0-5]?[0-9])+)$",
    "^(<<)$",
    "^(~|null|Null|NULL)$",
    "^([0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?("
    "[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](\\.[0-9]*)?(([ \t]*)Z|[-+][0-9][0-9]?(:[0-9]["
    "0-9])?)?)$",
    "^(=)$",
};

static bool resolves_to_non_string(const char *s)
{
    for (size_t i = 0; i < HS_ARRAY_SIZE(resolvers); i++) {
        regex_t re;
        if (regcomp(&re, resolvers[i], REG_EXTENDED | REG_NOSUB) != 0)
            return true; /* cannot tell: quote */
        int m = regexec(&re, s, 0, NULL, 0);
        regfree(&re);
        if (m == 0)
            return true;
    }
    return false;
}

/* Decode one UTF-8 sequence at s (valid UTF-8 assumed; bad bytes as themselves). */
static unsigned decode(const unsigned char *s, size_t *adv)
{
    unsigned c = s[0];
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80) {
            n = 1;
            break;
        }
    *adv = n;
    if (n == 1)
        return c;
    c &= 0x3F >> (n - 1);
    for (size_t i = 1; i < n; i++)
        c = (c << 6) | (s[i] & 0x3F);
    return c;
}

static bool is_ws(unsigned c)
{
    return c == 0 || c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == 0x85 || c == 0x2028 ||
           c == 0x2029;
}

static bool is_break(unsigned c)
{
    return c == '\n' || c == 0x85 || c == 0x2028 || c == 0x2029;
}

enum style { PLAIN, SINGLE, DOUBLE };

static enum style choose(const char *s)
{
    size_t len = strlen(s);
    if (len == 0)
        return SINGLE; /* '' (plain would read as null) */
    /* Decode into code points (the scalar is small). */
    unsigned *cp = malloc((len + 1) * sizeof(*cp));
    if (!cp)
        return DOUBLE;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        size_t adv;
        cp[n++] = decode((const unsigned char *)s + i, &adv);
        i += adv;
    }
    bool block_ind = false, special = false, breaks = false;
    bool lead_space = false, trail_space = false, lead_break = false, trail_break = false;
    bool break_space = false, space_break = false, prev_space = false, prev_break = false;
    if (!strncmp(s, "---", 3) || !strncmp(s, "...", 3))
        block_ind = true;
    bool preceded_ws = true;
    bool followed_ws = n == 1 || is_ws(cp[1]);
    for (size_t i = 0; i < n; i++) {
        unsigned ch = cp[i];
        if (i == 0) {
            if (ch < 0x80 && strchr("#,[]{}&*!|>'\"%@`", (int)ch) && ch)
                block_ind = true;
            if ((ch == '?' || ch == ':') && followed_ws)
                block_ind = true;
            if (ch == '-' && followed_ws)
                block_ind = true;
        } else {
            if (ch == ':' && followed_ws)
                block_ind = true;
            if (ch == '#' && preceded_ws)
                block_ind = true;
        }
        if (is_break(ch))
            breaks = true;
        if (!(ch == '\n' || (ch >= 0x20 && ch <= 0x7E)))
            special = true; /* non-printable, or non-ASCII without allow_unicode */
        if (ch == ' ') {
            if (i == 0)
                lead_space = true;
            if (i == n - 1)
                trail_space = true;
            if (prev_break)
                break_space = true;
            prev_space = true;
            prev_break = false;
        } else if (is_break(ch)) {
            if (i == 0)
                lead_break = true;
            if (i == n - 1)
                trail_break = true;
            if (prev_space)
                space_break = true;
            prev_space = false;
            prev_break = true;
        } else {
            prev_space = prev_break = false;
        }
        preceded_ws = is_ws(ch);
        followed_ws = i + 1 >= n - 1 || is_ws(cp[i + 2]);
    }
    free(cp);
    bool plain = true, single = true;
    if (lead_space || lead_break || trail_space || trail_break)
        plain = false;
    if (break_space)
        plain = single = false;
    if (space_break || special)
        plain = single = false;
    if (breaks)
        plain = single = false; /* see the file comment */
    if (block_ind)
        plain = false;
    if (plain && !resolves_to_non_string(s))
        return PLAIN;
    return single ? SINGLE : DOUBLE;
}

int modelcard__yaml_scalar(const char *s, struct hs_buf *out)
{
    enum style st = choose(s);
    if (st == PLAIN)
        return hs_buf_append(out, s, strlen(s));
    int r = 0;
    if (st == SINGLE) {
        r = hs_buf_append(out, "'", 1);
        for (const char *p = s; r == 0 && *p; p++)
            r = *p == '\'' ? hs_buf_append(out, "''", 2) : hs_buf_append(out, p, 1);
        return r ? r : hs_buf_append(out, "'", 1);
    }
    r = hs_buf_append(out, "\"", 1);
    size_t len = strlen(s);
    for (size_t i = 0; r == 0 && i < len;) {
        size_t adv;
        unsigned ch = decode((const unsigned char *)s + i, &adv);
        static const struct {
            unsigned ch;
            char esc;
        } rep[] = {{0, '0'},     {7, 'a'},    {8, 'b'},    {9, 't'},      {10, 'n'},
                   {11, 'v'},    {12, 'f'},   {13, 'r'},   {27, 'e'},     {'"', '"'},
                   {'\\', '\\'}, {0x85, 'N'}, {0xA0, '_'}, {0x2028, 'L'}, {0x2029, 'P'}};
        bool done = false;
        for (size_t k = 0; k < HS_ARRAY_SIZE(rep); k++)
            if (rep[k].ch == ch) {
                char e[2] = {'\\', rep[k].esc};
                r = hs_buf_append(out, e, 2);
                done = true;
                break;
            }
        if (!done) {
            if (ch >= 0x20 && ch <= 0x7E)
                r = hs_buf_append(out, s + i, 1);
            else if (ch <= 0xFF)
                r = hs_buf_printf(out, "\\x%02X", ch);
            else if (ch <= 0xFFFF)
                r = hs_buf_printf(out, "\\u%04X", ch);
            else
                r = hs_buf_printf(out, "\\U%08X", ch);
        }
        i += adv;
    }
    return r ? r : hs_buf_append(out, "\"", 1);
}

/* A metric value as PyYAML represents Python floats/ints. */
static int yaml_value(const json_t *v, struct hs_buf *out)
{
    double d;
    if (modelcard__is_float(v) && hs_json_number(v, &d)) {
        if (isnan(d))
            return hs_buf_append(out, ".nan", 4);
        if (isinf(d))
            return d < 0 ? hs_buf_append(out, "-.inf", 5) : hs_buf_append(out, ".inf", 4);
        char tmp[64];
        modelcard__py_float(d, tmp, sizeof(tmp));
        char *e = strchr(tmp, 'e');
        if (e && !strchr(tmp, '.'))
            return hs_buf_printf(out, "%.*s.0%s", (int)(e - tmp), tmp, e);
        return hs_buf_append(out, tmp, strlen(tmp));
    }
    switch (json_typeof(v)) {
    case JSON_INTEGER:
        return hs_buf_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    case JSON_TRUE:
        return hs_buf_append(out, "true", 4);
    case JSON_FALSE:
        return hs_buf_append(out, "false", 5);
    case JSON_STRING:
        return modelcard__yaml_scalar(json_string_value(v), out);
    default:
        return hs_buf_append(out, "null", 4);
    }
}

static int kv(struct hs_buf *out, const char *indent, const char *key, const char *val)
{
    int r = hs_buf_printf(out, "%s%s: ", indent, key);
    if (r == 0)
        r = modelcard__yaml_scalar(val, out);
    return r ? r : hs_buf_append(out, "\n", 1);
}

static int list(struct hs_buf *out, const char *key, const struct modelcard_strv *v)
{
    int r = hs_buf_printf(out, "%s:\n", key);
    for (size_t i = 0; r == 0 && i < v->n; i++) {
        r = hs_buf_append(out, "- ", 2);
        if (r == 0)
            r = modelcard__yaml_scalar(v->v[i], out);
        if (r == 0)
            r = hs_buf_append(out, "\n", 1);
    }
    return r;
}

static const char *const metric_tags[] = {
    "accuracy",  "bleu",      "f1",     "matthews_correlation",
    "pearsonr",  "precision", "recall", "rouge",
    "sacrebleu", "spearmanr", "wer"};

size_t modelcard__metric_tags(const struct mc_card *c, const char **tags, size_t *idx, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < c->nsummary; i++) {
        char low[256];
        snprintf(low, sizeof(low), "%s", c->summary[i].name);
        for (char *p = low; *p; p++)
            *p = *p == ' ' ? '_' : (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
        const char *tag = NULL;
        for (size_t k = 0; k < HS_ARRAY_SIZE(metric_tags); k++)
            if (!strcmp(low, metric_tags[k]))
                tag = metric_tags[k];
        if (!tag && !strcmp(low, "rouge1"))
            tag = "rouge";
        if (!tag)
            continue;
        /* A dict keyed by tag: a later key with the same tag replaces the
         * value but keeps the first position. */
        size_t j;
        for (j = 0; j < n; j++)
            if (!strcmp(tags[j], tag))
                break;
        if (j < n) {
            idx[j] = i;
        } else if (n < max) {
            tags[n] = tag;
            idx[n++] = i;
        }
    }
    return n;
}

static int model_index(const struct mc_card *c, struct hs_buf *out)
{
    int r = hs_buf_printf(out, "model-index:\n- name: ");
    if (r == 0)
        r = modelcard__yaml_scalar(c->model_name, out);
    if (r < 0)
        return r;
    const char *tags[32];
    size_t idx[32];
    size_t nm = modelcard__metric_tags(c, tags, idx, 32);
    /* One result per (task, dataset tag) pair, only when task, dataset and
     * metrics are all known (create_model_index). Dataset names pair with
     * tags like Python's zip(): extra tags without a name are dropped. */
    size_t nds = c->dataset_tags.n < c->dataset_names.n ? c->dataset_tags.n : c->dataset_names.n;
    if (!c->task_tag || nds == 0 || nm == 0)
        return hs_buf_printf(out, "\n  results: []\n");
    r = hs_buf_printf(out, "\n  results:\n");
    for (size_t d = 0; r == 0 && d < nds; d++) {
        /* zip() into a dict: a repeated tag keeps its last name. */
        bool dup = false;
        for (size_t e = d + 1; e < nds; e++)
            dup |= !strcmp(c->dataset_tags.v[e], c->dataset_tags.v[d]);
        if (dup)
            continue;
        r = hs_buf_printf(out, "  - task:\n");
        if (r == 0)
            r = kv(out, "      ", "name", c->task_name);
        if (r == 0)
            r = kv(out, "      ", "type", c->task_tag);
        if (r == 0)
            r = hs_buf_printf(out, "    dataset:\n");
        if (r == 0)
            r = kv(out, "      ", "name", c->dataset_names.v[d]);
        if (r == 0)
            r = kv(out, "      ", "type", c->dataset_tags.v[d]);
        /* {"name", "type", **dataset_metadata} then "args" (create_model_index) */
        if (r == 0 && d < c->dataset_config.n)
            r = kv(out, "      ", "config", c->dataset_config.v[d]);
        if (r == 0 && d < c->dataset_args.n)
            r = kv(out, "      ", "args", c->dataset_args.v[d]);
        if (r == 0)
            r = hs_buf_printf(out, "    metrics:\n");
        for (size_t m = 0; r == 0 && m < nm; m++) {
            r = hs_buf_printf(out, "    - name: ");
            if (r == 0)
                r = modelcard__yaml_scalar(c->summary[idx[m]].name, out);
            if (r == 0)
                r = hs_buf_printf(out, "\n      type: %s\n      value: ", tags[m]);
            if (r == 0)
                r = yaml_value(c->summary[idx[m]].value, out);
            if (r == 0)
                r = hs_buf_append(out, "\n", 1);
        }
    }
    return r;
}

int modelcard__yaml_key(const struct mc_card *c, const char *key, struct hs_buf *out, bool *present)
{
    *present = true;
    if (!strcmp(key, "library_name"))
        return hs_buf_printf(out, "library_name: transformers\n");
    if (!strcmp(key, "language") && c->language.n)
        return list(out, key, &c->language);
    if (!strcmp(key, "license") && c->license)
        return kv(out, "", key, c->license);
    /* ModelCardData's base_model: a string, or a list for several. */
    if (!strcmp(key, "base_model") && c->base_model.n == 1)
        return kv(out, "", key, c->base_model.v[0]);
    if (!strcmp(key, "base_model") && c->base_model.n > 1)
        return list(out, key, &c->base_model);
    if (!strcmp(key, "tags") && c->tags.n)
        return list(out, key, &c->tags);
    if (!strcmp(key, "datasets") && c->dataset_tags.n)
        return list(out, key, &c->dataset_tags);
    if (!strcmp(key, "metrics")) {
        const char *tags[32];
        size_t idx[32];
        size_t n = modelcard__metric_tags(c, tags, idx, 32);
        if (n) {
            int r = hs_buf_printf(out, "metrics:\n");
            for (size_t i = 0; r == 0 && i < n; i++)
                r = hs_buf_printf(out, "- %s\n", tags[i]);
            return r;
        }
    }
    if (!strcmp(key, "model-index"))
        return model_index(c, out);
    *present = false;
    return 0;
}

const char *const modelcard__yaml_keys[8] = {"library_name", "language", "license", "base_model",
                                             "tags",         "datasets", "metrics", "model-index"};

int modelcard__yaml_metadata(const struct mc_card *c, struct hs_buf *out)
{
    for (size_t i = 0; i < HS_ARRAY_SIZE(modelcard__yaml_keys); i++) {
        bool present;
        int r = modelcard__yaml_key(c, modelcard__yaml_keys[i], out, &present);
        if (r < 0)
            return r;
    }
    return 0;
}
