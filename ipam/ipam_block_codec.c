/* ipam_block_codec.c — a block's stored form: Calico's IPAMBlock in tabby's envelope
 * (see ipam.h):
 *   {"apiVersion":"crd.projectcalico.org/v1","kind":"IPAMBlock","spec":{
 *    "cidr":"10.0.0.0/26","affinity":"host:node1","affinityClaimTime":"2026-…Z",
 *    "allocations":[0,null,…],"unallocated":[1,2,…],
 *    "attributes":[{"handle_id":"…","secondary":{"namespace":"…","node":"…","pod":"…",
 *                   "timestamp":"…"}}],
 *    "sequenceNumber":1755675062000000001,"sequenceNumberForAllocation":{"0":1755…},
 *    "deleted":false,"strictAffinity":false}}
 * Members of an attribute or of its secondary map that tabby does not use (KubeVirt's,
 * alternateOwnerAttrs, releasedAt) are kept as text and written back unchanged.
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

#define HOST_PREFIX "host:"
#define HEAD "{\"apiVersion\":\"" IPAM_API_VERSION "\",\"kind\":\"IPAMBlock\",\"spec\":{"

/* ---- writing ----------------------------------------------------------------------------- */

/* `,"key":"value"` (no comma for the first member); nothing when value is NULL. */
static void out_member(struct tby_buf *o, bool *first, const char *key, const char *value)
{
    if (!value)
        return;
    tby_buf_adds(o, *first ? "\"" : ",\"");
    tby_buf_adds(o, key);
    tby_buf_adds(o, "\":");
    ipam_out_json_string(o, value);
    *first = false;
}

static void out_raw(struct tby_buf *o, bool *first, const char *members)
{
    if (!members)
        return;
    if (!*first)
        tby_buf_addc(o, ',');
    tby_buf_adds(o, members);
    *first = false;
}

static void out_attr(struct tby_buf *o, const struct ipam_attr *a)
{
    bool first = true, first_sec = true;

    tby_buf_addc(o, '{');
    out_member(o, &first, "handle_id", a->handle);
    if (a->node || a->namespace || a->pod || a->timestamp || a->type || a->more_secondary) {
        tby_buf_adds(o, first ? "\"secondary\":{" : ",\"secondary\":{");
        first = false;
        out_member(o, &first_sec, "namespace", a->namespace);
        out_member(o, &first_sec, "node", a->node);
        out_member(o, &first_sec, "pod", a->pod);
        out_member(o, &first_sec, "timestamp", a->timestamp);
        out_member(o, &first_sec, "type", a->type);
        out_raw(o, &first_sec, a->more_secondary);
        tby_buf_addc(o, '}');
    }
    out_raw(o, &first, a->more);
    tby_buf_addc(o, '}');
}

/* Only referenced attributes are written, renumbered in order of first use (Calico too
 * drops the ones no allocation names). */
static int encode_allocations(const struct ipam_block *b, struct tby_buf *o)
{
    _cleanup_free_ int32_t *renum = malloc((b->n_attrs + 1) * sizeof(*renum));
    _cleanup_free_ int32_t *order = malloc((b->n_attrs + 1) * sizeof(*order));
    int32_t next = 0;
    bool first = true;

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
        ipam_out_uint(o, (uint32_t)renum[a]);
    }
    tby_buf_adds(o, "],\"unallocated\":[");
    for (uint32_t i = 0; i < b->n_free; i++) {
        if (i)
            tby_buf_addc(o, ',');
        ipam_out_uint(o, b->free_list[i]);
    }
    tby_buf_adds(o, "],\"attributes\":[");
    for (int32_t i = 0; i < next; i++) {
        if (i)
            tby_buf_addc(o, ',');
        out_attr(o, &b->attrs[order[i]]);
    }
    tby_buf_adds(o, "],\"sequenceNumber\":");
    ipam_out_uint(o, b->seq);
    tby_buf_adds(o, ",\"sequenceNumberForAllocation\":{");
    for (uint32_t ord = 0; ord < b->size; ord++) {
        if (b->owner[ord] < 0 || b->seq_for[ord] == IPAM_NO_SEQ)
            continue;
        tby_buf_adds(o, first ? "\"" : ",\"");
        ipam_out_uint(o, ord);
        tby_buf_adds(o, "\":");
        ipam_out_uint(o, b->seq_for[ord]);
        first = false;
    }
    tby_buf_addc(o, '}');
    return 0;
}

