/* ipam_records.c — the small records beside the blocks:
 *   affinities/<node>/<block>  {"cidr":"10.0.0.0/26","free":61}
 *   handles/<handle>           {"handle":"…","blocks":{"10.0.0.0-26":2}}
 * An affinity record is rewritten with its block, so its free count is always the
 * block's: finding space reads these small records instead of every block. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "ipam_internal.h"

/* ---- affinity records ------------------------------------------------------------------ */

char *ipam_aff_encode(const struct ipam_block *b, size_t *len)
{
    char cidr[TBY_CIDR_STRLEN];
    char *text;

    if (asprintf(&text, "{\"cidr\":\"%s\",\"free\":%u}", tby_cidr_format(&b->cidr, cidr),
                 b->n_free) < 0)
        return NULL;
    *len = strlen(text);
    return text;
}

/* The node is the key's segment after the prefix. */
static char *node_of_key(const char *key)
{
    const char *node = key + strlen(IPAM_AFFINITIES);
    const char *slash = strchr(node, '/');

    if (strncmp(key, IPAM_AFFINITIES, strlen(IPAM_AFFINITIES)) != 0 || !slash || slash == node)
        return NULL;
    return strndup(node, (size_t)(slash - node));
}

/* The exact text ipam_aff_encode writes, read without a JSON parser (or sscanf):
 * claiming a block or borrowing reads every record of the cluster. */
static bool aff_decode_fast(const char *text, struct ipam_aff *out)
{
    static const char head[] = "{\"cidr\":\"", mid[] = "\",\"free\":";
    char cidr[TBY_CIDR_STRLEN];
    const char *end, *num;
    char *after;
    unsigned long free_count;

    if (strncmp(text, head, sizeof(head) - 1) != 0)
        return false;
    text += sizeof(head) - 1;
    end = strchr(text, '"');
    if (!end || (size_t)(end - text) >= sizeof(cidr) || strncmp(end, mid, sizeof(mid) - 1) != 0)
        return false;
    memcpy(cidr, text, (size_t)(end - text));
    cidr[end - text] = '\0';
    num = end + sizeof(mid) - 1;
    if (*num < '0' || *num > '9')
        return false;
    free_count = strtoul(num, &after, 10);
    if (strcmp(after, "}") != 0 || free_count > UINT32_MAX ||
        tby_cidr_parse(cidr, TBY_CIDR_STRICT, &out->cidr, NULL) < 0)
        return false;
    out->free = (uint32_t)free_count;
    return true;
}

static bool aff_decode_json(const struct tby_kv *kv, struct ipam_aff *out)
{
    _cleanup_json_ json_t *doc = json_loadb(kv->value, kv->value_len, 0, NULL);
    const char *cidr = json_string_value(json_object_get(doc, "cidr"));
    const json_t *free_count = json_object_get(doc, "free");

    if (!cidr || tby_cidr_parse(cidr, TBY_CIDR_STRICT, &out->cidr, NULL) < 0 ||
        !json_is_integer(free_count) || json_integer_value(free_count) < 0 ||
        json_integer_value(free_count) > UINT32_MAX)
        return false;
    out->free = (uint32_t)json_integer_value(free_count);
    return true;
}

int ipam_aff_decode(const struct tby_kv *kv, struct ipam_aff *out)
{
    memset(out, 0, sizeof(*out));
    if (!kv->value || (!aff_decode_fast(kv->value, out) && !aff_decode_json(kv, out)))
        return -EINVAL;
    out->node = node_of_key(kv->key);
    return out->node ? 0 : -EINVAL;
}

void ipam_aff_list_clear(struct ipam_aff_list *list)
{
    for (size_t i = 0; i < list->n; i++)
        free(list->items[i].node);
    free(list->items);
    list->items = NULL;
    list->n = 0;
}

int ipam_aff_list_read(struct tby_store *store, const char *node, struct ipam_aff_list *out,
                       struct tby_error *err)
{
    _cleanup_free_ char *prefix = ipam_affinity_prefix(node);
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
    /* A malformed record is skipped: the block it indexes is still found by its key,
     * and `ipam check` reports and rewrites the record. */
    for (size_t i = 0; r == 0 && i < kvs.n; i++)
        if (ipam_aff_decode(&kvs.items[i], &out->items[out->n]) == 0)
            out->n++;
    tby_kv_list_clear(&kvs);
    if (r < 0)
        ipam_aff_list_clear(out);
    return r;
}

/* ---- handle records -------------------------------------------------------------------- */

void ipam_handle_rec_clear(struct ipam_handle_rec *rec)
{
    free(rec->items);
    rec->items = NULL;
    rec->n = 0;
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

uint64_t ipam_handle_total(const struct ipam_handle_rec *rec)
{
    uint64_t total = 0;

    for (size_t i = 0; i < rec->n; i++)
        total += rec->items[i].count;
    return total;
}

int ipam_handle_decode(const char *text, size_t len, const char *what,
                       struct ipam_handle_rec *out, struct tby_error *err)
{
    _cleanup_json_ json_t *doc = json_loadb(text, len, 0, NULL);
    const json_t *blocks = json_object_get(doc, "blocks");
    const char *name;
    const json_t *count;

    memset(out, 0, sizeof(*out));
    if (!json_is_object(blocks))
        return tby_error_set(err, -EINVAL, "%s: stored handle is malformed: no blocks", what);
    json_object_foreach((json_t *)blocks, name, count) {
        struct tby_cidr block;

        if (ipam_block_name_parse(name, &block) < 0 || !json_is_integer(count) ||
            json_integer_value(count) <= 0 || json_integer_value(count) > 4096) {
            ipam_handle_rec_clear(out);
            return tby_error_set(err, -EINVAL, "%s: stored handle is malformed: bad entry "
                                 "\"%s\"", what, name);
        }
        if (ipam_handle_add(out, &block, json_integer_value(count)) < 0) {
            ipam_handle_rec_clear(out);
            return ipam_oom(err);
        }
    }
    return 0;
}

char *ipam_handle_encode(const char *handle, const struct ipam_handle_rec *rec, size_t *len)
{
    _cleanup_json_ json_t *doc = json_object();
    json_t *blocks = json_object();
    char *text;

    if (!doc || !blocks) {
        json_decref(blocks);
        return NULL;
    }
    json_object_set_new(doc, "handle", json_string(handle));
    json_object_set_new(doc, "blocks", blocks);
    for (size_t i = 0; i < rec->n; i++) {
        char name[IPAM_NAME_MAX];

        json_object_set_new(blocks, ipam_block_name(&rec->items[i].block, name),
                            json_integer(rec->items[i].count));
    }
    text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    if (text)
        *len = strlen(text);
    return text;
}
