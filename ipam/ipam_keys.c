/* ipam_keys.c — the names and datastore keys of IPAM records. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/cleanup.h"
#include "ipam_internal.h"

#define NAME_LIMIT 512

char *ipam_block_name(const struct tby_cidr *cidr, char buf[IPAM_NAME_MAX])
{
    char *slash;

    tby_cidr_format(cidr, buf);
    slash = strchr(buf, '/');
    if (slash)
        *slash = '-';
    return buf;
}

int ipam_block_name_parse(const char *name, struct tby_cidr *out)
{
    char buf[IPAM_NAME_MAX];
    char *dash;

    if (strlen(name) >= sizeof(buf))
        return -EINVAL;
    strcpy(buf, name);
    /* IPv6 addresses hold no '-', so the last one separates the prefix length. */
    dash = strrchr(buf, '-');
    if (!dash)
        return -EINVAL;
    *dash = '/';
    return tby_cidr_parse(buf, TBY_CIDR_STRICT, out, NULL);
}

char *ipam_block_key(const struct tby_cidr *cidr)
{
    char name[IPAM_NAME_MAX];
    char *key;

    if (asprintf(&key, IPAM_BLOCKS "%s", ipam_block_name(cidr, name)) < 0)
        return NULL;
    return key;
}

char *ipam_affinity_key(const char *node, const struct tby_cidr *cidr)
{
    char name[IPAM_NAME_MAX];
    char *key;

    if (asprintf(&key, IPAM_AFFINITIES "%s/%s", node, ipam_block_name(cidr, name)) < 0)
        return NULL;
    return key;
}

char *ipam_affinity_prefix(const char *node)
{
    char *key;

    if (!node)
        return strdup(IPAM_AFFINITIES);
    if (asprintf(&key, IPAM_AFFINITIES "%s/", node) < 0)
        return NULL;
    return key;
}

int tby_ipam_affinity_key_parse(const char *key, const char **node, size_t *node_len,
                                struct tby_cidr *block)
{
    const char *rest, *slash;

    if (strncmp(key, IPAM_AFFINITIES, strlen(IPAM_AFFINITIES)) != 0)
        return -EINVAL;
    rest = key + strlen(IPAM_AFFINITIES);
    slash = strchr(rest, '/');
    if (!slash || slash == rest || ipam_block_name_parse(slash + 1, block) < 0)
        return -EINVAL;
    *node = rest;
    *node_len = (size_t)(slash - rest);
    return 0;
}

int tby_ipam_affinity_record(const struct tby_kv *kv, const char **node, size_t *node_len,
                             struct tby_cidr *block)
{
    /* tabby's affinity records say everything in their key, and exist only while the
     * node holds the block */
    return tby_ipam_affinity_key_parse(kv->key, node, node_len, block);
}

int tby_ipam_block_record(const struct tby_kv *kv, struct tby_ipam_block_info *out)
{
    _cleanup_(ipam_block_freep) struct ipam_block *b = NULL;
    int r;

    memset(out, 0, sizeof(*out));
    if (strncmp(kv->key, IPAM_BLOCKS, strlen(IPAM_BLOCKS)) != 0 || !kv->value)
        return -EINVAL;
    r = ipam_block_decode(kv->value, kv->value_len, kv->key, &b, NULL);
    if (r < 0)
        return r == -ENOMEM ? r : -EINVAL;
    out->cidr = b->cidr;
    out->node = TBY_STEAL(b->node);
    out->size = b->size;
    out->in_use = ipam_block_in_use(b);
    return 0;
}

bool tby_ipam_block_record_holds(const struct tby_kv *kv, const struct tby_ip *ip,
                                 const char *handle)
{
    _cleanup_(ipam_block_freep) struct ipam_block *b = NULL;
    const struct ipam_attr *owner;
    uint32_t ord;

    if (strncmp(kv->key, IPAM_BLOCKS, strlen(IPAM_BLOCKS)) != 0 || !kv->value ||
        ipam_block_decode(kv->value, kv->value_len, kv->key, &b, NULL) < 0 ||
        !ipam_block_ordinal(b, ip, &ord))
        return false;
    owner = ipam_block_owner(b, ord);
    return owner && strcmp(owner->handle, handle) == 0;
}

void tby_ipam_block_info_clear(struct tby_ipam_block_info *info)
{
    free(info->node);
    memset(info, 0, sizeof(*info));
}

char *ipam_handle_key(const char *handle)
{
    char *key;

    if (asprintf(&key, IPAM_HANDLES "%s", handle) < 0)
        return NULL;
    return key;
}

int ipam_check_name(const char *what, const char *name, struct tby_error *err)
{
    if (!name || !*name)
        return tby_error_set(err, -EINVAL, "%s: must not be empty", what);
    if (strlen(name) > NAME_LIMIT)
        return tby_error_set(err, -EINVAL, "%s: longer than %d characters", what, NAME_LIMIT);
    /* Kubernetes names and container IDs are printable ASCII; keeping to it keeps every
     * stored record valid JSON text without escapes. */
    for (const char *p = name; *p; p++)
        if (*p == '/' || (unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return tby_error_set(err, -EINVAL, "%s \"%s\": must be printable ASCII without "
                                 "'/' or spaces", what, name);
    return 0;
}

struct tby_cidr ipam_block_of(const struct tby_ip *ip, int block_size)
{
    struct tby_cidr block = { .ip = *ip, .prefix_len = (uint8_t)block_size };

    tby_cidr_mask(&block);
    return block;
}

int ipam_oom(struct tby_error *err)
{
    return tby_error_set(err, -ENOMEM, "out of memory");
}

int ipam_result_push(struct tby_ipam_result *res, const struct tby_ip *ip,
                     const struct tby_cidr *block, bool existing)
{
    struct tby_ipam_addr *grown = reallocarray(res->items, res->n + 1, sizeof(*grown));

    if (!grown)
        return -ENOMEM;
    res->items = grown;
    grown[res->n].ip = *ip;
    grown[res->n].block = *block;
    grown[res->n].existing = existing;
    res->n++;
    return 0;
}

void tby_ipam_result_clear(struct tby_ipam_result *result)
{
    free(result->items);
    result->items = NULL;
    result->n = 0;
}

const char *ipam_family_name(int family)
{
    return family == 6 ? "IPv6" : "IPv4";
}
