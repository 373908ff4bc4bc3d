/* ipam_records.c — the records beside the blocks, in Calico's shapes (see ipam.h):
 *   affinities/<node>/<block>  BlockAffinity: {"apiVersion":"crd.projectcalico.org/v1",
 *       "kind":"BlockAffinity","metadata":{"labels":{…the three of Calico 3.31…},
 *       "annotations":{"tabby.dev/free":"61"}},"spec":{"state":"confirmed","node":"n1",
 *       "type":"host","cidr":"10.0.0.0/26","deleted":"false"}}
 *   handles/<handle>           IPAMHandle: {…,"kind":"IPAMHandle","spec":{"handleID":"…",
 *       "block":{"10.0.0.0/26":2},"deleted":false}}
 * The free count exists only on stores with multi-key transactions, where an affinity
 * record is rewritten with its block, so it is always the block's: finding space there
 * reads these small records instead of every block. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/buf.h"
#include "tabby/cleanup.h"
#include "tabby/sha3.h"
#include "ipam_internal.h"

#define AFF_HEAD "{\"apiVersion\":\"" IPAM_API_VERSION "\",\"kind\":\"BlockAffinity\"," \
                 "\"metadata\":{\"labels\":{"
#define LABEL_TYPE "projectcalico.org/affinity-type"
#define LABEL_HASH "projectcalico.org/hostname-hash"
#define LABEL_VERSION "projectcalico.org/ip-version"

static const char *const state_names[] = {
    [IPAM_AFF_CONFIRMED] = "confirmed",
    [IPAM_AFF_PENDING] = "pending",
    [IPAM_AFF_PENDING_DELETION] = "pendingDeletion",
};

const char *ipam_aff_state_name(enum ipam_aff_state state)
{
    return state_names[state];
}

/* Calico's state text; empty (very old data) is confirmed. */
static bool parse_state(const char *text, enum ipam_aff_state *out)
{
    if (!*text) {
        *out = IPAM_AFF_CONFIRMED;
        return true;
    }
    for (size_t i = 0; i < sizeof(state_names) / sizeof(*state_names); i++) {
        if (strcmp(text, state_names[i]) == 0) {
            *out = (enum ipam_aff_state)i;
            return true;
        }
    }
    return false;
}

/* ---- affinity records ------------------------------------------------------------------ */

char *ipam_aff_encode(const char *node, const struct tby_cidr *cidr, enum ipam_aff_state state,
                      uint32_t free_count, size_t *len)
{
    _cleanup_buf_ struct tby_buf o = { 0 };
    uint8_t digest[TBY_SHA3_256_LEN];
    char hash[TBY_BASE32_LEN(TBY_SHA3_256_LEN)], text[TBY_CIDR_STRLEN];

    tby_sha3_256(node, strlen(node), digest);
    tby_base32(digest, sizeof(digest), hash);
    tby_buf_reserve(&o, 400 + strlen(node));
    tby_buf_adds(&o, AFF_HEAD "\"" LABEL_TYPE "\":\"host\",\"" LABEL_HASH "\":\"");
    tby_buf_adds(&o, hash);
    tby_buf_adds(&o, "\",\"" LABEL_VERSION "\":\"");
    tby_buf_addc(&o, cidr->ip.family == 6 ? '6' : '4');
    tby_buf_adds(&o, "\"}");
    if (free_count != IPAM_FREE_UNKNOWN) {
        tby_buf_adds(&o, ",\"annotations\":{\"" IPAM_FREE_ANNOTATION "\":\"");
        ipam_out_uint(&o, free_count);
        tby_buf_adds(&o, "\"}");
    }
    tby_buf_adds(&o, "},\"spec\":{\"state\":\"");
    tby_buf_adds(&o, ipam_aff_state_name(state));
    tby_buf_adds(&o, "\",\"node\":");
    ipam_out_json_string(&o, node);
    tby_buf_adds(&o, ",\"type\":\"host\",\"cidr\":\"");
    tby_buf_adds(&o, tby_cidr_format(cidr, text));
    tby_buf_adds(&o, "\",\"deleted\":\"false\"}}");
    if (tby_buf_error(&o) < 0)
        return NULL;
    return tby_buf_steal(&o, len);
}

