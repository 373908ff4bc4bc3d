/* calc_strings.c — interned, reference-counted strings (calc_strings.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "calc_strings.h"

struct istr {
    struct tby_hnode node;            /* in t->map, by tby_hash_str(s) */
    uint32_t refs;
    char s[];
};

static const char *text_of(const struct tby_hnode *n)
{
    return TBY_CONTAINER_OF(n, struct istr, node)->s;
}

void calc_strs_init(struct calc_strs *t)
{
    tby_hmap_init(&t->map);
}

void calc_strs_destroy(struct calc_strs *t)
{
    tby_hmap_destroy(&t->map);
}

const char *calc_strs_get(struct calc_strs *t, const char *s)
{
    struct tby_hnode *n = tby_hmap_find_str(&t->map, s, text_of);
    size_t len = strlen(s) + 1;
    struct istr *i;

    if (n) {
        i = TBY_CONTAINER_OF(n, struct istr, node);
        i->refs++;
        return i->s;
    }
    if (!(i = malloc(sizeof(*i) + len)))
        return NULL;
    i->refs = 1;
    memcpy(i->s, s, len);
    if (tby_hmap_insert(&t->map, &i->node, tby_hash_str(s)) < 0) {
        free(i);
        return NULL;
    }
    return i->s;
}

void calc_strs_put(struct calc_strs *t, const char *s)
{
    struct istr *i;

    if (!s)
        return;
    i = TBY_CONTAINER_OF(s, struct istr, s);
    if (--i->refs > 0)
        return;
    tby_hmap_remove(&t->map, &i->node);
    free(i);
}