char *ipam_block_encode(const struct ipam_block *b, size_t *len)
{
    _cleanup_buf_ struct tby_buf o = { 0 };
    char cidr[TBY_CIDR_STRLEN];

    tby_buf_reserve(&o, 256 + (size_t)b->size * 30 + b->n_attrs * 200);
    tby_buf_adds(&o, HEAD "\"cidr\":");
    ipam_out_json_string(&o, tby_cidr_format(&b->cidr, cidr));
    if (b->node) {
        tby_buf_adds(&o, ",\"affinity\":\"" HOST_PREFIX);
        ipam_out_json_chars(&o, b->node);
        tby_buf_addc(&o, '"');
    } else if (b->other_affinity) {
        tby_buf_adds(&o, ",\"affinity\":");
        ipam_out_json_string(&o, b->other_affinity);
    }
    if (b->claim_time) {
        tby_buf_adds(&o, ",\"affinityClaimTime\":");
        ipam_out_json_string(&o, b->claim_time);
    }
    if (encode_allocations(b, &o) < 0)
        return NULL;
    tby_buf_adds(&o, b->deleted ? ",\"deleted\":true" : ",\"deleted\":false");
    tby_buf_adds(&o, ",\"strictAffinity\":false}}");
    if (tby_buf_error(&o) < 0)
        return NULL;
    return tby_buf_steal(&o, len);
}

/* ---- validation shared by both readers ---------------------------------------------------- */

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

static int new_block(const char *cidr_text, const char *what, struct ipam_block **out,
                     struct tby_error *err)
{
    struct tby_cidr cidr;

    if (!cidr_text || tby_cidr_parse(cidr_text, TBY_CIDR_STRICT, &cidr, NULL) < 0)
        return bad(err, what, "no valid cidr");
    if (tby_ip_bits(&cidr.ip) - cidr.prefix_len > 12)
        return bad(err, what, "larger than 4096 addresses");
    *out = ipam_block_new(&cidr, NULL);
    return *out ? 0 : ipam_oom(err);
}

/* "host:<node>" is a node's; anything else (virtual:…) is kept as it is. */
static int set_affinity(struct ipam_block *b, const char *affinity)
{
    if (!affinity)
        return 0;
    if (strncmp(affinity, HOST_PREFIX, strlen(HOST_PREFIX)) == 0)
        return ipam_strdup_or_null(affinity + strlen(HOST_PREFIX), &b->node);
    return ipam_strdup_or_null(affinity, &b->other_affinity);
}

/* ---- the fast reader: exactly what the encoder writes ----------------------------------- */

static bool fast_owners(struct ipam_cursor *c, struct ipam_block *b)
{
    for (uint32_t ord = 0; ord < b->size; ord++) {
        uint32_t v;

        if (ord && !ipam_take(c, ","))
            return false;
        if (ipam_take(c, "null"))
            continue;
        if (!ipam_take_uint(c, &v))
            return false;
        b->owner[ord] = (int32_t)v;
    }
    return ipam_take(c, "]");
}

static bool fast_free(struct ipam_cursor *c, struct ipam_block *b)
{
    b->n_free = 0;
    if (ipam_take(c, "]"))
        return true;
    do {
        if (b->n_free == b->size || !ipam_take_uint(c, &b->free_list[b->n_free]))
            return false;
        b->n_free++;
    } while (ipam_take(c, ","));
    return ipam_take(c, "]");
}

/* One optional member: `"name":"value"`, after the comma when not the first. */
static bool fast_member(struct ipam_cursor *c, bool *first, const char *key, char **out)
{
    struct ipam_cursor save = *c;

    if ((!*first && !ipam_take(c, ",")) || !ipam_take(c, "\"") || !ipam_take(c, key) ||
        !ipam_take(c, "\":\"")) {
        *c = save;
        return true;
    }
    *first = false;
    *out = ipam_take_string(c);
    return *out != NULL;
}

static bool fast_attr(struct ipam_cursor *c, struct ipam_attr *a)
{
    bool first = true, first_sec = true;

    if (!ipam_take(c, "{") || !fast_member(c, &first, "handle_id", &a->handle))
        return false;
    if (ipam_take(c, first ? "\"secondary\":{" : ",\"secondary\":{")) {
        if (!fast_member(c, &first_sec, "namespace", &a->namespace) ||
            !fast_member(c, &first_sec, "node", &a->node) ||
            !fast_member(c, &first_sec, "pod", &a->pod) ||
            !fast_member(c, &first_sec, "timestamp", &a->timestamp) ||
            !fast_member(c, &first_sec, "type", &a->type) || first_sec || !ipam_take(c, "}"))
            return false;
    }
    return ipam_take(c, "}");
}