/* The exact text ipam_aff_encode writes, read without a JSON parser: claiming a block or
 * borrowing reads every record of the cluster. 1 read, 0 not that text, <0 -ENOMEM. */
static int aff_decode_fast(const struct tby_kv *kv, struct ipam_aff *out)
{
    struct ipam_cursor c = { kv->value, kv->value + kv->value_len };
    char type[16], hash[64], version[4], state[32], cidr[TBY_CIDR_STRLEN], deleted[8];
    uint64_t count = IPAM_FREE_UNKNOWN;

    if (!ipam_take(&c, AFF_HEAD "\"" LABEL_TYPE "\":\"") ||
        !ipam_take_string_into(&c, type, sizeof(type)) ||
        !ipam_take(&c, ",\"" LABEL_HASH "\":\"") ||
        !ipam_take_string_into(&c, hash, sizeof(hash)) ||
        !ipam_take(&c, ",\"" LABEL_VERSION "\":\"") ||
        !ipam_take_string_into(&c, version, sizeof(version)) || !ipam_take(&c, "}"))
        return 0;
    if (ipam_take(&c, ",\"annotations\":{\"" IPAM_FREE_ANNOTATION "\":\"") &&
        (!ipam_take_u64(&c, &count) || count >= IPAM_FREE_UNKNOWN || !ipam_take(&c, "\"}")))
        return 0;
    if (!ipam_take(&c, "},\"spec\":{\"state\":\"") ||
        !ipam_take_string_into(&c, state, sizeof(state)) || !ipam_take(&c, ",\"node\":\"") ||
        !(out->node = ipam_take_string(&c)) || !ipam_take(&c, ",\"type\":\"host\",\"cidr\":\"") ||
        !ipam_take_string_into(&c, cidr, sizeof(cidr)) || !ipam_take(&c, ",\"deleted\":\"") ||
        !ipam_take_string_into(&c, deleted, sizeof(deleted)) || !ipam_take(&c, "}}") ||
        c.p != c.end || !parse_state(state, &out->state) ||
        tby_cidr_parse(cidr, TBY_CIDR_STRICT, &out->cidr, NULL) < 0) {
        free(out->node);
        out->node = NULL;
        return 0;
    }
    out->free = (uint32_t)count;
    out->deleted = strcmp(deleted, "true") == 0;
    out->usable = true;
    return 1;
}

/* Any well-formed spelling: "deleted" as Calico's string or as the v3 group's bool, the
 * type absent in old data (host), the free count only where tabby wrote one. */
static int aff_decode_json(const struct tby_kv *kv, struct ipam_aff *out)
{
    _cleanup_json_ json_t *doc = json_loadb(kv->value, kv->value_len, 0, NULL);
    const json_t *spec = json_object_get(doc, "spec");
    const char *cidr = json_string_value(json_object_get(spec, "cidr"));
    const char *state = json_string_value(json_object_get(spec, "state"));
    const char *type = json_string_value(json_object_get(spec, "type"));
    const json_t *deleted = json_object_get(spec, "deleted");
    const char *count = json_string_value(json_object_get(
        json_object_get(json_object_get(doc, "metadata"), "annotations"), IPAM_FREE_ANNOTATION));
    char *end;

    if (!cidr || tby_cidr_parse(cidr, TBY_CIDR_STRICT, &out->cidr, NULL) < 0 ||
        !parse_state(state ? state : "", &out->state))
        return -EINVAL;
    out->deleted = json_is_true(deleted) || (json_is_string(deleted) &&
                                             strcasecmp(json_string_value(deleted), "true") == 0);
    out->usable = !type || !*type || strcmp(type, "host") == 0;
    out->free = IPAM_FREE_UNKNOWN;
    if (count) {
        unsigned long n = strtoul(count, &end, 10);

        if (*end || end == count || n >= IPAM_FREE_UNKNOWN)
            return -EINVAL;
        out->free = (uint32_t)n;
    }
    return ipam_strdup_or_null(json_string_value(json_object_get(spec, "node")), &out->node) < 0
               ? -ENOMEM
               : 0;
}

