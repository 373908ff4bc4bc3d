/* ipam_block.c — one block of a pool in memory: which of its addresses are allocated, to
 * whom, and in which order free ones are handed out. Its stored form (ipam_block_codec.c):
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

void ipam_attr_clear(struct ipam_attr *a)
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
        ipam_attr_clear(&b->attrs[i]);
    free(b->attrs);
    free(b->owner);
    free(b->free_list);
    free(b->node);
    free(b);
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
        if (ipam_attr_copy(&b->attrs[i], &src->attrs[i]) < 0) {
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

int ipam_strdup_or_null(const char *str, char **out)
{
    *out = str ? strdup(str) : NULL;
    return str && !*out ? -ENOMEM : 0;
}

int ipam_attr_copy(struct ipam_attr *dst, const struct ipam_attr *src)
{
    memset(dst, 0, sizeof(*dst));
    if (ipam_strdup_or_null(src->handle, &dst->handle) < 0 ||
        ipam_strdup_or_null(src->node, &dst->node) < 0 ||
        ipam_strdup_or_null(src->namespace, &dst->namespace) < 0 ||
        ipam_strdup_or_null(src->pod, &dst->pod) < 0) {
        ipam_attr_clear(dst);
        return -ENOMEM;
    }
    return 0;
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
    if (ipam_attr_copy(&copy, attr) < 0)
        return -ENOMEM;
    grown = reallocarray(b->attrs, b->n_attrs + 1, sizeof(*grown));
    if (!grown) {
        ipam_attr_clear(&copy);
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
