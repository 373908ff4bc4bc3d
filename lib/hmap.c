/* hmap.c — the intrusive hash map of hmap.h: chained buckets, doubling at load 2.
 *
 * Load 2, not 1: a table of 10,000 endpoints x 10,000 policies holds 150,000 to 550,000
 * set elements, each a map entry, and at load 1 the bucket arrays took 4-6 MB (8-16
 * bytes an entry); at load 2 they take half that, and a lookup walks ~1.5 entries of its
 * bucket instead of ~1.25 (each compare of the stored hash first). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/hmap.h"

#define FIRST_BUCKETS 4
#define MAX_LOAD 2

void tby_hmap_init(struct tby_hmap *m)
{
    *m = (struct tby_hmap){ 0 };
}

void tby_hmap_destroy(struct tby_hmap *m)
{
    free(m->buckets);
    *m = (struct tby_hmap){ 0 };
}

size_t tby_hmap_count(const struct tby_hmap *m)
{
    return m->n;
}

static void rehash(struct tby_hmap *m, size_t count)
{
    struct tby_hnode **b = calloc(count, sizeof(*b));

    if (!b)
        return;
    for (size_t i = 0; m->buckets && i <= m->mask; i++) {
        struct tby_hnode *node = m->buckets[i];

        while (node) {
            struct tby_hnode *next = node->next;
            size_t k = node->hash & (count - 1);

            node->next = b[k];
            b[k] = node;
            node = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->mask = count - 1;
}

int tby_hmap_insert(struct tby_hmap *m, struct tby_hnode *node, uint64_t hash)
{
    size_t k;

    if (!m->buckets) {
        rehash(m, FIRST_BUCKETS);
        if (!m->buckets)
            return -ENOMEM;
    } else if (m->n >= MAX_LOAD * (m->mask + 1)) {
        rehash(m, 2 * (m->mask + 1));
    }
    node->hash = hash;
    k = hash & m->mask;
    node->next = m->buckets[k];
    m->buckets[k] = node;
    m->n++;
    return 0;
}

void tby_hmap_remove(struct tby_hmap *m, struct tby_hnode *node)
{
    struct tby_hnode **p = &m->buckets[node->hash & m->mask];

    while (*p && *p != node)
        p = &(*p)->next;
    if (*p) {
        *p = node->next;
        m->n--;
    }
}

static struct tby_hnode *with_hash(struct tby_hnode *node, uint64_t hash)
{
    while (node && node->hash != hash)
        node = node->next;
    return node;
}

struct tby_hnode *tby_hmap_first_with_hash(const struct tby_hmap *m, uint64_t hash)
{
    return m->buckets ? with_hash(m->buckets[hash & m->mask], hash) : NULL;
}

struct tby_hnode *tby_hmap_next_with_hash(const struct tby_hnode *node)
{
    return with_hash(node->next, node->hash);
}

struct tby_hnode *tby_hmap_find_str(const struct tby_hmap *m, const char *key,
                                    const char *(*key_of)(const struct tby_hnode *node))
{
    for (struct tby_hnode *n = tby_hmap_first_with_hash(m, tby_hash_str(key)); n;
         n = tby_hmap_next_with_hash(n))
        if (strcmp(key_of(n), key) == 0)
            return n;
    return NULL;
}

static struct tby_hnode *from_bucket(const struct tby_hmap *m, size_t k)
{
    for (; m->buckets && k <= m->mask; k++)
        if (m->buckets[k])
            return m->buckets[k];
    return NULL;
}

struct tby_hnode *tby_hmap_first(const struct tby_hmap *m)
{
    return from_bucket(m, 0);
}

struct tby_hnode *tby_hmap_next(const struct tby_hmap *m, const struct tby_hnode *node)
{
    return node->next ? node->next : from_bucket(m, (node->hash & m->mask) + 1);
}

uint64_t tby_hash_bytes(const void *p, size_t len, uint64_t seed)
{
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;

    for (size_t i = 0; i < len; i++) {
        h ^= s[i];
        h *= 0x100000001b3ULL;
    }
    /* FNV's low bits are weak for short keys; the buckets use the low bits. */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

uint64_t tby_hash_str(const char *s)
{
    return tby_hash_bytes(s, strlen(s), 0);
}
