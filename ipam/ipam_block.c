/* ipam_block.c — one block of a pool: which of its addresses are allocated, to whom, and
 * in which order free ones are handed out; and its stored JSON form:
 *   {"cidr":"10.0.0.0/26","affinity":"host:node1",
 *    "allocations":[0,null,…],         per ordinal: an index into attributes, or null
 *    "unallocated":[1,2,…],            free ordinals, the next to hand out first
 *    "attributes":[{"handle":"…","node":"…","namespace":"…","pod":"…"}]}
 * A released address goes to the end of "unallocated", so it is reused last (as Calico
 * does): a pod's old address does not reappear on the next pod at once. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "ipam_internal.h"

#define AFFINITY_PREFIX "host:"

static int dup_or_null(const char *s, char **out);

static void attr_clear(struct ipam_attr *a)
{
    free(a->handle);
    free(a->node);
    free(a->namespace);
    free(a->pod);
    memset(a, 0, sizeof(*a));
}

struct ipam_block *ipam_block_new(const struct tby_cidr *cidr, const char *node)
{
    struct ipam_block *b = calloc(1, sizeof(*b));
    unsigned host_bits = tby_ip_bits(&cidr->ip) - cidr->prefix_len;

    if (!b)
        return NULL;
    b->cidr = *cidr;
    b->size = 1u << host_bits;
    b->node = node ? strdup(node) : NULL;
    b->owner = malloc(b->size * sizeof(*b->owner));
    b->free_list = malloc(b->size * sizeof(*b->free_list));
    if ((node && !b->node) || !b->owner || !b->free_list) {
        ipam_block_free(b);
        return NULL;
    }
    for (uint32_t i = 0; i < b->size; i++) {
        b->owner[i] = -1;
        b->free_list[i] = i;
    }
    b->n_free = b->size;
    return b;
}

void ipam_block_free(struct ipam_block *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n_attrs; i++)
        attr_clear(&b->attrs[i]);
    free(b->attrs);
    free(b->owner);
    free(b->free_list);
    free(b->node);
    free(b);
}

void ipam_block_freep(struct ipam_block **b)
{
    ipam_block_free(*b);
    *b = NULL;
}

struct ipam_block *ipam_block_clone(const struct ipam_block *src)
{
    struct ipam_block *b = ipam_block_new(&src->cidr, src->node);

    if (!b)
        return NULL;
    memcpy(b->owner, src->owner, src->size * sizeof(*b->owner));
    memcpy(b->free_list, src->free_list, src->n_free * sizeof(*b->free_list));
    b->n_free = src->n_free;
    b->attrs = calloc(src->n_attrs + 1, sizeof(*b->attrs));
    if (!b->attrs) {
        ipam_block_free(b);
        return NULL;
    }
    for (size_t i = 0; i < src->n_attrs; i++, b->n_attrs++) {
        const struct ipam_attr *a = &src->attrs[i];
        struct ipam_attr *t = &b->attrs[i];

        if (dup_or_null(a->handle, &t->handle) < 0 || dup_or_null(a->node, &t->node) < 0 ||
            dup_or_null(a->namespace, &t->namespace) < 0 || dup_or_null(a->pod, &t->pod) < 0) {
            b->n_attrs++;
            ipam_block_free(b);
            return NULL;
        }
    }
    return b;
}

/* ---- allocation ----------------------------------------------------------------------- */

bool ipam_block_ordinal(const struct ipam_block *b, const struct tby_ip *ip, uint32_t *ord)
{
    uint64_t off;

    if (!tby_cidr_contains(&b->cidr, ip))
        return false;
    off = tby_ip_offset(&b->cidr.ip, ip);
    if (off >= b->size)
        return false;
    *ord = (uint32_t)off;
    return true;
}

struct tby_ip ipam_block_ip(const struct ipam_block *b, uint32_t ord)
{
    return tby_ip_add(&b->cidr.ip, ord);
}

