/*
 * pickle.c — a strict, read-only reader for training_args.bin.
 *
 * training_args.bin is torch.save(TrainingArguments): a zip archive whose
 * "<name>/data.pkl" entry is a protocol-2 pickle (torch's legacy format and
 * plain pickles of protocols 2–5 are accepted too). The pickle builds the
 * object with NEWOBJ + BUILD(state dict); enum members (IntervalStrategy,
 * OptimizerNames, ...) are GLOBAL + REDUCE of their value (Python <= 3.10)
 * or REDUCE of getattr(EnumClass, "NAME") (3.11+). This reader
 * understands exactly those opcodes plus the ones plain values need, turns
 * class references into inert {"__class__": ...} descriptions and executes
 * nothing. Anything else (persistent ids, bytes, ext codes, protocol 0/1
 * text opcodes) makes it give up on the file. Limits: stack, memo, nodes
 * and nesting depth are capped; containers are copied on insertion so no
 * cycle can form. Dict keys containing "token" are dropped and their string
 * values wiped. Does not know which fields matter (hparams.c does).
 */
#include "modelcard_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define PK_MAX_STACK 4096
#define PK_MAX_MEMO  65536
#define PK_MAX_NODES 20000 /* a real TrainingArguments has about 400 */
#define PK_MAX_DEPTH 32
#define PK_MAX_FILE  (16u << 20)

/* Stack entries: a value, or a MARK (value == NULL). */
struct pk {
    const unsigned char *p, *end;
    json_t *stack[PK_MAX_STACK];
    size_t sp;
    json_t **memo;
    size_t nmemo, capmemo;
    size_t nodes;
    const char *why; /* why the last pk_copy failed */
    struct hs_err *err;
};

static int pk_fail(struct pk *k, const char *what, size_t off)
{
    return hs_err_set(k->err, -EINVAL, "training_args.bin: %s at byte %zu", what, off);
}

static size_t pk_off(struct pk *k, const unsigned char *base)
{
    return (size_t)(k->p - base);
}

static int pk_push(struct pk *k, json_t *v)
{
    if (!v)
        return hs_err_set(k->err, -ENOMEM, "training_args.bin: out of memory");
    if (k->sp >= PK_MAX_STACK) {
        json_decref(v);
        return hs_err_set(k->err, -E2BIG, "training_args.bin: pickle stack too deep");
    }
    if (++k->nodes > PK_MAX_NODES) {
        json_decref(v);
        return hs_err_set(k->err, -E2BIG, "training_args.bin: too many values");
    }
    k->stack[k->sp++] = v;
    return 0;
}

static json_t *pk_pop(struct pk *k)
{
    if (k->sp == 0 || !k->stack[k->sp - 1])
        return NULL;
    return k->stack[--k->sp];
}

/* Index of the topmost MARK, or -1. */
static long pk_mark(struct pk *k)
{
    for (size_t i = k->sp; i > 0; i--)
        if (!k->stack[i - 1])
            return (long)(i - 1);
    return -1;
}

static bool is_global(const json_t *v)
{
    return json_is_object(v) && json_object_get(v, "__global__") && json_object_size(v) == 1;
}

/* Copy v for insertion into a container: scalars are shared, containers
 * deep-copied (counted against the node budget, depth-capped). */