int ipam_aff_decode(const struct tby_kv *kv, struct ipam_aff *out)
{
    const char *node;
    size_t node_len;
    struct tby_cidr block;
    int r;

    memset(out, 0, sizeof(*out));
    if (!kv->value || tby_ipam_affinity_key_parse(kv->key, &node, &node_len, &block) < 0)
        return -EINVAL;
    r = aff_decode_fast(kv, out);
    if (r == 0)
        r = aff_decode_json(kv, out);
    /* The key says what the spec says (the Kubernetes backend makes one from the other). */
    if (r >= 0 && (!out->node || strlen(out->node) != node_len ||
                   memcmp(out->node, node, node_len) != 0 || !tby_cidr_equal(&out->cidr, &block)))
        r = -EINVAL;
    if (r < 0) {
        free(out->node);
        out->node = NULL;
        return r;
    }
    out->mod_rev = kv->mod_rev;
    return 0;
}

void ipam_aff_list_clear(struct ipam_aff_list *list)
{
    for (size_t i = 0; i < list->n; i++)
        free(list->items[i].node);
    free(list->items);
    list->items = NULL;
    list->n = 0;
}

/* The records under prefix, each decoded into an entry by decode (0: kept, 1: left out,
 * -ENOMEM). */
static int list_read(struct tby_store *store, const char *prefix,
                     int (*decode)(const struct tby_kv *kv, struct ipam_aff *out),
                     struct ipam_aff_list *out, struct tby_error *err)
{
    struct tby_kv_list kvs;
    int r;

    memset(out, 0, sizeof(*out));
    if (!prefix)
        return ipam_oom(err);
    r = tby_store_range(store, prefix, &kvs, err);
    if (r < 0)
        return r;
    out->items = calloc(kvs.n + 1, sizeof(*out->items));
    if (!out->items)
        r = ipam_oom(err);
    for (size_t i = 0; r == 0 && i < kvs.n; i++) {
        int d = decode(&kvs.items[i], &out->items[out->n]);

        if (d < 0)
            r = ipam_oom(err);
        else if (d == 0)
            out->n++;
    }
    tby_kv_list_clear(&kvs);
    if (r < 0)
        ipam_aff_list_clear(out);
    return r;
}

/* A malformed record is left out: the block it stands for is still found by its key,
 * and `ipam check` reports the record. So is one marked deleted. */
static int aff_entry(const struct tby_kv *kv, struct ipam_aff *out)
{
    int r = ipam_aff_decode(kv, out);

    if (r == -ENOMEM)
        return r;
    if (r == 0 && out->deleted)
        free(TBY_STEAL(out->node));
    return r < 0 || out->deleted;
}

int ipam_aff_list_read(struct tby_store *store, const char *node, struct ipam_aff_list *out,
                       struct tby_error *err)
{
    _cleanup_free_ char *prefix = ipam_affinity_prefix(node);

    return list_read(store, prefix, aff_entry, out, err);
}

/* A block as an entry (node: its host affinity). A malformed block stays where it is:
 * `ipam check` names it. */
static int block_entry(const struct tby_kv *kv, struct ipam_aff *out)
{
    _cleanup_(ipam_block_freep) struct ipam_block *b = NULL;
    struct tby_error ignored = { 0 };
    int r = ipam_block_decode(kv->value, kv->value_len, kv->key, &b, &ignored);

    if (r == -ENOMEM)
        return r;
    if (r < 0 || b->deleted)
        return 1;
    memset(out, 0, sizeof(*out));
    out->cidr = b->cidr;
    out->node = TBY_STEAL(b->node);
    out->free = b->n_free;
    out->usable = ipam_block_usable(b);
    out->mod_rev = kv->mod_rev;
    return 0;
}

