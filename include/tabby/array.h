/* array.h — growing an array in place, the one way tabby does it (after systemd's
 * GREEDY_REALLOC): capacity doubles from 1 (most arrays of a large table hold one or two
 * items: a selector's policies), so appending n elements costs O(n) in all.
 *
 *     struct item *items = NULL;
 *     size_t n = 0, cap = 0;
 *     if (TBY_GROW(items, cap, n + 1) < 0)
 *         return -ENOMEM;
 *     items[n++] = x;
 *
 * Owns nothing: the array is the caller's (free(items)). Needs nothing.
 */
#ifndef TABBY_ARRAY_H
#define TABBY_ARRAY_H

#include <stddef.h>

/* Makes room for at least `need` elements of `size` bytes in *items, whose capacity is
 * *cap. 0, or -ENOMEM with *items and *cap unchanged. */
int tby_grow(void **items, size_t *cap, size_t need, size_t size);

#define TBY_GROW(items, cap, need) \
    tby_grow((void **)&(items), &(cap), (need), sizeof(*(items)))

#endif
