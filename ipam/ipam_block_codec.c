/* ipam_block_codec.c — a block's stored form (see ipam_block.c for its meaning):
 *   {"cidr":"10.0.0.0/26","affinity":"host:node1","allocations":[0,null,…],
 *    "unallocated":[1,2,…],"attributes":[{"handle":"…","node":"…","namespace":"…",
 *    "pod":"…"}]}
 * Blocks are read and written on every allocation, so both directions have a fast path:
 * the encoder writes the text directly, and a reader for exactly the encoder's text runs
 * before jansson's parser, which reads anything else that is well-formed. Both readers
 * end in one validation, so a stored block can never put two owners on one address. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/array.h"
#include "tabby/buf.h"
#include "tabby/cleanup.h"
#include "ipam_internal.h"

#define AFFINITY_PREFIX "host:"

/* ---- writing ------------------------------------------------------------------------------ */

/* The encoder writes the JSON text directly: it runs on every allocation, and building
 * a jansson tree of a full block cost more than everything else an allocation does. The
 * decoder stays jansson's, so anything well-formed is read back. */
static void out_uint(struct tby_buf *o, uint32_t v)
{
    char num[12];
    size_t i = sizeof(num);

    do {
        num[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    tby_buf_add(o, num + i, sizeof(num) - i);
}

static bool needs_escape(unsigned char c)
{
    return c == '"' || c == '\\' || c < 0x20;
}

/* Characters of a JSON string: quotes, backslashes and control characters escaped; runs
 * of plain characters are copied at once. */
static void out_json_chars(struct tby_buf *o, const char *s)
{
    while (*s) {
        size_t run = 0;

        while (s[run] && !needs_escape((unsigned char)s[run]))
            run++;
        tby_buf_add(o, s, run);
        s += run;
        if (!*s)
            break;
        if (*s == '"' || *s == '\\') {
            tby_buf_addc(o, '\\');
            tby_buf_addc(o, *s);
        } else {
            tby_buf_printf(o, "\\u%04x", (unsigned char)*s);
        }
        s++;
    }
}

static void out_json_string(struct tby_buf *o, const char *s)
{
    tby_buf_addc(o, '"');
    out_json_chars(o, s);
    tby_buf_addc(o, '"');
}

static void out_field(struct tby_buf *o, bool first, const char *key, const char *value)
{
    if (!value)
        return;
    tby_buf_adds(o, first ? "\"" : ",\"");
    tby_buf_adds(o, key);
    tby_buf_adds(o, "\":");
    out_json_string(o, value);
}

static void out_attr(struct tby_buf *o, const struct ipam_attr *a)
{
    out_field(o, true, "handle", a->handle);
    out_field(o, false, "node", a->node);
    out_field(o, false, "namespace", a->namespace);
    out_field(o, false, "pod", a->pod);
}

/* Only referenced attributes are written, renumbered in order of first use. */
static int encode_allocations(const struct ipam_block *b, struct tby_buf *o)
{
    _cleanup_free_ int32_t *renum = malloc((b->n_attrs + 1) * sizeof(*renum));
    _cleanup_free_ int32_t *order = malloc((b->n_attrs + 1) * sizeof(*order));
    int32_t next = 0;

    if (!renum || !order)
        return -ENOMEM;
    for (size_t i = 0; i < b->n_attrs; i++)
        renum[i] = -1;
    tby_buf_adds(o, ",\"allocations\":[");
    for (uint32_t ord = 0; ord < b->size; ord++) {
        int32_t a = b->owner[ord];

        if (ord)
            tby_buf_addc(o, ',');
        if (a < 0) {
            tby_buf_add(o, "null", 4);
            continue;
        }
        if (renum[a] < 0) {
            order[next] = a;
            renum[a] = next++;
        }
        out_uint(o, (uint32_t)renum[a]);
    }
    tby_buf_adds(o, "],\"unallocated\":[");
    for (uint32_t i = 0; i < b->n_free; i++) {
        if (i)
            tby_buf_addc(o, ',');
        out_uint(o, b->free_list[i]);
    }
    tby_buf_adds(o, "],\"attributes\":[");
    for (int32_t i = 0; i < next; i++) {
        tby_buf_adds(o, i ? ",{" : "{");
        out_attr(o, &b->attrs[order[i]]);
        tby_buf_addc(o, '}');
    }
    tby_buf_addc(o, ']');
    return 0;
}

char *ipam_block_encode(const struct ipam_block *b, size_t *len)
{
    _cleanup_buf_ struct tby_buf o = { 0 };
    char cidr[TBY_CIDR_STRLEN];

    tby_buf_reserve(&o, 64 + (size_t)b->size * 8 + b->n_attrs * 160);
    tby_buf_adds(&o, "{\"cidr\":");
    out_json_string(&o, tby_cidr_format(&b->cidr, cidr));
    if (b->node) {
        tby_buf_adds(&o, ",\"affinity\":\"" AFFINITY_PREFIX);
        out_json_chars(&o, b->node);
        tby_buf_addc(&o, '"');
    }
    if (encode_allocations(b, &o) < 0)
        return NULL;
    tby_buf_addc(&o, '}');
    if (tby_buf_error(&o) < 0)
        return NULL;
    return tby_buf_steal(&o, len);
}

/* ---- validation shared by both readers ----------------------------------------------------- */

static int bad(struct tby_error *err, const char *what, const char *why)
{
    return tby_error_set(err, -EINVAL, "%s: stored block is malformed: %s", what, why);
}

/* A reader fills owner[] (-1 free, else an attribute index), free_list and the
 * attributes; this checks that they agree: every owner names an attribute, and
 * "unallocated" lists exactly the free ordinals, each once. */
static int validate(struct ipam_block *b, const char *what, struct tby_error *err)
{
    uint32_t unlisted = 0;

    for (uint32_t ord = 0; ord < b->size; ord++)
        if (b->owner[ord] >= 0 && (size_t)b->owner[ord] >= b->n_attrs)
            return bad(err, what, "an allocation names no attribute entry");
    for (size_t i = 0; i < b->n_attrs; i++)
        if (!b->attrs[i].handle)
            return bad(err, what, "attribute without a handle");
    for (uint32_t i = 0; i < b->n_free; i++) {
        uint32_t ord = b->free_list[i];

        if (ord >= b->size || b->owner[ord] != -1)
            return bad(err, what, "unallocated lists an allocated or unknown address");
        b->owner[ord] = -2; /* seen: a second mention fails above */
    }
    for (uint32_t ord = 0; ord < b->size; ord++) {
        unlisted += b->owner[ord] == -1;
        if (b->owner[ord] == -2)
            b->owner[ord] = -1;
    }
    return unlisted ? bad(err, what, "a free address is missing from unallocated") : 0;
}

static int new_block(const char *cidr_text, const char *node, const char *what,
                     struct ipam_block **out, struct tby_error *err)
{
    struct tby_cidr cidr;

    if (!cidr_text || tby_cidr_parse(cidr_text, TBY_CIDR_STRICT, &cidr, NULL) < 0)
        return bad(err, what, "no valid cidr");
    if (tby_ip_bits(&cidr.ip) - cidr.prefix_len > 12)
        return bad(err, what, "larger than 4096 addresses");
    *out = ipam_block_new(&cidr, node);
    return *out ? 0 : ipam_oom(err);
}

/* ---- the fast reader: exactly what the encoder writes ------------------------------------------ */

struct cursor {
    const char *p;
    const char *end;
};

static bool take(struct cursor *c, const char *lit)
{
    size_t n = strlen(lit);

    if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
        return false;
    c->p += n;
    return true;
}

/* A string without escapes (the encoder writes escapes only for characters names do not
 * have; a string with one goes to jansson). Returns a copy, or NULL. */
static char *take_string(struct cursor *c)
{
    const char *start = c->p;

    while (c->p < c->end && *c->p != '"' && *c->p != '\\' && (unsigned char)*c->p >= 0x20)
        c->p++;
    if (c->p >= c->end || *c->p != '"')
        return NULL;
    return strndup(start, (size_t)(c->p++ - start));
}

static bool take_uint(struct cursor *c, uint32_t *out)
{
    uint64_t v = 0;
    const char *start = c->p;

    while (c->p < c->end && *c->p >= '0' && *c->p <= '9' && c->p - start < 10)
        v = v * 10 + (uint64_t)(*c->p++ - '0');
    *out = (uint32_t)v;
    return c->p > start && v <= INT32_MAX;
}

static bool fast_owners(struct cursor *c, struct ipam_block *b)
{
    for (uint32_t ord = 0; ord < b->size; ord++) {
        uint32_t v;

        if (ord && !take(c, ","))
            return false;
        if (take(c, "null"))
            continue;
        if (!take_uint(c, &v))
            return false;
        b->owner[ord] = (int32_t)v;
    }
    return take(c, "]");
}

static bool fast_free(struct cursor *c, struct ipam_block *b)
{
    b->n_free = 0;
    if (take(c, "]"))
        return true;
    do {
        if (b->n_free == b->size || !take_uint(c, &b->free_list[b->n_free]))
            return false;
        b->n_free++;
    } while (take(c, ","));
    return take(c, "]");
}

/* One optional field: `,"name":"value"`. */
static bool fast_field(struct cursor *c, const char *key, char **out)
{
    if (!take(c, key))
        return true;
    *out = take_string(c);
    return *out != NULL;
}

static bool fast_attrs(struct cursor *c, struct ipam_block *b)
{
    size_t cap = 0;

    if (take(c, "]"))
        return true;
    do {
        struct ipam_attr *a;

        if (TBY_GROW(b->attrs, cap, b->n_attrs + 1) < 0)
            return false;
        a = &b->attrs[b->n_attrs++];
        memset(a, 0, sizeof(*a));
        if (!take(c, "{\"handle\":\"") || !(a->handle = take_string(c)) ||
            !fast_field(c, ",\"node\":\"", &a->node) ||
            !fast_field(c, ",\"namespace\":\"", &a->namespace) ||
            !fast_field(c, ",\"pod\":\"", &a->pod) || !take(c, "}"))
            return false;
    } while (take(c, ","));
    return take(c, "]");
}

/* 1: read; 0: not the encoder's text (try jansson); <0: an error. */
static int fast_decode(const char *text, size_t len, const char *what,
                       struct ipam_block **out, struct tby_error *err)
{
    struct cursor c = { text, text + len };
    _cleanup_free_ char *cidr = NULL, *node = NULL;
    int r;

    if (!take(&c, "{\"cidr\":\"") || !(cidr = take_string(&c)))
        return 0;
    if (take(&c, ",\"affinity\":\"" AFFINITY_PREFIX) && !(node = take_string(&c)))
        return 0;
    r = new_block(cidr, node, what, out, err);
    if (r < 0)
        return r;
    if (take(&c, ",\"allocations\":[") && fast_owners(&c, *out) &&
        take(&c, ",\"unallocated\":[") && fast_free(&c, *out) &&
        take(&c, ",\"attributes\":[") && fast_attrs(&c, *out) && take(&c, "}") && c.p == c.end)
        return 1;
    ipam_block_freep(out);
    return 0;
}

/* ---- jansson's reader: any well-formed JSON of that shape ------------------------------------- */

static int json_attrs(struct ipam_block *b, const json_t *attrs, const char *what,
                      struct tby_error *err)
{
    size_t i;
    const json_t *a;

    if (!json_is_array(attrs))
        return bad(err, what, "attributes is not a list");
    b->attrs = calloc(json_array_size(attrs) + 1, sizeof(*b->attrs));
    if (!b->attrs)
        return ipam_oom(err);
    json_array_foreach(attrs, i, a) {
        struct ipam_attr view = {
            (char *)json_string_value(json_object_get(a, "handle")),
            (char *)json_string_value(json_object_get(a, "node")),
            (char *)json_string_value(json_object_get(a, "namespace")),
            (char *)json_string_value(json_object_get(a, "pod")),
        };

        if (!json_is_object(a))
            return bad(err, what, "attribute not an object");
        if (ipam_attr_copy(&b->attrs[i], &view) < 0)
            return ipam_oom(err);
        b->n_attrs++;
    }
    return 0;
}

static int json_owners(struct ipam_block *b, const json_t *allocs, const char *what,
                       struct tby_error *err)
{
    size_t i;
    const json_t *v;

    if (!json_is_array(allocs) || json_array_size(allocs) != b->size)
        return bad(err, what, "allocations does not have one entry per address");
    json_array_foreach(allocs, i, v) {
        if (json_is_null(v))
            continue;
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > INT32_MAX)
            return bad(err, what, "an allocation names no attribute entry");
        b->owner[i] = (int32_t)json_integer_value(v);
    }
    return 0;
}

static int json_free(struct ipam_block *b, const json_t *free_ords, const char *what,
                     struct tby_error *err)
{
    size_t i;
    const json_t *v;

    if (!json_is_array(free_ords) || json_array_size(free_ords) > b->size)
        return bad(err, what, "unallocated is not a list of free addresses");
    b->n_free = 0;
    json_array_foreach(free_ords, i, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) >= b->size)
            return bad(err, what, "unallocated lists an allocated or unknown address");
        b->free_list[b->n_free++] = (uint32_t)json_integer_value(v);
    }
    return 0;
}

