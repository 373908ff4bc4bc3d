/* ruleset_elems.c — the table of a set's elements (ruleset.h's struct tby_rs_elems):
 * chained buckets, doubling at load 2 as hmap.c does, but the entries keep no hash: it
 * is computed again from the key when the table grows, which saves 8 bytes in each of
 * the hundreds of thousands of elements a large table holds. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tabby/hmap.h"
#include "tabby/ruleset.h"
#include "ruleset_elems.h"

#define FIRST_BUCKETS 4
#define MAX_LOAD 2

uint64_t tby_rs_elem_hash(const uint8_t *key, uint8_t len, uint8_t flags)
{
    return tby_hash_bytes(key, len, flags);
}

static uint64_t hash_of(const struct tby_rs_elem *e)
{
    return tby_rs_elem_hash(e->key, e->len, e->flags & TBY_RS_ELEM_KEY_FLAGS);
}

void tby_rs_elems_destroy(struct tby_rs_elems *t)
{
    free(t->buckets);
    *t = (struct tby_rs_elems){ 0 };
}

static void rehash(struct tby_rs_elems *t, size_t count)
{
    struct tby_rs_elem **b = calloc(count, sizeof(*b));

    if (!b)
        return;
    for (size_t i = 0; t->buckets && i <= t->mask; i++) {
        struct tby_rs_elem *e = t->buckets[i];

        while (e) {
            struct tby_rs_elem *next = e->next;
            size_t k = hash_of(e) & (count - 1);

            e->next = b[k];
            b[k] = e;
            e = next;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->mask = count - 1;
}

int tby_rs_elems_insert(struct tby_rs_elems *t, struct tby_rs_elem *e)
{
    size_t k;

    if (!t->buckets) {
        rehash(t, FIRST_BUCKETS);
        if (!t->buckets)
            return -ENOMEM;
    } else if (t->n >= MAX_LOAD * (t->mask + 1)) {
        rehash(t, 2 * (t->mask + 1)); /* stays at its size (slower) when it cannot grow */
    }
    k = hash_of(e) & t->mask;
    e->next = t->buckets[k];
    t->buckets[k] = e;
    t->n++;
    return 0;
}

void tby_rs_elems_remove(struct tby_rs_elems *t, struct tby_rs_elem *e)
{
    struct tby_rs_elem **p;

    if (!t->buckets)
        return;
    for (p = &t->buckets[hash_of(e) & t->mask]; *p && *p != e; p = &(*p)->next)
        ;
    if (*p) {
        *p = e->next;
        e->next = NULL;
        t->n--;
    }
}

struct tby_rs_elem *tby_rs_elems_find(const struct tby_rs_elems *t, const uint8_t *key,
                                      uint8_t len, uint8_t flags)
{
    if (!t->buckets)
        return NULL;
    for (struct tby_rs_elem *e = t->buckets[tby_rs_elem_hash(key, len, flags) & t->mask]; e;
         e = e->next)
        if (e->len == len && (e->flags & TBY_RS_ELEM_KEY_FLAGS) == flags &&
            memcmp(e->key, key, len) == 0)
            return e;
    return NULL;
}

static struct tby_rs_elem *from_bucket(const struct tby_rs_elems *t, size_t i)
{
    for (; t->buckets && i <= t->mask; i++)
        if (t->buckets[i])
            return t->buckets[i];
    return NULL;
}

struct tby_rs_elem *tby_rs_elems_first(const struct tby_rs_elems *t)
{
    return from_bucket(t, 0);
}

struct tby_rs_elem *tby_rs_elems_next(const struct tby_rs_elems *t, const struct tby_rs_elem *e)
{
    return e->next ? e->next : from_bucket(t, (hash_of(e) & t->mask) + 1);
}