int ipam_space_read(const struct tby_ipam *ipam, struct ipam_aff_list *out,
                    struct tby_error *err)
{
    if (ipam->multi)
        return ipam_aff_list_read(ipam->store, NULL, out, err);
    return list_read(ipam->store, IPAM_BLOCKS, block_entry, out, err);
}

/* ---- handle records -------------------------------------------------------------------- */

void ipam_handle_rec_clear(struct ipam_handle_rec *rec)
{
    free(rec->items);
    memset(rec, 0, sizeof(*rec));
}

int ipam_handle_rec_copy(struct ipam_handle_rec *dst, const struct ipam_handle_rec *src)
{
    *dst = *src;
    dst->items = NULL;
    if (!src->n)
        return 0;
    dst->items = malloc(src->n * sizeof(*dst->items));
    if (!dst->items) {
        dst->n = 0;
        return -ENOMEM;
    }
    memcpy(dst->items, src->items, src->n * sizeof(*dst->items));
    return 0;
}

int ipam_handle_add(struct ipam_handle_rec *rec, const struct tby_cidr *block, int64_t delta)
{
    struct ipam_handle_count *grown;

    for (size_t i = 0; i < rec->n; i++) {
        if (!tby_cidr_equal(&rec->items[i].block, block))
            continue;
        if (delta < 0 && (uint64_t)-delta >= rec->items[i].count) {
            rec->items[i] = rec->items[--rec->n];
            return 0;
        }
        rec->items[i].count = (uint32_t)(rec->items[i].count + delta);
        return 0;
    }
    if (delta <= 0)
        return 0;
    grown = reallocarray(rec->items, rec->n + 1, sizeof(*grown));
    if (!grown)
        return -ENOMEM;
    rec->items = grown;
    grown[rec->n].block = *block;
    grown[rec->n].count = (uint32_t)delta;
    rec->n++;
    return 0;
}

uint32_t ipam_handle_count(const struct ipam_handle_rec *rec, const struct tby_cidr *block)
{
    for (size_t i = 0; i < rec->n; i++)
        if (tby_cidr_equal(&rec->items[i].block, block))
            return rec->items[i].count;
    return 0;
}

uint64_t ipam_handle_total(const struct ipam_handle_rec *rec)
{
    uint64_t total = 0;

    for (size_t i = 0; i < rec->n; i++)
        total += rec->items[i].count;
    return total;
}

static int bad_handle(struct ipam_handle_rec *out, struct tby_error *err, const char *what,
                      const char *why, const char *name)
{
    ipam_handle_rec_clear(out);
    return tby_error_set(err, -EINVAL, "%s: stored handle is malformed: %s%s%s%s", what, why,
                         name ? " \"" : "", name ? name : "", name ? "\"" : "");
}

int ipam_handle_decode(const char *text, size_t len, const char *what,
                       struct ipam_handle_rec *out, struct tby_error *err)
{
    _cleanup_json_ json_t *doc = json_loadb(text, len, 0, NULL);
    const json_t *spec = json_object_get(doc, "spec");
    const json_t *blocks = json_object_get(spec, "block");
    const char *name;
    const json_t *count;

    memset(out, 0, sizeof(*out));
    if (!json_is_object(spec))
        return bad_handle(out, err, what, "no spec", NULL);
    if (!json_is_object(blocks) && !json_is_null(blocks) && blocks)
        return bad_handle(out, err, what, "block is not a map", NULL);
    json_object_foreach((json_t *)blocks, name, count) {
        struct tby_cidr block;

        if (tby_cidr_parse(name, TBY_CIDR_STRICT, &block, NULL) < 0 ||
            !json_is_integer(count) || json_integer_value(count) < 0 ||
            json_integer_value(count) > 4096)
            return bad_handle(out, err, what, "bad entry", name);
        if (ipam_handle_add(out, &block, json_integer_value(count)) < 0) {
            ipam_handle_rec_clear(out);
            return ipam_oom(err);
        }
    }
    out->deleted = json_is_true(json_object_get(spec, "deleted"));
    return 0;
}