static int json_decode(const char *text, size_t len, const char *what,
                       struct ipam_block **out, struct tby_error *err)
{
    _cleanup_json_ json_t *doc = json_loadb(text, len, 0, NULL);
    const char *affinity = json_string_value(json_object_get(doc, "affinity"));
    int r;

    if (!json_is_object(doc))
        return bad(err, what, "not a JSON object");
    if (affinity && strncmp(affinity, AFFINITY_PREFIX, strlen(AFFINITY_PREFIX)) != 0)
        return bad(err, what, "affinity is not host:<node>");
    r = new_block(json_string_value(json_object_get(doc, "cidr")),
                  affinity ? affinity + strlen(AFFINITY_PREFIX) : NULL, what, out, err);
    if (r == 0)
        r = json_attrs(*out, json_object_get(doc, "attributes"), what, err);
    if (r == 0)
        r = json_owners(*out, json_object_get(doc, "allocations"), what, err);
    if (r == 0)
        r = json_free(*out, json_object_get(doc, "unallocated"), what, err);
    return r;
}

int ipam_block_decode(const char *text, size_t len, const char *what, struct ipam_block **out,
                      struct tby_error *err)
{
    _cleanup_(ipam_block_freep) struct ipam_block *b = NULL;
    int r = fast_decode(text, len, what, &b, err);

    if (r == 0)
        r = json_decode(text, len, what, &b, err);
    if (r >= 0)
        r = validate(b, what, err);
    if (r < 0)
        return r;
    *out = TBY_STEAL(b);
    return 0;
}