static json_t *pk_copy(struct pk *k, json_t *v, int depth)
{
    if (depth > PK_MAX_DEPTH) {
        k->why = "values nested too deep";
        return NULL;
    }
    if (!json_is_object(v) && !json_is_array(v))
        return json_incref(v);
    if (++k->nodes > PK_MAX_NODES) {
        k->why = "too many values";
        return NULL;
    }
    if (json_is_array(v)) {
        json_t *a = json_array();
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
        {
            json_t *c = pk_copy(k, x, depth + 1);
            if (!c || json_array_append_new(a, c) < 0) {
                json_decref(a);
                return NULL;
            }
        }
        return a;
    }
    json_t *o = json_object();
    const char *key;
    json_t *x;
    json_object_foreach(v, key, x)
    {
        json_t *c = pk_copy(k, x, depth + 1);
        if (!c || json_object_set_new(o, key, c) < 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

static int copy_failed(struct pk *k)
{
    return hs_err_set(k->err, -E2BIG, "training_args.bin: %s", k->why ? k->why : "out of memory");
}

static void wipe_string(json_t *v)
{
    if (json_is_string(v) && json_string_length(v) > 0)
        explicit_bzero((char *)json_string_value(v), json_string_length(v));
}

static bool key_is_secret(const char *key)
{
    return strcasestr(key, "token") != NULL;
}

/* d[key] = value (value consumed). Non-string keys: ints become their
 * decimal text; anything else is refused. */
static int pk_setitem(struct pk *k, json_t *d, json_t *key, json_t *value, size_t off)
{
    char kbuf[32];
    const char *ks;
    int r = 0;
    if (json_is_string(key))
        ks = json_string_value(key);
    else if (json_is_integer(key)) {
        snprintf(kbuf, sizeof(kbuf), "%" JSON_INTEGER_FORMAT, json_integer_value(key));
        ks = kbuf;
    } else if (json_is_null(key) || json_is_boolean(key)) {
        ks = json_is_null(key) ? "None" : json_is_true(key) ? "True" : "False";
    } else {
        r = pk_fail(k, "unsupported dict key", off);
        goto out;
    }
    if (!json_is_object(d) || is_global(d)) {
        r = pk_fail(k, "SETITEM on a non-dict", off);
        goto out;
    }
    if (key_is_secret(ks)) {
        /* Never keep a token: wipe a string value before dropping it (the
         * memo may still hold it until the parse ends; it is freed then). */
        wipe_string(value);
        goto out;
    }
    json_t *c = pk_copy(k, value, 0);
    if (!c || json_object_set_new(d, ks, c) < 0)
        r = copy_failed(k);
out:
    json_decref(key);
    json_decref(value);
    return r;
}

static int pk_append(struct pk *k, json_t *list, json_t *value, size_t off)
{
    int r = 0;
    if (!json_is_array(list)) {
        r = pk_fail(k, "APPEND to a non-list", off);
    } else {
        json_t *c = pk_copy(k, value, 0);
        if (!c || json_array_append_new(list, c) < 0)
            r = copy_failed(k);
    }
    json_decref(value);
    return r;
}

static int need(struct pk *k, size_t n, const unsigned char *base)
{
    if ((size_t)(k->end - k->p) < n)
        return pk_fail(k, "truncated pickle", pk_off(k, base));
    return 0;
}

/* Read an opcode's n-byte little-endian argument and step over it. */
static int pk_arg(struct pk *k, size_t n, const unsigned char *base, uint64_t *v)
{
    int r = need(k, n, base);
    if (r < 0)
        return r;
    *v = hs_le(k->p, n);
    k->p += n;
    return 0;
}

static int pk_string(struct pk *k, size_t n, const unsigned char *base)
{
    if (need(k, n, base) < 0)
        return k->err ? k->err->code : -EINVAL;
    json_t *s = json_stringn((const char *)k->p, n);
    if (!s) /* not valid UTF-8 (or embedded problems) */
        return pk_fail(k, "invalid UTF-8 string", pk_off(k, base));
    k->p += n;
    return pk_push(k, s);
}

static int pk_memo_put(struct pk *k, uint64_t idx, const unsigned char *base)
{
    if (k->sp == 0 || !k->stack[k->sp - 1])
        return pk_fail(k, "memo store of nothing", pk_off(k, base));
    if (idx >= PK_MAX_MEMO)
        return hs_err_set(k->err, -E2BIG, "training_args.bin: memo index %llu too large",
                          (unsigned long long)idx);
    if (idx >= k->capmemo) {
        size_t nc = k->capmemo ? k->capmemo : 64;
        while (nc <= idx)
            nc *= 2;
        json_t **nm = realloc(k->memo, nc * sizeof(*nm));
        if (!nm)
            return -ENOMEM;
        memset(nm + k->capmemo, 0, (nc - k->capmemo) * sizeof(*nm));
        k->memo = nm;
        k->capmemo = nc;
    }
    json_decref(k->memo[idx]);
    k->memo[idx] = json_incref(k->stack[k->sp - 1]);
    if (idx >= k->nmemo)
        k->nmemo = idx + 1;
    return 0;
}

static int pk_global(struct pk *k, const char *mod, size_t modlen, const char *name, size_t nlen,
                     size_t off)
{
    if (modlen == 0 || nlen == 0 || modlen + nlen > 200)
        return pk_fail(k, "bad GLOBAL name", off);
    for (size_t i = 0; i < modlen; i++)
        if ((unsigned char)mod[i] <= 0x20 || (unsigned char)mod[i] >= 0x7f)
            return pk_fail(k, "bad GLOBAL name", off);
    for (size_t i = 0; i < nlen; i++)
        if ((unsigned char)name[i] <= 0x20 || (unsigned char)name[i] >= 0x7f)
            return pk_fail(k, "bad GLOBAL name", off);
    char full[256];
    snprintf(full, sizeof(full), "%.*s.%.*s", (int)modlen, mod, (int)nlen, name);
    return pk_push(k, json_pack("{s:s}", "__global__", full));
}

/* cls(*args) described, not executed. */
static int pk_instance(struct pk *k, json_t *cls, json_t *args, size_t off)
{
    int r;
    if (!is_global(cls) || !json_is_array(args)) {
        r = pk_fail(k, "REDUCE/NEWOBJ of something that is not a class reference", off);
        json_decref(cls);
        json_decref(args);
        return r;
    }
    /* Python >= 3.11 pickles an enum member as getattr(EnumClass, "NAME"). */
    const char *fn = json_string_value(json_object_get(cls, "__global__"));
    if (!strcmp(fn, "builtins.getattr") || !strcmp(fn, "__builtin__.getattr")) {
        const json_t *c0 = json_array_get(args, 0), *c1 = json_array_get(args, 1);
        json_t *o = NULL;
        if (json_array_size(args) == 2 && is_global(c0) && json_is_string(c1))
            o = json_pack("{s:O,s:O}", "__class__", json_object_get(c0, "__global__"), "__member__",
                          c1);
        json_decref(cls);
        json_decref(args);
        if (!o)
            return pk_fail(k, "getattr() of something that is not a class attribute", off);
        return pk_push(k, o);
    }
    json_t *ca = pk_copy(k, args, 0);
    if (!ca) {
        json_decref(cls);
        json_decref(args);
        return copy_failed(k);
    }
    json_t *o =
        json_pack("{s:O,s:o}", "__class__", json_object_get(cls, "__global__"), "__args__", ca);
    json_decref(cls);
    json_decref(args);
    return pk_push(k, o);
}

/* Parse one pickle from [*pp, end); on success *pp is past STOP. */
static int pk_run(struct pk *k, const unsigned char *base, json_t **out)
{
    int r = 0;
    for (;;) {
        if (k->p >= k->end)
            return pk_fail(k, "truncated pickle (no STOP)", pk_off(k, base));
        size_t off = pk_off(k, base);
        unsigned char op = *k->p++;
        json_t *a, *b, *c;
        uint64_t u;
        long m;
        switch (op) {
        case 0x80: /* PROTO */
            if ((r = need(k, 1, base)) < 0)
                return r;
            if (*k->p < 2 || *k->p > 5)
                return pk_fail(k, "unsupported pickle protocol", off);
            k->p++;
            break;
        case 0x95: /* FRAME: framing is only a hint; the opcodes follow inline */
            if ((r = pk_arg(k, 8, base, &u)) < 0)
                return r;
            break;
        case '.': /* STOP */
            if (k->sp != 1 || !k->stack[0])
                return pk_fail(k, "STOP with a malformed stack", off);
            *out = k->stack[0];
            k->sp = 0;
            return 0;
        case '(': /* MARK */
            if (k->sp >= PK_MAX_STACK)
                return hs_err_set(k->err, -E2BIG, "training_args.bin: pickle stack too deep");
            k->stack[k->sp++] = NULL;
            break;
        case '0': /* POP */
            if (k->sp == 0)
                return pk_fail(k, "POP of an empty stack", off);
            json_decref(k->stack[--k->sp]);
            break;
        case '1': /* POP_MARK */
            if ((m = pk_mark(k)) < 0)
                return pk_fail(k, "POP_MARK without MARK", off);
            while (k->sp > (size_t)m)
                json_decref(k->stack[--k->sp]);
            break;
        case '2': /* DUP */
            if (k->sp == 0 || !k->stack[k->sp - 1])
                return pk_fail(k, "DUP of nothing", off);
            if ((r = pk_push(k, json_incref(k->stack[k->sp - 1]))) < 0)
                return r;
            break;
        case '}': /* EMPTY_DICT */
            if ((r = pk_push(k, json_object())) < 0)
                return r;
            break;
        case ']':  /* EMPTY_LIST */
        case ')':  /* EMPTY_TUPLE */
        case 0x8f: /* EMPTY_SET */
            if ((r = pk_push(k, json_array())) < 0)
                return r;
            break;
        case 'N':
            if ((r = pk_push(k, json_null())) < 0)
                return r;
            break;
        case 0x88:
            if ((r = pk_push(k, json_true())) < 0)
                return r;
            break;
        case 0x89:
            if ((r = pk_push(k, json_false())) < 0)
                return r;
            break;
        case 'K': /* BININT1 */
        case 'M': /* BININT2 */
        case 'J': /* BININT: signed 32-bit */
            if ((r = pk_arg(k, op == 'K' ? 1 : op == 'M' ? 2 : 4, base, &u)) < 0)
                return r;
            if ((r = pk_push(k, json_integer(op == 'J' ? (json_int_t)(int32_t)(uint32_t)u
                                                       : (json_int_t)u))) < 0)
                return r;
            break;
        case 0x8a: { /* LONG1: little-endian two's complement, up to 8 bytes here */
            if ((r = pk_arg(k, 1, base, &u)) < 0)
                return r;
            size_t n = (size_t)u;
            if ((r = need(k, n, base)) < 0)
                return r;
            if (n > 8)
                return pk_fail(k, "integer too large", off);
            if ((r = pk_arg(k, n, base, &u)) < 0)
                return r;
            if (n > 0 && n < 8 && (k->p[-1] & 0x80))
                u |= ~UINT64_C(0) << (8 * n);
            if ((r = pk_push(k, json_integer((json_int_t)(int64_t)u))) < 0)
                return r;
            break;
        }
        case 'G': { /* BINFLOAT: big-endian IEEE double */
            if ((r = need(k, 8, base)) < 0)
                return r;
            u = 0;
            for (int i = 0; i < 8; i++)
                u = (u << 8) | k->p[i];
            k->p += 8;
            double d;
            memcpy(&d, &u, sizeof(d));
            json_t *v;
            if (d != d)
                v = json_string("NaN");
            else if (d == __builtin_inf())
                v = json_string("Infinity");
            else if (d == -__builtin_inf())
                v = json_string("-Infinity");
            else
                v = json_real(d);
            if ((r = pk_push(k, v)) < 0)
                return r;
            break;
        }
        case 0x8c: /* SHORT_BINUNICODE */
        case 'X':  /* BINUNICODE */
        case 0x8d: /* BINUNICODE8 */
            if ((r = pk_arg(k, op == 0x8c ? 1 : op == 'X' ? 4 : 8, base, &u)) < 0)
                return r;
            if (u > (uint64_t)(k->end - k->p))
                return pk_fail(k, "truncated pickle", off);
            if ((r = pk_string(k, (size_t)u, base)) < 0)
                return r;
            break;
        case 'c': { /* GLOBAL "module\nname\n" */
            const unsigned char *nl1 = memchr(k->p, '\n', (size_t)(k->end - k->p));
            if (!nl1)
                return pk_fail(k, "truncated GLOBAL", off);
            const unsigned char *nl2 = memchr(nl1 + 1, '\n', (size_t)(k->end - nl1 - 1));
            if (!nl2)
                return pk_fail(k, "truncated GLOBAL", off);
            r = pk_global(k, (const char *)k->p, (size_t)(nl1 - k->p), (const char *)nl1 + 1,
                          (size_t)(nl2 - nl1 - 1), off);
            k->p = nl2 + 1;
            if (r < 0)
                return r;
            break;
        }
        case 0x93: /* STACK_GLOBAL */
            b = pk_pop(k);
            a = pk_pop(k);
            if (!a || !b || !json_is_string(a) || !json_is_string(b)) {
                json_decref(a);
                json_decref(b);
                return pk_fail(k, "STACK_GLOBAL without two strings", off);
            }
            r = pk_global(k, json_string_value(a), json_string_length(a), json_string_value(b),
                          json_string_length(b), off);
            json_decref(a);
            json_decref(b);
            if (r < 0)
                return r;
            break;
        case 0x94: /* MEMOIZE */
            if ((r = pk_memo_put(k, k->nmemo, base)) < 0)
                return r;
            break;
        case 'q': /* BINPUT */
        case 'r': /* LONG_BINPUT */
            if ((r = pk_arg(k, op == 'q' ? 1 : 4, base, &u)) < 0)
                return r;
            if ((r = pk_memo_put(k, u, base)) < 0)
                return r;
            break;
        case 'h': /* BINGET */
        case 'j': /* LONG_BINGET */
            if ((r = pk_arg(k, op == 'h' ? 1 : 4, base, &u)) < 0)
                return r;
            if (u >= k->nmemo || !k->memo[u])
                return pk_fail(k, "memo fetch of an unknown index", off);
            if ((r = pk_push(k, json_incref(k->memo[u]))) < 0)
                return r;
            break;
        case 0x85: /* TUPLE1..3 */
        case 0x86:
        case 0x87: {
            size_t n = (size_t)(op - 0x84);
            json_t *t = json_array();
            if (!t)
                return -ENOMEM;
            json_t *items[3];
            for (size_t i = 0; i < n; i++) {
                items[n - 1 - i] = pk_pop(k);
                if (!items[n - 1 - i]) {
                    for (size_t j = n - i; j < n; j++)
                        json_decref(items[j]);
                    json_decref(t);
                    return pk_fail(k, "TUPLE of missing values", off);
                }
            }
            for (size_t i = 0; i < n; i++) {
                if (r == 0)
                    r = pk_append(k, t, items[i], off); /* consumes items[i] */
                else
                    json_decref(items[i]);
            }
            if (r < 0) {
                json_decref(t);
                return r;
            }
            if ((r = pk_push(k, t)) < 0)
                return r;
            break;
        }
        case 't':   /* TUPLE */
        case 'l':   /* LIST */
        case 0x91:  /* FROZENSET */
        case 'd': { /* DICT */
            if ((m = pk_mark(k)) < 0)
                return pk_fail(k, "container without MARK", off);
            json_t *t = op == 'd' ? json_object() : json_array();
            if (!t)
                return -ENOMEM;
            size_t first = (size_t)m + 1, n = k->sp - first;
            if (op == 'd' && n % 2) {
                json_decref(t);
                return pk_fail(k, "DICT with an odd number of items", off);
            }
            for (size_t i = 0; i < n; i += op == 'd' ? 2 : 1) {
                if (r == 0)
                    r = op == 'd' ? pk_setitem(k, t, json_incref(k->stack[first + i]),
                                               json_incref(k->stack[first + i + 1]), off)
                                  : pk_append(k, t, json_incref(k->stack[first + i]), off);
            }
            while (k->sp > (size_t)m + 1)
                json_decref(k->stack[--k->sp]);
            k->sp--; /* the MARK */
            if (r < 0) {
                json_decref(t);
                return r;
            }
            if ((r = pk_push(k, t)) < 0)
                return r;
            break;
        }
        case 'a': /* APPEND */
            a = pk_pop(k);
            if (!a || k->sp == 0 || !k->stack[k->sp - 1]) {
                json_decref(a);
                return pk_fail(k, "APPEND without a list", off);
            }
            if ((r = pk_append(k, k->stack[k->sp - 1], a, off)) < 0)
                return r;
            break;
        case 's': /* SETITEM */
            b = pk_pop(k);
            a = pk_pop(k);
            if (!a || !b || k->sp == 0 || !k->stack[k->sp - 1]) {
                json_decref(a);
                json_decref(b);
                return pk_fail(k, "SETITEM without a dict", off);
            }
            if ((r = pk_setitem(k, k->stack[k->sp - 1], a, b, off)) < 0)
                return r;
            break;
        case 'e':   /* APPENDS */
        case 0x90:  /* ADDITEMS */
        case 'u': { /* SETITEMS */
            if ((m = pk_mark(k)) < 1 || !k->stack[m - 1])
                return pk_fail(k, "APPENDS/SETITEMS without MARK and target", off);
            json_t *t = k->stack[m - 1];
            size_t first = (size_t)m + 1, n = k->sp - first;
            if (op == 'u' && n % 2)
                return pk_fail(k, "SETITEMS with an odd number of items", off);
            for (size_t i = 0; i < n; i += op == 'u' ? 2 : 1) {
                if (r == 0)
                    r = op == 'u' ? pk_setitem(k, t, json_incref(k->stack[first + i]),
                                               json_incref(k->stack[first + i + 1]), off)
                                  : pk_append(k, t, json_incref(k->stack[first + i]), off);
            }
            while (k->sp > (size_t)m + 1)
                json_decref(k->stack[--k->sp]);
            k->sp--;
            if (r < 0)
                return r;
            break;
        }
        case 'R':  /* REDUCE: callable, args */
        case 0x81: /* NEWOBJ: cls, args */
            b = pk_pop(k);
            a = pk_pop(k);
            if (!a || !b) {
                json_decref(a);
                json_decref(b);
                return pk_fail(k, "REDUCE/NEWOBJ without class and arguments", off);
            }
            if ((r = pk_instance(k, a, b, off)) < 0)
                return r;
            break;
        case 0x92: /* NEWOBJ_EX: cls, args, kwargs */
            c = pk_pop(k);
            b = pk_pop(k);
            a = pk_pop(k);
            if (!a || !b || !c || !json_is_object(c) || json_object_size(c) != 0) {
                json_decref(a);
                json_decref(b);
                json_decref(c);
                return pk_fail(k, "NEWOBJ_EX with keyword arguments", off);
            }
            json_decref(c);
            if ((r = pk_instance(k, a, b, off)) < 0)
                return r;
            break;
        case 'b': { /* BUILD: obj.__setstate__(state) described as __state__ */
            json_t *state = pk_pop(k);
            if (!state || k->sp == 0 || !k->stack[k->sp - 1]) {
                json_decref(state);
                return pk_fail(k, "BUILD without object and state", off);
            }
            json_t *obj = k->stack[k->sp - 1];
            if (!json_is_object(obj) || !json_object_get(obj, "__class__")) {
                json_decref(state);
                return pk_fail(k, "BUILD on something that is not an object", off);
            }
            /* (dict, slots) tuples: keep the dict part. */
            if (json_is_array(state) && json_array_size(state) == 2) {
                json_t *dict = json_incref(json_array_get(state, 0));
                json_decref(state);
                state = dict;
            }
            if (!json_is_object(state)) {
                json_decref(state);
                return pk_fail(k, "BUILD with a state that is not a dict", off);
            }
            json_t *dst = json_object_get(obj, "__state__");
            if (!dst) {
                dst = json_object();
                if (!dst || json_object_set_new(obj, "__state__", dst) < 0) {
                    json_decref(state);
                    return -ENOMEM;
                }
            }
            const char *key;
            json_t *v;
            json_object_foreach(state, key, v)
            {
                if ((r = pk_setitem(k, dst, json_string(key), json_incref(v), off)) < 0)
                    break;
            }
            json_decref(state);
            if (r < 0)
                return r;
            break;
        }
        default: {
            char what[64];
            snprintf(what, sizeof(what), "unsupported opcode 0x%02x", op);
            return pk_fail(k, what, off);
        }
        }
    }
}

static void pk_cleanup(struct pk *k)
{
    for (size_t i = 0; i < k->sp; i++)
        json_decref(k->stack[i]);
    k->sp = 0;
    for (size_t i = 0; i < k->nmemo; i++)
        json_decref(k->memo[i]);
    free(k->memo);
    k->memo = NULL;
    k->nmemo = k->capmemo = 0;
}

/* Parse one pickle at data[*pos..len). */
static int pk_one(const unsigned char *data, size_t len, size_t *pos, json_t **out,
                  struct hs_err *err)
{
    struct pk *k = calloc(1, sizeof(*k));
    if (!k)
        return -ENOMEM;
    k->p = data + *pos;
    k->end = data + len;
    k->err = err;
    json_t *v = NULL;
    int r = pk_run(k, data, &v);
    if (r == 0)
        *pos = (size_t)(k->p - data);
    pk_cleanup(k);
    free(k);
    if (r == 0)
        *out = v;
    return r;
}

/* The stored (uncompressed) entry whose name is data.pkl or ends in /data.pkl. */
static int zip_find_pickle(const unsigned char *d, size_t len, size_t *off, size_t *size,
                           struct hs_err *err)
{
    if (len < 22)
        return hs_err_set(err, -EINVAL, "training_args.bin: truncated zip archive");
    size_t lo = len > 22 + 65535 ? len - 22 - 65535 : 0, pos = len - lo;
    struct hs_zip_end e;
    if (!hs_zip_end_prev(d + lo, len - lo, &pos, &e))
        return hs_err_set(err, -EINVAL, "training_args.bin: zip archive without a directory");
    size_t nent = e.n_entries;
    size_t cd = e.cd_off;
    for (size_t e = 0; e < nent; e++) {
        if (cd > len || len - cd < 46 || memcmp(d + cd, "PK\1\2", 4))
            return hs_err_set(err, -EINVAL, "training_args.bin: corrupt zip directory");
        unsigned method = (unsigned)hs_le(d + cd + 10, 2);
        size_t csize = (size_t)hs_le(d + cd + 20, 4), usize = (size_t)hs_le(d + cd + 24, 4);
        size_t nlen = (size_t)hs_le(d + cd + 28, 2), xlen = (size_t)hs_le(d + cd + 30, 2),
               clen = (size_t)hs_le(d + cd + 32, 2);
        size_t lho = (size_t)hs_le(d + cd + 42, 4);
        if (len - cd - 46 < nlen)
            return hs_err_set(err, -EINVAL, "training_args.bin: corrupt zip directory");
        const char *name = (const char *)d + cd + 46;
        bool match = (nlen == 8 && !memcmp(name, "data.pkl", 8)) ||
                     (nlen > 9 && !memcmp(name + nlen - 9, "/data.pkl", 9));
        if (match) {
            if (method != 0 || csize != usize)
                return hs_err_set(err, -EINVAL,
                                  "training_args.bin: data.pkl is compressed (method %u)", method);
            if (lho > len || len - lho < 30 || memcmp(d + lho, "PK\3\4", 4))
                return hs_err_set(err, -EINVAL, "training_args.bin: corrupt zip entry");
            size_t data =
                lho + 30 + (size_t)hs_le(d + lho + 26, 2) + (size_t)hs_le(d + lho + 28, 2);
            if (data > len || len - data < csize)
                return hs_err_set(err, -EINVAL, "training_args.bin: truncated zip entry");
            *off = data;
            *size = csize;
            return 0;
        }
        cd += 46 + nlen + xlen + clen;
    }
    return hs_err_set(err, -EINVAL, "training_args.bin: zip archive has no data.pkl");
}

/* torch's legacy format starts with the pickled magic number 0x1950a86a20f9469cfc6c. */
static const unsigned char legacy_magic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46,
                                             0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e};

int modelcard_pickle_load(const unsigned char *data, size_t len, json_t **out, struct hs_err *err)
{
    *out = NULL;
    if (len > PK_MAX_FILE)
        return hs_err_set(err, -EFBIG, "training_args.bin: larger than %u bytes", PK_MAX_FILE);
    size_t pos = 0, end = len;
    int r;
    if (len >= 4 && !memcmp(data, "PK\3\4", 4)) {
        size_t off = 0, size = 0;
        if ((r = zip_find_pickle(data, len, &off, &size, err)) < 0)
            return r;
        data += off;
        end = size;
    } else if (len >= sizeof(legacy_magic) && !memcmp(data, legacy_magic, sizeof(legacy_magic))) {
        pos = sizeof(legacy_magic);
        for (int i = 0; i < 2; i++) { /* protocol version, sys_info */
            json_t *skip = NULL;
            if ((r = pk_one(data, len, &pos, &skip, err)) < 0)
                return r;
            json_decref(skip);
        }
    }
    json_t *v = NULL;
    if ((r = pk_one(data, end, &pos, &v, err)) < 0)
        return r;
    /* A TrainingArguments object: its state dict. A plain dict is accepted too. */
    json_t *state = json_is_object(v) ? json_object_get(v, "__state__") : NULL;
    if (state && json_is_object(state)) {
        *out = json_incref(state);
        json_decref(v);
        return 0;
    }
    if (json_is_object(v) && !json_object_get(v, "__class__") && !is_global(v)) {
        *out = v;
        return 0;
    }
    json_decref(v);
    return hs_err_set(err, -EINVAL, "training_args.bin: the pickle does not hold an object state");
}