static bool fast_attrs(struct ipam_cursor *c, struct ipam_block *b)
{
    size_t cap = 0;

    if (ipam_take(c, "]"))
        return true;
    do {
        if (TBY_GROW(b->attrs, cap, b->n_attrs + 1) < 0)
            return false;
        memset(&b->attrs[b->n_attrs], 0, sizeof(*b->attrs));
        if (!fast_attr(c, &b->attrs[b->n_attrs++]))
            return false;
    } while (ipam_take(c, ","));
    return ipam_take(c, "]");
}

static bool fast_seqs(struct ipam_cursor *c, struct ipam_block *b)
{
    if (!ipam_take(c, ",\"sequenceNumber\":") || !ipam_take_u64(c, &b->seq) ||
        !ipam_take(c, ",\"sequenceNumberForAllocation\":{"))
        return false;
    if (ipam_take(c, "}"))
        return true;
    do {
        uint32_t ord;
        uint64_t seq;

        if (!ipam_take(c, "\"") || !ipam_take_uint(c, &ord) || !ipam_take(c, "\":") ||
            !ipam_take_u64(c, &seq) || ord >= b->size)
            return false;
        b->seq_for[ord] = seq;
    } while (ipam_take(c, ","));
    return ipam_take(c, "}");
}

/* An optional `,"name":"value"` member of the spec. */
static bool fast_spec_string(struct ipam_cursor *c, const char *lead, char **out)
{
    if (!ipam_take(c, lead))
        return true;
    *out = ipam_take_string(c);
    return *out != NULL;
}

/* 1: read; 0: not the encoder's text (try jansson); <0: an error. */
static int fast_decode(const char *text, size_t len, const char *what,
                       struct ipam_block **out, struct tby_error *err)
{
    struct ipam_cursor c = { text, text + len };
    _cleanup_free_ char *cidr = NULL, *affinity = NULL;
    struct ipam_block *b;
    int r;

    if (!ipam_take(&c, HEAD "\"cidr\":\"") || !(cidr = ipam_take_string(&c)) ||
        !fast_spec_string(&c, ",\"affinity\":\"", &affinity))
        return 0;
    r = new_block(cidr, what, out, err);
    if (r < 0)
        return r;
    b = *out;
    if (set_affinity(b, affinity) == 0 &&
        fast_spec_string(&c, ",\"affinityClaimTime\":\"", &b->claim_time) &&
        ipam_take(&c, ",\"allocations\":[") && fast_owners(&c, b) &&
        ipam_take(&c, ",\"unallocated\":[") && fast_free(&c, b) &&
        ipam_take(&c, ",\"attributes\":[") && fast_attrs(&c, b) && fast_seqs(&c, b) &&
        ipam_take(&c, ",\"deleted\":false,\"strictAffinity\":false}}") && c.p == c.end)
        return 1;
    ipam_block_freep(out);
    return 0;
}

/* ---- jansson's reader: any well-formed JSON of that shape ------------------------------- */

/* The members of obj not named in `known`, as JSON text without the braces; NULL when
 * there are none. -ENOMEM. */
static int other_members(const json_t *obj, const char *const *known, char **out)
{
    _cleanup_json_ json_t *rest = json_object();
    const char *key;
    json_t *v;
    char *text;
    size_t n;

    *out = NULL;
    if (!rest)
        return -ENOMEM;
    json_object_foreach((json_t *)obj, key, v) {
        bool is_known = false;

        for (size_t i = 0; known[i] && !is_known; i++)
            is_known = strcmp(key, known[i]) == 0;
        if (!is_known && json_object_set(rest, key, v) < 0)
            return -ENOMEM;
    }
    if (json_object_size(rest) == 0)
        return 0;
    text = json_dumps(rest, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text)
        return -ENOMEM;
    n = strlen(text);
    memmove(text, text + 1, n - 2);
    text[n - 2] = '\0';
    *out = text;
    return 0;
}

static int copy_member(const json_t *obj, const char *key, char **out)
{
    return ipam_strdup_or_null(json_string_value(json_object_get(obj, key)), out);
}