const struct ipam_attr *ipam_block_owner(const struct ipam_block *b, uint32_t ord)
{
    if (ord >= b->size || b->owner[ord] < 0)
        return NULL;
    return &b->attrs[b->owner[ord]];
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool same_attr(const struct ipam_attr *a, const struct ipam_attr *b)
{
    return same_str(a->handle, b->handle) && same_str(a->node, b->node) &&
           same_str(a->namespace, b->namespace) && same_str(a->pod, b->pod);
}

static int dup_or_null(const char *s, char **out)
{
    *out = s ? strdup(s) : NULL;
    return s && !*out ? -ENOMEM : 0;
}

/* The index of an equal attribute entry, adding one when there is none: the addresses
 * of one handle in a block share an entry. */
static int intern_attr(struct ipam_block *b, const struct ipam_attr *attr, int32_t *index)
{
    struct ipam_attr *grown, copy = { 0 };

    for (size_t i = 0; i < b->n_attrs; i++) {
        if (same_attr(&b->attrs[i], attr)) {
            *index = (int32_t)i;
            return 0;
        }
    }
    if (dup_or_null(attr->handle, &copy.handle) < 0 || dup_or_null(attr->node, &copy.node) < 0 ||
        dup_or_null(attr->namespace, &copy.namespace) < 0 ||
        dup_or_null(attr->pod, &copy.pod) < 0) {
        attr_clear(&copy);
        return -ENOMEM;
    }
    grown = reallocarray(b->attrs, b->n_attrs + 1, sizeof(*grown));
    if (!grown) {
        attr_clear(&copy);
        return -ENOMEM;
    }
    b->attrs = grown;
    b->attrs[b->n_attrs] = copy;
    *index = (int32_t)b->n_attrs++;
    return 0;
}

static void drop_free_at(struct ipam_block *b, uint32_t pos)
{
    memmove(&b->free_list[pos], &b->free_list[pos + 1],
            (b->n_free - pos - 1) * sizeof(*b->free_list));
    b->n_free--;
}

int ipam_block_take_next(struct ipam_block *b, const struct ipam_attr *attr, uint32_t *ord)
{
    int32_t index;

    if (b->n_free == 0)
        return -ENOSPC;
    if (intern_attr(b, attr, &index) < 0)
        return -ENOMEM;
    *ord = b->free_list[0];
    drop_free_at(b, 0);
    b->owner[*ord] = index;
    return 0;
}

int ipam_block_take(struct ipam_block *b, uint32_t ord, const struct ipam_attr *attr)
{
    int32_t index;

    if (ord >= b->size || b->owner[ord] >= 0)
        return -EEXIST;
    if (intern_attr(b, attr, &index) < 0)
        return -ENOMEM;
    for (uint32_t i = 0; i < b->n_free; i++) {
        if (b->free_list[i] == ord) {
            drop_free_at(b, i);
            break;
        }
    }
    b->owner[ord] = index;
    return 0;
}

bool ipam_block_release(struct ipam_block *b, uint32_t ord)
{
    if (ord >= b->size || b->owner[ord] < 0)
        return false;
    b->owner[ord] = -1;
    b->free_list[b->n_free++] = ord;
    return true;
}

uint32_t ipam_block_release_handle(struct ipam_block *b, const char *handle)
{
    uint32_t n = 0;

    for (uint32_t ord = 0; ord < b->size; ord++) {
        const struct ipam_attr *a = ipam_block_owner(b, ord);

        if (a && same_str(a->handle, handle) && ipam_block_release(b, ord))
            n++;
    }
    return n;
}

uint32_t ipam_block_count_handle(const struct ipam_block *b, const char *handle)
{
    uint32_t n = 0;

    for (uint32_t ord = 0; ord < b->size; ord++) {
        const struct ipam_attr *a = ipam_block_owner(b, ord);

        n += a && same_str(a->handle, handle);
    }
    return n;
}

/* ---- stored form ---------------------------------------------------------------------- */

/* The encoder writes the JSON text directly: it runs on every allocation, and building
 * a jansson tree of a full block cost more than everything else an allocation does. The
 * decoder stays jansson's, so anything well-formed is read back. */
struct out {
    char *buf;
    size_t len;
    size_t cap;
    bool failed;
};

static void out_reserve(struct out *o, size_t more)
{
    char *grown;
    size_t cap = o->cap ? o->cap : 1024;

    if (o->failed || o->len + more + 1 <= o->cap)
        return;
    while (cap < o->len + more + 1)
        cap *= 2;
    grown = realloc(o->buf, cap);
    if (!grown) {
        o->failed = true;
        return;
    }
    o->buf = grown;
    o->cap = cap;
}

static void out_raw(struct out *o, const char *s, size_t n)
{
    out_reserve(o, n);
    if (o->failed)
        return;
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void out_str(struct out *o, const char *s)
{
    out_raw(o, s, strlen(s));
}

static void out_uint(struct out *o, uint32_t v)
{
    char num[12];
    size_t i = sizeof(num);

    do {
        num[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    out_raw(o, num + i, sizeof(num) - i);
}

static bool needs_escape(unsigned char c)
{
    return c == '"' || c == '\\' || c < 0x20;
}

/* Characters of a JSON string: quotes, backslashes and control characters escaped; runs
 * of plain characters are copied at once. */
static void out_json_chars(struct out *o, const char *s)
{
    while (*s) {
        size_t run = 0;
        char esc[8];

        while (s[run] && !needs_escape((unsigned char)s[run]))
            run++;
        out_raw(o, s, run);
        s += run;
        if (!*s)
            break;
        if (*s == '"' || *s == '\\') {
            esc[0] = '\\';
            esc[1] = *s;
            out_raw(o, esc, 2);
        } else {
            out_raw(o, esc, (size_t)snprintf(esc, sizeof(esc), "\\u%04x", (unsigned char)*s));
        }
        s++;
    }
}

static void out_json_string(struct out *o, const char *s)
{
    out_raw(o, "\"", 1);
    out_json_chars(o, s);
    out_raw(o, "\"", 1);
}

static void out_field(struct out *o, bool first, const char *key, const char *value)
{
    if (!value)
        return;
    out_str(o, first ? "\"" : ",\"");
    out_str(o, key);
    out_str(o, "\":");
    out_json_string(o, value);
}

static void out_attr(struct out *o, const struct ipam_attr *a)
{
    out_field(o, true, "handle", a->handle);
    out_field(o, false, "node", a->node);
    out_field(o, false, "namespace", a->namespace);
    out_field(o, false, "pod", a->pod);
}

/* Only referenced attributes are written, renumbered in order of first use. */
static int encode_allocations(const struct ipam_block *b, struct out *o)
{
    _cleanup_free_ int32_t *renum = malloc((b->n_attrs + 1) * sizeof(*renum));
    _cleanup_free_ int32_t *order = malloc((b->n_attrs + 1) * sizeof(*order));
    int32_t next = 0;

    if (!renum || !order)
        return -ENOMEM;
    for (size_t i = 0; i < b->n_attrs; i++)
        renum[i] = -1;
    out_str(o, ",\"allocations\":[");
    for (uint32_t ord = 0; ord < b->size; ord++) {
        int32_t a = b->owner[ord];

        if (ord)
            out_raw(o, ",", 1);
        if (a < 0) {
            out_raw(o, "null", 4);
            continue;
        }
        if (renum[a] < 0) {
            order[next] = a;
            renum[a] = next++;
        }
        out_uint(o, (uint32_t)renum[a]);
    }
    out_str(o, "],\"unallocated\":[");
    for (uint32_t i = 0; i < b->n_free; i++) {
        if (i)
            out_raw(o, ",", 1);
        out_uint(o, b->free_list[i]);
    }
    out_str(o, "],\"attributes\":[");
    for (int32_t i = 0; i < next; i++) {
        out_str(o, i ? ",{" : "{");
        out_attr(o, &b->attrs[order[i]]);
        out_raw(o, "}", 1);
    }
    out_raw(o, "]", 1);
    return 0;
}

char *ipam_block_encode(const struct ipam_block *b, size_t *len)
{
    struct out o = { 0 };
    char cidr[TBY_CIDR_STRLEN];

    out_reserve(&o, 64 + (size_t)b->size * 8 + b->n_attrs * 160);
    out_str(&o, "{\"cidr\":");
    out_json_string(&o, tby_cidr_format(&b->cidr, cidr));
    if (b->node) {
        out_str(&o, ",\"affinity\":\"" AFFINITY_PREFIX);
        out_json_chars(&o, b->node);
        out_raw(&o, "\"", 1);
    }
    if (encode_allocations(b, &o) < 0)
        o.failed = true;
    out_raw(&o, "}", 1);
    if (o.failed) {
        free(o.buf);
        return NULL;
    }
    *len = o.len;
    return o.buf;
}

static int bad(struct tby_error *err, const char *what, const char *why)
{
    return tby_error_set(err, -EINVAL, "%s: stored block is malformed: %s", what, why);
}

static int decode_attrs(struct ipam_block *b, const json_t *attrs, const char *what,
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
        struct ipam_attr *t = &b->attrs[i];

        b->n_attrs++;
        if (!json_is_object(a) ||
            dup_or_null(json_string_value(json_object_get(a, "handle")), &t->handle) < 0 ||
            dup_or_null(json_string_value(json_object_get(a, "node")), &t->node) < 0 ||
            dup_or_null(json_string_value(json_object_get(a, "namespace")), &t->namespace) < 0 ||
            dup_or_null(json_string_value(json_object_get(a, "pod")), &t->pod) < 0)
            return json_is_object(a) ? ipam_oom(err) : bad(err, what, "attribute not an object");
        if (!t->handle)
            return bad(err, what, "attribute without a handle");
    }
    return 0;
}

static int decode_owners(struct ipam_block *b, const json_t *allocs, const char *what,
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
            (size_t)json_integer_value(v) >= b->n_attrs)
            return bad(err, what, "an allocation names no attribute entry");
        b->owner[i] = (int32_t)json_integer_value(v);
    }
    return 0;
}

/* "unallocated" must list exactly the free ordinals, each once. */
static int decode_free(struct ipam_block *b, const json_t *free_ords, const char *what,
                       struct tby_error *err)
{
    uint32_t n_unowned = 0;
    size_t i;
    const json_t *v;

    if (!json_is_array(free_ords) || json_array_size(free_ords) > b->size)
        return bad(err, what, "unallocated is not a list of free addresses");
    b->n_free = 0;
    json_array_foreach(free_ords, i, v) {
        json_int_t ord = json_integer_value(v);

        if (!json_is_integer(v) || ord < 0 || ord >= b->size || b->owner[ord] != -1)
            return bad(err, what, "unallocated lists an allocated or unknown address");
        b->owner[ord] = -2; /* seen: a second mention is caught above */
        b->free_list[b->n_free++] = (uint32_t)ord;
    }
    for (uint32_t ord = 0; ord < b->size; ord++) {
        n_unowned += b->owner[ord] == -1;
        if (b->owner[ord] == -2)
            b->owner[ord] = -1;
    }
    if (n_unowned > 0)
        return bad(err, what, "a free address is missing from unallocated");
    return 0;
}

static int decode_head(const json_t *doc, const char *what, struct ipam_block **out,
                       struct tby_error *err)
{
    const char *cidr_text = json_string_value(json_object_get(doc, "cidr"));
    const char *affinity = json_string_value(json_object_get(doc, "affinity"));
    struct tby_cidr cidr;

    if (!cidr_text || tby_cidr_parse(cidr_text, TBY_CIDR_STRICT, &cidr, NULL) < 0)
        return bad(err, what, "no valid cidr");
    if (tby_ip_bits(&cidr.ip) - cidr.prefix_len > 12)
        return bad(err, what, "larger than 4096 addresses");
    if (affinity && strncmp(affinity, AFFINITY_PREFIX, strlen(AFFINITY_PREFIX)) != 0)
        return bad(err, what, "affinity is not host:<node>");
    *out = ipam_block_new(&cidr, affinity ? affinity + strlen(AFFINITY_PREFIX) : NULL);
    return *out ? 0 : ipam_oom(err);
}

int ipam_block_decode(const char *text, size_t len, const char *what, struct ipam_block **out,
                      struct tby_error *err)
{
    _cleanup_json_ json_t *doc = json_loadb(text, len, 0, NULL);
    _cleanup_(ipam_block_freep) struct ipam_block *b = NULL;
    int r;

    if (!json_is_object(doc))
        return bad(err, what, "not a JSON object");
    r = decode_head(doc, what, &b, err);
    if (r == 0)
        r = decode_attrs(b, json_object_get(doc, "attributes"), what, err);
    if (r == 0)
        r = decode_owners(b, json_object_get(doc, "allocations"), what, err);
    if (r == 0)
        r = decode_free(b, json_object_get(doc, "unallocated"), what, err);
    if (r < 0)
        return r;
    *out = TBY_STEAL(b);
    return 0;
}