char *ipam_handle_encode(const char *handle, const struct ipam_handle_rec *rec, size_t *len)
{
    _cleanup_buf_ struct tby_buf o = { 0 };

    tby_buf_adds(&o, "{\"apiVersion\":\"" IPAM_API_VERSION "\",\"kind\":\"IPAMHandle\","
                     "\"spec\":{\"handleID\":");
    ipam_out_json_string(&o, handle);
    tby_buf_adds(&o, ",\"block\":{");
    for (size_t i = 0; i < rec->n; i++) {
        char cidr[TBY_CIDR_STRLEN];

        tby_buf_adds(&o, i ? ",\"" : "\"");
        tby_buf_adds(&o, tby_cidr_format(&rec->items[i].block, cidr));
        tby_buf_adds(&o, "\":");
        ipam_out_uint(&o, rec->items[i].count);
    }
    tby_buf_adds(&o, "},\"deleted\":false}}");
    if (tby_buf_error(&o) < 0)
        return NULL;
    return tby_buf_steal(&o, len);
}

/* ---- for watchers ------------------------------------------------------------------------ */

int tby_ipam_affinity_decode(const struct tby_kv *kv, struct tby_ipam_affinity *out)
{
    struct ipam_aff aff;
    int r = ipam_aff_decode(kv, &aff);

    memset(out, 0, sizeof(*out));
    if (r < 0)
        return r;
    free(aff.node);
    /* The node was checked equal to the key's. */
    tby_ipam_affinity_key_parse(kv->key, &out->node, &out->node_len, &out->block);
    out->state = aff.state == IPAM_AFF_PENDING             ? TBY_IPAM_AFFINITY_PENDING
                 : aff.state == IPAM_AFF_PENDING_DELETION ? TBY_IPAM_AFFINITY_PENDING_DELETION
                                                          : TBY_IPAM_AFFINITY_CONFIRMED;
    out->deleted = aff.deleted;
    return 0;
}

bool tby_ipam_affinity_routable(const struct tby_ipam_affinity *aff)
{
    return !aff->deleted && aff->state != TBY_IPAM_AFFINITY_PENDING;
}

/* A watcher's block record: -EINVAL when it is none or malformed, -ENOMEM. */
static int block_record_decode(const struct tby_kv *kv, struct ipam_block **out)
{
    int r;

    *out = NULL;
    if (strncmp(kv->key, IPAM_BLOCKS, strlen(IPAM_BLOCKS)) != 0 || !kv->value)
        return -EINVAL;
    r = ipam_block_decode(kv->value, kv->value_len, kv->key, out, NULL);
    return r < 0 && r != -ENOMEM ? -EINVAL : r;
}

int tby_ipam_block_info_decode(const struct tby_kv *kv, struct tby_ipam_block_info *out)
{
    _cleanup_(ipam_block_freep) struct ipam_block *b = NULL;
    int r = block_record_decode(kv, &b);

    memset(out, 0, sizeof(*out));
    if (r < 0)
        return r;
    out->cidr = b->cidr;
    out->node = TBY_STEAL(b->node);
    out->usable = ipam_block_usable(b);
    out->deleted = b->deleted;
    out->size = b->size;
    out->in_use = ipam_block_in_use(b);
    return 0;
}

void tby_ipam_block_info_clear(struct tby_ipam_block_info *info)
{
    free(info->node);
    memset(info, 0, sizeof(*info));
}

bool tby_ipam_block_holds(const struct tby_kv *kv, const struct tby_ip *ip, const char *handle)
{
    _cleanup_(ipam_block_freep) struct ipam_block *b = NULL;
    const struct ipam_attr *owner;
    uint32_t ord;

    if (block_record_decode(kv, &b) < 0 || b->deleted || !ipam_block_ordinal(b, ip, &ord))
        return false;
    owner = ipam_block_owner(b, ord);
    return owner && ipam_same_str(owner->handle, handle);
}