static int json_attr(struct ipam_attr *a, const json_t *j, const char *what,
                     struct tby_error *err)
{
    static const char *const known[] = { "handle_id", "secondary", NULL };
    static const char *const known_sec[] = { "namespace", "node", "pod", "timestamp", "type",
                                             NULL };
    const json_t *sec = json_object_get(j, "secondary");
    const char *released = json_string_value(json_object_get(j, "releasedAt"));

    if (!json_is_object(j))
        return bad(err, what, "attribute not an object");
    if (sec && !json_is_null(sec) && !json_is_object(sec))
        return bad(err, what, "an attribute's secondary is not an object");
    if (copy_member(j, "handle_id", &a->handle) < 0 || other_members(j, known, &a->more) < 0 ||
        (json_is_object(sec) &&
         (copy_member(sec, "namespace", &a->namespace) < 0 ||
          copy_member(sec, "node", &a->node) < 0 || copy_member(sec, "pod", &a->pod) < 0 ||
          copy_member(sec, "timestamp", &a->timestamp) < 0 ||
          copy_member(sec, "type", &a->type) < 0 ||
          other_members(sec, known_sec, &a->more_secondary) < 0)))
        return ipam_oom(err);
    /* Calico's cooldown: an unparsable time counts as long past. */
    a->released = released != NULL;
    if (released && ipam_time_parse(released, &a->released_at) < 0)
        a->released_at = 0;
    return 0;
}

static int json_attrs(struct ipam_block *b, const json_t *attrs, const char *what,
                      struct tby_error *err)
{
    size_t i;
    const json_t *a;
    int r;

    if (attrs && !json_is_null(attrs) && !json_is_array(attrs))
        return bad(err, what, "attributes is not a list");
    b->attrs = calloc(json_array_size(attrs) + 1, sizeof(*b->attrs));
    if (!b->attrs)
        return ipam_oom(err);
    json_array_foreach(attrs, i, a) {
        r = json_attr(&b->attrs[i], a, what, err);
        b->n_attrs++;
        if (r < 0)
            return r;
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

static int json_seqs(struct ipam_block *b, const json_t *spec, const char *what,
                     struct tby_error *err)
{
    const json_t *seq = json_object_get(spec, "sequenceNumber");
    const json_t *map = json_object_get(spec, "sequenceNumberForAllocation");
    const char *key;
    json_t *v;

    if (seq && !json_is_null(seq) && (!json_is_integer(seq) || json_integer_value(seq) < 0))
        return bad(err, what, "sequenceNumber is not a number");
    b->seq = seq ? (uint64_t)json_integer_value(seq) : 0;
    if (map && !json_is_null(map) && !json_is_object(map))
        return bad(err, what, "sequenceNumberForAllocation is not a map");
    json_object_foreach((json_t *)map, key, v) {
        char *end;
        unsigned long ord = strtoul(key, &end, 10);

        if (*end || end == key || ord >= b->size || !json_is_integer(v) ||
            json_integer_value(v) < 0)
            return bad(err, what, "sequenceNumberForAllocation names no address");
        b->seq_for[ord] = (uint64_t)json_integer_value(v);
    }
    return 0;
}

static int json_decode(const char *text, size_t len, const char *what,
                       struct ipam_block **out, struct tby_error *err)
{
    _cleanup_json_ json_t *doc = json_loadb(text, len, 0, NULL);
    const json_t *spec = json_object_get(doc, "spec");
    const char *affinity = json_string_value(json_object_get(spec, "affinity"));
    /* Blocks of the etcd era name their node alone, in hostAffinity. */
    const char *host = json_string_value(json_object_get(spec, "hostAffinity"));
    int r;

    if (!json_is_object(doc))
        return bad(err, what, "not a JSON object");
    if (!json_is_object(spec))
        return bad(err, what, "no spec");
    r = new_block(json_string_value(json_object_get(spec, "cidr")), what, out, err);
    if (r == 0 && ((affinity ? set_affinity(*out, affinity)
                             : ipam_strdup_or_null(host, &(*out)->node)) < 0 ||
                   copy_member(spec, "affinityClaimTime", &(*out)->claim_time) < 0))
        r = ipam_oom(err);
    if (r == 0)
        r = json_attrs(*out, json_object_get(spec, "attributes"), what, err);
    if (r == 0)
        r = json_owners(*out, json_object_get(spec, "allocations"), what, err);
    if (r == 0)
        r = json_free(*out, json_object_get(spec, "unallocated"), what, err);
    if (r == 0)
        r = json_seqs(*out, spec, what, err);
    if (r == 0)
        (*out)->deleted = json_is_true(json_object_get(spec, "deleted"));
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
